// SPDX-License-Identifier: Apache-2.0
// Python bindings of the linear family (placeholder until the family lands).
#include "python/src/bindings.h"

namespace attnkit_py {
void BindLinear(nanobind::module_&) {}
}  // namespace attnkit_py
