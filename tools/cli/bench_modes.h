// SPDX-License-Identifier: Apache-2.0
// Options shared by every mode of `attnkit bench`, and the family modes
// (--decode, --sparse, --linear), each implemented beside its family in
// tools/cli/bench_<family>.cc.
#ifndef ATTNKIT_TOOLS_CLI_BENCH_MODES_H_
#define ATTNKIT_TOOLS_CLI_BENCH_MODES_H_

#include <regex>
#include <string>
#include <vector>

namespace attnkit::cli {

struct BenchFlags {
  std::vector<std::string> shapes;  // shape files (each mode has its default)
  std::string filter, format = "table", dtype;
  int threads = 0, reps = 0;
  double min_time = 1.0;
  bool no_baseline = false, list = false;
  bool roof = false;      // --roof: report results against measured roofs
  bool autotune = false;  // --autotune: measured tile choice per shape (PlanOptions::autotune)
  bool decode = false, sparse = false, linear = false;  // family modes
  std::string kernel;     // --kernel (decode mode): a registered decode kernel; "" = the planner's
  bool warm = false;      // --warm (decode mode): keep the caches between timed calls
  std::string suite = "calibrated";  // --suite (sparse mode): structured inputs, calibrated | hard
  std::string predictors;            // --predictors (sparse mode): regex over predictor names
  std::vector<double> oracle;        // --oracle (sparse mode): densities of oracle rows
};

// --filter as a regex ("" = everything); a bad pattern is an attnkit::Error.
std::regex FilterRegex(const std::string& filter);
// Checks --threads, --reps and --min-time (every mode) and returns FilterRegex(--filter).
std::regex CheckCommonBenchFlags(const BenchFlags& f);

void RunDecodeBench(const BenchFlags& f);  // bench_decode.cc
void RunSparseBench(const BenchFlags& f);  // bench_sparse.cc
void RunLinearBench(const BenchFlags& f);  // bench_linear.cc

}  // namespace attnkit::cli

#endif  // ATTNKIT_TOOLS_CLI_BENCH_MODES_H_
