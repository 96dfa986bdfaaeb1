// SPDX-License-Identifier: Apache-2.0
// `attnkit plan --explain <problem flags>`: the kernel, tiles, partition and
// workspace the planner chooses, and the alternatives it ranked.
#include <cstdio>

#include "tools/cli/commands.h"
#include "tools/cli/problem_flags.h"

namespace attnkit::cli {

void AddPlanCommand(CLI::App& app) {
  static ProblemFlags flags;
  static bool explain = false;
  CLI::App* cmd = app.add_subcommand("plan", "show what the planner chooses for a problem");
  AddProblemFlags(cmd, flags);
  cmd->add_flag("--explain", explain, "print the choice and the ranked alternatives (default)");
  cmd->callback([] {
    const harness::Case c = ToCase(flags);
    const Plan plan = MakePlan(c.spec, c.Shape(), ThreadingContext(c.threads), c.Options());
    std::printf("%s", plan.Explain().c_str());
  });
}

}  // namespace attnkit::cli
