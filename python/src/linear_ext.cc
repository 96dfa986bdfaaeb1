// SPDX-License-Identifier: Apache-2.0
// Python bindings of the linear family: attnkit._C._linear_attention over
// attnkit::LinearAttention. Arrays arrive already in logical order ([B, H, N, D]
// views made by python/attnkit/linear.py, any strides) and are wrapped, never copied.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <vector>

#include "attnkit/error.h"
#include "attnkit/linear.h"
#include "python/src/array_view.h"
#include "python/src/bindings.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace attnkit_py {
namespace {

using attnkit::DType;
using attnkit::TensorView;
using Array = nb::ndarray<>;

// Runs one call. The spec's fields arrive as keyword arguments with the C++
// names; cu_seqlens empty = fixed batch.
void LinearAttentionPy(const Array& q, const Array& k, const Array& v, const Array& out,
                       const std::optional<Array>& gate, const std::optional<Array>& beta,
                       const std::optional<Array>& initial_state,
                       const std::optional<Array>& final_state, int64_t num_kv_heads,
                       std::optional<double> scale, const std::string& rule,
                       std::vector<float> decay, const std::string& gate_kind,
                       const std::string& feature_map, std::vector<float> hedgehog_weight_q,
                       std::vector<float> hedgehog_bias_q, std::vector<float> hedgehog_weight_k,
                       std::vector<float> hedgehog_bias_k, bool qk_l2norm,
                       const std::string& norm, double norm_eps, int64_t window,
                       double linear_weight, double window_weight,
                       std::optional<double> window_scale, std::vector<int64_t> cu_seqlens,
                       const std::string& mode, int64_t chunk, int threads) {
  attnkit::LinearTensors t;
  t.q = View(q, "q");
  t.k = View(k, "k");
  t.v = View(v, "v");
  t.out = View(out, "out");
  t.gate = View(gate, "gate");
  t.beta = View(beta, "beta");
  t.initial_state = View(initial_state, "initial_state");
  t.final_state = View(final_state, "final_state");
  ATTNKIT_CHECK(t.q.rank == 4 && t.v.rank == 4, "q and v must be 4-D [B, H, N, D]");
  attnkit::LinearSpec s;
  s.num_q_heads = t.q.shape[1];
  s.num_kv_heads = num_kv_heads;
  s.head_dim_k = t.q.shape[3];
  s.head_dim_v = t.v.shape[3];
  if (scale.has_value()) s.scale = static_cast<float>(*scale);
  ATTNKIT_CHECK(rule == "additive" || rule == "delta", "unknown rule '", rule,
                "' (allowed: additive, delta)");
  s.rule = rule == "delta" ? attnkit::LinearRule::kDelta : attnkit::LinearRule::kAdditive;
  s.decay = std::move(decay);
  ATTNKIT_CHECK(gate_kind == "none" || gate_kind == "scalar" || gate_kind == "channel",
                "unknown gate kind '", gate_kind, "' (allowed: none, scalar, channel)");
  s.gate = gate_kind == "scalar"    ? attnkit::LinearGate::kScalar
           : gate_kind == "channel" ? attnkit::LinearGate::kChannel
                                    : attnkit::LinearGate::kNone;
  s.feature_map = attnkit::ParseFeatureMap(feature_map);
  s.hedgehog_weight_q = std::move(hedgehog_weight_q);
  s.hedgehog_bias_q = std::move(hedgehog_bias_q);
  s.hedgehog_weight_k = std::move(hedgehog_weight_k);
  s.hedgehog_bias_k = std::move(hedgehog_bias_k);
  s.qk_l2norm = qk_l2norm;
  s.norm = attnkit::ParseLinearNorm(norm);
  s.norm_eps = static_cast<float>(norm_eps);
  s.window = window;
  s.linear_weight = static_cast<float>(linear_weight);
  s.window_weight = static_cast<float>(window_weight);
  if (window_scale.has_value()) s.window_scale = static_cast<float>(*window_scale);
  attnkit::LinearPlanOptions o;
  o.mode = attnkit::ParseLinearMode(mode);
  o.chunk = chunk;
  const attnkit::ThreadingContext ctx(threads);
  // The arrays are kept alive by this call's arguments while the GIL is released.
  nb::gil_scoped_release release;
  attnkit::LinearAttention(s, t, ctx, std::move(cu_seqlens), o);
}

}  // namespace

// Leading underscores: these are reached only through python/attnkit/linear.py
// (and stay out of the public names _C.pyi lists).
void BindLinear(nb::module_& m) {
  m.def("_linear_attention", &LinearAttentionPy, "q"_a, "k"_a, "v"_a, "out"_a,
        "gate"_a = nb::none(), "beta"_a = nb::none(), "initial_state"_a = nb::none(),
        "final_state"_a = nb::none(), "num_kv_heads"_a, "scale"_a = nb::none(),
        "rule"_a = "additive", "decay"_a = std::vector<float>(), "gate_kind"_a = "none",
        "feature_map"_a = "identity", "hedgehog_weight_q"_a = std::vector<float>(),
        "hedgehog_bias_q"_a = std::vector<float>(), "hedgehog_weight_k"_a = std::vector<float>(),
        "hedgehog_bias_k"_a = std::vector<float>(), "qk_l2norm"_a = false, "norm"_a = "none",
        "norm_eps"_a = 1e-6, "window"_a = 0, "linear_weight"_a = 0.5, "window_weight"_a = 0.5,
        "window_scale"_a = nb::none(), "cu_seqlens"_a = std::vector<int64_t>(),
        "mode"_a = "chunk", "chunk"_a = 0, "threads"_a = 0);
  m.def("_lightning_decays", &attnkit::LightningDecays, "num_heads"_a);
  m.def("_retnet_decays", &attnkit::RetNetDecays, "num_heads"_a);
}

}  // namespace attnkit_py
