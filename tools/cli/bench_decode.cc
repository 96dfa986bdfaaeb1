// SPDX-License-Identifier: Apache-2.0
// `attnkit bench --decode`: placeholder until the decode family lands.
#include "attnkit/error.h"
#include "tools/cli/bench_modes.h"

namespace attnkit::cli {
void RunDecodeBench(const BenchFlags&) { detail::Throw("attnkit bench --decode is not available yet"); }
}  // namespace attnkit::cli
