// SPDX-License-Identifier: Apache-2.0
// fp64 oracle of block-sparse attention: the block mask expanded to an
// elementwise -inf bias, then the exact reference (src/reference/reference.h),
// which also applies the causal mask / window, soft-cap and sinks. Slow.
#ifndef ATTNKIT_REFERENCE_SPARSE_H_
#define ATTNKIT_REFERENCE_SPARSE_H_

#include <vector>

#include "attnkit/sparse.h"
#include "src/reference/reference.h"

namespace attnkit::reference {

// The mask as a bias [B, Hq, Nq, Nk] f32: 0 where key j's block is kept for
// query row i's block, -inf elsewhere.
std::vector<float> BlockMaskBias(const BlockMask& mask);

// Exact attention restricted to the kept blocks. `in` as for Attention (fixed
// batch); spec.has_bias must be false (the mask becomes the bias).
Result BlockSparseAttention(const AttentionSpec& spec, const AttentionShape& shape,
                            const AttentionTensors& in, const BlockMask& mask);

}  // namespace attnkit::reference

#endif  // ATTNKIT_REFERENCE_SPARSE_H_
