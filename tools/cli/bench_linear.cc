// SPDX-License-Identifier: Apache-2.0
// `attnkit bench --linear`: the linear family's scaling benchmark (issue 8).
//   prefill    chunked forward, H 16, D 128, N = 1k .. 256k: ms, tokens/s, GFLOP/s of the
//              chunked form, its fraction of the sgemm roof, and t(N) / t(N / 4) (4 = linear);
//   decode     recurrent one-token steps (state updated in place) after contexts of
//              1k .. 256k tokens, us/token, beside attnkit dense decode over the same KV cache;
//   crossover  causal dense attention vs the chunked linear form, N = 256 .. 8k.
// Inputs are f32 (or --dtype) random normal; q, k and v alias one buffer (and the dense
// K and V another) so that N = 256k fits in 4 GiB: the kernels only read them, and their
// speed does not depend on the values. Lightning Attention-2 decays keep the state bounded.
// The prefill and decode targets are ratios between cases (t(256k) / t(64k), the spread of
// decode's per-token time over the contexts), so those sections time their cases
// interleaved, round by round, on a machine whose load drifts (TimeInterleaved).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "attnkit/linear.h"
#include "src/baseline/unfused.h"
#include "src/harness/report.h"
#include "tools/cli/bench_modes.h"

namespace attnkit::cli {
namespace {

constexpr int64_t kHeads = 16, kDim = 128;

struct Timed {
  double median_ms = 0, min_ms = 0;
  int reps = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

Timed Summary(const std::vector<double>& ms) {
  return {Median(ms), ms.empty() ? 0 : *std::min_element(ms.begin(), ms.end()), static_cast<int>(ms.size())};
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One warm-up call, then `reps` timed calls (0: until `min_time` seconds, at least `min_reps`).
Timed TimeIt(const std::function<void()>& fn, int reps, double min_time, size_t min_reps = 3) {
  fn();
  std::vector<double> ms;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(MsSince(t0));
    const double total = MsSince(start) / 1e3;
    if (reps > 0 ? static_cast<int>(ms.size()) >= reps : (ms.size() >= min_reps && total >= min_time)) break;
    if (reps == 0 && ms.size() >= 100000) break;
  }
  return Summary(ms);
}

// Samples of several cases taken round-robin, the order reversed every other round, so
// that the machine's drift (other jobs starting and stopping, clocks) hits every case
// alike and a ratio of two cases' medians (or the median of their per-round ratios)
// compares like with like; timing each case in its own block, as TimeIt does, lets one
// case run beside a compile and the next on a quiet machine. Every case is called once
// untimed first; `prepare(i)` runs untimed before each call of case i. Rounds: `reps`
// (> 0), else until every case has `min_time` seconds of samples and at least
// `min_rounds` rounds were run. Returns the samples in ms, [case][round].
std::vector<std::vector<double>> TimeInterleaved(const std::vector<std::function<void()>>& cases,
                                                 const std::function<void(size_t)>& prepare,
                                                 int reps, double min_time, int min_rounds) {
  const size_t n = cases.size();
  for (size_t i = 0; i < n; ++i) {
    prepare(i);
    cases[i]();
  }
  std::vector<std::vector<double>> ms(n);
  std::vector<double> total_ms(n, 0.0);
  for (int round = 0;; ++round) {
    for (size_t j = 0; j < n; ++j) {
      const size_t i = round % 2 == 0 ? j : n - 1 - j;
      prepare(i);
      const auto t0 = std::chrono::steady_clock::now();
      cases[i]();
      ms[i].push_back(MsSince(t0));
      total_ms[i] += ms[i].back();
    }
    const int rounds = round + 1;
    if (reps > 0) {
      if (rounds >= reps) break;
      continue;
    }
    const double least = n == 0 ? 0 : *std::min_element(total_ms.begin(), total_ms.end());
    if ((rounds >= min_rounds && least >= 1e3 * min_time) || rounds >= 100000) break;
  }
  return ms;
}

// Random normal values of `dt`, n elements.
std::vector<uint8_t> Random(DType dt, int64_t n, uint64_t seed) {
  std::vector<uint8_t> mem(static_cast<size_t>(n) * SizeOf(dt));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // A repeating 64k-value pattern: filling 2^29 values one by one would take seconds.
  const int64_t period = std::min<int64_t>(n, 1 << 16);
  for (int64_t i = 0; i < period; ++i) StoreFromF32(mem.data(), dt, i, nd(rng));
  const size_t bytes = static_cast<size_t>(period) * SizeOf(dt);
  for (size_t at = bytes; at < mem.size(); at += bytes) {
    std::copy_n(mem.begin(), std::min(bytes, mem.size() - at), mem.begin() + static_cast<ptrdiff_t>(at));
  }
  return mem;
}

LinearSpec Spec() {
  LinearSpec s;
  s.num_q_heads = s.num_kv_heads = kHeads;
  s.head_dim_k = s.head_dim_v = kDim;
  s.decay = LightningDecays(kHeads);
  return s;
}

// FLOPs of the chunked form per token and head as its tile products run them
// (full C x C intra-chunk tiles): Q K^T 2 C F, P V 2 C Dv, Q S 2 F Dv, K^T V 2 F Dv.
double ChunkFlopsPerToken(int64_t chunk) {
  const double c = static_cast<double>(chunk), f = kDim, dv = kDim;
  return 2 * c * f + 2 * c * dv + 4 * f * dv;
}

// Chunked linear attention over [1, H, n, D] views of `qkv` (q = k = v) into `out`.
struct LinearCall {
  LinearPlan plan;
  LinearTensors t;
  std::vector<std::byte> ws;
  LinearCall(const LinearSpec& s, DType dt, int64_t n, void* qkv, void* out, float* state,
             const ThreadingContext& ctx, LinearMode mode) {
    LinearShape shape;
    shape.dtype = dt;
    shape.seqlen = n;
    LinearPlanOptions o;
    o.mode = mode;
    plan = MakeLinearPlan(s, shape, ctx, o);
    t.q = t.k = t.v = TensorView::Attention(qkv, dt, Layout::kBHND, 1, kHeads, n, kDim);
    t.out = TensorView::Attention(out, DType::kF32, Layout::kBHND, 1, kHeads, n, kDim);
    if (state != nullptr) {
      t.initial_state = t.final_state =
          TensorView::Contiguous(state, DType::kF32, {1, kHeads, kDim, kDim});
    }
    ws.resize(plan.workspace_bytes());
  }
  void operator()() { RunLinear(plan, t, ws); }
};

// attnkit dense attention, [1, H, nq, D] queries over [1, H, nk, D] keys (k = v).
struct DenseCall {
  Plan plan;
  AttentionTensors t;
  std::vector<std::byte> ws;
  DenseCall(DType dt, int64_t nq, int64_t nk, bool causal, void* q, void* kv, void* out,
            const ThreadingContext& ctx) {
    AttentionSpec s;
    s.num_q_heads = s.num_kv_heads = kHeads;
    s.head_dim_qk = s.head_dim_v = kDim;
    s.mask.causal = causal;
    AttentionShape shape;
    shape.dtype = dt;
    shape.seqlen_q = nq;
    shape.seqlen_k = nk;
    plan = MakePlan(s, shape, ctx);
    t.q = TensorView::Attention(q, dt, Layout::kBHND, 1, kHeads, nq, kDim);
    t.k = t.v = TensorView::Attention(kv, dt, Layout::kBHND, 1, kHeads, nk, kDim);
    t.out = TensorView::Attention(out, DType::kF32, Layout::kBHND, 1, kHeads, nq, kDim);
    ws.resize(plan.workspace_bytes());
  }
  void operator()() { Run(plan, t, ws); }
};

std::string Tokens(int64_t n) {
  return n % 1024 == 0 ? std::to_string(n / 1024) + "k" : std::to_string(n);
}

}  // namespace

void RunLinearBench(const BenchFlags& f) {
  const harness::Format fmt = harness::ParseFormat(f.format);
  ATTNKIT_CHECK(f.shapes.empty(), "--shapes does not apply to --linear (its shapes are fixed: "
                "H 16, D 128; select sections and sizes with --filter)");
  const std::regex re = CheckCommonBenchFlags(f);
  const DType dt = f.dtype.empty() ? DType::kF32 : ParseDType(f.dtype);
  const ThreadingContext ctx(f.threads);
  const int threads = ctx.num_threads();

  std::vector<std::string> names;
  const int64_t prefill_n[] = {1024, 4096, 16384, 65536, 262144};
  const int64_t decode_ctx[] = {1024, 4096, 16384, 65536, 262144};
  const int64_t cross_n[] = {256, 512, 1024, 2048, 4096, 8192};
  for (int64_t n : prefill_n) names.push_back("prefill/N=" + Tokens(n));
  for (int64_t n : decode_ctx) names.push_back("decode/ctx=" + Tokens(n));
  for (int64_t n : cross_n) names.push_back("crossover/N=" + Tokens(n));
  auto selected = [&](const std::string& name) { return std::regex_search(name, re); };
  auto any_selected = [&](const std::string& section) {
    for (const std::string& n : names) {
      if (n.rfind(section, 0) == 0 && selected(n)) return true;
    }
    return false;
  };
  size_t count = 0;
  for (const std::string& n : names) count += selected(n);
  ATTNKIT_CHECK(count > 0, "--filter '", f.filter, "' matches none of the ", names.size(),
                " --linear cases (try --list)");
  if (f.list) {
    for (const std::string& n : names) {
      if (selected(n)) std::printf("%s\n", n.c_str());
    }
    return;
  }

  const baseline::BlasInfo& blas = baseline::Blas();
  ATTNKIT_CHECK(!f.roof || blas.available, "--roof needs OpenBLAS to measure the sgemm roof: ",
                blas.Describe());
  const double sgemm = blas.available ? baseline::MeasureSgemmGflops(threads) : 0;
  std::printf("attnkit bench --linear: H %lld, D %lld, batch 1, %s inputs, Lightning decays\n"
              "threads %d | CPU: %s\n%s\n\n",
              static_cast<long long>(kHeads), static_cast<long long>(kDim), std::string(Name(dt)).c_str(), threads,
              CpuInfo::Detect().ToString().c_str(),
              blas.available ? ("sgemm 2048^3 on " + std::to_string(threads) + " threads: " +
                                harness::Fixed(sgemm, 0) + " GFLOP/s").c_str()
                             : "no OpenBLAS: roof% not measured");
  std::fflush(stdout);
  const LinearSpec spec = Spec();

  // ---- prefill: chunked forward vs N, the sizes interleaved round by round
  std::vector<int64_t> sizes;
  for (int64_t n : prefill_n) {
    if (selected("prefill/N=" + Tokens(n))) sizes.push_back(n);
  }
  if (!sizes.empty()) {
    // Every size reads a prefix of one buffer of the largest (q = k = v) and writes a
    // prefix of one output: 4 GiB in all with N = 256k, and every size runs from memory.
    const int64_t largest = sizes.back();
    std::vector<uint8_t> qkv = Random(dt, kHeads * largest * kDim, 1);
    std::vector<float> out(static_cast<size_t>(kHeads * largest * kDim));
    std::vector<std::unique_ptr<LinearCall>> calls;
    std::vector<std::function<void()>> fns;
    for (int64_t n : sizes) {
      calls.push_back(std::make_unique<LinearCall>(spec, dt, n, qkv.data(), out.data(), nullptr, ctx,
                                                   LinearMode::kChunk));
      fns.push_back([c = calls.back().get()] { (*c)(); });
    }
    const std::vector<std::vector<double>> ms =
        TimeInterleaved(fns, [](size_t) {}, f.reps, f.min_time, /*min_rounds=*/3);
    harness::Table table({"case", "chunk", "ms", "min_ms", "Mtok/s", "GFLOP/s", "roof%",
                          "t(N)/t(N/4)", "min/min"});
    for (size_t i = 0; i < sizes.size(); ++i) {
      const int64_t n = sizes[i];
      const Timed t = Summary(ms[i]);
      const int64_t chunk = calls[i]->plan.chunk();
      const double gflops = ChunkFlopsPerToken(chunk) * kHeads * n / (t.median_ms * 1e6);
      std::string ratio = "-", min_ratio = "-";
      if (i > 0 && sizes[i - 1] * 4 == n) {  // the ratio within each round, then its median
        std::vector<double> r;
        for (size_t k = 0; k < ms[i].size(); ++k) r.push_back(ms[i][k] / ms[i - 1][k]);
        ratio = harness::Fixed(Median(r), 2);
        min_ratio = harness::Fixed(t.min_ms / Summary(ms[i - 1]).min_ms, 2);
      }
      table.AddRow({"prefill/N=" + Tokens(n), std::to_string(chunk), harness::Fixed(t.median_ms, 2),
                    harness::Fixed(t.min_ms, 2), harness::Fixed(n / (t.median_ms * 1e3), 3),
                    harness::Fixed(gflops, 1),
                    sgemm > 0 ? harness::Fixed(100 * gflops / sgemm, 0) : std::string("-"), ratio,
                    min_ratio});
    }
    std::printf("prefill (mode=chunk, planner's chunk; %zu rounds, the sizes timed round-robin):\n%s",
                ms[0].size(), table.Render(fmt).c_str());
    std::printf("ms, min_ms: median and fastest call. GFLOP/s: the chunked form's products as run "
                "(full C x C tiles:\n2C(F+Dv) + 4 F Dv per token and head) over the median; roof%%: "
                "of the sgemm above.\nt(N)/t(N/4): median over the rounds of the ratio within a "
                "round (4.0 = linear scaling);\nmin/min: the same of the fastest calls.\n\n");
    std::fflush(stdout);
  }

  // ---- decode: runs of one-token steps after contexts of L tokens, the contexts interleaved
  std::vector<int64_t> lens;
  for (int64_t l : decode_ctx) {
    if (selected("decode/ctx=" + Tokens(l))) lens.push_back(l);
  }
  if (!lens.empty()) {
    // Prefill one state up to each selected length in turn, in pieces carrying the state
    // (the chunked form), and keep a copy of the state of every length.
    const int64_t piece = 16384;
    std::vector<uint8_t> ctx_qkv = Random(dt, kHeads * piece * kDim, 2);
    std::vector<float> ctx_out(static_cast<size_t>(kHeads * piece * kDim));
    std::vector<float> state(static_cast<size_t>(kHeads * kDim * kDim), 0.0f);
    std::vector<std::vector<float>> saved;
    int64_t filled = 0;
    for (int64_t l : lens) {
      while (filled < l) {
        const int64_t n = std::min(piece, l - filled);
        LinearCall(spec, dt, n, ctx_qkv.data(), ctx_out.data(), state.data(), ctx, LinearMode::kChunk)();
        filled += n;
      }
      saved.push_back(state);
    }
    // One sample: kSteps consecutive one-token calls updating the state in place, as a
    // decoder runs, from the state of exactly that context (copied back, untimed, before
    // every sample). 16 steps take ~1 ms: long against the clock and the calls' own
    // jitter, short against the 3-6 ms time slices of other jobs on a shared machine,
    // so that most samples are clean while it is partly loaded and the median measures
    // the kernel (with 64 steps, most samples caught a slice: medians 2-3x the minimum).
    // Every context runs the same call on the same buffers, so the contexts differ only
    // in the state's values, which do not change the cost as long as none is subnormal
    // (the linear kernels run without flush-to-zero): counted below.
    constexpr int kSteps = 16;
    std::vector<uint8_t> tok = Random(dt, kHeads * kDim, 3);
    std::vector<float> tok_out(static_cast<size_t>(kHeads * kDim));
    LinearCall step(spec, dt, 1, tok.data(), tok_out.data(), state.data(), ctx, LinearMode::kRecurrent);
    const std::function<void()> steps = [&] {
      for (int s = 0; s < kSteps; ++s) step();
    };
    const std::vector<std::vector<double>> ms = TimeInterleaved(
        std::vector<std::function<void()>>(lens.size(), steps),
        [&](size_t i) { std::copy(saved[i].begin(), saved[i].end(), state.begin()); }, f.reps,
        f.min_time, /*min_rounds=*/20);
    int64_t subnormal = 0, values = 0;
    saved.push_back(state);  // the end of the last sample
    for (const std::vector<float>& s : saved) {
      for (float x : s) subnormal += std::fpclassify(x) == FP_SUBNORMAL;
      values += static_cast<int64_t>(s.size());
    }

    // Dense decode of the token over a KV cache of each context (a prefix of one buffer):
    // ~1 s a call at 256k, so timed a few times per context after the interleaved loop,
    // not in it: a warm-up, then calls until 0.25 s and at least 2 (--reps R: min(R, 3)).
    std::vector<uint8_t> kv = Random(dt, kHeads * lens.back() * kDim, 4);
    std::vector<float> dout(static_cast<size_t>(kHeads * kDim));
    harness::Table table({"case", "linear_us/token", "linear_min_us", "dense_us/token",
                          "dense/linear"});
    double lo = 0, hi = 0, min_lo = 0, min_hi = 0;
    size_t lo_at = 0, hi_at = 0;
    for (size_t i = 0; i < lens.size(); ++i) {
      const Timed lin = Summary(ms[i]);
      const double us = lin.median_ms * 1e3 / kSteps;
      const double min_us = lin.min_ms * 1e3 / kSteps;
      min_lo = i == 0 ? min_us : std::min(min_lo, min_us);
      min_hi = i == 0 ? min_us : std::max(min_hi, min_us);
      if (i == 0 || us < lo) {
        lo = us;
        lo_at = i;
      }
      if (i == 0 || us > hi) {
        hi = us;
        hi_at = i;
      }
      DenseCall dense(dt, 1, lens[i], false, tok.data(), kv.data(), dout.data(), ctx);
      const Timed d = TimeIt(dense, f.reps > 0 ? std::min(f.reps, 3) : 0, std::min(f.min_time, 0.25), 2);
      table.AddRow({"decode/ctx=" + Tokens(lens[i]), harness::Fixed(us, 2),
                    harness::Fixed(min_us, 2), harness::Fixed(d.median_ms * 1e3, 1),
                    harness::Fixed(d.median_ms * 1e3 / us, 1)});
    }
    std::printf("decode (mode=recurrent, 1 token per call, state updated in place; %zu rounds of "
                "%d steps per context,\nthe contexts timed round-robin, each from its own state):\n%s",
                ms[0].size(), kSteps, table.Render(fmt).c_str());
    std::printf("linear: median and fastest sample / %d. dense: attnkit dense attention of the "
                "token over a KV cache\nof ctx tokens (k = v buffer), median of a few calls.\n"
                "flatness: max/min of the linear medians = %.3f (ctx=%s / ctx=%s), of the minima "
                "%.3f;\nstate values subnormal: %lld of %lld.\n\n",
                kSteps, hi / lo, Tokens(lens[hi_at]).c_str(), Tokens(lens[lo_at]).c_str(), min_hi / min_lo,
                static_cast<long long>(subnormal), static_cast<long long>(values));
    std::fflush(stdout);
  }

  // ---- crossover: causal dense vs chunked linear
  if (any_selected("crossover/")) {
    harness::Table table({"case", "dense_ms", "linear_ms", "dense/linear"});
    int64_t crossover = 0;
    for (int64_t n : cross_n) {
      const std::string name = "crossover/N=" + Tokens(n);
      if (!selected(name)) continue;
      std::vector<uint8_t> qkv = Random(dt, kHeads * n * kDim, 5);
      std::vector<float> out(static_cast<size_t>(kHeads * n * kDim));
      LinearCall lin(spec, dt, n, qkv.data(), out.data(), nullptr, ctx, LinearMode::kChunk);
      DenseCall dense(dt, n, n, true, qkv.data(), qkv.data(), out.data(), ctx);
      const Timed tl = TimeIt(lin, f.reps, f.min_time);
      const Timed td = TimeIt(dense, f.reps, f.min_time);
      if (crossover == 0 && tl.median_ms < td.median_ms) crossover = n;
      table.AddRow({name, harness::Fixed(td.median_ms, 3), harness::Fixed(tl.median_ms, 3),
                    harness::Fixed(td.median_ms / tl.median_ms, 2)});
    }
    if (table.rows() > 0) {
      std::printf("crossover (causal prefill, dense FlashAttention kernel vs chunked linear):\n%s",
                  table.Render(fmt).c_str());
      if (crossover > 0) {
        std::printf("linear is faster from N = %lld on (of the sizes run).\n",
                    static_cast<long long>(crossover));
      } else {
        std::printf("linear was not faster at any size run.\n");
      }
    }
  }
  std::fflush(stdout);
}

}  // namespace attnkit::cli
