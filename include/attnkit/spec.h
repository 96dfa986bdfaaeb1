// SPDX-License-Identifier: Apache-2.0
// What to compute: AttentionSpec (heads, dims, mask, score modifiers) and
// AttentionShape (dtypes, batch, sequence lengths, varlen offsets).
// All conventions are documented in docs/conventions.md.
#ifndef ATTNKIT_SPEC_H_
#define ATTNKIT_SPEC_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "attnkit/dtype.h"

namespace attnkit {

// "No bound" for a window side.
inline constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

// Which keys a query may see. Query row i of a sequence with Nq queries and Nk
// keys sits at absolute position p = Nk - Nq + i (bottom-right alignment).
// Key j is visible iff  p - window_left <= j <= p + window_right, and, when
// `causal`, also j <= p. Causal + window(L, R) is therefore window(L, 0).
struct MaskSpec {
  bool causal = false;
  int64_t window_left = kUnbounded;   // >= 0, or kUnbounded
  int64_t window_right = kUnbounded;  // >= 0, or kUnbounded

  bool has_window() const { return window_left != kUnbounded || window_right != kUnbounded; }
  // Right bound after causality is applied.
  int64_t effective_right() const {
    return causal ? (window_right == kUnbounded ? 0 : std::min<int64_t>(window_right, 0))
                  : window_right;
  }
};

// The logit of query i and key j (positions p_i, j) is, in this order:
//   s = scale * <q_i, k_j>
//   s = softcap * tanh(s / softcap)          if softcap > 0
//   s = s - slope[h] * |p_i - j|             if ALiBi
//   s = s + bias[b, h, i, j]                 if a bias tensor is given
//   s = -inf                                 if key j is masked out
// With learned sinks, softmax has one extra logit sink[h] whose value row is 0.
struct AttentionSpec {
  int64_t num_q_heads = 0;   // Hq
  int64_t num_kv_heads = 0;  // Hkv; Hq % Hkv == 0. Query head h reads KV head h / (Hq / Hkv).
  int64_t head_dim_qk = 0;   // Dqk, 1..1024
  int64_t head_dim_v = 0;    // Dv, 1..1024
  std::optional<float> scale;  // default 1 / sqrt(Dqk); must be finite
  MaskSpec mask;
  float softcap = 0.0f;  // 0 = off; otherwise finite and > 0
  bool alibi = false;    // ALiBi with `alibi_slopes`, or the standard table for Hq heads if empty
  std::vector<float> alibi_slopes;  // empty, or Hq finite slopes
  bool has_sinks = false;  // tensors.sinks holds one f32 logit per query head
  bool has_bias = false;   // tensors.bias holds an additive bias [B|1, Hq|1, Nq|1, Nk]
  bool return_lse = false;  // tensors.lse receives log-sum-exp per row [B, Hq, Nq] (f32)

  float resolved_scale() const;  // scale or 1/sqrt(Dqk)
};

// The standard ALiBi slope table (Press et al.) for `num_heads` heads: for a
// power of two H, slope[h] = 2^(-8 (h + 1) / H); otherwise the table of the
// next lower power of two followed by every other slope of the next higher one.
std::vector<float> AlibiSlopes(int64_t num_heads);

// Sizes of one call. Either a fixed-length batch (batch, seqlen_q, seqlen_k) or
// a varlen batch: cu_seqlens_q/k with batch + 1 non-decreasing entries starting
// at 0, sequence b owning packed rows [cu[b], cu[b+1]). In varlen mode the
// tensors are packed along tokens: logical [1, H, total_tokens, D].
struct AttentionShape {
  DType dtype = DType::kF32;      // dtype of q, k and v
  DType out_dtype = DType::kF32;  // dtype of the output
  int64_t batch = 1;
  int64_t seqlen_q = 0;
  int64_t seqlen_k = 0;
  std::vector<int64_t> cu_seqlens_q;  // varlen when non-empty
  std::vector<int64_t> cu_seqlens_k;

  bool is_varlen() const { return !cu_seqlens_q.empty(); }
  int64_t total_q() const { return is_varlen() ? cu_seqlens_q.back() : batch * seqlen_q; }
  int64_t total_k() const { return is_varlen() ? cu_seqlens_k.back() : batch * seqlen_k; }
  int64_t seq_q(int64_t b) const {
    return is_varlen() ? cu_seqlens_q[b + 1] - cu_seqlens_q[b] : seqlen_q;
  }
  int64_t seq_k(int64_t b) const {
    return is_varlen() ? cu_seqlens_k[b + 1] - cu_seqlens_k[b] : seqlen_k;
  }
};

// Number of (query, key) pairs that the mask leaves visible in one head of one
// sequence: the "effective" work. Exact, O(Nq).
int64_t VisiblePairs(const MaskSpec& mask, int64_t nq, int64_t nk);

}  // namespace attnkit

#endif  // ATTNKIT_SPEC_H_
