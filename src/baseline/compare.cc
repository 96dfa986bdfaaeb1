// SPDX-License-Identifier: Apache-2.0
// Interleaved timing of attnkit and the unfused baseline on one case (see
// compare.h).
#include "src/baseline/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "attnkit/error.h"

namespace attnkit::baseline {
namespace {

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Timing Summarise(std::vector<double> ms) {
  Timing t;
  t.reps = static_cast<int>(ms.size());
  if (ms.empty()) return t;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  t.median_ms = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  t.min_ms = ms.front();
  return t;
}

}  // namespace

std::string FormatMs(double ms) {
  char buf[64];
  if (ms >= 1000) {
    std::snprintf(buf, sizeof(buf), "%.0f", ms);
  } else {
    std::snprintf(buf, sizeof(buf), "%.4g", ms);
  }
  return buf;
}

double MaxAbsDiff(const TensorView& a, const TensorView& b) {
  ATTNKIT_CHECK(a.rank == 4 && b.rank == 4 && a.shape == b.shape, "MaxAbsDiff: shapes ",
                a.ShapeString(), " and ", b.ShapeString(), " differ");
  double m = 0;
  for (int64_t i0 = 0; i0 < a.shape[0]; ++i0)
    for (int64_t i1 = 0; i1 < a.shape[1]; ++i1)
      for (int64_t i2 = 0; i2 < a.shape[2]; ++i2) {
        const int64_t ra = i0 * a.strides[0] + i1 * a.strides[1] + i2 * a.strides[2];
        const int64_t rb = i0 * b.strides[0] + i1 * b.strides[1] + i2 * b.strides[2];
        for (int64_t i3 = 0; i3 < a.shape[3]; ++i3) {
          const double e =
              std::abs(static_cast<double>(LoadAsF32(a.data, a.dtype, ra + i3 * a.strides[3])) -
                       LoadAsF32(b.data, b.dtype, rb + i3 * b.strides[3]));
          m = std::max(m, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
        }
      }
  return m;
}

BenchCase::BenchCase(const harness::Case& c, bool with_baseline)
    : case_(c), inputs_(harness::MakeInputs(c)) {
  const PlanOptions options = c.Options();
  const AttentionShape shape = c.Shape();
  plan_ = MakePlan(c.spec, shape, ThreadingContext(c.threads), options);
  workspace_.resize(plan_.workspace_bytes());
  if (!with_baseline || !Blas().available) return;

  const AttentionTensors& in = inputs_.tensors;
  baseline_tensors_ = in;
  const bool f32 = c.dtype == DType::kF32 && (in.bias.empty() || in.bias.dtype == DType::kF32);
  if (!f32) {  // the baseline gets f32 copies, made here, outside any timing
    widened_ = WidenToF32(in);
    baseline_tensors_.q = widened_.tensors.q;
    baseline_tensors_.k = widened_.tensors.k;
    baseline_tensors_.v = widened_.tensors.v;
    baseline_tensors_.bias = widened_.tensors.bias;
  }
  const TensorView& o = in.out;
  baseline_out_.assign(static_cast<size_t>(o.numel()), 0.0f);
  baseline_tensors_.out = TensorView::Contiguous(baseline_out_.data(), DType::kF32,
                                                 {o.shape[0], o.shape[1], o.shape[2], o.shape[3]});
  if (!in.lse.empty()) {  // the baseline's LSE is not compared: give it none
    baseline_tensors_.lse = TensorView{};
  }
  AttentionSpec spec = c.spec;
  spec.return_lse = false;
  baseline_ = std::make_unique<Unfused>(spec, shape, c.threads);
}

double BenchCase::RunAttnkitMs() {
  const double t0 = NowMs();
  Run(plan_, inputs_.tensors, workspace_);
  return NowMs() - t0;
}

double BenchCase::RunBaselineMs() {
  ATTNKIT_CHECK(baseline_ != nullptr, "the unfused baseline is not available: ", Blas().Describe());
  const double t0 = NowMs();
  baseline_->Run(baseline_tensors_);
  return NowMs() - t0;
}

Comparison BenchCase::Measure(const TimingOptions& options) {
  ATTNKIT_CHECK(options.reps >= 0 && options.reps <= 100000, "reps must be in [0, 100000], got ",
                options.reps);
  ATTNKIT_CHECK(options.min_seconds >= 0 && options.min_seconds <= 3600,
                "min time must be in [0, 3600] s, got ", options.min_seconds);
  Comparison r;
  r.kernel = plan_.kernel_name();
  const bool base = options.baseline && has_baseline();
  double slowest = RunAttnkitMs();  // warm-up: page faults, thread start, caches
  if (base) slowest = std::max(slowest, RunBaselineMs());

  int reps = options.reps;
  if (reps == 0) {
    const double min_ms = options.min_seconds * 1e3;
    if (slowest > std::max(2 * min_ms, 4000.0)) {
      reps = 1;  // calls of several seconds: the warm-up already paid for the first touch
    } else if (slowest > 2 * min_ms) {
      reps = 2;
    } else {
      reps = static_cast<int>(std::clamp(std::ceil(min_ms / std::max(slowest, 1e-3)), 3.0, 1000.0));
    }
  }
  std::vector<double> a, b;
  for (int i = 0; i < reps; ++i) {
    a.push_back(RunAttnkitMs());
    if (base) b.push_back(RunBaselineMs());
  }
  r.attnkit = Summarise(a);
  if (base) {
    r.has_baseline = true;
    r.baseline = Summarise(b);
    r.max_abs_diff = MaxAbsDiff(inputs_.tensors.out, baseline_tensors_.out);
  }
  return r;
}

}  // namespace attnkit::baseline
