// SPDX-License-Identifier: Apache-2.0
// `attnkit bench --sparse`: placeholder until the sparse family lands.
#include "attnkit/error.h"
#include "tools/cli/bench_modes.h"

namespace attnkit::cli {
void RunSparseBench(const BenchFlags&) { detail::Throw("attnkit bench --sparse is not available yet"); }
}  // namespace attnkit::cli
