// SPDX-License-Identifier: Apache-2.0
// Input validation of the linear-attention family (see linear_validate.h).
// Not the softmax-attention checks (src/plan/validate.cc).
#include "src/kernels/linear/linear_validate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "attnkit/error.h"
#include "src/plan/validate.h"

namespace attnkit::linear {
namespace {

void CheckF32(const char* name, const TensorView& t) {
  ATTNKIT_CHECK(t.dtype == DType::kF32, "tensor '", name, "' must be f32, got ", Name(t.dtype));
}

// [first, last] byte addresses a view touches (numel > 0).
std::pair<uintptr_t, uintptr_t> Extent(const TensorView& t) {
  uintptr_t last = 0;
  for (int d = 0; d < t.rank; ++d) last += static_cast<uintptr_t>((t.shape[d] - 1) * t.strides[d]);
  const uintptr_t first = reinterpret_cast<uintptr_t>(t.data);
  return {first, first + (last + 1) * SizeOf(t.dtype) - 1};
}

bool SameView(const TensorView& a, const TensorView& b) {
  return a.data == b.data && a.dtype == b.dtype && a.rank == b.rank && a.shape == b.shape &&
         a.strides == b.strides;
}

void CheckFiniteVector(const char* name, const std::vector<float>& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    ATTNKIT_CHECK(std::isfinite(v[i]), name, "[", i, "] must be finite, got ", v[i]);
  }
}

// Throws Error naming the first element of the rank-3 or rank-4 f32 view `t`
// whose value fails `ok`: "<name>[b, h, n(, c)] = <value><what>".
template <class Ok>
void CheckValues(const char* name, const TensorView& t, Ok&& ok, const char* what) {
  const float* base = static_cast<const float*>(t.data);
  const int64_t inner = t.rank == 4 ? t.shape[3] : 1;
  for (int64_t b = 0; b < t.shape[0]; ++b)
    for (int64_t h = 0; h < t.shape[1]; ++h)
      for (int64_t n = 0; n < t.shape[2]; ++n) {
        const float* row = base + b * t.strides[0] + h * t.strides[1] + n * t.strides[2];
        for (int64_t c = 0; c < inner; ++c) {
          if (ok(row[c])) continue;
          const std::string channel = t.rank == 4 ? ", " + std::to_string(c) : "";
          detail::Throw(name, "[", b, ", ", h, ", ", n, channel, "] = ", row[c], what);
        }
      }
}

}  // namespace

void ValidateLinearSpec(const LinearSpec& s) {
  ValidateHeads(s.num_q_heads, s.num_kv_heads, "head_dim_k", s.head_dim_k, s.head_dim_v, s.scale);
  const int rule = static_cast<int>(s.rule), fmap = static_cast<int>(s.feature_map);
  const int norm = static_cast<int>(s.norm), gate = static_cast<int>(s.gate);
  ATTNKIT_CHECK(rule <= 1, "rule must be additive (0) or delta (1), got ", rule);
  ATTNKIT_CHECK(fmap <= 4, "feature_map must be identity, elu+1, relu, hedgehog or based (0-4), got ",
                fmap);
  ATTNKIT_CHECK(norm <= 3, "norm must be none, denominator, rmsnorm or layernorm (0-3), got ", norm);
  ATTNKIT_CHECK(gate <= 2, "gate must be none, scalar or channel (0-2), got ", gate);

  if (!s.decay.empty()) {
    ATTNKIT_CHECK(static_cast<int64_t>(s.decay.size()) == s.num_kv_heads,
                  "decay must have num_kv_heads (", s.num_kv_heads, ") entries, got ",
                  s.decay.size());
    for (size_t i = 0; i < s.decay.size(); ++i) {
      ATTNKIT_CHECK(s.decay[i] > 0.0f && s.decay[i] <= 1.0f, "decay[", i,
                    "] must be in (0, 1] (lambda of S_t = lambda S_{t-1} + k_t v_t^T), got ",
                    s.decay[i]);
    }
  }

  const int64_t dk = s.head_dim_k;
  const bool hedgehog = s.feature_map == FeatureMap::kHedgehog;
  const std::pair<const char*, const std::vector<float>*> weights[] = {
      {"hedgehog_weight_q", &s.hedgehog_weight_q}, {"hedgehog_bias_q", &s.hedgehog_bias_q},
      {"hedgehog_weight_k", &s.hedgehog_weight_k}, {"hedgehog_bias_k", &s.hedgehog_bias_k}};
  for (const auto& [name, w] : weights) {
    ATTNKIT_CHECK(hedgehog || w->empty(), name, " given but feature_map is ", Name(s.feature_map),
                  " (only hedgehog takes weights)");
    CheckFiniteVector(name, *w);
  }
  if (hedgehog) {
    ATTNKIT_CHECK(static_cast<int64_t>(s.hedgehog_weight_q.size()) == dk * dk,
                  "hedgehog_weight_q must have head_dim_k^2 = ", dk * dk,
                  " entries ([Dk_out x Dk_in], row-major), got ", s.hedgehog_weight_q.size());
    for (const auto& [name, w, want] :
         {std::tuple{"hedgehog_bias_q", &s.hedgehog_bias_q, dk},
          std::tuple{"hedgehog_weight_k", &s.hedgehog_weight_k, dk * dk},
          std::tuple{"hedgehog_bias_k", &s.hedgehog_bias_k, dk}}) {
      ATTNKIT_CHECK(w->empty() || static_cast<int64_t>(w->size()) == want, name,
                    " must be empty or have ", want, " entries, got ", w->size());
    }
    ATTNKIT_CHECK(s.hedgehog_bias_k.empty() || !s.hedgehog_weight_k.empty(),
                  "hedgehog_bias_k given without hedgehog_weight_k (empty key weights tie the "
                  "keys' map, bias included, to the queries')");
  }
  const int64_t f = s.feature_dim();
  ATTNKIT_CHECK(f <= kMaxFeatureDim, "feature_map ", Name(s.feature_map), " with head_dim_k ", dk,
                " has ", f, " features, more than the ", kMaxFeatureDim,
                " allowed (based: 1 + Dk + Dk^2, so Dk <= 63)");
  ATTNKIT_CHECK(s.gate != LinearGate::kChannel || f == dk,
                "gate=channel gates the Dk feature channels, but feature_map ",
                Name(s.feature_map), " has ", f, " features (use identity, elu+1 or relu)");
  ATTNKIT_CHECK(!(s.rule == LinearRule::kDelta && s.norm == LinearNorm::kDenominator),
                "norm=denominator is not defined for the delta rule (use none, rmsnorm or layernorm)");
  ATTNKIT_CHECK(std::isfinite(s.norm_eps) && s.norm_eps > 0.0f,
                "norm_eps must be finite and > 0, got ", s.norm_eps);
  ATTNKIT_CHECK(s.window >= 0, "window must be >= 0 (0 = no softmax-window hybrid), got ", s.window);
  ATTNKIT_CHECK(std::isfinite(s.linear_weight), "linear_weight must be finite, got ",
                s.linear_weight);
  ATTNKIT_CHECK(std::isfinite(s.window_weight), "window_weight must be finite, got ",
                s.window_weight);
  if (s.window_scale.has_value()) {
    ATTNKIT_CHECK(std::isfinite(*s.window_scale), "window_scale must be finite, got ",
                  *s.window_scale);
  }
}

void ValidateLinearShape(const LinearSpec& spec, const LinearShape& sh) {
  for (const auto& [name, dt] : {std::pair{"dtype", sh.dtype}, std::pair{"out_dtype", sh.out_dtype}}) {
    ATTNKIT_CHECK(static_cast<int>(dt) <= 2, name, " must be f32, bf16 or f16, got ",
                  static_cast<int>(dt));
  }
  ATTNKIT_CHECK(sh.batch >= 1, "batch must be >= 1, got ", sh.batch);
  if (!sh.is_varlen()) {
    ATTNKIT_CHECK(sh.seqlen >= 1, "seqlen must be >= 1, got ", sh.seqlen,
                  " (use a varlen batch for empty sequences)");
    return;
  }
  const std::vector<int64_t>& cu = sh.cu_seqlens;
  ATTNKIT_CHECK(static_cast<int64_t>(cu.size()) == sh.batch + 1, "cu_seqlens must have batch + 1 = ",
                sh.batch + 1, " entries, got ", cu.size());
  ATTNKIT_CHECK(cu[0] == 0, "cu_seqlens[0] must be 0, got ", cu[0]);
  for (size_t i = 1; i < cu.size(); ++i) {
    ATTNKIT_CHECK(cu[i] >= cu[i - 1], "cu_seqlens must be non-decreasing, but cu_seqlens[", i,
                  "] = ", cu[i], " < cu_seqlens[", i - 1, "] = ", cu[i - 1]);
  }
}

void ValidateLinearOptions(const LinearSpec& spec, const LinearShape& sh,
                           const LinearPlanOptions& o) {
  const int mode = static_cast<int>(o.mode);
  ATTNKIT_CHECK(mode <= 4, "mode must be auto, chunk, recurrent, parallel or reference (0-4), got ",
                mode);
  ATTNKIT_CHECK(o.chunk == 0 || (o.chunk >= 1 && o.chunk <= kMaxChunk), "chunk must be in [1, ",
                kMaxChunk, "] (0 = the planner's choice), got ", o.chunk);
  ATTNKIT_CHECK(o.chunk == 0 || o.mode == LinearMode::kChunk || o.mode == LinearMode::kAuto,
                "chunk = ", o.chunk, " applies to mode=chunk, but mode is ", Name(o.mode));
  if (o.mode == LinearMode::kParallel) {
    int64_t longest = 0;
    for (int64_t b = 0; b < sh.batch; ++b) longest = std::max(longest, sh.seq_len(b));
    ATTNKIT_CHECK(longest <= kMaxParallelLength, "mode=parallel materialises N x N scores: the "
                  "longest sequence has N = ", longest, " > ", kMaxParallelLength,
                  " (use mode=chunk)");
  }
}

void ValidateLinearTensors(const LinearSpec& s, const LinearShape& sh, const LinearTensors& t) {
  const int64_t b = sh.is_varlen() ? 1 : sh.batch;
  const int64_t n = sh.is_varlen() ? sh.total() : sh.seqlen;
  const int64_t hq = s.num_q_heads, hkv = s.num_kv_heads, dk = s.head_dim_k, dv = s.head_dim_v;
  constexpr const char* kAxes = "[B, H, N, D]";
  CheckTensor("q", t.q, {b, hq, n, dk}, kAxes);
  CheckTensor("k", t.k, {b, hkv, n, dk}, kAxes);
  CheckTensor("v", t.v, {b, hkv, n, dv}, kAxes);
  CheckTensor("out", t.out, {b, hq, n, dv}, kAxes);
  CheckWritable("out", t.out);
  ATTNKIT_CHECK(t.q.dtype == sh.dtype && t.k.dtype == sh.dtype && t.v.dtype == sh.dtype,
                "q, k and v must all have dtype ", Name(sh.dtype), ", got q ", Name(t.q.dtype),
                ", k ", Name(t.k.dtype), ", v ", Name(t.v.dtype));
  ATTNKIT_CHECK(t.out.dtype == sh.out_dtype, "out must have dtype ", Name(sh.out_dtype), ", got ",
                Name(t.out.dtype));

  if (s.gate == LinearGate::kNone) {
    ATTNKIT_CHECK(t.gate.data == nullptr, "a gate tensor was given but spec.gate is none");
  } else {
    if (s.gate == LinearGate::kScalar) {
      CheckTensor("gate", t.gate, {b, hkv, n}, "[B, Hkv, N] (gate=scalar)");
    } else {
      CheckTensor("gate", t.gate, {b, hkv, n, dk}, "[B, Hkv, N, Dk] (gate=channel)");
    }
    CheckF32("gate", t.gate);
    CheckValues("gate", t.gate, [](float g) { return g <= 0.0f; },
                ": gates are log-gates and must be <= 0 (a decay in [0, 1]; -inf resets)");
  }
  if (s.rule == LinearRule::kDelta) {
    CheckTensor("beta", t.beta, {b, hkv, n}, "[B, Hkv, N]");
    CheckF32("beta", t.beta);
    CheckValues("beta", t.beta, [](float x) { return x >= 0.0f && x <= 2.0f; },
                ": the delta rule's write strength must be in [0, 2]");
  } else {
    ATTNKIT_CHECK(t.beta.data == nullptr, "a beta tensor was given but spec.rule is additive");
  }

  const int64_t f = s.feature_dim(), cols = s.state_cols();
  const char* kStateAxes = "[S, Hkv, F, state_cols] (S sequences; F features; Dv, +1 with norm=denominator)";
  if (t.initial_state.data != nullptr || t.initial_state.rank != 0) {
    CheckTensor("initial_state", t.initial_state, {sh.batch, hkv, f, cols}, kStateAxes);
    CheckF32("initial_state", t.initial_state);
  }
  if (t.final_state.data != nullptr || t.final_state.rank != 0) {
    CheckTensor("final_state", t.final_state, {sh.batch, hkv, f, cols}, kStateAxes);
    CheckF32("final_state", t.final_state);
    CheckWritable("final_state", t.final_state);
    const bool both = t.initial_state.data != nullptr && t.initial_state.numel() > 0 &&
                      t.final_state.numel() > 0;
    if (both && !SameView(t.initial_state, t.final_state)) {
      const auto [a0, a1] = Extent(t.initial_state);
      const auto [b0, b1] = Extent(t.final_state);
      ATTNKIT_CHECK(a1 < b0 || b1 < a0, "initial_state and final_state overlap without being the "
                    "same view (pass the same tensor for an in-place update)");
    }
  }
}

}  // namespace attnkit::linear
