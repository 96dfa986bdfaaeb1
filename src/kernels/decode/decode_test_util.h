// SPDX-License-Identifier: Apache-2.0
// Test helpers of the decode family: caches filled with deterministic data
// (Gaussian, or with outlier channels), batches of queries, one decode call
// checked against the fp64 oracle. For the decode tests and the bench; not
// part of the library.
#ifndef ATTNKIT_KERNELS_DECODE_DECODE_TEST_UTIL_H_
#define ATTNKIT_KERNELS_DECODE_DECODE_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "attnkit/decode.h"
#include "src/kernels/decode/decode_plan.h"
#include "src/kernels/decode/decode_reference.h"

namespace attnkit::decode {

// What MakeTokens puts into keys and values, [n, Hkv, D] f32:
//   kGaussian  i.i.d. N(0, 1);
//   kScaled    keys with a per-channel offset and channels 1, 7 and 13 (mod
//              16/16/32, 20 of 128) scaled by 16, values with a channel (mod
//              32) scaled by 8: the structure that makes per-token key scales
//              fail, and logits of standard deviation ~6.4 (q ~ N(0, 1), scale
//              1/sqrt(128)): near one-hot attention, where bf16 KV alone costs ~1%;
//   kOffsets   the outlier structure KIVI and SageAttention report in LLM key
//              caches: the same 20 channels carry a large per-channel offset
//              (+-8..16, constant over tokens) with a token spread of 3, the
//              other channels a small offset; values without outlier channels.
//              Per-token key scales still fail (the offsets set each token's
//              range); logits have a standard deviation of ~1.5.
enum class TokenStyle : uint8_t { kGaussian, kScaled, kOffsets };

// Whether channel ch (of any head dim) is one of the key outlier channels.
inline bool IsKeyOutlierChannel(int64_t ch) { return ch % 16 == 1 || ch % 16 == 7 || ch % 32 == 13; }

struct TokenData {
  std::vector<float> k, v;
  int64_t n = 0;
  TensorView KView(const KVCacheConfig& c) const {
    return TensorView::Contiguous(k.data(), DType::kF32, {n, c.num_kv_heads, c.head_dim_k});
  }
  TensorView VView(const KVCacheConfig& c) const {
    if (c.v_from_k) return TensorView{};
    return TensorView::Contiguous(v.data(), DType::kF32, {n, c.num_kv_heads, c.head_dim_v});
  }
};

inline TokenData MakeTokens(const KVCacheConfig& c, int64_t n, uint64_t seed, TokenStyle style) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  TokenData t;
  t.n = n;
  t.k.resize(static_cast<size_t>(n * c.num_kv_heads * c.head_dim_k));
  t.v.resize(static_cast<size_t>(n * c.num_kv_heads * c.head_dim_v));
  for (size_t i = 0; i < t.k.size(); ++i) {
    const int64_t ch = static_cast<int64_t>(i) % c.head_dim_k;
    const float z = nd(rng), offset = 0.5f * static_cast<float>(ch % 5) - 1.0f;
    float x = z;
    if (style == TokenStyle::kScaled) x = (z + offset) * (IsKeyOutlierChannel(ch) ? 16.0f : 1.0f);
    if (style == TokenStyle::kOffsets) {
      const float big = (ch % 3 == 0 ? -1.0f : 1.0f) * (8.0f + 2.0f * static_cast<float>(ch % 5));
      x = IsKeyOutlierChannel(ch) ? big + 3.0f * z : z + offset;
    }
    t.k[i] = x;
  }
  for (size_t i = 0; i < t.v.size(); ++i) {
    const int64_t ch = static_cast<int64_t>(i) % c.head_dim_v;
    t.v[i] = nd(rng) * (style == TokenStyle::kScaled && ch % 32 == 5 ? 8.0f : 1.0f);
  }
  return t;
}

// The tests' spelling: outliers = kScaled, else kGaussian.
inline TokenData MakeTokens(const KVCacheConfig& c, int64_t n, uint64_t seed, bool outliers) {
  return MakeTokens(c, n, seed, outliers ? TokenStyle::kScaled : TokenStyle::kGaussian);
}

// A batch against `cache`: sequence ids, nq per sequence, queries
// [1, Hq, total_q, Dqk] f32 and outputs.
struct BatchData {
  DecodeBatch batch;
  std::vector<float> q, out, lse, sinks;
  DecodeTensors t;
};

inline BatchData MakeBatch(const AttentionSpec& spec, const std::vector<int64_t>& ids,
                           const std::vector<int64_t>& nq, uint64_t seed, float q_gain = 1.0f) {
  BatchData d;
  d.batch.seq_ids = ids;
  d.batch.cu_seqlens_q = {0};
  for (int64_t n : nq) d.batch.cu_seqlens_q.push_back(d.batch.cu_seqlens_q.back() + n);
  const int64_t total = d.batch.cu_seqlens_q.back(), hq = spec.num_q_heads;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  d.q.resize(static_cast<size_t>(hq * total * spec.head_dim_qk));
  for (float& x : d.q) x = q_gain * nd(rng);
  d.out.assign(static_cast<size_t>(hq * total * spec.head_dim_v), -7.0f);
  d.lse.assign(static_cast<size_t>(hq * total), -7.0f);
  d.sinks.resize(static_cast<size_t>(hq));
  for (float& x : d.sinks) x = 2.0f * nd(rng);
  d.t.q = TensorView::Contiguous(d.q.data(), DType::kF32, {1, hq, total, spec.head_dim_qk});
  d.t.out = TensorView::Contiguous(d.out.data(), DType::kF32, {1, hq, total, spec.head_dim_v});
  if (spec.return_lse) d.t.lse = TensorView::Contiguous(d.lse.data(), DType::kF32, {1, hq, total});
  if (spec.has_sinks) d.t.sinks = TensorView::Contiguous(d.sinks.data(), DType::kF32, {hq});
  return d;
}

// Runs the batch and compares with the oracle of the kernel the plan chose:
// ReferenceDecode (exact attention on the dequantised K/V the cache holds)
// for kernels that compute on dequantised keys, ReferenceDecodeOnCodes (the
// same, with the 15-bit query codes the VNNI kernel forms, products exact) for the
// VNNI kernel. Either way the only differences left are f32 rounding, so the
// tolerance stays tight: "" within `tol` of max |O_ref| (LSE: tol relative),
// else what went wrong. P V on the value codes (plan.state().values) also
// rounds each tile's weights to 14-bit codes, which the oracle does not
// model: its outputs get kWeightCodeTolerance instead (the LSE keeps `tol`).
inline constexpr double kWeightCodeTolerance = 3e-4;

inline std::string CheckDecode(const AttentionSpec& spec, const KVCache& cache, BatchData& d,
                               const ThreadingContext& ctx, const DecodeOptions& options = {},
                               DecodeStats* stats = nullptr, double tol = 1e-5) {
  const DecodePlan plan = MakeDecodePlan(spec, cache, d.batch, d.t.q.dtype, d.t.out.dtype, ctx, options);
  std::vector<std::byte> ws(plan.workspace_bytes());
  const DecodeStats s = RunDecode(plan, cache, d.t, ws);
  if (stats != nullptr) *stats = s;
  const RefResult ref = plan.state().on_codes
                            ? ReferenceDecodeOnCodes(spec, cache, d.batch, d.t.q, d.t.sinks)
                            : ReferenceDecode(spec, cache, d.batch, d.t.q, d.t.sinks);
  const RefDiff diff = CompareToReference(ref, d.t.out, d.t.lse);
  std::string err;
  if (!diff.finite) err += "non-finite output; ";
  if (!diff.empty_rows_exact) err += "empty rows not exactly 0 / -inf; ";
  const double out_tol = plan.state().values != nullptr ? std::max(tol, kWeightCodeTolerance) : tol;
  if (!(diff.max_rel <= out_tol)) err += "max_rel " + std::to_string(diff.max_rel) + "; ";
  if (!(diff.lse_rel <= tol)) err += "lse_rel " + std::to_string(diff.lse_rel) + "; ";
  return err;
}

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_DECODE_TEST_UTIL_H_
