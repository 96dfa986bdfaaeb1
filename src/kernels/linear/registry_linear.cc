// SPDX-License-Identifier: Apache-2.0
// Registry lines of the linear family (listed by attnkit::ListKernels()).
#include "src/plan/registry.h"

namespace attnkit {
std::vector<KernelInfo> LinearKernelInfos() { return {}; }
}  // namespace attnkit
