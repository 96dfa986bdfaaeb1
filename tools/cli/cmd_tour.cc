// SPDX-License-Identifier: Apache-2.0
// Placeholder for `attnkit tour` (being written).
#include "attnkit/error.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {
void AddTourCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("tour", "(not yet available)");
  cmd->callback([] { detail::Throw("attnkit tour is not implemented yet"); });
}
}  // namespace attnkit::cli
