// SPDX-License-Identifier: Apache-2.0
// Flags shared by subcommands that describe one attention problem
// (`attnkit plan`, and options of `run`): sizes, mask, modifiers, dtype,
// threads, kernel and tile overrides.
#ifndef ATTNKIT_TOOLS_CLI_PROBLEM_FLAGS_H_
#define ATTNKIT_TOOLS_CLI_PROBLEM_FLAGS_H_

#include <string>

#include <CLI/CLI.hpp>

#include "src/harness/cases.h"

namespace attnkit::cli {

struct ProblemFlags {
  int64_t batch = 1, hq = 32, hkv = 8, nq = 1024, nk = 0, dqk = 128, dv = 0;  // 0: same as nq / dqk
  bool causal = false;
  std::string window;  // "L,R"
  float softcap = 0.0f;
  bool alibi = false, sinks = false, bias = false;
  std::string dtype = "f32", out_dtype = "f32";
  int threads = 0;  // 0 = all hardware threads
  std::string kernel;
  int64_t block_q = 0, block_k = 0;
  bool autotune = false;
};

void AddProblemFlags(CLI::App* cmd, ProblemFlags& f);
harness::Case ToCase(const ProblemFlags& f);

// Parses "--window L,R": non-negative integers or "inf"; throws Error on
// anything else (negative values included), naming the flag.
void ParseWindow(const std::string& text, MaskSpec& mask);

}  // namespace attnkit::cli

#endif  // ATTNKIT_TOOLS_CLI_PROBLEM_FLAGS_H_
