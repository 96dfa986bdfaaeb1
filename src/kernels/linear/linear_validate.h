// SPDX-License-Identifier: Apache-2.0
// Validation of linear-attention problems at the API edge: every check throws
// attnkit::Error naming the argument, its value and what is allowed. Kernels
// (chunk-inl.h, recurrent-inl.h) assume validated input.
#ifndef ATTNKIT_KERNELS_LINEAR_LINEAR_VALIDATE_H_
#define ATTNKIT_KERNELS_LINEAR_LINEAR_VALIDATE_H_

#include <cstdint>

#include "attnkit/linear.h"

namespace attnkit::linear {

inline constexpr int64_t kMaxHeadDim = 1024;
// Widest feature row (and state): Based's 1 + Dk + Dk^2 limits it to Dk <= 63.
inline constexpr int64_t kMaxFeatureDim = 4096;
inline constexpr int64_t kMaxChunk = 1024;
// The parallel form materialises G N x N scores per worker.
inline constexpr int64_t kMaxParallelLength = 8192;

void ValidateLinearSpec(const LinearSpec& spec);
void ValidateLinearShape(const LinearSpec& spec, const LinearShape& shape);
void ValidateLinearOptions(const LinearSpec& spec, const LinearShape& shape,
                           const LinearPlanOptions& options);
// Ranks, shapes, dtypes and strides of every tensor; the values of the gates
// (<= 0, not NaN) and of beta (in [0, 2]); states that overlap other than
// in place.
void ValidateLinearTensors(const LinearSpec& spec, const LinearShape& shape,
                           const LinearTensors& t);

}  // namespace attnkit::linear

#endif  // ATTNKIT_KERNELS_LINEAR_LINEAR_VALIDATE_H_
