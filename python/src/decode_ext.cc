// SPDX-License-Identifier: Apache-2.0
// Python bindings of the decode family: attnkit._C.KVCache over attnkit::KVCache
// and attnkit._C._decode over attnkit::Decode. Query / output arrays arrive as
// logical views made by python/attnkit/decode.py (q [1, Hq, T, Dqk] with any
// strides, last axis contiguous) and are wrapped, never copied.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attnkit/decode.h"
#include "attnkit/error.h"
#include "attnkit/kv_cache.h"
#include "python/src/array_view.h"
#include "python/src/bindings.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace attnkit_py {
namespace {

using attnkit::DType;
using attnkit::TensorView;
using Array = nb::ndarray<>;
using F32Array = nb::ndarray<nb::numpy, float>;

attnkit::KVLayout ParseLayout(const std::string& s) {
  if (s == "paged") return attnkit::KVLayout::kPaged;
  if (s == "contiguous") return attnkit::KVLayout::kContiguous;
  attnkit::detail::Throw("unknown KV cache layout '", s, "' (allowed: paged, contiguous)");
}
attnkit::KVRetention ParseRetention(const std::string& s) {
  if (s == "all") return attnkit::KVRetention::kAll;
  if (s == "ring") return attnkit::KVRetention::kRing;
  if (s == "sink_recent") return attnkit::KVRetention::kSinkRecent;
  attnkit::detail::Throw("unknown retention '", s, "' (allowed: all, ring, sink_recent)");
}
attnkit::RopeStyle ParseRope(const std::string& s) {
  if (s == "none") return attnkit::RopeStyle::kNone;
  if (s == "interleaved") return attnkit::RopeStyle::kInterleaved;
  if (s == "neox") return attnkit::RopeStyle::kNeoX;
  attnkit::detail::Throw("unknown rope style '", s, "' (allowed: none, interleaved, neox)");
}
attnkit::KScales ParseKScales(const std::string& s) {
  if (s == "channel") return attnkit::KScales::kPerChannel;
  if (s == "token") return attnkit::KScales::kPerToken;
  attnkit::detail::Throw("unknown k_scales '", s, "' (allowed: channel, token)");
}
attnkit::DecodePartition ParsePartition(const std::string& s) {
  if (s == "auto") return attnkit::DecodePartition::kAuto;
  if (s == "split_kv") return attnkit::DecodePartition::kSplitKV;
  if (s == "stream_k") return attnkit::DecodePartition::kStreamK;
  attnkit::detail::Throw("unknown partition '", s, "' (allowed: auto, split_kv, stream_k)");
}

// An owning float32 NumPy array of `shape` moved out of `v`.
F32Array ToNumpy(std::vector<float>&& v, std::initializer_list<size_t> shape) {
  auto* buf = new std::vector<float>(std::move(v));
  nb::capsule owner(buf, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  return F32Array(buf->data(), shape, owner);
}

// attnkit._C.KVCache: a KVCache made from keyword arguments. Mutating calls and
// decode hold the GIL, so Python threads never race on one cache.
class PyKVCache {
 public:
  PyKVCache(int64_t num_kv_heads, int64_t head_dim_k, int64_t head_dim_v, bool v_from_k,
            const std::string& dtype, const std::string& k_scales, int64_t k_group, int64_t v_group,
            int64_t residual, bool hadamard, const std::string& layout, int64_t page_size,
            int64_t num_pages, int64_t max_seqs, int64_t max_seq_len, const std::string& retention,
            int64_t window, int64_t sink_tokens, int64_t recent_tokens, const std::string& rope,
            double rope_theta, int64_t rope_start, int64_t rope_dims)
      : cache_(MakeConfig(num_kv_heads, head_dim_k, head_dim_v, v_from_k, dtype, k_scales, k_group,
                          v_group, residual, hadamard, layout, page_size, num_pages, max_seqs,
                          max_seq_len, retention, window, sink_tokens, recent_tokens, rope, rope_theta,
                          rope_start, rope_dims)) {}

  static attnkit::KVCacheConfig MakeConfig(int64_t num_kv_heads, int64_t head_dim_k, int64_t head_dim_v,
                                           bool v_from_k, const std::string& dtype,
                                           const std::string& k_scales, int64_t k_group, int64_t v_group,
                                           int64_t residual, bool hadamard, const std::string& layout,
                                           int64_t page_size, int64_t num_pages, int64_t max_seqs,
                                           int64_t max_seq_len, const std::string& retention,
                                           int64_t window, int64_t sink_tokens, int64_t recent_tokens,
                                           const std::string& rope, double rope_theta, int64_t rope_start,
                                           int64_t rope_dims) {
    attnkit::KVCacheConfig c;
    c.num_kv_heads = num_kv_heads;
    c.head_dim_k = head_dim_k;
    c.head_dim_v = head_dim_v;
    c.v_from_k = v_from_k;
    c.dtype = attnkit::ParseKVDType(dtype);
    c.k_scales = ParseKScales(k_scales);
    c.k_group = k_group;
    c.v_group = v_group;
    c.residual = residual;
    c.hadamard = hadamard;
    c.layout = ParseLayout(layout);
    c.page_size = page_size;
    c.num_pages = num_pages;
    c.max_seqs = max_seqs;
    c.max_seq_len = max_seq_len;
    c.retention = ParseRetention(retention);
    c.window = window;
    c.sink_tokens = sink_tokens;
    c.recent_tokens = recent_tokens;
    c.rope.style = ParseRope(rope);
    c.rope.theta = rope_theta;
    c.rope.start = rope_start;
    c.rope.dims = rope_dims;
    return c;
  }

  int64_t AddSequence(int64_t position_offset) { return cache_.AddSequence(position_offset); }
  int64_t Fork(int64_t seq) { return cache_.Fork(seq); }
  void Free(int64_t seq) { cache_.Free(seq); }
  int64_t AddSequenceFromPages(std::vector<int32_t> pages, int64_t length, int64_t position_offset) {
    return cache_.AddSequenceFromPages(pages, length, position_offset);
  }
  void Append(int64_t seq, const Array& k, const std::optional<Array>& v) {
    const TensorView kt = View(k, "k");
    const TensorView vt = View(v, "v");
    cache_.Append(seq, kt, vt);
  }
  std::pair<F32Array, F32Array> Materialize(int64_t seq) const {
    std::vector<float> k, v;
    cache_.Materialize(seq, k, v);
    const attnkit::KVCacheConfig& c = cache_.config();
    const size_t h = static_cast<size_t>(c.num_kv_heads), n = static_cast<size_t>(cache_.kept(seq));
    return {ToNumpy(std::move(k), {h, n, static_cast<size_t>(c.head_dim_k)}),
            ToNumpy(std::move(v), {h, n, static_cast<size_t>(c.head_dim_v)})};
  }

  const attnkit::KVCache& cache() const { return cache_; }

 private:
  attnkit::KVCache cache_;
};

// One decode call; returns the number of unified-max fallbacks.
int64_t DecodePy(const Array& q, const Array& out, const std::optional<Array>& lse,
                 const std::optional<Array>& sinks, const PyKVCache& cache, std::vector<int64_t> seq_ids,
                 std::vector<int64_t> cu_seqlens_q, int64_t shared_prefix, std::optional<double> scale,
                 bool causal, int64_t window_left, int64_t window_right, double softcap, bool alibi,
                 std::vector<float> alibi_slopes, const std::string& partition, int64_t num_splits,
                 int64_t block_tokens, int num_workers, std::optional<double> unified_max,
                 const std::string& kernel, int threads) {
  attnkit::DecodeTensors t;
  t.q = View(q, "q");
  t.out = View(out, "out");
  t.lse = View(lse, "lse");
  t.sinks = View(sinks, "sinks");
  ATTNKIT_CHECK(t.q.rank == 4, "q must be a 4-D view [1, Hq, total_q, Dqk]");
  const attnkit::KVCacheConfig& c = cache.cache().config();
  attnkit::AttentionSpec spec;
  spec.num_q_heads = t.q.shape[1];
  spec.num_kv_heads = c.num_kv_heads;
  spec.head_dim_qk = t.q.shape[3];  // checked against the cache by MakeDecodePlan
  spec.head_dim_v = c.head_dim_v;
  if (scale.has_value()) spec.scale = static_cast<float>(*scale);
  spec.mask.causal = causal;
  spec.mask.window_left = window_left == -1 ? attnkit::kUnbounded : window_left;
  spec.mask.window_right = window_right == -1 ? attnkit::kUnbounded : window_right;
  spec.softcap = static_cast<float>(softcap);
  spec.alibi = alibi;
  spec.alibi_slopes = std::move(alibi_slopes);
  spec.has_sinks = sinks.has_value();
  spec.return_lse = lse.has_value();
  attnkit::DecodeBatch batch;
  batch.seq_ids = std::move(seq_ids);
  batch.cu_seqlens_q = std::move(cu_seqlens_q);
  batch.shared_prefix = shared_prefix;
  attnkit::DecodeOptions o;
  o.partition = ParsePartition(partition);
  o.num_splits = num_splits;
  o.block_tokens = block_tokens;
  o.num_workers = num_workers;
  if (unified_max.has_value()) o.unified_max = static_cast<float>(*unified_max);
  o.kernel = kernel;
  const attnkit::ThreadingContext ctx(threads);
  return attnkit::Decode(spec, cache.cache(), batch, t, ctx, o).unified_max_fallbacks;
}

}  // namespace

// The cache class is public (attnkit.KVCache wraps it); _decode is reached
// only through python/attnkit/decode.py.
void BindDecode(nb::module_& m) {
  nb::class_<PyKVCache>(m, "KVCache")
      .def(nb::init<int64_t, int64_t, int64_t, bool, const std::string&, const std::string&, int64_t,
                    int64_t, int64_t, bool, const std::string&, int64_t, int64_t, int64_t, int64_t,
                    const std::string&, int64_t, int64_t, int64_t, const std::string&, double, int64_t,
                    int64_t>(),
           "num_kv_heads"_a, "head_dim_k"_a, "head_dim_v"_a, "v_from_k"_a = false, "dtype"_a = "bf16",
           "k_scales"_a = "channel", "k_group"_a = 0, "v_group"_a = 0, "residual"_a = -1,
           "hadamard"_a = false, "layout"_a = "paged", "page_size"_a = 16, "num_pages"_a = 0,
           "max_seqs"_a = 1, "max_seq_len"_a = 0, "retention"_a = "all", "window"_a = 0,
           "sink_tokens"_a = 4, "recent_tokens"_a = 0, "rope"_a = "none", "rope_theta"_a = 10000.0,
           "rope_start"_a = 0, "rope_dims"_a = 0)
      .def("add_sequence", &PyKVCache::AddSequence, "position_offset"_a = 0)
      .def("fork", &PyKVCache::Fork, "seq"_a)
      .def("free", &PyKVCache::Free, "seq"_a)
      .def("add_sequence_from_pages", &PyKVCache::AddSequenceFromPages, "pages"_a, "length"_a,
           "position_offset"_a = 0)
      .def("append", &PyKVCache::Append, "seq"_a, "k"_a, "v"_a = nb::none())
      .def("materialize", &PyKVCache::Materialize, "seq"_a)
      .def("length", [](const PyKVCache& c, int64_t s) { return c.cache().length(s); }, "seq"_a)
      .def("kept", [](const PyKVCache& c, int64_t s) { return c.cache().kept(s); }, "seq"_a)
      .def("position_offset", [](const PyKVCache& c, int64_t s) { return c.cache().position_offset(s); },
           "seq"_a)
      .def("contains", [](const PyKVCache& c, int64_t s) { return c.cache().contains(s); }, "seq"_a)
      .def("block_table", [](const PyKVCache& c, int64_t s) { return c.cache().block_table(s); }, "seq"_a)
      .def_prop_ro("sequences", [](const PyKVCache& c) { return c.cache().sequences(); })
      .def_prop_ro("free_pages", [](const PyKVCache& c) { return c.cache().free_pages(); })
      .def_prop_ro("num_pages", [](const PyKVCache& c) { return c.cache().num_pages(); })
      .def_prop_ro("bytes_per_token", [](const PyKVCache& c) { return c.cache().bytes_per_token(); })
      .def_prop_ro("num_kv_heads", [](const PyKVCache& c) { return c.cache().config().num_kv_heads; })
      .def_prop_ro("head_dim_k", [](const PyKVCache& c) { return c.cache().config().head_dim_k; })
      .def_prop_ro("head_dim_v", [](const PyKVCache& c) { return c.cache().config().head_dim_v; })
      .def_prop_ro("dtype", [](const PyKVCache& c) { return std::string(attnkit::Name(c.cache().config().dtype)); });
  m.def("_decode", &DecodePy, "q"_a, "out"_a, "lse"_a = nb::none(), "sinks"_a = nb::none(), "cache"_a,
        "seq_ids"_a, "cu_seqlens_q"_a, "shared_prefix"_a = -1, "scale"_a = nb::none(), "causal"_a = true,
        "window_left"_a = -1, "window_right"_a = -1, "softcap"_a = 0.0, "alibi"_a = false,
        "alibi_slopes"_a = std::vector<float>(), "partition"_a = "auto", "num_splits"_a = 0,
        "block_tokens"_a = 0, "num_workers"_a = 0, "unified_max"_a = nb::none(), "kernel"_a = "",
        "threads"_a = 0);
}

}  // namespace attnkit_py
