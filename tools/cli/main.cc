// SPDX-License-Identifier: Apache-2.0
// attnkit: command-line front end (run | check | bench | plan | tour).
#include <cstdio>
#include <exception>

#include "attnkit/attnkit.h"
#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"attnkit: efficient attention for CPUs"};
  app.set_version_flag("--version", std::string("attnkit ") + attnkit::kVersion);
  app.require_subcommand(1);
  attnkit::cli::AddRunCommand(app);
  attnkit::cli::AddCheckCommand(app);
  attnkit::cli::AddBenchCommand(app);
  attnkit::cli::AddPlanCommand(app);
  attnkit::cli::AddTourCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const attnkit::Error& e) {
    std::fprintf(stderr, "attnkit: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnkit: internal error: %s\n", e.what());
    return 3;
  }
  return attnkit::cli::ExitCode();
}
