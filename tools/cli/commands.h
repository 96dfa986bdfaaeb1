// SPDX-License-Identifier: Apache-2.0
// Subcommands of the `attnkit` CLI. Each Add*Command registers one subcommand
// (flags + callback) on the app; callbacks throw attnkit::Error on bad input,
// which main() prints as "attnkit: error: ..." with exit code 2.
#ifndef ATTNKIT_TOOLS_CLI_COMMANDS_H_
#define ATTNKIT_TOOLS_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace attnkit::cli {

void AddRunCommand(CLI::App& app);    // cmd_run.cc:   attention on .npy files
void AddCheckCommand(CLI::App& app);  // cmd_check.cc: the correctness grid vs the fp64 reference
void AddBenchCommand(CLI::App& app);  // cmd_bench.cc: speed vs the unfused OpenBLAS baseline
void AddPlanCommand(CLI::App& app);   // cmd_plan.cc:  what the planner would choose, and why
void AddTourCommand(CLI::App& app);   // cmd_tour.cc:  the main job: a guided tour on real shapes

// Exit code a subcommand wants main() to return (0 unless a check failed).
int& ExitCode();

}  // namespace attnkit::cli

#endif  // ATTNKIT_TOOLS_CLI_COMMANDS_H_
