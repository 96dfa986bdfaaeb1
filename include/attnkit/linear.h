// SPDX-License-Identifier: Apache-2.0
// Linear attention (causal, recurrent state): LinearSpec, LinearPlan, RunLinear.
// Not softmax attention (plan.h); the hybrid option only calls it for its window part.
//
// Per KV head g, with feature rows phi(q), phi(k) of width F and a state S [F x Dv]:
//
//   additive rule (linear attention, RetNet, Lightning, Mamba-2, GLA):
//     S_t = diag(a_t) S_{t-1} + phi(k_t) v_t^T
//   delta rule (DeltaNet, Gated DeltaNet, KDA):
//     S_t = diag(a_t) S_{t-1};  S_t += beta_t phi(k_t) (v_t - S_t^T phi(k_t))^T
//   output of every query head h of g's GQA group:
//     o_t = scale * phi(q_t)^T S_t          (Dv values)
//
// a_t = exp(g_t) in [0, 1]^F is the product of the per-head decay lambda and the
// data-dependent gate: log a_t[c] = log(lambda_g) + gate_t (scalar per token and
// head: Mamba-2, Gated DeltaNet) or + gate_t[c] (per channel: GLA, KDA).
// The state is per KV head (query heads of a group share it, as GQA shares K/V)
// and key-major [F, Dv], as in flash-linear-attention. Every convention is in
// docs/linear.md; the three forms (parallel, recurrent, chunked) are equal.
#ifndef ATTNKIT_LINEAR_H_
#define ATTNKIT_LINEAR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attnkit/dtype.h"
#include "attnkit/tensor.h"
#include "attnkit/threading.h"

namespace attnkit {

// phi, applied to q and k rows (after the optional L2 normalisation).
enum class FeatureMap : uint8_t {
  kIdentity = 0,    // phi(x) = x                                        F = Dk
  kEluPlusOne = 1,  // phi(x) = elu(x) + 1 (Katharopoulos et al.)        F = Dk
  kRelu = 2,        // phi(x) = max(x, 0)                                F = Dk
  kHedgehog = 3,    // phi(x) = softmax([y, -y]), y = W x + b            F = 2 Dk
  kBased = 4,       // 2nd-order Taylor of exp(scale q.k): see below     F = 1 + Dk + Dk^2
};
// Based: phi(q) = [1, s q, vec(s q (s q)^T) / sqrt(2)] with s = scale, and
// phi(k) = [1, k, vec(k k^T) / sqrt(2)], so that phi(q).phi(k) = 1 + x + x^2 / 2
// with x = scale q.k. The scale is consumed inside the map (not applied again).

// How the output row is normalised (before the hybrid mix).
enum class LinearNorm : uint8_t {
  kNone = 0,
  kDenominator = 1,  // o_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps), z_t = sum of decayed phi(k_j)
  kRmsNorm = 2,      // TransNormer: o = o / sqrt(mean(o^2) + eps) over Dv (no learned gain)
  kLayerNorm = 3,    // o = (o - mean(o)) / sqrt(var(o) + eps) over Dv (no learned gain / bias)
};

enum class LinearGate : uint8_t {
  kNone = 0,
  kScalar = 1,   // tensors.gate [B, Hkv, N] log-gates (Mamba-2, Gated DeltaNet)
  kChannel = 2,  // tensors.gate [B, Hkv, N, Dk] log-gates (GLA, KDA); needs F == Dk
};

enum class LinearRule : uint8_t {
  kAdditive = 0,  // S += phi(k) v^T
  kDelta = 1,     // S += beta phi(k) (v - S^T phi(k))^T; tensors.beta [B, Hkv, N]
};

// Which of the three equal forms runs.
enum class LinearMode : uint8_t {
  kAuto = 0,       // the planner's choice: recurrent for short calls (decode), else chunked
  kChunk = 1,      // chunked: intra-chunk tile products + inter-chunk state passing (prefill)
  kRecurrent = 2,  // token by token (decode)
  kParallel = 3,   // one chunk per sequence: the masked O(N^2) form (for tests; N <= 8192)
  kReference = 4,  // the fp64 oracle (slow, allocates; for tests and cross-checks)
};

const char* Name(FeatureMap m);
const char* Name(LinearNorm n);
const char* Name(LinearGate g);
const char* Name(LinearRule r);
const char* Name(LinearMode m);
// Parse the names above ("identity", "elu+1", "relu", "hedgehog", "based"; "none",
// "denominator", "rmsnorm", "layernorm"; "none", "scalar", "channel"; "additive",
// "delta"; "auto", "chunk", "recurrent", "parallel", "reference"). Throw Error.
FeatureMap ParseFeatureMap(const std::string& name);
LinearNorm ParseLinearNorm(const std::string& name);
LinearMode ParseLinearMode(const std::string& name);

struct LinearSpec {
  int64_t num_q_heads = 0;   // Hq
  int64_t num_kv_heads = 0;  // Hkv (state heads); Hq % Hkv == 0; query head h reads head h / (Hq / Hkv)
  int64_t head_dim_k = 0;    // Dk of q and k, 1..1024
  int64_t head_dim_v = 0;    // Dv, 1..1024
  std::optional<float> scale;  // default 1 / sqrt(Dk) (flash-linear-attention's); finite
  LinearRule rule = LinearRule::kAdditive;
  // Per-head decay lambda_g in (0, 1] for each of the Hkv state heads; empty =
  // none (1). LightningDecays / RetNetDecays give the published tables.
  std::vector<float> decay;
  LinearGate gate = LinearGate::kNone;
  FeatureMap feature_map = FeatureMap::kIdentity;
  // Hedgehog weights, shared by all heads: y = W x + b with W [Dk_out x Dk_in]
  // row-major (torch.nn.Linear's layout) and b [Dk] (empty = 0). The *_k
  // weights apply to keys; empty = tied to the query weights.
  std::vector<float> hedgehog_weight_q, hedgehog_bias_q, hedgehog_weight_k, hedgehog_bias_k;
  // L2-normalise q and k rows before the feature map: x / sqrt(|x|^2 + 1e-6)
  // (flash-linear-attention's use_qk_l2norm_in_kernel; DeltaNet needs unit keys).
  bool qk_l2norm = false;
  LinearNorm norm = LinearNorm::kNone;
  float norm_eps = 1e-6f;  // eps of the denominator / RMSNorm / LayerNorm; finite, > 0
  // Hybrid (Liger attention / Based style): > 0 adds causal sliding-window
  // softmax attention over the last `window` tokens (the query's own
  // included) of this call, through the dense kernel (attnkit::Attention):
  //   out = linear_weight * o_linear + window_weight * o_softmax.
  int64_t window = 0;
  float linear_weight = 0.5f, window_weight = 0.5f;  // used only with window > 0; finite
  std::optional<float> window_scale;                // softmax scale; default 1 / sqrt(Dk)

  float resolved_scale() const;
  // Width F of the feature rows (and rows of the state) for this spec.
  int64_t feature_dim() const;
  // Columns of the state: Dv, plus one (the running normaliser z) with kDenominator.
  int64_t state_cols() const;
};

// Lightning Attention-2's per-head decays lambda_h = exp(-slope_h), slopes =
// AlibiSlopes(num_heads) (ALiBi's table).
std::vector<float> LightningDecays(int64_t num_heads);
// RetNet's gamma_h = 1 - 2^(-5 - h).
std::vector<float> RetNetDecays(int64_t num_heads);

// Sizes of one call: a fixed batch (batch, seqlen), or varlen with cu_seqlens
// (batch + 1 non-decreasing offsets from 0; tensors packed [1, H, total, D];
// each sequence has its own state and starts from its own initial state).
struct LinearShape {
  DType dtype = DType::kF32;      // q, k, v
  DType out_dtype = DType::kF32;  // out
  int64_t batch = 1;
  int64_t seqlen = 0;
  std::vector<int64_t> cu_seqlens;

  bool is_varlen() const { return !cu_seqlens.empty(); }
  int64_t num_sequences() const { return batch; }
  int64_t seq_len(int64_t b) const { return is_varlen() ? cu_seqlens[b + 1] - cu_seqlens[b] : seqlen; }
  int64_t total() const { return is_varlen() ? cu_seqlens.back() : batch * seqlen; }
};

// The tensors of one call ("B" is 1 and N the total in varlen mode; S is the
// number of sequences). Any strides with a stride-1 last axis.
struct LinearTensors {
  TensorView q;    // [B, Hq, N, Dk]
  TensorView k;    // [B, Hkv, N, Dk]
  TensorView v;    // [B, Hkv, N, Dv]
  TensorView out;  // [B, Hq, N, Dv], written
  TensorView gate;  // f32 log-gates <= 0 (-inf = reset): [B, Hkv, N] (kScalar) or [B, Hkv, N, Dk]
  TensorView beta;  // f32 write strengths in [0, 2], [B, Hkv, N]; required iff rule == kDelta
  // Optional f32 states [S, Hkv, F, state_cols]. Absent initial state = zeros.
  // final_state may be the very same view as initial_state (in-place update,
  // decode); any other overlap is an error.
  TensorView initial_state;
  TensorView final_state;
};

struct LinearPlanOptions {
  LinearMode mode = LinearMode::kAuto;
  int64_t chunk = 0;  // chunk length for kChunk, 1..1024 (0 = the planner's choice)
};

struct LinearPlanImpl;  // src/kernels/linear/

class LinearPlan {
 public:
  LinearPlan() = default;
  explicit LinearPlan(std::shared_ptr<const LinearPlanImpl> impl) : impl_(std::move(impl)) {}

  bool valid() const { return impl_ != nullptr; }
  size_t workspace_bytes() const;
  const std::string& kernel_name() const;  // e.g. "linear_chunk_f32acc"
  LinearMode mode() const;                  // the resolved form (never kAuto)
  int64_t chunk() const;                    // chunk length of the chunked / parallel form
  int num_threads() const;
  const LinearSpec& spec() const;
  const LinearShape& shape() const;
  // Kernel, form, chunk and why, work partition, workspace, cost estimates.
  std::string Explain() const;
  const LinearPlanImpl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const LinearPlanImpl> impl_;
};

// Validates spec and shape (throws Error naming the argument) and plans.
LinearPlan MakeLinearPlan(const LinearSpec& spec, const LinearShape& shape,
                          const ThreadingContext& ctx, const LinearPlanOptions& options = {});

// Runs `plan`: validates the tensors (shapes, dtypes, strides, gate and beta
// ranges, state overlap) and computes out (and final_state if given).
// `workspace` must hold plan.workspace_bytes() bytes (64-byte alignment recommended).
void RunLinear(const LinearPlan& plan, const LinearTensors& tensors, std::span<std::byte> workspace);

// The shape implied by the tensors (B and N from q) plus varlen offsets.
LinearShape LinearShapeOf(const LinearTensors& tensors, std::vector<int64_t> cu_seqlens = {});

// Convenience: plan, allocate the workspace, run.
void LinearAttention(const LinearSpec& spec, const LinearTensors& tensors,
                     const ThreadingContext& ctx = ThreadingContext(),
                     std::vector<int64_t> cu_seqlens = {}, const LinearPlanOptions& options = {});

}  // namespace attnkit

#endif  // ATTNKIT_LINEAR_H_
