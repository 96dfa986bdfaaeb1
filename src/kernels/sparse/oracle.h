// SPDX-License-Identifier: Apache-2.0
// The oracle block mask for evaluating predictors (not a predictor: it computes
// the exact attention probabilities, as much work as dense attention): at a
// given density, the visible blocks of highest exact softmax mass, chosen
// jointly over all (batch, head, query block) rows, so it maximises the mean
// recall at that density. Separates "the predictor misses mass" from "the
// inputs cannot be sparsified at this density".
#ifndef ATTNKIT_KERNELS_SPARSE_ORACLE_H_
#define ATTNKIT_KERNELS_SPARSE_ORACLE_H_

#include <cstdint>
#include <vector>

#include "attnkit/sparse.h"

namespace attnkit::sparse {

// One mask per entry of `densities` (each in (0, 1]: kept / visible blocks),
// square blocks of `block_size`. Every row keeps at least its diagonal block.
std::vector<BlockMask> OracleBlockMasks(const AttentionSpec& spec, const TensorView& q,
                                        const TensorView& k, int64_t block_size,
                                        const std::vector<double>& densities,
                                        const ThreadingContext& ctx = ThreadingContext());

}  // namespace attnkit::sparse

#endif  // ATTNKIT_KERNELS_SPARSE_ORACLE_H_
