// SPDX-License-Identifier: Apache-2.0
// Placeholder for `attnkit run` (being written).
#include "attnkit/error.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {
void AddRunCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("run", "(not yet available)");
  cmd->callback([] { detail::Throw("attnkit run is not implemented yet"); });
}
}  // namespace attnkit::cli
