// SPDX-License-Identifier: Apache-2.0
// In-process smoke test of `attnkit bench` on a tiny shape file: CSV and JSON
// output are parsed minimally; bad flags are errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "attnkit/error.h"
#include "attnkit/plan.h"
#include "src/baseline/unfused.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {
namespace {

// A per-test file: ctest runs the tests of this binary in parallel processes.
std::string WriteShapes() {
  const std::string path = testing::TempDir() + "attnkit_bench_smoke_" +
                           testing::UnitTest::GetInstance()->current_test_info()->name() + ".txt";
  std::FILE* f = std::fopen(path.c_str(), "w");
  EXPECT_NE(f, nullptr);
  std::fputs(
      "# tiny cases for the smoke test\n"
      "name=tiny/causal hq=4 hkv=2 nq=64 d=32 causal\n"
      "name=tiny/window-bf16 hq=2 nq=80 nk=96 d=16 window=8,8 dtype=bf16\n",
      f);
  std::fclose(f);
  return path;
}

// Runs `attnkit <args>` in-process and returns what it printed on stdout.
std::string Bench(const std::string& args) {
  CLI::App app;
  AddBenchCommand(app);
  testing::internal::CaptureStdout();
  try {
    app.parse(args, /*program_name_included=*/false);
  } catch (...) {
    testing::internal::GetCapturedStdout();
    throw;
  }
  std::fflush(stdout);
  return testing::internal::GetCapturedStdout();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Splits one CSV line; cells may be "quoted" (with "" for a quote).
std::vector<std::string> CsvCells(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') {
      cells.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

bool Bf16ProductsKernel(const std::string& name) {
  for (const KernelInfo& k : ListKernels()) {
    if (k.name == name) return k.precision.rfind("bf16", 0) == 0;
  }
  ADD_FAILURE() << "bench reported an unregistered kernel: " << name;
  return false;
}

TEST(BenchCommand, CsvHasHeaderAndOneRowPerCase) {
  const std::string path = WriteShapes();
  const std::string out = Bench("bench --shapes " + path + " --format csv --reps 1 --threads 2");
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0].rfind("name,case,kernel,threads,reps,attnkit_ms,", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("tiny/causal,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("tiny/window-bf16,", 0), 0u) << lines[2];
  // 13 columns, none empty; the speedup is a number when OpenBLAS is present.
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> cells = CsvCells(lines[i]);
    ASSERT_EQ(cells.size(), 13u) << lines[i];
    EXPECT_GT(std::stod(cells[5]), 0.0);
    if (baseline::Blas().available) {
      EXPECT_GT(std::stod(cells[11]), 0.0) << lines[i];
      // A bf16-products kernel (the planner's choice for bf16 where AVX512-BF16 is fast)
      // rounds P to bf16; every other kernel keeps f32 products.
      const double bound = Bf16ProductsKernel(cells[2]) ? 1e-2 : 1e-4;
      EXPECT_LT(std::stod(cells[12]), bound) << "attnkit and the baseline disagree: " << lines[i];
    }
  }
}

TEST(BenchCommand, JsonHasMachineAndResults) {
  const std::string path = WriteShapes();
  const std::string out =
      Bench("bench --shapes " + path + " --format json --reps 1 --filter causal --no-baseline");
  EXPECT_EQ(out.rfind("{", 0), 0u) << out;
  EXPECT_NE(out.find("\"machine\": {\"threads\": "), std::string::npos) << out;
  EXPECT_NE(out.find("\"results\": ["), std::string::npos) << out;
  EXPECT_NE(out.find("\"name\": \"tiny/causal\""), std::string::npos) << out;
  EXPECT_EQ(out.find("tiny/window-bf16"), std::string::npos) << "--filter ignored";
  EXPECT_NE(out.find("\"baseline_ms\": \"-\""), std::string::npos) << "--no-baseline ignored";
  int depth = 0;  // braces and brackets balance
  for (char c : out) depth += (c == '{' || c == '[') - (c == '}' || c == ']');
  EXPECT_EQ(depth, 0);
}

TEST(BenchCommand, BadFlagsAreErrors) {
  const std::string path = WriteShapes();
  EXPECT_THROW(Bench("bench --shapes " + path + " --filter nomatch --reps 1"), Error);
  EXPECT_THROW(Bench("bench --shapes " + path + " --filter '(' --reps 1"), Error);
  EXPECT_THROW(Bench("bench --shapes " + path + " --format xml --reps 1"), Error);
  EXPECT_THROW(Bench("bench --shapes /nonexistent.txt"), Error);
  EXPECT_THROW(Bench("bench --shapes " + path + " --dtype f8"), Error);
  EXPECT_THROW(Bench("bench --shapes " + path + " --min-time -1"), Error);
}

// `bench --linear`: the listed cases, one small case of each section run, bad flags.
TEST(BenchCommand, LinearModeListsRunsAndRejects) {
  const std::vector<std::string> listed = Lines(Bench("bench --linear --list"));
  EXPECT_EQ(listed.size(), 16u);
  EXPECT_EQ(listed.front(), "prefill/N=1k");
  EXPECT_EQ(listed.back(), "crossover/N=8k");
  const std::string out = Bench("bench --linear --filter crossover/N=256$ --reps 1 --threads 2");
  EXPECT_NE(out.find("crossover/N=256 "), std::string::npos) << out;
  EXPECT_EQ(out.find("prefill/"), std::string::npos) << out;
  EXPECT_EQ(out.find("decode/"), std::string::npos) << out;
  // The interleaved sections: 2 rounds of one prefill size and of one decode context.
  const std::string small =
      Bench("bench --linear --filter prefill/N=1k$|decode/ctx=1k$ --reps 2 --threads 2");
  EXPECT_NE(small.find("prefill (mode=chunk, planner's chunk; 2 rounds"), std::string::npos) << small;
  EXPECT_NE(small.find("prefill/N=1k "), std::string::npos) << small;
  EXPECT_NE(small.find("decode/ctx=1k "), std::string::npos) << small;
  EXPECT_NE(small.find("flatness: max/min of the linear medians = 1.000 (ctx=1k / ctx=1k)"),
            std::string::npos) << small;
  EXPECT_EQ(small.find("crossover/"), std::string::npos) << small;
  EXPECT_THROW(Bench("bench --linear --filter nomatch"), Error);
  EXPECT_THROW(Bench("bench --linear --shapes llama3-8b"), Error);
  EXPECT_THROW(Bench("bench --linear --decode"), Error);
}

// `bench --sparse`: the predictor filter, oracle rows, both suites, the per-kind table, bad flags.
TEST(BenchCommand, SparseModeSuitesOracleAndPredictorFilter) {
  const std::string path = testing::TempDir() + "attnkit_bench_sparse_smoke.txt";
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("name=tiny/sparse b=1 hq=8 hkv=2 nq=512 d=32 causal\n", f);
  std::fclose(f);
  for (const std::string suite : {"calibrated", "hard"}) {
    const std::string out = Bench("bench --sparse --shapes " + path + " --suite " + suite +
                                  " --predictors ^sampled$|^power$ --oracle 0.5 1 --reps 1 --threads 2");
    EXPECT_NE(out.find("suite " + suite), std::string::npos) << out;
    EXPECT_NE(out.find("tiny/sparse  sampled "), std::string::npos) << out;
    EXPECT_NE(out.find("tiny/sparse  power "), std::string::npos) << out;
    EXPECT_NE(out.find("tiny/sparse  oracle-50% "), std::string::npos) << out;
    EXPECT_EQ(out.find("xattention"), std::string::npos) << out;
    EXPECT_NE(out.find("By head kind"), std::string::npos) << out;
    EXPECT_NE(out.find("noise recall"), std::string::npos) << out;
    // The oracle at density 1 keeps every block: the dense output up to f32
    // rounding (bitwise on AVX3; the AVX2 sparse and dense tiles sum in another
    // order, rel-L2 ~1e-7).
    EXPECT_TRUE(std::regex_search(
        out, std::regex("oracle-100% +1\\.000 +1\\.0000 +(0|[0-9.]+e-(0[7-9]|[1-9][0-9])) +1\\.00000 ")))
        << out;
  }
  EXPECT_THROW(Bench("bench --sparse --shapes " + path + " --suite easy --reps 1"), Error);
  EXPECT_THROW(Bench("bench --sparse --shapes " + path + " --oracle 0 --reps 1"), Error);
  EXPECT_THROW(Bench("bench --suite hard"), Error);
  EXPECT_THROW(Bench("bench --decode --predictors sampled"), Error);
}

// `bench --decode`: the listed shapes, one small case per kernel, bad flags.
TEST(BenchCommand, DecodeModeListsRunsAndRejects) {
  const std::vector<std::string> listed = Lines(Bench("bench --decode --list"));
  ASSERT_EQ(listed.size(), 13u);
  EXPECT_EQ(listed.front().rfind("ctx1k-b1 ", 0), 0u) << listed.front();
  const std::string out = Bench("bench --decode --filter ^ctx1k-b1$ --dtype bf16,int8 --reps 1 --threads 2");
  int rows = 0;
  for (const std::string& line : Lines(out)) {
    if (line.rfind("ctx1k-b1 ", 0) != 0) continue;
    ++rows;
    const bool bf16 = line.find(" bf16 ") != std::string::npos;
    EXPECT_TRUE(bf16 || line.find(" int8 ") != std::string::npos) << line;
    // Float caches run the fused kernel; int8 the VNNI one where the CPU has it.
    if (bf16) {
      EXPECT_NE(line.find(" fused "), std::string::npos) << line;
    }
  }
  EXPECT_EQ(rows, 2) << out;
  // A forced kernel is the one that runs (the f32-tile kernel, any CPU).
  const std::string tiles = Bench("bench --decode --filter ^ctx1k-b1$ --dtype int4 --reps 1 --threads 1 "
                                  "--kernel decode_kvcache_f32acc_portable");
  EXPECT_NE(tiles.find(" tiles "), std::string::npos) << tiles;
  EXPECT_EQ(tiles.find(" fused "), std::string::npos) << tiles;
  EXPECT_THROW(Bench("bench --decode --filter nomatch"), Error);
  EXPECT_THROW(Bench("bench --decode --shapes llama3-8b"), Error);
  EXPECT_THROW(Bench("bench --decode --filter ^ctx1k-b1$ --dtype int3"), Error);
  EXPECT_THROW(Bench("bench --decode --filter ^ctx1k-b1$ --kernel no_such_kernel --reps 1"), Error);
  // VNNI scores need a quantised cache (and a VNNI CPU): an error for bf16 either way.
  EXPECT_THROW(Bench("bench --decode --filter ^ctx1k-b1$ --dtype bf16 --reps 1 "
                     "--kernel decode_int8int4kv_vnni_avx512"),
               Error);
  EXPECT_THROW(Bench("bench --linear --kernel decode_kvcache_fused_portable"), Error);
}

}  // namespace
}  // namespace attnkit::cli
