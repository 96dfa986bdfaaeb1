// SPDX-License-Identifier: Apache-2.0
// Python bindings of the decode family (placeholder until the family lands).
#include "python/src/bindings.h"

namespace attnkit_py {
void BindDecode(nanobind::module_&) {}
}  // namespace attnkit_py
