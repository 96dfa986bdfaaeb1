// SPDX-License-Identifier: Apache-2.0
// Shared plumbing of the mask predictors (plain C++ over scores.h): argument
// checks, the problem geometry, block-pooled Q / K, exact attention
// probabilities of a few query rows against every key (chunk by chunk, never
// materialising a full row set), and top-k / cumulative-mass selection.
#ifndef ATTNKIT_KERNELS_SPARSE_PREDICT_COMMON_H_
#define ATTNKIT_KERNELS_SPARSE_PREDICT_COMMON_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "attnkit/sparse.h"
#include "src/kernels/sparse/mask_util.h"
#include "src/kernels/sparse/scores.h"

namespace attnkit::sparse {

inline constexpr float kLog2E = 1.4426950408889634f;

// One predictor call: sizes, GQA mapping, scale and the mask geometry.
struct Problem {
  const AttentionSpec* spec;
  TensorView q, k;             // [B, Hq, Nq, D], [B, Hkv, Nk, D]
  int64_t batch, hq, hkv, group, nq, nk, dim;
  float scale;                 // natural units
  WindowBounds window;         // causal folded in
  int threads;
  ScoreFns fns;
  size_t l1_floats;
  int64_t KvHead(int64_t h) const { return h / group; }
};

// Validates q, k and the spec (ranks, shapes, dtypes, head ratio, head dim)
// and builds the Problem; `who` prefixes messages (e.g. "PredictXAttention").
Problem MakeProblem(const char* who, const AttentionSpec& spec, const TensorView& q,
                    const TensorView& k, const ThreadingContext& ctx);

// Throws unless `value` is in (0, 1]; `name` is the parameter's name.
void CheckFraction(const char* name, double value);
// Throws unless block_size is 32, 64 or 128 and a multiple of stride >= 1.
void CheckBlockAndStride(int64_t block_size, int64_t stride);

// Mean of each block of `block` rows of src (a partial last block averages its
// own rows): [ceil(rows / block) x dim], row-major, times `scale`.
std::vector<float> PooledRows(const ScoreFns& fns, const RowSource& src, int64_t block,
                              float scale);

// Exact softmax probabilities of query rows `rows` (positions p_r = Nk - Nq + r)
// of one head against every key of its KV head, under the problem's causal
// mask / window, in scale natural units. Visits them in column chunks:
// fn(c0, c1, P, ld) with P[r][c - c0] for r < rows.size(), c in [c0, c1).
// Two passes (statistics, then probabilities), so memory stays
// O(rows x chunk).
void ForEachProbabilityChunk(const Problem& pb, int64_t b, int64_t h,
                             const std::vector<int64_t>& rows,
                             const std::function<void(int64_t, int64_t, const float*, size_t)>& fn);

// Indices of the `k` largest values (ties: lower index first), in decreasing value.
std::vector<int32_t> TopIndices(const std::vector<double>& values, int64_t k);

// The query blocks x key blocks pooled logits scale * mean(Q_block) . mean(K_block)
// of (b, h): [nqb x nkb], row-major (pooled K per KV head cached by the caller).
std::vector<float> PooledLogits(const Problem& pb, const std::vector<float>& pooled_q,
                                const std::vector<float>& pooled_k, int64_t nqb, int64_t nkb);

// Parallel loop over (b, h): fn(b, h, rows) must fill `rows` (one vector of
// key blocks per query block); the results are assembled in order.
BlockMask BuildPerHead(const Problem& pb, int64_t block_q, int64_t block_k,
                       const std::function<void(int64_t, int64_t,
                                                std::vector<std::vector<int32_t>>&)>& fn);

// Keys [lo, hi) that some row of query block iq can see (lo == hi: none).
struct KeyRange {
  int64_t lo = 0, hi = 0;
};
KeyRange VisibleKeys(const WindowBounds& w, int64_t nq, int64_t nk, int64_t block_q, int64_t iq);

// A row of key-block flags: Mark sets the blocks holding keys [lo, hi]
// (inclusive) that also lie in `keys`; Take returns the marked blocks in
// ascending order and clears them.
class BlockRow {
 public:
  BlockRow(int64_t nk, int64_t block_k)
      : block_k_(block_k), flags_(static_cast<size_t>(CeilDiv(nk, block_k)), 0) {}
  void Mark(int64_t lo, int64_t hi, const KeyRange& keys);
  void MarkBlock(int64_t jk) { flags_[static_cast<size_t>(jk)] = 1; }
  std::vector<int32_t> Take();

 private:
  int64_t block_k_;
  std::vector<uint8_t> flags_;
};

// Per query block the top_k visible key blocks of highest pooled logit, plus
// key block 0 / the diagonal block when asked (predict_static.cc; also
// MInference's block-sparse pattern).
void TopKPooledRows(const Problem& pb, int64_t bs, int64_t top_k, bool keep_sink,
                    bool keep_diagonal, int64_t b, int64_t h,
                    std::vector<std::vector<int32_t>>& rows);

// XAttention's block scores [nqb x nkb] of every (b, h) (predict_xattention.cc).
std::vector<std::vector<double>> XAttentionBlockScores(const Problem& pb, int64_t block,
                                                       int64_t stride);

// PredictSampledMass's estimates per (b, h) (predict_sampled.cc): per query
// block iq and key block jk, share[iq * nkb + jk] (estimated mean share of the
// block's mass; 0 for forced blocks) and entry[...] (largest sampled
// probability over its row's entry threshold), and forced[iq] (mean exact share
// of the forced blocks).
struct SampledMassScores {
  std::vector<double> share, entry, forced;
};
std::vector<SampledMassScores> SampledMassBlockScores(const Problem& pb, const SampledMassParams& p);
// The kept key blocks of query block iq from those estimates (the rule's step 4).
std::vector<int32_t> SelectSampledMass(const Problem& pb, const SampledMassParams& p,
                                       const SampledMassScores& sc, int64_t iq);

// Packed K^T for the predictors' GEMMs in column blocks of kColBlock keys:
// reshaped key c (group rows of src), element e (< group x dim) at
// dst[(c / kColBlock) * depth * kColBlock + e * kColBlock + c % kColBlock],
// depth = group x dim. One block's depth x 64 floats are contiguous, so a GEMM
// streams 256-byte rows of B instead of rows a whole context apart (64k keys:
// 256 KiB between depth rows, a TLB miss per row). Layout size: depth x
// RoundUp(keys, kColBlock) floats; padding keys stay as allocated (0).
inline constexpr int64_t kColBlock = 64;
// Columns of the layout for `keys` keys (whole blocks): its row stride.
inline int64_t ColBlockedWidth(int64_t keys) { return CeilDiv(keys, kColBlock) * kColBlock; }
// Keys [c0, c1) of src into the layout at dst.
void PackColBlocked(const Problem& pb, const RowSource& src, int64_t group, int64_t c0, int64_t c1,
                    float* dst);
// out[r][j] = sum_e a[r][e] K^T[e][c0 + j] for r < rows, j < cols (a multiple
// of 16; a: rows x depth, row stride depth; out row stride ldo), K^T in the
// layout at kb: one GEMM per column block.
void GemmColBlocked(const Problem& pb, const float* a, int64_t rows, int64_t depth,
                    const float* kb, int64_t c0, int64_t cols, float* out, int64_t ldo);

}  // namespace attnkit::sparse

#endif  // ATTNKIT_KERNELS_SPARSE_PREDICT_COMMON_H_
