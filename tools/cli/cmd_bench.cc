// SPDX-License-Identifier: Apache-2.0
// `attnkit bench`: times attnkit on the cases of shape files (bench/shapes/*.txt)
// against the unfused OpenBLAS baseline, in the same run with the same threads.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "src/baseline/compare.h"
#include "src/baseline/unfused.h"
#include "src/harness/report.h"
#include "src/harness/shape_file.h"
#include "tools/cli/bench_modes.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {

std::regex FilterRegex(const std::string& filter) {
  try {
    return std::regex(filter.empty() ? ".*" : filter);
  } catch (const std::regex_error& e) {
    detail::Throw("--filter '", filter, "' is not a valid regex: ", e.what());
  }
}

std::regex CheckCommonBenchFlags(const BenchFlags& f) {
  ATTNKIT_CHECK(f.threads >= 0 && f.threads <= 1024, "--threads must be in [0, 1024], got ",
                f.threads);
  ATTNKIT_CHECK(f.reps >= 0 && f.reps <= 100000, "--reps must be in [0, 100000], got ", f.reps);
  ATTNKIT_CHECK(std::isfinite(f.min_time) && f.min_time >= 0 && f.min_time <= 3600,
                "--min-time must be in [0, 3600] seconds, got ", f.min_time);
  return FilterRegex(f.filter);
}

namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out + "\"";
}

void RunBench(const BenchFlags& f) {
  const harness::Format fmt = harness::ParseFormat(f.format);
  const std::regex re = CheckCommonBenchFlags(f);
  std::optional<DType> dtype;
  if (!f.dtype.empty()) dtype = ParseDType(f.dtype);
  const int threads = ThreadingContext(f.threads).num_threads();

  // Shape files: the given ones, or the shipped Llama-3-8B list.
  std::vector<std::string> files;
  if (f.shapes.empty()) {
    files.push_back(harness::ResolveShapeFile("llama3-8b.txt"));
  } else {
    for (const std::string& s : f.shapes) files.push_back(harness::ResolveShapeFile(s));
  }
  std::vector<harness::NamedCase> cases;
  size_t listed = 0;
  for (const std::string& file : files) {
    for (harness::NamedCase nc : harness::ReadShapeFile(file)) {
      ++listed;
      if (dtype) nc.c.dtype = *dtype;
      nc.c.autotune = f.autotune;
      nc.c.threads = threads;
      if (std::regex_search(nc.name, re) || std::regex_search(nc.c.ToString(), re)) {
        cases.push_back(std::move(nc));
      }
    }
  }
  ATTNKIT_CHECK(!cases.empty(), "--filter '", f.filter, "' matches none of the ", listed,
                " cases (try --list)");
  std::string files_text;
  for (const std::string& file : files) files_text += (files_text.empty() ? "" : ", ") + file;
  if (f.list) {
    std::printf("shapes: %s\n", files_text.c_str());
    for (const harness::NamedCase& nc : cases) {
      std::printf("%-34s %s\n", nc.name.c_str(), nc.c.ToString().c_str());
    }
    return;
  }

  // Header: machine, threads, BLAS and its measured roof.
  const baseline::BlasInfo& blas = baseline::Blas();
  const bool with_baseline = !f.no_baseline && blas.available;
  // --roof also needs the sgemm figure when the baseline itself is off.
  ATTNKIT_CHECK(!f.roof || blas.available, "--roof needs OpenBLAS to measure the sgemm roof: ",
                blas.Describe());
  double sgemm = 0;
  if (with_baseline || f.roof) sgemm = baseline::MeasureSgemmGflops(threads);
  const std::string cpu = CpuInfo::Detect().ToString();
  std::string blas_text =
      f.no_baseline ? std::string("baseline off (--no-baseline)") : blas.Describe();
  if (with_baseline || f.roof) {
    blas_text += "; sgemm 2048^3 on " + std::to_string(threads) +
                 " threads: " + harness::Fixed(sgemm, 0) + " GFLOP/s";
  }
  char header[2048];
  std::snprintf(header, sizeof(header),
                "attnkit bench: %zu of %zu cases from %s\nthreads %d | CPU: %s\n%s\n", cases.size(),
                listed, files_text.c_str(), threads, cpu.c_str(), blas_text.c_str());
  if (fmt == harness::Format::kTable) {
    std::printf("%s\n", header);
  } else if (fmt == harness::Format::kCsv) {
    std::fprintf(stderr, "%s", header);  // keep stdout a plain CSV
  }
  std::fflush(stdout);

  std::vector<std::string> cols = {"name",    "ms",      "min_ms",  "GFLOP/s", "eff_GFLOP/s",
                                   "base_ms", "speedup", "max_diff"};
  std::vector<std::string> full_cols = {"name",          "case",           "kernel",
                                        "threads",       "reps",           "attnkit_ms",
                                        "attnkit_min_ms", "dense_gflops",  "eff_gflops",
                                        "baseline_ms",   "baseline_min_ms", "speedup",
                                        "max_abs_diff"};
  if (f.roof) {  // effective GFLOP/s as a fraction of the sgemm measured above
    cols.insert(cols.begin() + 5, "roof%");
    full_cols.push_back("roof_fraction");
  }
  harness::Table table(cols);
  harness::Table full(full_cols);
  baseline::TimingOptions timing;
  timing.reps = f.reps;
  timing.min_seconds = f.min_time;
  timing.baseline = with_baseline;
  harness::Progress progress("bench", static_cast<int64_t>(cases.size()));
  for (const harness::NamedCase& nc : cases) {
    baseline::BenchCase bc(nc.c, with_baseline);
    const baseline::Comparison r = bc.Measure(timing);
    const double dense = nc.c.DenseFlops() / (r.attnkit.median_ms * 1e6);
    const double eff = nc.c.EffectiveFlops() / (r.attnkit.median_ms * 1e6);
    const std::string none = "-";
    const std::string base_ms = r.has_baseline ? baseline::FormatMs(r.baseline.median_ms) : none;
    const std::string speedup =
        r.has_baseline ? harness::Fixed(r.baseline.median_ms / r.attnkit.median_ms, 2) : none;
    const std::string diff = r.has_baseline ? harness::Sig(r.max_abs_diff, 2) : none;
    std::vector<std::string> row = {nc.name, baseline::FormatMs(r.attnkit.median_ms),
                                    baseline::FormatMs(r.attnkit.min_ms), harness::Fixed(dense, 1),
                                    harness::Fixed(eff, 1), base_ms, speedup, diff};
    std::vector<std::string> full_row = {
        nc.name, nc.c.ToString(), r.kernel, std::to_string(threads),
        std::to_string(r.attnkit.reps), harness::Fixed(r.attnkit.median_ms, 3),
        harness::Fixed(r.attnkit.min_ms, 3), harness::Fixed(dense, 2), harness::Fixed(eff, 2),
        r.has_baseline ? harness::Fixed(r.baseline.median_ms, 3) : none,
        r.has_baseline ? harness::Fixed(r.baseline.min_ms, 3) : none, speedup, diff};
    if (f.roof) {
      row.insert(row.begin() + 5, harness::Fixed(100.0 * eff / sgemm, 0));
      full_row.push_back(harness::Fixed(eff / sgemm, 3));
    }
    table.AddRow(row);
    full.AddRow(full_row);
    progress.Step(nc.name);
  }
  progress.Done();

  if (fmt == harness::Format::kTable) {
    std::printf("%s", table.Render(fmt).c_str());
    std::printf(
        "\nms: median wall time of attnkit's Run (min_ms: fastest); GFLOP/s: dense convention "
        "4*B*Hq*Nq*Nk*D\nover the median; eff_GFLOP/s: visible (query, key) pairs only; base_ms: "
        "the unfused OpenBLAS\nbaseline's median in the same run; speedup = base_ms / ms; "
        "max_diff: max |O_attnkit - O_baseline|.\n");
    if (f.roof) {
      std::printf("roof%%: eff_GFLOP/s as a percentage of the sgemm GFLOP/s measured above.\n");
    }
  } else if (fmt == harness::Format::kCsv) {
    std::printf("%s", full.Render(fmt).c_str());
  } else {
    std::string json = "{\n  \"machine\": {\"threads\": " + std::to_string(threads) +
                       ", \"cpu\": " + JsonString(cpu) + ", \"blas\": " + JsonString(blas_text) +
                       ", \"openblas_core\": " + JsonString(blas.available ? blas.core_name : "") +
                       ", \"sgemm_gflops\": " + harness::Fixed(sgemm, 1) +
                       ", \"shapes\": " + JsonString(files_text) + "},\n  \"results\": ";
    std::string rows = full.Render(fmt);
    // Indent the array under "results".
    std::string indented;
    for (size_t i = 0; i < rows.size(); ++i) {
      indented += rows[i];
      if (rows[i] == '\n' && i + 1 < rows.size()) indented += "  ";
    }
    while (!indented.empty() && indented.back() == '\n') indented.pop_back();
    std::printf("%s%s\n}\n", json.c_str(), indented.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  // Flags live in a shared_ptr owned by the callback, so several apps (tests)
  // never share state.
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "time attnkit on real model shapes against the unfused OpenBLAS baseline");
  cmd->add_option("--shapes", f->shapes,
                  "shape files (default: bench/shapes/llama3-8b.txt); a bare name such as "
                  "'gemma2-9b' is looked up in bench/shapes");
  cmd->add_option("--filter", f->filter, "only cases whose name or description matches this regex");
  cmd->add_option("--threads,-t", f->threads, "threads for attnkit and the baseline (0 = all)");
  cmd->add_option("--format", f->format, "table | csv | json")->capture_default_str();
  cmd->add_option("--reps", f->reps,
                  "timed repetitions per side (0 = enough to fill --min-time, at least 3)");
  cmd->add_option("--min-time", f->min_time,
                  "seconds of timed runs per side and case when --reps is 0")
      ->capture_default_str();
  cmd->add_flag("--no-baseline", f->no_baseline, "do not run the unfused baseline");
  cmd->add_option("--dtype", f->dtype, "override the q/k/v dtype of every case: f32 | bf16 | f16");
  cmd->add_flag("--list", f->list, "list the selected cases without running them");
  cmd->add_flag("--autotune", f->autotune,
                "tune tiles per shape by measurement first (cached; see attnkit plan --autotune)");
  cmd->add_flag("--roof", f->roof, "also report results as fractions of this machine's measured roofs");
  cmd->add_flag("--decode", f->decode, "decode mode: KV-cache shapes, GB/s of K/V read");
  cmd->add_flag("--sparse", f->sparse, "sparse mode: mask predictors, density, recall, speed-up");
  cmd->add_flag("--linear", f->linear, "linear-attention mode: throughput vs N, decode us/token");
  cmd->add_option("--kernel", f->kernel,
                  "decode mode: run this registered decode kernel (attnkit plan --list-kernels) "
                  "instead of the planner's choice");
  cmd->add_flag("--warm", f->warm,
                "decode mode: do not evict the caches between timed calls (by default each call "
                "reads its KV cache from DRAM, as a step of a real model does)");
  cmd->add_option("--suite", f->suite,
                  "sparse mode: structured inputs, calibrated (background <= 3% of each structured "
                  "head's mass) | hard (the original amplitudes)")
      ->capture_default_str();
  cmd->add_option("--predictors", f->predictors,
                  "sparse mode: only predictors whose name matches this regex");
  cmd->add_option("--oracle", f->oracle,
                  "sparse mode: add oracle rows (exact top-mass blocks) at these densities, e.g. "
                  "0.05 0.1 (as costly as a dense call)");
  cmd->callback([f] {
    ATTNKIT_CHECK(f->decode + f->sparse + f->linear <= 1,
                  "--decode, --sparse and --linear are separate modes: give at most one");
    ATTNKIT_CHECK(f->kernel.empty() || f->decode, "--kernel applies to --decode only (dense: attnkit run --kernel)");
    ATTNKIT_CHECK(!f->warm || f->decode, "--warm applies to --decode only");
    ATTNKIT_CHECK((f->suite == "calibrated" && f->predictors.empty() && f->oracle.empty()) || f->sparse,
                  "--suite, --predictors and --oracle apply to --sparse only");
    if (f->decode) return RunDecodeBench(*f);
    if (f->sparse) return RunSparseBench(*f);
    if (f->linear) return RunLinearBench(*f);
    RunBench(*f);
  });
}

}  // namespace attnkit::cli
