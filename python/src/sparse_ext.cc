// SPDX-License-Identifier: Apache-2.0
// Python bindings of the sparse and local families: attnkit._C._block_sparse_attention,
// the _predict_* mask predictors, _neighborhood_attention and _window_attention,
// reached through python/attnkit/sparse.py. Arrays arrive already in logical
// order ([B, H, N, D] views, any strides, last axis contiguous) and are wrapped,
// never copied. Block masks travel as uint8 [B, Hq, ceil(Nq/bs), ceil(Nk/bs)]:
// C-contiguous in, bytes out.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attnkit/error.h"
#include "attnkit/local.h"
#include "attnkit/sparse.h"
#include "python/src/array_view.h"
#include "python/src/bindings.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace attnkit_py {
namespace {

using attnkit::DType;
using attnkit::TensorView;
using Array = nb::ndarray<>;
using MaskArray = nb::ndarray<const uint8_t, nb::ndim<4>, nb::c_contig, nb::device::cpu>;

// The spec of an attention call on q [B, Hq, N, Dqk], k [B, Hkv, N, Dqk] and Dv.
attnkit::AttentionSpec SpecOf(const TensorView& q, const TensorView& k, int64_t dv, bool causal,
                              std::optional<double> scale, bool return_lse) {
  ATTNKIT_CHECK(q.rank == 4 && k.rank == 4, "q and k must be 4-D [B, H, N, D], got ", q.ShapeString(),
                " and ", k.ShapeString());
  attnkit::AttentionSpec s;
  s.num_q_heads = q.shape[1];
  s.num_kv_heads = k.shape[1];
  s.head_dim_qk = q.shape[3];
  s.head_dim_v = dv;
  s.mask.causal = causal;
  if (scale.has_value()) s.scale = static_cast<float>(*scale);
  s.return_lse = return_lse;
  return s;
}

attnkit::AttentionTensors TensorsOf(const Array& q, const Array& k, const Array& v, const Array& out,
                                    const std::optional<Array>& lse) {
  attnkit::AttentionTensors t;
  t.q = View(q, "q");
  t.k = View(k, "k");
  t.v = View(v, "v");
  t.out = View(out, "out");
  t.lse = View(lse, "lse");
  ATTNKIT_CHECK(t.v.rank == 4, "v must be 4-D [B, H, N, D], got ", t.v.ShapeString());
  return t;
}

nb::bytes MaskBytes(const attnkit::BlockMask& m) {
  const std::vector<uint8_t> dense = m.ToDense();
  return nb::bytes(reinterpret_cast<const char*>(dense.data()), dense.size());
}

void BlockSparsePy(const Array& q, const Array& k, const Array& v, const Array& out,
                   const std::optional<Array>& lse, const MaskArray& mask, int64_t block_size,
                   bool causal, std::optional<double> scale, int threads) {
  const attnkit::AttentionTensors t = TensorsOf(q, k, v, out, lse);
  const attnkit::AttentionSpec s =
      SpecOf(t.q, t.k, t.v.shape[3], causal, scale, lse.has_value());
  ATTNKIT_CHECK(block_size == 32 || block_size == 64 || block_size == 128,
                "block_size must be 32, 64 or 128, got ", block_size);
  const int64_t nqb = (t.q.shape[2] + block_size - 1) / block_size;
  const int64_t nkb = (t.k.shape[2] + block_size - 1) / block_size;
  ATTNKIT_CHECK(static_cast<int64_t>(mask.shape(0)) == t.q.shape[0] &&
                    static_cast<int64_t>(mask.shape(1)) == t.q.shape[1] &&
                    static_cast<int64_t>(mask.shape(2)) == nqb && static_cast<int64_t>(mask.shape(3)) == nkb,
                "block_mask has shape [", mask.shape(0), ", ", mask.shape(1), ", ", mask.shape(2), ", ",
                mask.shape(3), "], expected [B, Hq, ceil(Nq/", block_size, "), ceil(Nk/", block_size,
                ")] = [", t.q.shape[0], ", ", t.q.shape[1], ", ", nqb, ", ", nkb, "]");
  const attnkit::BlockMask m = attnkit::BlockMask::FromDense(
      t.q.shape[0], t.q.shape[1], t.q.shape[2], t.k.shape[2], block_size, block_size,
      std::span<const uint8_t>(mask.data(), mask.size()));
  const attnkit::ThreadingContext ctx(threads);
  nb::gil_scoped_release release;
  attnkit::BlockSparseAttention(s, t, m, ctx);
}

// Predictors on q, k ([B, H, N, D] views): `predict(spec, q, k, params, ctx)`
// runs without the GIL; the mask comes back as dense [B, Hq, nqb, nkb] bytes.
template <class Params, class Predict>
nb::bytes RunPredictor(const Array& q, const Array& k, bool causal, std::optional<double> scale,
                       const Params& params, int threads, Predict predict) {
  const TensorView tq = View(q, "q"), tk = View(k, "k");
  const attnkit::AttentionSpec s = SpecOf(tq, tk, tq.rank == 4 ? tq.shape[3] : 0, causal, scale, false);
  attnkit::BlockMask m;
  {
    nb::gil_scoped_release release;
    m = predict(s, tq, tk, params, attnkit::ThreadingContext(threads));
  }
  return MaskBytes(m);
}

nb::bytes XAttentionPy(const Array& q, const Array& k, bool causal, std::optional<double> scale,
                       int64_t block_size, int64_t stride, double threshold,
                       std::vector<double> head_thresholds, bool keep_sink, bool keep_recent,
                       int threads) {
  attnkit::XAttentionParams p;
  p.block_size = block_size;
  p.stride = stride;
  p.threshold = threshold;
  p.head_thresholds = std::move(head_thresholds);
  p.keep_sink = keep_sink;
  p.keep_recent = keep_recent;
  return RunPredictor(q, k, causal, scale, p, threads, attnkit::PredictXAttention);
}

nb::bytes MInferencePy(const Array& q, const Array& k, bool causal, std::optional<double> scale,
                       int64_t block_size, int64_t last_q, std::vector<std::string> patterns,
                       std::vector<int64_t> vertical, std::vector<int64_t> slash, int threads) {
  attnkit::MInferenceParams p;
  p.block_size = block_size;
  p.last_q = last_q;
  ATTNKIT_CHECK(patterns.size() == vertical.size() && patterns.size() == slash.size(),
                "patterns, vertical_size and slash_size must have one entry per head");
  for (size_t i = 0; i < patterns.size(); ++i) {
    attnkit::MInferenceHead h;
    const std::string& name = patterns[i];
    ATTNKIT_CHECK(name == "vertical_slash" || name == "a_shape" || name == "block_sparse",
                  "unknown MInference pattern '", name,
                  "' (allowed: vertical_slash, a_shape, block_sparse)");
    h.pattern = name == "a_shape"        ? attnkit::MInferencePattern::kAShape
                : name == "block_sparse" ? attnkit::MInferencePattern::kBlockSparse
                                         : attnkit::MInferencePattern::kVerticalSlash;
    h.vertical_size = vertical[i];
    h.slash_size = slash[i];
    p.heads.push_back(h);
  }
  return RunPredictor(q, k, causal, scale, p, threads, attnkit::PredictMInference);
}

nb::bytes FlexPrefillPy(const Array& q, const Array& k, bool causal, std::optional<double> scale,
                        int64_t block_size, double gamma, double tau, int64_t min_budget,
                        int64_t max_budget, int threads) {
  attnkit::FlexPrefillParams p;
  p.block_size = block_size;
  p.gamma = gamma;
  p.tau = tau;
  p.min_budget = min_budget;
  p.max_budget = max_budget;
  return RunPredictor(q, k, causal, scale, p, threads, attnkit::PredictFlexPrefill);
}

nb::bytes SampledMassPy(const Array& q, const Array& k, bool causal, std::optional<double> scale,
                        int64_t block_size, int64_t stride, double threshold, double entry_threshold,
                        double entry_ratio, int64_t sink_blocks, int64_t local_blocks,
                        double max_fraction, int threads) {
  attnkit::SampledMassParams p;
  p.block_size = block_size;
  p.stride = stride;
  p.threshold = threshold;
  p.entry_threshold = entry_threshold;
  p.entry_ratio = entry_ratio;
  p.sink_blocks = sink_blocks;
  p.local_blocks = local_blocks;
  p.max_fraction = max_fraction;
  return RunPredictor(q, k, causal, scale, p, threads, attnkit::PredictSampledMass);
}

nb::bytes TopKPy(const Array& q, const Array& k, bool causal, std::optional<double> scale,
                 int64_t block_size, int64_t top_k, bool keep_sink, bool keep_diagonal, int threads) {
  attnkit::TopKParams p;
  p.block_size = block_size;
  p.top_k = top_k;
  p.keep_sink = keep_sink;
  p.keep_diagonal = keep_diagonal;
  return RunPredictor(q, k, causal, scale, p, threads, attnkit::PredictTopK);
}

attnkit::AttentionSpec StaticSpec(int64_t hq, bool causal) {
  attnkit::AttentionSpec s;
  s.num_q_heads = s.num_kv_heads = hq;
  s.head_dim_qk = s.head_dim_v = 1;
  s.mask.causal = causal;
  return s;
}

nb::bytes PowerPy(int64_t batch, int64_t hq, int64_t nq, int64_t nk, bool causal,
                  int64_t block_size, int64_t sink_blocks, int64_t local_blocks) {
  attnkit::PowerAttentionParams p;
  p.block_size = block_size;
  p.sink_blocks = sink_blocks;
  p.local_blocks = local_blocks;
  return MaskBytes(attnkit::PredictPowerAttention(StaticSpec(hq, causal), batch, nq, nk, p));
}

nb::bytes SlidingWindowPy(int64_t batch, int64_t hq, int64_t nq, int64_t nk, bool causal,
                          int64_t block_size, int64_t sink_blocks, int64_t window_blocks) {
  attnkit::SlidingWindowParams p;
  p.block_size = block_size;
  p.sink_blocks = sink_blocks;
  p.window_blocks = window_blocks;
  return MaskBytes(attnkit::PredictSlidingWindow(StaticSpec(hq, causal), batch, nq, nk, p));
}

void NeighborhoodPy(const Array& q, const Array& k, const Array& v, const Array& out,
                    const std::optional<Array>& lse, std::vector<int64_t> extent,
                    std::vector<int64_t> kernel, std::vector<int64_t> dilation,
                    std::vector<int64_t> stride, std::vector<int64_t> causal,
                    std::optional<double> scale, int threads) {
  const attnkit::AttentionTensors t = TensorsOf(q, k, v, out, lse);
  const attnkit::AttentionSpec s = SpecOf(t.q, t.k, t.v.shape[3], false, scale, lse.has_value());
  const size_t rank = extent.size();
  ATTNKIT_CHECK(rank >= 1 && rank <= 3, "neighbourhood attention takes 1, 2 or 3 spatial axes, got ",
                rank);
  ATTNKIT_CHECK(kernel.size() == rank && dilation.size() == rank && stride.size() == rank &&
                    causal.size() == rank,
                "kernel_size, dilation, stride and causal must have one entry per spatial axis (",
                rank, ")");
  attnkit::NeighborhoodParams p;
  p.rank = static_cast<int>(rank);
  for (size_t i = 0; i < rank; ++i) {
    p.extent[i] = extent[i];
    p.kernel_size[i] = kernel[i];
    p.dilation[i] = dilation[i];
    p.stride[i] = stride[i];
    p.causal[i] = causal[i] != 0;
  }
  const attnkit::ThreadingContext ctx(threads);
  nb::gil_scoped_release release;
  attnkit::NeighborhoodAttention(p, s, t, ctx);
}

void WindowPy(const Array& q, const Array& k, const Array& v, const Array& out,
              const std::optional<Array>& lse, int64_t height, int64_t width,
              std::vector<int64_t> window, std::vector<int64_t> shift,
              std::vector<float> rel_pos_bias, std::optional<double> scale, int threads) {
  const attnkit::AttentionTensors t = TensorsOf(q, k, v, out, lse);
  const attnkit::AttentionSpec s = SpecOf(t.q, t.k, t.v.shape[3], false, scale, lse.has_value());
  ATTNKIT_CHECK(window.size() == 2 && shift.size() == 2, "window_size and shift must have 2 entries");
  attnkit::WindowParams p;
  p.height = height;
  p.width = width;
  p.window = {window[0], window[1]};
  p.shift = {shift[0], shift[1]};
  const attnkit::ThreadingContext ctx(threads);
  nb::gil_scoped_release release;
  attnkit::WindowAttention(p, s, t, rel_pos_bias, ctx);
}

}  // namespace

// Leading underscores: reached only through python/attnkit/sparse.py.
void BindSparse(nb::module_& m) {
  m.def("_block_sparse_attention", &BlockSparsePy, "q"_a, "k"_a, "v"_a, "out"_a,
        "lse"_a = nb::none(), "block_mask"_a, "block_size"_a, "causal"_a, "scale"_a = nb::none(),
        "threads"_a = 0);
  m.def("_predict_xattention", &XAttentionPy, "q"_a, "k"_a, "causal"_a, "scale"_a, "block_size"_a,
        "stride"_a, "threshold"_a, "head_thresholds"_a, "keep_sink"_a, "keep_recent"_a,
        "threads"_a);
  m.def("_predict_minference", &MInferencePy, "q"_a, "k"_a, "causal"_a, "scale"_a,
        "block_size"_a, "last_q"_a, "patterns"_a, "vertical_size"_a, "slash_size"_a, "threads"_a);
  m.def("_predict_flexprefill", &FlexPrefillPy, "q"_a, "k"_a, "causal"_a, "scale"_a,
        "block_size"_a, "gamma"_a, "tau"_a, "min_budget"_a, "max_budget"_a, "threads"_a);
  m.def("_predict_sampled", &SampledMassPy, "q"_a, "k"_a, "causal"_a, "scale"_a, "block_size"_a,
        "stride"_a, "threshold"_a, "entry_threshold"_a, "entry_ratio"_a, "sink_blocks"_a,
        "local_blocks"_a, "max_fraction"_a, "threads"_a);
  m.def("_predict_topk", &TopKPy, "q"_a, "k"_a, "causal"_a, "scale"_a, "block_size"_a, "top_k"_a,
        "keep_sink"_a, "keep_diagonal"_a, "threads"_a);
  m.def("_predict_power", &PowerPy, "batch"_a, "heads"_a, "seqlen_q"_a, "seqlen_k"_a, "causal"_a,
        "block_size"_a, "sink_blocks"_a, "local_blocks"_a);
  m.def("_predict_sliding_window", &SlidingWindowPy, "batch"_a, "heads"_a, "seqlen_q"_a,
        "seqlen_k"_a, "causal"_a, "block_size"_a, "sink_blocks"_a, "window_blocks"_a);
  m.def("_neighborhood_attention", &NeighborhoodPy, "q"_a, "k"_a, "v"_a, "out"_a,
        "lse"_a = nb::none(), "extent"_a, "kernel_size"_a, "dilation"_a, "stride"_a, "causal"_a,
        "scale"_a = nb::none(), "threads"_a = 0);
  m.def("_window_attention", &WindowPy, "q"_a, "k"_a, "v"_a, "out"_a, "lse"_a = nb::none(),
        "height"_a, "width"_a, "window_size"_a, "shift"_a, "rel_pos_bias"_a,
        "scale"_a = nb::none(), "threads"_a = 0);
}

}  // namespace attnkit_py
