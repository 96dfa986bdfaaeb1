// SPDX-License-Identifier: Apache-2.0
// Validation at the API edge: every check throws attnkit::Error naming the
// argument, its value and what is allowed. Kernels assume validated input.
#ifndef ATTNKIT_PLAN_VALIDATE_H_
#define ATTNKIT_PLAN_VALIDATE_H_

#include "attnkit/plan.h"
#include "attnkit/spec.h"

namespace attnkit {

// Largest head dimension any kernel accepts.
inline constexpr int64_t kMaxHeadDim = 1024;
// Window sides at or above this are treated as unbounded (no position differs by more).
inline constexpr int64_t kWindowUnboundedAbove = int64_t{1} << 40;

void ValidateSpec(const AttentionSpec& spec);
void ValidateShape(const AttentionSpec& spec, const AttentionShape& shape);
// Checks that the tensors have the ranks, shapes, dtypes and strides the spec
// and shape call for.
void ValidateTensors(const AttentionSpec& spec, const AttentionShape& shape,
                     const AttentionTensors& t);

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_VALIDATE_H_
