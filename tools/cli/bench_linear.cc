// SPDX-License-Identifier: Apache-2.0
// `attnkit bench --linear`: placeholder until the linear family lands.
#include "attnkit/error.h"
#include "tools/cli/bench_modes.h"

namespace attnkit::cli {
void RunLinearBench(const BenchFlags&) { detail::Throw("attnkit bench --linear is not available yet"); }
}  // namespace attnkit::cli
