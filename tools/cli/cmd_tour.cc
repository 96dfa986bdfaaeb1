// SPDX-License-Identifier: Apache-2.0
// `attnkit tour [--threads N] [--quick]`: the first thing a new user runs. Six
// real model shapes: attnkit vs the unfused OpenBLAS baseline (same threads,
// same run) and an accuracy check of each against the fp64 reference.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "src/baseline/compare.h"
#include "src/baseline/unfused.h"
#include "src/harness/report.h"
#include "src/reference/reference.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {
namespace {

struct TourFlags {
  int threads = 0;
  bool quick = false;
};

struct TourShape {
  std::string label;
  harness::Case c;
};

harness::Case Heads(int64_t hq, int64_t hkv, int64_t d, bool causal) {
  harness::Case c;
  c.spec.num_q_heads = hq;
  c.spec.num_kv_heads = hkv;
  c.spec.head_dim_qk = c.spec.head_dim_v = d;
  c.spec.mask.causal = causal;
  return c;
}

harness::Case Sized(harness::Case c, int64_t batch, int64_t n) {
  c.batch = batch;
  c.seqlen_q = c.seqlen_k = n;
  return c;
}

// The tour's shapes; --quick halves the longest ones.
std::vector<TourShape> Shapes(bool quick) {
  std::vector<TourShape> s;
  s.push_back({"Llama-3-8B prefill, causal, N=1024", Sized(Heads(32, 8, 128, true), 1, 1024)});

  const int64_t swa_n = quick ? 2048 : 4096, swa_w = quick ? 512 : 1024;
  harness::Case swa = Sized(Heads(32, 8, 128, true), 1, swa_n);
  swa.spec.mask.window_left = swa_w - 1;  // a query sees itself and swa_w - 1 earlier tokens
  s.push_back(
      {"Mistral-style sliding window " + std::to_string(swa_w) + ", N=" + std::to_string(swa_n),
       swa});

  const int64_t gemma_n = quick ? 1024 : 2048;
  harness::Case gemma = Sized(Heads(16, 8, 256, true), 1, gemma_n);
  gemma.spec.softcap = 50.0f;
  s.push_back({"Gemma-2-9B, D=256, softcap 50, N=" + std::to_string(gemma_n), gemma});

  const int64_t qwen_n = quick ? 1024 : 2048;
  harness::Case qwen = Sized(Heads(28, 4, 128, true), 1, qwen_n);
  qwen.dtype = DType::kBF16;
  s.push_back({"Qwen2.5-7B, GQA 7:1, bf16 inputs, N=" + std::to_string(qwen_n), qwen});

  s.push_back({"ViT-B/16, non-causal, batch 8, N=197", Sized(Heads(12, 12, 64, false), 8, 197)});

  harness::Case varlen = Heads(32, 8, 128, true);
  varlen.varlen_q = quick ? std::vector<int64_t>{500, 37, 1000, 260}
                          : std::vector<int64_t>{1000, 517, 2000, 61, 700};
  varlen.varlen_k = varlen.varlen_q;
  std::string lengths;
  for (int64_t n : varlen.varlen_q) lengths += (lengths.empty() ? "" : "+") + std::to_string(n);
  s.push_back({"varlen batch " + lengths + ", Llama-3-8B heads", varlen});
  return s;
}

// A view of selected query heads of one batch element: the cheap subset the
// fp64 reference recomputes. Heads are taken from the last KV group (or the
// last heads without GQA), so head and batch offsets are exercised.
struct Subset {
  AttentionSpec spec;
  AttentionShape shape;
  AttentionTensors in;  // q, k, v, sinks of the subset
  int64_t batch = 0;
  std::vector<int64_t> heads;
};

TensorView Select(const TensorView& t, int64_t b, int64_t h0, int64_t count, int64_t step) {
  TensorView v = t;
  v.data = static_cast<char*>(t.data) +
           (b * t.strides[0] + h0 * t.strides[1]) * static_cast<int64_t>(SizeOf(t.dtype));
  v.shape[0] = 1;
  v.shape[1] = count;
  v.strides[1] = count > 1 ? step * t.strides[1] : t.strides[1];
  return v;
}

Subset MakeSubset(const harness::Case& c, const AttentionTensors& t, int num_heads) {
  Subset s;
  s.spec = c.spec;
  s.shape = c.Shape();
  s.batch = c.is_varlen() ? 0 : c.batch - 1;
  const int64_t hq = c.spec.num_q_heads, hkv = c.spec.num_kv_heads, group = hq / hkv;
  const int64_t count = std::min<int64_t>(num_heads, hq);
  int64_t h0, step, kv0, kv_count;
  if (group >= count) {  // all selected heads share the last KV head
    kv0 = hkv - 1;
    kv_count = 1;
    h0 = kv0 * group;
    step = count > 1 ? group - 1 : 1;
  } else {  // too few heads per group: one KV head per query head
    h0 = hq - count;
    step = 1;
    kv0 = h0 / group;
    kv_count = count;
  }
  for (int64_t i = 0; i < count; ++i) s.heads.push_back(h0 + i * step);
  s.spec.num_q_heads = count;
  s.spec.num_kv_heads = kv_count;
  if (c.spec.alibi) {
    const std::vector<float> all =
        c.spec.alibi_slopes.empty() ? AlibiSlopes(hq) : c.spec.alibi_slopes;
    s.spec.alibi_slopes.clear();
    for (int64_t h : s.heads) s.spec.alibi_slopes.push_back(all[static_cast<size_t>(h)]);
  }
  s.spec.return_lse = false;
  ATTNKIT_CHECK(!c.spec.has_bias, "the tour does not slice bias tensors");
  if (!c.is_varlen()) s.shape.batch = 1;
  s.in.q = Select(t.q, s.batch, h0, count, step);
  s.in.k = Select(t.k, s.batch, kv0, kv_count, 1);
  s.in.v = Select(t.v, s.batch, kv0, kv_count, 1);
  if (c.spec.has_sinks) {
    s.in.sinks = t.sinks;
    s.in.sinks.data = static_cast<float*>(t.sinks.data) + h0 * t.sinks.strides[0];
    s.in.sinks.shape[0] = count;
    s.in.sinks.strides[0] = step * t.sinks.strides[0];
  }
  return s;
}

struct Accuracy {
  double max_abs = 0, scale = 0, tolerance = 0;
  bool pass = false;
};

// Half an ulp at 1.0 of an output dtype: the rounding any kernel must incur.
double HalfUlp(DType t) {
  return t == DType::kBF16 ? 0x1.0p-8 : t == DType::kF16 ? 0x1.0p-11 : 0.0;
}

// max |out - ref| over the subset; tolerance as harness::Check for Gaussian
// inputs: (1e-5 + half an ulp of the output dtype) x max |ref|. NaN fails.
Accuracy Compare(const reference::Result& ref, const Subset& s, const TensorView& out,
                 DType out_dtype) {
  Accuracy a;
  for (double v : ref.out) a.scale = std::max(a.scale, std::abs(v));
  if (a.scale == 0) a.scale = 1;
  const TensorView o = Select(out, s.batch, s.heads.front(), static_cast<int64_t>(s.heads.size()),
                              s.heads.size() > 1 ? s.heads[1] - s.heads[0] : 1);
  for (int64_t h = 0; h < ref.heads; ++h)
    for (int64_t i = 0; i < ref.rows; ++i)
      for (int64_t d = 0; d < ref.dim; ++d) {
        const double got = LoadAsF32(o.data, o.dtype, h * o.strides[1] + i * o.strides[2] + d);
        const double e = std::abs(got - ref.o(0, h, i, d));
        a.max_abs =
            std::max(a.max_abs, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
      }
  a.tolerance = (1e-5 + HalfUlp(out_dtype)) * a.scale;
  a.pass = a.max_abs <= a.tolerance;
  return a;
}

void RunTour(const TourFlags& f) {
  ATTNKIT_CHECK(f.threads >= 0 && f.threads <= 1024, "--threads must be in [0, 1024], got ",
                f.threads);
  const int threads = ThreadingContext(f.threads).num_threads();
  const int ref_heads = f.quick ? 1 : 2;
  const baseline::BlasInfo& blas = baseline::Blas();
  std::vector<TourShape> shapes = Shapes(f.quick);

  std::printf(
      "attnkit %s tour: %zu real attention shapes on %d thread%s. Each runs attnkit (planned "
      "once,\n"
      "then timed) and the unfused baseline a user would otherwise write (OpenBLAS sgemm + softmax "
      "+\n"
      "sgemm, same threads, interleaved in the same run), then checks attnkit's output against "
      "the\n"
      "fp64 reference on %d query head%s of one batch element.\n"
      "CPU: %s\n%s\n\n",
      kVersion, shapes.size(), threads, threads == 1 ? "" : "s", ref_heads,
      ref_heads == 1 ? "" : "s", CpuInfo::Detect().ToString().c_str(), blas.Describe().c_str());
  std::fflush(stdout);

  baseline::TimingOptions timing;
  timing.reps = f.quick ? 2 : 0;
  timing.min_seconds = 0.5;
  timing.baseline = blas.available;

  harness::Table table({"shape", "attnkit_ms", "baseline_ms", "speedup", "eff_GFLOP/s", "max_err",
                        "base_err", "pass"});
  harness::Progress progress("tour", static_cast<int64_t>(shapes.size()));
  int faster = 0, compared = 0, failed = 0;
  double log_speedup = 0, worst_err = 0, min_speedup = 1e300, max_speedup = 0;
  std::vector<std::string> failures, slower;
  for (TourShape& ts : shapes) {
    ts.c.threads = threads;
    baseline::BenchCase bc(ts.c, blas.available);
    const baseline::Comparison r = bc.Measure(timing);

    const Subset sub = MakeSubset(ts.c, bc.inputs().tensors, ref_heads);
    const reference::Result ref = reference::Attention(sub.spec, sub.shape, sub.in);
    const Accuracy acc = Compare(ref, sub, bc.inputs().tensors.out, ts.c.out_dtype);
    std::string base_err = "-";
    if (bc.has_baseline()) {
      base_err = harness::Sig(Compare(ref, sub, bc.baseline_out(), DType::kF32).max_abs, 2);
    }
    worst_err = std::max(worst_err, acc.max_abs);
    if (!acc.pass) {
      ++failed;
      failures.push_back(ts.label + " (max_err " + harness::Sig(acc.max_abs) + " > tolerance " +
                         harness::Sig(acc.tolerance) + ")");
    }

    std::string base_ms = "-", speedup = "-";
    if (r.has_baseline) {
      const double x = r.baseline.median_ms / r.attnkit.median_ms;
      ++compared;
      if (x > 1) {
        ++faster;
      } else {
        slower.push_back(ts.label + " (" + harness::Fixed(x, 2) + "x)");
      }
      log_speedup += std::log(x);
      min_speedup = std::min(min_speedup, x);
      max_speedup = std::max(max_speedup, x);
      base_ms = baseline::FormatMs(r.baseline.median_ms);
      speedup = harness::Fixed(x, 2) + "x";
    }
    table.AddRow({ts.label, baseline::FormatMs(r.attnkit.median_ms), base_ms, speedup,
                  harness::Fixed(ts.c.EffectiveFlops() / (r.attnkit.median_ms * 1e6), 1),
                  harness::Sig(acc.max_abs, 2), base_err, acc.pass ? "yes" : "NO"});
    progress.Step(ts.label);
  }
  progress.Done();
  std::printf("%s\n", table.Render(harness::Format::kTable).c_str());
  std::printf(
      "ms: median wall time; speedup = baseline_ms / attnkit_ms; eff_GFLOP/s counts visible "
      "(query, "
      "key)\npairs only; max_err / base_err: max |O - O_fp64| of attnkit / the baseline on the "
      "checked "
      "heads.\n\n");

  if (compared > 0) {
    std::printf(
        "attnkit was faster than the unfused baseline on %d/%d shapes (speedup %.2fx to %.2fx, "
        "geometric mean %.2fx);\n",
        faster, compared, min_speedup, max_speedup, std::exp(log_speedup / compared));
    if (!slower.empty() && slower.size() <= 2) {
      std::string list;
      for (const std::string& s : slower) list += (list.empty() ? "" : ", ") + s;
      std::printf("slower on: %s;\n", list.c_str());
    }
  } else {
    std::printf("the unfused baseline was not run (%s);\n", blas.Describe().c_str());
  }
  std::printf("max error vs the fp64 reference %s; %zu/%zu accuracy checks passed.\n",
              harness::Sig(worst_err, 2).c_str(), shapes.size() - failed, shapes.size());
  if (failed > 0) {
    for (const std::string& s : failures) std::printf("ACCURACY CHECK FAILED: %s\n", s.c_str());
    ExitCode() = 1;
  }
  std::printf(
      "\nNext: `attnkit bench` (more shapes: --shapes gemma2-9b, qwen2.5-7b, smollm2-135m, vit-b,\n"
      "video-dit), `attnkit check` (the full correctness grid), `attnkit plan --nq 4096 --causal`\n"
      "(what the planner chose and why).\n");
  std::fflush(stdout);
}

}  // namespace

void AddTourCommand(CLI::App& app) {
  auto f = std::make_shared<TourFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tour",
      "start here: attnkit vs the unfused baseline and the fp64 reference on 6 real shapes");
  cmd->add_option("--threads,-t", f->threads, "threads for attnkit and the baseline (0 = all)");
  cmd->add_flag("--quick", f->quick, "smaller shapes, fewer repetitions, one checked head (~20 s)");
  cmd->callback([f] { RunTour(*f); });
}

}  // namespace attnkit::cli
