// SPDX-License-Identifier: Apache-2.0
// Umbrella header of attnkit, a library of efficient attention for CPUs.
#ifndef ATTNKIT_ATTNKIT_H_
#define ATTNKIT_ATTNKIT_H_

#include "attnkit/dtype.h"
#include "attnkit/error.h"
#include "attnkit/linear.h"
#include "attnkit/plan.h"
#include "attnkit/spec.h"
#include "attnkit/state.h"
#include "attnkit/tensor.h"
#include "attnkit/threading.h"

namespace attnkit {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace attnkit

#endif  // ATTNKIT_ATTNKIT_H_
