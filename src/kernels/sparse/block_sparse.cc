// SPDX-License-Identifier: Apache-2.0
// Per-target compilation unit of the block-sparse kernel: the dense tile steps
// (dense-inl.h) driven by the kept key blocks of one work item. foreach_target.h
// re-includes this file once per Highway target; HWY_ONCE exports the table.
// clang-format off: foreach_target.h must come first and re-includes this file.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/sparse/block_sparse.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include "hwy/highway.h"
#include "src/kernels/dense/dense-inl.h"
#include "src/kernels/sparse/block_sparse.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::sparse {
namespace HWY_NAMESPACE {
namespace dn = ::attnkit::dense::HWY_NAMESPACE;

// One work item: online softmax over its kept key blocks only, in ascending
// order, with the exact f32 products for every input dtype. Rows of the tile:
// every head of the group (item.head < 0), or the one head through its shifted
// per-head view (InitQueryTile then reads "head
// kv_head" of that view, which is query head item.head of the tensors).
template <typename T>
void SparseQueryTile(const BlockSparseArgs& a, const SparseItem& it, float* HWY_RESTRICT scratch) {
  const ::attnkit::ScopedFlushDenormals flush;  // as the dense kernel (dense-inl.h)
  const dense::DenseArgs& d = it.head < 0 ? a.group : a.heads[it.head];
  dn::QueryTileState ts =
      dn::InitQueryTile<T, dn::F32Products>(d, d.seqs[it.seq], it.kv_head, it.q_block, scratch);
  for (int64_t i = it.begin; i < it.end; ++i) {
    dn::ProcessKeyTile<dn::F32Products>(d, ts, a.key_blocks[i]);
  }
  dn::FinishQueryTile(d, ts);
}

void RunSparseTile(const BlockSparseArgs& a, const SparseItem& it, float* scratch) {
  VisitStorageType(a.group.q.dtype,
                   [&](auto tag) { SparseQueryTile<decltype(tag)>(a, it, scratch); });
}
const char* SparseTargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::sparse
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/simd/dispatch.h"

namespace attnkit::sparse {

HWY_EXPORT(RunSparseTile);
HWY_EXPORT(SparseTargetName);

BlockSparseFns GetBlockSparseFns() {
  const size_t index = ChosenTargetIndex();
  BlockSparseFns fns;
  fns.tile = HWY_DISPATCH_TABLE(RunSparseTile)[index];
  fns.target = HWY_DISPATCH_TABLE(SparseTargetName)[index]();
  return fns;
}

}  // namespace attnkit::sparse
#endif  // HWY_ONCE
