// SPDX-License-Identifier: Apache-2.0
// `attnkit plan --explain <problem flags>`: the kernel, tiles, partition and
// workspace the planner chooses, and the alternatives it ranked.
// `attnkit plan --list-kernels`: every registry kernel (names for --kernel).
#include <cstdio>
#include <string>

#include "tools/cli/commands.h"
#include "tools/cli/problem_flags.h"

namespace attnkit::cli {

void AddPlanCommand(CLI::App& app) {
  static ProblemFlags flags;
  static bool explain = false, list_kernels = false;
  CLI::App* cmd = app.add_subcommand("plan", "show what the planner chooses for a problem");
  AddProblemFlags(cmd, flags);
  cmd->add_flag("--explain", explain, "print the choice and the ranked alternatives (default)");
  cmd->add_flag("--list-kernels", list_kernels,
                "list the registry's kernels (names for --kernel), their dtypes and precision");
  cmd->callback([] {
    if (list_kernels) {
      for (const KernelInfo& k : ListKernels()) {
        std::string dtypes;
        for (DType d : k.dtypes) dtypes += (dtypes.empty() ? "" : ",") + std::string(Name(d));
        std::printf("%-36s %-10s %-14s %s\n    %s\n", k.name.c_str(), k.family.c_str(),
                    dtypes.c_str(), k.precision.c_str(), k.description.c_str());
      }
      return;
    }
    const harness::Case c = ToCase(flags);
    const Plan plan = MakePlan(c.spec, c.Shape(), ThreadingContext(c.threads), c.Options());
    std::printf("%s", plan.Explain().c_str());
  });
}

}  // namespace attnkit::cli
