// SPDX-License-Identifier: Apache-2.0
// Registry lines of the decode family (listed by attnkit::ListKernels()).
#include "src/plan/registry.h"

namespace attnkit {
std::vector<KernelInfo> DecodeKernelInfos() { return {}; }
}  // namespace attnkit
