// SPDX-License-Identifier: Apache-2.0
// Interface of the block-sparse attention kernel (non-SIMD part) and its plan.
// The kernel is the dense FlashAttention-2 tile walk (src/kernels/dense:
// InitQueryTile / ProcessKeyTile / FinishQueryTile) restricted to the key tiles
// that the block mask keeps: kernel tiles are the mask's blocks (block_q query
// positions x block_k keys), so a kept block is exactly one ProcessKeyTile and a
// skipped block costs nothing. Phases of a run:
//   1. pack: the key tiles that some work item uses, as for dense (K^T and V in
//      f32, shared by every query head of a KV head);
//   2. compute: one work item = one query block of one (sequence, KV head), for
//      all query heads of the GQA group at once when they keep the same blocks
//      (their rows share every loaded tile), else one item per query head.
#ifndef ATTNKIT_KERNELS_SPARSE_BLOCK_SPARSE_H_
#define ATTNKIT_KERNELS_SPARSE_BLOCK_SPARSE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attnkit/plan.h"
#include "attnkit/sparse.h"
#include "src/kernels/dense/dense.h"

namespace attnkit::sparse {

// One unit of parallel work: query block `q_block` of sequence `seq`, KV head
// `kv_head`; `head` = -1 for all query heads of the group (they keep the same
// blocks), else the one query head. Its visible kept key blocks are
// BlockSparseArgs::key_blocks[begin, end), ascending.
struct SparseItem {
  int32_t seq;
  int32_t kv_head;
  int32_t q_block;
  int32_t head;
  int64_t begin, end;
};

struct BlockSparseArgs {
  dense::DenseArgs group;             // group = Hq / Hkv: all heads of a KV head together
  const dense::DenseArgs* heads;      // [Hq]: head h alone (group 1, views shifted to h)
  const int32_t* key_blocks;          // visible kept key blocks of every item
};

using SparseTileFn = void (*)(const BlockSparseArgs&, const SparseItem&, float* scratch);

struct BlockSparseFns {
  SparseTileFn tile = nullptr;
  const char* target = "";
};
// Entry points for the best Highway target of this CPU (or the one forced by
// hwy::SetSupportedTargetsForTest).
BlockSparseFns GetBlockSparseFns();

}  // namespace attnkit::sparse

namespace attnkit {

// Everything MakeBlockSparsePlan decided (see attnkit/sparse.h).
struct BlockSparsePlanImpl {
  AttentionSpec spec;
  AttentionShape shape;
  int num_threads = 1;
  CpuInfo cpu;
  float scale = 1.0f;
  int64_t window_left = kUnbounded, window_right = kUnbounded;
  int64_t block_q = 0, block_k = 0, dv_pad = 0;
  bool pack_v = false;
  std::vector<dense::Sequence> seqs;
  std::vector<sparse::SparseItem> items;       // longest first
  std::vector<int32_t> key_blocks;             // referenced by items
  std::vector<dense::PackItem> pack_items;     // key tiles some item uses
  int64_t k_tile_words = 0, v_tile_words = 0;  // packed tile sizes (f32 products)
  int64_t packed_k_floats = 0, packed_v_floats = 0, scratch_floats = 0;
  int64_t kept = 0, visible = 0;               // blocks, over all (batch, head)
  dense::DenseFns dense_fns;
  sparse::BlockSparseFns fns;
  size_t workspace_bytes = 0;
};

}  // namespace attnkit

#endif  // ATTNKIT_KERNELS_SPARSE_BLOCK_SPARSE_H_
