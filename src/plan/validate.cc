// SPDX-License-Identifier: Apache-2.0
// Input validation for exact attention (see validate.h).
#include "src/plan/validate.h"

#include <cmath>
#include <string>

#include "attnkit/error.h"

namespace attnkit {
namespace {

void CheckWindowSide(const char* name, int64_t v) {
  ATTNKIT_CHECK(v == kUnbounded || v >= 0, "mask.", name, " must be >= 0 (or kUnbounded), got ", v);
}

void CheckBroadcastAxis(const TensorView& t, int axis, int64_t full, const char* what) {
  ATTNKIT_CHECK(t.shape[axis] == 1 || t.shape[axis] == full, "tensor 'bias' has shape ",
                t.ShapeString(), ": axis ", axis, " (", what, ") must be 1 or ", full);
}

std::string Who(const char* who) { return *who == '\0' ? std::string() : std::string(who) + ": "; }

}  // namespace

void CheckTensor(const char* name, const TensorView& t, std::initializer_list<int64_t> expected,
                 const char* axes, const char* who) {
  const int rank = static_cast<int>(expected.size());
  const std::string tensor = Who(who) + "tensor '" + name + "'";
  ATTNKIT_CHECK(t.data != nullptr || t.rank != 0, tensor, " is missing");
  ATTNKIT_CHECK(t.rank == rank, tensor, " must have rank ", rank, " ", axes, ", got rank ", t.rank,
                " with shape ", t.ShapeString());
  const bool empty = t.numel() == 0;
  ATTNKIT_CHECK(empty || t.data != nullptr, tensor, " is missing (null data pointer)");
  int i = 0;
  for (int64_t e : expected) {
    ATTNKIT_CHECK(e == kAnyExtent || t.shape[i] == e, tensor, " has shape ", t.ShapeString(),
                  ", expected ", axes, " with axis ", i, " = ", e);
    ++i;
  }
  if (empty) return;
  for (int d = 0; d < rank; ++d) {
    ATTNKIT_CHECK(t.strides[d] >= 0, tensor, " has negative stride ", t.strides[d], " on axis ", d,
                  " (negative strides are not supported)");
  }
  ATTNKIT_CHECK(t.shape[rank - 1] <= 1 || t.strides[rank - 1] == 1, tensor,
                " must be contiguous along its last axis (stride 1), got stride ",
                t.strides[rank - 1]);
}

void CheckWritable(const char* name, const TensorView& t, const char* who) {
  if (t.numel() == 0) return;
  for (int d = 0; d < t.rank; ++d) {
    ATTNKIT_CHECK(t.shape[d] <= 1 || t.strides[d] > 0, Who(who), "output tensor '", name,
                  "' has stride 0 on axis ", d, " of size ", t.shape[d],
                  ": its elements would overlap");
  }
}

void ValidateHeads(int64_t num_q_heads, int64_t num_kv_heads, const char* dk_name, int64_t dk,
                   int64_t dv, const std::optional<float>& scale) {
  ATTNKIT_CHECK(num_q_heads >= 1, "num_q_heads must be >= 1, got ", num_q_heads);
  ATTNKIT_CHECK(num_kv_heads >= 1, "num_kv_heads must be >= 1, got ", num_kv_heads);
  ATTNKIT_CHECK(num_q_heads % num_kv_heads == 0, "num_q_heads (", num_q_heads,
                ") must be a multiple of num_kv_heads (", num_kv_heads, ")");
  ATTNKIT_CHECK(dk >= 1 && dk <= kMaxHeadDim, dk_name, " must be in [1, ", kMaxHeadDim, "], got ",
                dk);
  ATTNKIT_CHECK(dv >= 1 && dv <= kMaxHeadDim, "head_dim_v must be in [1, ", kMaxHeadDim, "], got ",
                dv);
  if (scale.has_value()) {
    ATTNKIT_CHECK(std::isfinite(*scale), "scale must be finite, got ", *scale);
  }
}

void ValidateSpec(const AttentionSpec& s) {
  ValidateHeads(s.num_q_heads, s.num_kv_heads, "head_dim_qk", s.head_dim_qk, s.head_dim_v, s.scale);
  CheckWindowSide("window_left", s.mask.window_left);
  CheckWindowSide("window_right", s.mask.window_right);
  ATTNKIT_CHECK(std::isfinite(s.softcap) && s.softcap >= 0.0f,
                "softcap must be finite and >= 0 (0 = off), got ", s.softcap);
  if (!s.alibi_slopes.empty()) {
    ATTNKIT_CHECK(s.alibi, "alibi_slopes given but alibi is false");
    ATTNKIT_CHECK(static_cast<int64_t>(s.alibi_slopes.size()) == s.num_q_heads,
                  "alibi_slopes must have num_q_heads (", s.num_q_heads, ") entries, got ",
                  s.alibi_slopes.size());
    for (float v : s.alibi_slopes) {
      ATTNKIT_CHECK(std::isfinite(v), "alibi_slopes must be finite, got ", v);
    }
  }
}

void ValidateShape(const AttentionSpec& spec, const AttentionShape& sh) {
  ATTNKIT_CHECK(sh.batch >= 1, "batch must be >= 1, got ", sh.batch);
  if (!sh.is_varlen()) {
    ATTNKIT_CHECK(sh.cu_seqlens_k.empty(), "cu_seqlens_k given without cu_seqlens_q");
    ATTNKIT_CHECK(sh.seqlen_q >= 1, "seqlen_q must be >= 1, got ", sh.seqlen_q,
                  " (use a varlen batch for empty sequences)");
    ATTNKIT_CHECK(sh.seqlen_k >= 1, "seqlen_k must be >= 1, got ", sh.seqlen_k,
                  " (use a varlen batch for empty sequences)");
    return;
  }
  const auto check_cu = [&](const char* name, const std::vector<int64_t>& cu) {
    ATTNKIT_CHECK(static_cast<int64_t>(cu.size()) == sh.batch + 1, name, " must have batch + 1 = ",
                  sh.batch + 1, " entries, got ", cu.size());
    ATTNKIT_CHECK(cu[0] == 0, name, "[0] must be 0, got ", cu[0]);
    for (size_t i = 1; i < cu.size(); ++i) {
      ATTNKIT_CHECK(cu[i] >= cu[i - 1], name, " must be non-decreasing, but ", name, "[", i,
                    "] = ", cu[i], " < ", name, "[", i - 1, "] = ", cu[i - 1]);
    }
  };
  check_cu("cu_seqlens_q", sh.cu_seqlens_q);
  check_cu("cu_seqlens_k", sh.cu_seqlens_k);
  ATTNKIT_CHECK(!spec.has_bias, "an additive bias is not supported with varlen batches");
}

void ValidateTensors(const AttentionSpec& s, const AttentionShape& sh, const AttentionTensors& t) {
  const int64_t b = sh.is_varlen() ? 1 : sh.batch;
  const int64_t nq = sh.is_varlen() ? sh.total_q() : sh.seqlen_q;
  const int64_t nk = sh.is_varlen() ? sh.total_k() : sh.seqlen_k;
  constexpr const char* kAxes = "[B, H, N, D]";
  CheckTensor("q", t.q, {b, s.num_q_heads, nq, s.head_dim_qk}, kAxes);
  CheckTensor("k", t.k, {b, s.num_kv_heads, nk, s.head_dim_qk}, kAxes);
  CheckTensor("v", t.v, {b, s.num_kv_heads, nk, s.head_dim_v}, kAxes);
  CheckTensor("out", t.out, {b, s.num_q_heads, nq, s.head_dim_v}, kAxes);
  CheckWritable("out", t.out);
  ATTNKIT_CHECK(t.q.dtype == sh.dtype && t.k.dtype == sh.dtype && t.v.dtype == sh.dtype,
                "q, k and v must all have dtype ", Name(sh.dtype), ", got q ", Name(t.q.dtype),
                ", k ", Name(t.k.dtype), ", v ", Name(t.v.dtype));
  ATTNKIT_CHECK(t.out.dtype == sh.out_dtype, "out must have dtype ", Name(sh.out_dtype), ", got ",
                Name(t.out.dtype));
  if (s.return_lse) {
    CheckTensor("lse", t.lse, {b, s.num_q_heads, nq}, "[B, Hq, N]");
    CheckWritable("lse", t.lse);
    ATTNKIT_CHECK(t.lse.dtype == DType::kF32, "lse must be f32, got ", Name(t.lse.dtype));
  } else {
    ATTNKIT_CHECK(t.lse.data == nullptr, "an lse tensor was given but spec.return_lse is false");
  }
  if (s.has_sinks) {
    CheckTensor("sinks", t.sinks, {s.num_q_heads}, "[Hq]");
    ATTNKIT_CHECK(t.sinks.dtype == DType::kF32, "sinks must be f32, got ", Name(t.sinks.dtype));
  } else {
    ATTNKIT_CHECK(t.sinks.data == nullptr, "a sinks tensor was given but spec.has_sinks is false");
  }
  if (s.has_bias) {
    ATTNKIT_CHECK(t.bias.data != nullptr, "tensor 'bias' is missing (spec.has_bias is true)");
    ATTNKIT_CHECK(t.bias.rank == 4, "tensor 'bias' must have rank 4 [B|1, Hq|1, Nq|1, Nk], got ",
                  t.bias.ShapeString());
    CheckBroadcastAxis(t.bias, 0, b, "batch");
    CheckBroadcastAxis(t.bias, 1, s.num_q_heads, "query heads");
    CheckBroadcastAxis(t.bias, 2, nq, "query rows");
    ATTNKIT_CHECK(t.bias.shape[3] == nk, "tensor 'bias' has shape ", t.bias.ShapeString(),
                  ": axis 3 (keys) must be ", nk);
    CheckTensor("bias", t.bias, {kAnyExtent, kAnyExtent, kAnyExtent, kAnyExtent},
                "[B|1, Hq|1, Nq|1, Nk]");
  } else {
    ATTNKIT_CHECK(t.bias.data == nullptr, "a bias tensor was given but spec.has_bias is false");
  }
}

}  // namespace attnkit
