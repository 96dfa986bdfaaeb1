// SPDX-License-Identifier: Apache-2.0
// Timing attnkit against the unfused baseline on one harness::Case, in the same
// process and run, interleaved: shared by `attnkit bench` and `attnkit tour`.
#ifndef ATTNKIT_BASELINE_COMPARE_H_
#define ATTNKIT_BASELINE_COMPARE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "attnkit/plan.h"
#include "src/baseline/unfused.h"
#include "src/harness/cases.h"

namespace attnkit::baseline {

struct TimingOptions {
  // Timed repetitions per side after one warm-up call each. 0 = enough to fill
  // `min_seconds` per side: at least 3, at most 1000; but 2 when one call
  // takes over 2 x min_seconds, and 1 when it also takes over 4 s.
  int reps = 0;
  double min_seconds = 1.0;
  bool baseline = true;  // also time the unfused baseline (if OpenBLAS loads)
};

struct Timing {
  double median_ms = 0, min_ms = 0;
  int reps = 0;
};

struct Comparison {
  std::string kernel;  // attnkit's registry kernel for this case
  Timing attnkit;
  bool has_baseline = false;
  Timing baseline;          // valid iff has_baseline
  double max_abs_diff = 0;  // max |O_attnkit - O_baseline| over all elements, iff has_baseline
};

// One case made ready to time: inputs generated, attnkit's plan and workspace
// made, and (when requested and OpenBLAS loads) the baseline built with f32
// copies of the inputs and its own f32 output. Nothing of this is timed.
class BenchCase {
 public:
  // Throws attnkit::Error if attnkit rejects the case. A missing OpenBLAS is
  // not an error: has_baseline() is then false.
  BenchCase(const harness::Case& c, bool with_baseline);

  // Runs attnkit / the baseline once and returns the wall time in ms.
  double RunAttnkitMs();
  double RunBaselineMs();

  // Warm-up, then interleaved repetitions (attnkit, baseline, attnkit, ...)
  // so both see the same machine noise; then the output difference.
  Comparison Measure(const TimingOptions& options);

  bool has_baseline() const { return baseline_ != nullptr; }
  const harness::Case& c() const { return case_; }
  const harness::Inputs& inputs() const { return inputs_; }
  const Plan& plan() const { return plan_; }
  // The baseline's output, f32 [B, Hq, N, Dv] (varlen: B = 1, N = total_q).
  const TensorView& baseline_out() const { return baseline_tensors_.out; }

 private:
  harness::Case case_;
  harness::Inputs inputs_;
  Plan plan_;
  std::vector<std::byte> workspace_;
  F32Inputs widened_;  // empty when the inputs are already f32
  std::vector<float> baseline_out_;
  AttentionTensors baseline_tensors_;
  std::unique_ptr<Unfused> baseline_;
};

// Milliseconds for tables: 4 significant digits, never exponent notation
// ("0.1234", "12.35", "1234", "19380").
std::string FormatMs(double ms);

// max |a - b| over a [B, H, N, D] pair of views of any dtypes and strides
// (NaN counts as +inf).
double MaxAbsDiff(const TensorView& a, const TensorView& b);

}  // namespace attnkit::baseline

#endif  // ATTNKIT_BASELINE_COMPARE_H_
