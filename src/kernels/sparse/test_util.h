// SPDX-License-Identifier: Apache-2.0
// Test helpers shared by the sparse and local test suites (not in the library):
// reading a kernel's output back and comparing it with an fp64 reference
// under the accuracy contract of docs/conventions.md.
#ifndef ATTNKIT_KERNELS_SPARSE_TEST_UTIL_H_
#define ATTNKIT_KERNELS_SPARSE_TEST_UTIL_H_

#include <string>

#include "attnkit/plan.h"
#include "src/reference/reference.h"

namespace attnkit::testing {

struct Agreement {
  double max_abs = 0;    // max |O - O_ref|
  double out_scale = 1;  // max |O_ref| (1 if all zero)
  double lse_err = 0;    // max |LSE - LSE_ref| / max(1, |LSE_ref|) over finite rows
  std::string failure;   // empty when within tolerance
  bool ok() const { return failure.empty(); }
};

// Compares t.out (and t.lse when it has data) with `ref`: max_abs <= (1e-5 +
// half an ulp of the output dtype) * out_scale, LSE within 1e-5 relative, and
// rows the reference leaves empty (LSE = -inf) exactly 0 with LSE = -inf.
// `tolerance_factor` scales the 1e-5.
Agreement Compare(const reference::Result& ref, const AttentionTensors& t,
                  double tolerance_factor = 1.0);

}  // namespace attnkit::testing

#endif  // ATTNKIT_KERNELS_SPARSE_TEST_UTIL_H_
