// SPDX-License-Identifier: Apache-2.0
// fp64 oracles of decode: exact attention (src/reference/reference.h) on the
// keys and values a KV cache materialises, and the same with the int8
// queries of the VNNI kernel. For tests, `attnkit check`-style tools and the
// bench's accuracy columns; never optimised.
#ifndef ATTNKIT_KERNELS_DECODE_DECODE_REFERENCE_H_
#define ATTNKIT_KERNELS_DECODE_DECODE_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "attnkit/decode.h"

namespace attnkit::decode {

// out [Hq, total_q, Dv] and lse [Hq, total_q] in fp64.
struct RefResult {
  std::vector<double> out, lse;
  int64_t hq = 0, total_q = 0, dv = 0;
  double o(int64_t h, int64_t i, int64_t c) const { return out[(h * total_q + i) * dv + c]; }
  double l(int64_t h, int64_t i) const { return lse[h * total_q + i]; }
};

// Exact attention of the batch's queries (q [1, Hq, total_q, Dqk], before
// RoPE; RoPE is applied at the text positions) against each sequence's
// materialised keys and values (KVCache::Materialize; cascade: the prefix's
// followed by the sequence's own), bottom-right aligned.
RefResult ReferenceDecode(const AttentionSpec& spec, const KVCache& cache, const DecodeBatch& batch,
                          const TensorView& q, const TensorView& sinks);

// The oracle of the VNNI kernel: the same, except that logits against int8 /
// int4 key codes use the 15-bit query codes the kernel uses (QuantizeQueryRow, per
// row, or per row and key group for per-channel keys), computed in fp64 from
// the codes (cascade: the prefix's keys, then the sequence's own).
RefResult ReferenceDecodeOnCodes(const AttentionSpec& spec, const KVCache& cache,
                                 const DecodeBatch& batch, const TensorView& q, const TensorView& sinks);

// Softmax attention in fp64 from given raw logits (natural units, before
// soft-cap, ALiBi and mask): logits [rows][nk] for queries at positions
// nk - nq + i (row = head-major: (h - h0) * nq + i for heads [h0, h0 + heads)),
// values [nk][dv]. Writes rows of `out` ([Hq, total_q, dv]) and `lse`.
void ReferenceFromLogits(const AttentionSpec& spec, const std::vector<double>& logits, int64_t h0,
                         int64_t heads, int64_t nq, int64_t nk, const float* values, int64_t q0,
                         const TensorView& sinks, RefResult& r);

// Kernel result vs an oracle: max |O - O_ref| relative to max |O_ref|, LSE
// error relative to max(1, |LSE_ref|), rel-L2, and NaN/Inf anywhere.
struct RefDiff {
  double max_rel = 0, lse_rel = 0, rel_l2 = 0;
  bool finite = true;
  bool empty_rows_exact = true;  // rows with LSE_ref = -inf (no sink) gave exactly 0 and -inf
};
RefDiff CompareToReference(const RefResult& ref, const TensorView& out, const TensorView& lse);

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_DECODE_REFERENCE_H_
