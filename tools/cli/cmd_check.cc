// SPDX-License-Identifier: Apache-2.0
// `attnkit check [--filter REGEX]`: runs the correctness grid against the fp64
// reference, prints one row per case, exits 1 if any case fails.
#include <cstdio>
#include <regex>

#include "attnkit/error.h"
#include "src/harness/cases.h"
#include "src/harness/report.h"
#include "tools/cli/bench_modes.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {

void AddCheckCommand(CLI::App& app) {
  static std::string filter, format = "table", kernel;
  static int threads = 0;
  static bool list = false;
  CLI::App* cmd = app.add_subcommand("check", "run the correctness grid against the fp64 reference");
  cmd->add_option("--filter", filter, "only cases whose description matches this regex");
  cmd->add_option("--kernel", kernel, "run every case on this registry kernel");
  cmd->add_option("--threads,-t", threads, "override the thread count of every case");
  cmd->add_option("--format", format, "table | csv | json")->capture_default_str();
  cmd->add_flag("--list", list, "list the cases without running them");
  cmd->callback([] {
    const std::regex re = FilterRegex(filter);
    const harness::Format fmt = harness::ParseFormat(format);
    std::vector<harness::Case> cases;
    for (harness::Case c : harness::DefaultGrid()) {
      if (!kernel.empty()) c.kernel = kernel;
      if (threads > 0) c.threads = threads;
      if (std::regex_search(c.ToString(), re)) cases.push_back(c);
    }
    ATTNKIT_CHECK(!cases.empty(), "--filter '", filter, "' matches no case (try --list)");
    if (list) {
      for (const harness::Case& c : cases) std::printf("%s\n", c.ToString().c_str());
      return;
    }
    harness::Table table({"case", "max_abs", "rel_l2", "lse_err", "tolerance", "pass"});
    harness::Progress progress("check", static_cast<int64_t>(cases.size()));
    int failed = 0;
    for (const harness::Case& c : cases) {
      const harness::CheckResult r = harness::Check(c);
      if (!r.pass) ++failed;
      table.AddRow({c.ToString(), harness::Sig(r.max_abs), harness::Sig(r.rel_l2),
                    harness::Sig(r.lse_max_abs), harness::Sig(r.tolerance),
                    r.pass ? "yes" : "NO: " + r.failure});
      progress.Step(c.ToString());
    }
    progress.Done();
    std::printf("%s", table.Render(fmt).c_str());
    if (fmt == harness::Format::kTable) {
      std::printf("\n%zu cases, %d failed\n", cases.size(), failed);
    }
    if (failed > 0) ExitCode() = 1;
  });
}

}  // namespace attnkit::cli
