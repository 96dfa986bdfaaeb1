// SPDX-License-Identifier: Apache-2.0
// Placeholder for `attnkit bench` (being written).
#include "attnkit/error.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {
void AddBenchCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("bench", "(not yet available)");
  cmd->callback([] { detail::Throw("attnkit bench is not implemented yet"); });
}
}  // namespace attnkit::cli
