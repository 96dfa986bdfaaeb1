// SPDX-License-Identifier: Apache-2.0
// Block-sparse attention and its mask predictors: BlockMask (a CSR list of kept
// key blocks per query block), the block-sparse kernel and XAttention, MInference,
// FlexPrefill, PowerAttention, sliding-window and top-k predictors. Neighbourhood
// and window attention are in attnkit/local.h. docs/sparse.md has the details.
#ifndef ATTNKIT_SPARSE_H_
#define ATTNKIT_SPARSE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "attnkit/plan.h"
#include "attnkit/spec.h"
#include "attnkit/tensor.h"
#include "attnkit/threading.h"

namespace attnkit {

// Which (query block, key block) pairs of every (batch, query head) to compute.
// Query block iq holds query rows [iq * block_q, min((iq + 1) * block_q, Nq));
// key block jk holds keys [jk * block_k, ...). The kept key blocks of row
// r = (b * heads + h) * num_q_blocks() + iq are
//   key_blocks[row_begin[r] .. row_begin[r + 1])   (strictly ascending).
// A kept block is still masked elementwise by the spec's causal mask / window
// (bottom-right aligned) and by the sequence ends; a row with no kept block
// that it can see returns O = 0, LSE = -inf (docs/conventions.md).
struct BlockMask {
  int64_t batch = 0, heads = 0;        // B, Hq
  int64_t seqlen_q = 0, seqlen_k = 0;  // Nq, Nk
  int64_t block_q = 64, block_k = 64;  // each 32, 64 or 128
  std::vector<int64_t> row_begin;      // batch * heads * num_q_blocks() + 1 offsets, from 0
  std::vector<int32_t> key_blocks;     // row_begin.back() key-block indices

  int64_t num_q_blocks() const { return (seqlen_q + block_q - 1) / block_q; }
  int64_t num_k_blocks() const { return (seqlen_k + block_k - 1) / block_k; }
  int64_t num_rows() const { return batch * heads * num_q_blocks(); }
  int64_t Row(int64_t b, int64_t h, int64_t iq) const {
    return (b * heads + h) * num_q_blocks() + iq;
  }
  std::span<const int32_t> KeyBlocks(int64_t row) const {
    return {key_blocks.data() + row_begin[row],
            static_cast<size_t>(row_begin[row + 1] - row_begin[row])};
  }
  int64_t num_kept() const { return row_begin.empty() ? 0 : row_begin.back(); }

  // From / to a dense boolean mask [B, Hq, num_q_blocks, num_k_blocks] (row-major,
  // nonzero = kept).
  static BlockMask FromDense(int64_t batch, int64_t heads, int64_t seqlen_q, int64_t seqlen_k,
                             int64_t block_q, int64_t block_k, std::span<const uint8_t> dense);
  std::vector<uint8_t> ToDense() const;
};

// Throws attnkit::Error naming the field if the mask is malformed: block sizes
// other than 32 / 64 / 128, offsets that are not a non-decreasing sequence
// from 0, key blocks out of range, unsorted or repeated.
void ValidateBlockMask(const BlockMask& mask);

// Blocks that dense attention with `mask` (causal / window) would visit for one
// (batch, head): the denominator of a kept-block density.
int64_t VisibleBlocks(const MaskSpec& mask, int64_t seqlen_q, int64_t seqlen_k, int64_t block_q,
                      int64_t block_k);
// Kept blocks that the causal mask / window leaves visible, over visible blocks
// (1 = dense), summed over all (batch, head).
double KeptDensity(const BlockMask& block_mask, const MaskSpec& mask);

// ---------------------------------------------------------------- kernel

struct BlockSparsePlanImpl;  // src/kernels/sparse/

// A block-sparse attention call made ready to run: validated, its work items
// (one per (batch, KV head, query block), or per query head where the heads of
// a GQA group keep different blocks) ordered longest first, and its workspace
// sized. Cost is proportional to the kept blocks that the mask leaves visible.
class BlockSparsePlan {
 public:
  BlockSparsePlan() = default;
  bool valid() const { return impl_ != nullptr; }
  size_t workspace_bytes() const;
  int64_t kept_blocks() const;   // after the causal mask / window
  int64_t visible_blocks() const;  // what dense attention would visit
  const BlockSparsePlanImpl& impl() const { return *impl_; }
  explicit BlockSparsePlan(std::shared_ptr<const BlockSparsePlanImpl> impl)
      : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<const BlockSparsePlanImpl> impl_;
};

// `spec`: heads, dims, scale, causal / window, soft-cap, sinks and return_lse as
// for dense attention; ALiBi and additive biases are not supported (Error).
// `shape`: a fixed-length batch (no varlen) whose sizes match `block_mask`.
BlockSparsePlan MakeBlockSparsePlan(const AttentionSpec& spec, const AttentionShape& shape,
                                    const BlockMask& block_mask, const ThreadingContext& ctx);
// Runs the plan on tensors laid out as for attnkit::Run (any strides, last axis
// contiguous). `workspace` holds plan.workspace_bytes() bytes.
void RunBlockSparse(const BlockSparsePlan& plan, const AttentionTensors& tensors,
                    std::span<std::byte> workspace);
// Plans, allocates the workspace and runs.
void BlockSparseAttention(const AttentionSpec& spec, const AttentionTensors& tensors,
                          const BlockMask& block_mask,
                          const ThreadingContext& ctx = ThreadingContext());

// ---------------------------------------------------------------- predictors
//
// Every predictor reads q [B, Hq, Nq, Dqk] and k [B, Hkv, Nk, Dqk] (any dtype and
// strides, last axis contiguous), uses spec.num_q_heads / num_kv_heads (GQA:
// query head h reads KV head h / (Hq / Hkv)), spec.scale and spec.mask.causal,
// and returns a BlockMask for every (batch, query head). Defaults are the
// papers' (docs/sparse.md cites them). Invalid parameters throw attnkit::Error.

// XAttention (Xu et al. 2025): block scores from strided antidiagonal sums of
// Q K^T, softmax per reshaped row, then per query block the fewest key blocks
// (highest score first) whose cumulative score reaches `threshold` of the row.
// Causal: the sink block and the diagonal block are always kept.
struct XAttentionParams {
  int64_t block_size = 128;  // 32, 64 or 128; a multiple of stride
  int64_t stride = 8;        // S: antidiagonal length
  double threshold = 0.9;    // tau in (0, 1]
  std::vector<double> head_thresholds;  // optional, one per query head, each in (0, 1]
  bool keep_sink = false;    // also keep key block 0 for every query block
  bool keep_recent = false;  // also keep the diagonal block (non-causal too)
};
BlockMask PredictXAttention(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                            const XAttentionParams& params = {},
                            const ThreadingContext& ctx = ThreadingContext());

// Sampled-mass selection (attnkit's own; XAttention's antidiagonal sampling
// without its averaging): row i samples the keys j with (i + j) mod stride ==
// stride - 1, 1/stride of Q K^T, each kept as an exact logit; the sink and local
// blocks are computed exactly for every row. From them, per row, the estimated
// softmax mass Z_i and, per key block, the estimated mean share of the block
// and its heaviest single sampled probability. Per query block it keeps the
// sink and local blocks, every block holding a sampled key of probability >=
// min(entry_threshold, entry_ratio / keys the row sees), then the others by
// decreasing estimated share until the kept share reaches `threshold` (at most
// max_fraction of the visible blocks in that last step). Any mask (causal,
// window, none).
struct SampledMassParams {
  int64_t block_size = 128;       // 32, 64 or 128; a multiple of stride
  int64_t stride = 16;            // S: each row samples 1/S of its keys
  double threshold = 0.95;        // estimated mass share to keep, in (0, 1]
  double entry_threshold = 1e-2;  // in (0, 1]
  double entry_ratio = 64;        // > 0: x the uniform probability 1 / keys seen
  int64_t sink_blocks = 1;        // first key blocks kept and computed exactly
  int64_t local_blocks = 2;       // key blocks ending at the diagonal, ditto
  double max_fraction = 1.0;      // in (0, 1]
};
BlockMask PredictSampledMass(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                             const SampledMassParams& params = {},
                             const ThreadingContext& ctx = ThreadingContext());

// MInference 1.0 (Jiang et al. 2024), causal. One pattern per query head as in
// MInference's configs, a tuple (pattern, vertical_size, slash_size):
//   kVerticalSlash: from the last `last_q` queries, the vertical_size key
//     columns and slash_size diagonals of highest attention (the first 30 columns
//     and the 100 diagonals nearest the main one always kept), rounded up to the
//     blocks they cross;
//   kAShape: the first vertical_size (n_init) keys plus a causal band of
//     slash_size (n_local) diagonals (StreamingLLM-shaped);
//   kBlockSparse: per query block the vertical_size (top_k) key blocks of highest
//     mean-pooled logit.
enum class MInferencePattern : uint8_t { kVerticalSlash, kAShape, kBlockSparse };
struct MInferenceHead {
  MInferencePattern pattern = MInferencePattern::kVerticalSlash;
  int64_t vertical_size = 1000;  // columns | n_init tokens | top_k blocks
  int64_t slash_size = 6096;     // diagonals | n_local tokens | unused
};
struct MInferenceParams {
  int64_t block_size = 64;
  int64_t last_q = 64;               // queries that estimate vertical-slash heads
  MInferenceHead default_head;       // for every head when `heads` is empty
  std::vector<MInferenceHead> heads;  // empty, or one per query head
};
BlockMask PredictMInference(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                            const MInferenceParams& params = {},
                            const ThreadingContext& ctx = ThreadingContext());

// FlexPrefill (Lai et al., ICLR 2025), causal. From the last query block: if
// the pooled-query block distribution is within `tau` (square-root
// Jensen-Shannon) of the true one, the head is query-aware (pooled Q K^T block
// attention, highest blocks while their cumulative score stays within
// gamma * num_blocks); otherwise vertical-slash blocks covering `gamma` of the
// last block's attention. Budgets in tokens, rounded up to blocks.
struct FlexPrefillParams {
  int64_t block_size = 128;
  double gamma = 0.9;        // coverage in (0, 1]
  double tau = 0.1;          // in [0, 1]
  int64_t min_budget = 512;  // tokens >= 0
  int64_t max_budget = 0;    // tokens; 0 = unbounded
};
BlockMask PredictFlexPrefill(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                             const FlexPrefillParams& params = {},
                             const ThreadingContext& ctx = ThreadingContext());

// PowerAttention (Chen et al. 2025), causal and static: query block i keeps key
// blocks i - d for d in [0, local_blocks) and d = 2^k (k >= 0), plus the first
// sink_blocks blocks. Out-degree O(log N).
struct PowerAttentionParams {
  int64_t block_size = 64;
  int64_t sink_blocks = 1;
  int64_t local_blocks = 1;
};
BlockMask PredictPowerAttention(const AttentionSpec& spec, int64_t batch, int64_t seqlen_q,
                                int64_t seqlen_k, const PowerAttentionParams& params = {});

// Sliding window + sink blocks (StreamingLLM at block granularity): query block
// i keeps the first sink_blocks key blocks and the window_blocks key blocks
// ending at its diagonal block (centred on it when not causal).
struct SlidingWindowParams {
  int64_t block_size = 64;
  int64_t sink_blocks = 1;
  int64_t window_blocks = 16;
};
BlockMask PredictSlidingWindow(const AttentionSpec& spec, int64_t batch, int64_t seqlen_q,
                               int64_t seqlen_k, const SlidingWindowParams& params = {});

// The generic baseline: per query block the top_k key blocks of highest
// mean-pooled logit scale * mean(Q_block) . mean(K_block) among those it can see.
struct TopKParams {
  int64_t block_size = 64;
  int64_t top_k = 16;
  bool keep_sink = false;      // also keep key block 0
  bool keep_diagonal = false;  // also keep the diagonal block
};
BlockMask PredictTopK(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                      const TopKParams& params = {},
                      const ThreadingContext& ctx = ThreadingContext());

}  // namespace attnkit

#endif  // ATTNKIT_SPARSE_H_
