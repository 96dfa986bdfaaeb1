// SPDX-License-Identifier: Apache-2.0
// Python bindings of the sparse family (placeholder until the family lands).
#include "python/src/bindings.h"

namespace attnkit_py {
void BindSparse(nanobind::module_&) {}
}  // namespace attnkit_py
