// SPDX-License-Identifier: Apache-2.0
// Validation at the API edge: every check throws attnkit::Error naming the
// argument, its value and what is allowed. Kernels assume validated input.
#ifndef ATTNKIT_PLAN_VALIDATE_H_
#define ATTNKIT_PLAN_VALIDATE_H_

#include <cstdint>
#include <initializer_list>
#include <optional>

#include "attnkit/plan.h"
#include "attnkit/spec.h"

namespace attnkit {

// Largest head dimension any kernel accepts.
inline constexpr int64_t kMaxHeadDim = 1024;
// Window sides at or above this are treated as unbounded (no position differs by more).
inline constexpr int64_t kWindowUnboundedAbove = int64_t{1} << 40;

// An `expected` extent of CheckTensor that accepts any size.
inline constexpr int64_t kAnyExtent = -1;

// Checks one tensor argument of any family: present, rank = expected.size(),
// every axis equal to `expected` (kAnyExtent: any size), strides >= 0, the last
// axis contiguous. A tensor with no elements may have a null data pointer and
// any strides: nothing is read or written through it. `axes` names the axes in
// messages (e.g. "[B, Hq, N, Dqk]"); a non-empty `who` prefixes them ("who: ").
void CheckTensor(const char* name, const TensorView& t, std::initializer_list<int64_t> expected,
                 const char* axes, const char* who = "");
// Outputs must not alias themselves: every axis longer than 1 needs a stride.
void CheckWritable(const char* name, const TensorView& t, const char* who = "");

// What every family's spec checks alike: head counts >= 1 with Hq a multiple of
// Hkv, head dims in [1, kMaxHeadDim] (`dk_name` names the first, e.g.
// "head_dim_qk"), and a finite scale when one is given.
void ValidateHeads(int64_t num_q_heads, int64_t num_kv_heads, const char* dk_name, int64_t dk,
                   int64_t dv, const std::optional<float>& scale);

void ValidateSpec(const AttentionSpec& spec);
void ValidateShape(const AttentionSpec& spec, const AttentionShape& shape);
// Checks that the tensors have the ranks, shapes, dtypes and strides the spec
// and shape call for.
void ValidateTensors(const AttentionSpec& spec, const AttentionShape& shape,
                     const AttentionTensors& t);

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_VALIDATE_H_
