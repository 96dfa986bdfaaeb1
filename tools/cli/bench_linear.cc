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
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cmath>
#include <cstdio>
#include <functional>
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

// One warm-up call, then `reps` timed calls (0: until `min_time` seconds, at least 3).
Timed TimeIt(const std::function<void()>& fn, int reps, double min_time) {
  fn();
  std::vector<double> ms;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    const double total = std::chrono::duration<double>(t1 - start).count();
    if (reps > 0 ? static_cast<int>(ms.size()) >= reps : (ms.size() >= 3 && total >= min_time)) break;
    if (reps == 0 && ms.size() >= 100000) break;
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), static_cast<int>(ms.size())};
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

  // ---- prefill: chunked forward vs N
  if (any_selected("prefill/")) {
    harness::Table table({"case", "chunk", "ms", "min_ms", "Mtok/s", "GFLOP/s", "roof%",
                          "t(N)/t(N/4)"});
    double prev_ms = 0;
    int64_t prev_n = 0;
    for (int64_t n : prefill_n) {
      const std::string name = "prefill/N=" + Tokens(n);
      if (!selected(name)) continue;
      std::vector<uint8_t> qkv = Random(dt, kHeads * n * kDim, 1);
      std::vector<float> out(static_cast<size_t>(kHeads * n * kDim));
      LinearCall call(spec, dt, n, qkv.data(), out.data(), nullptr, ctx, LinearMode::kChunk);
      const Timed t = TimeIt(call, f.reps, f.min_time);
      const double gflops = ChunkFlopsPerToken(call.plan.chunk()) * kHeads * n / (t.median_ms * 1e6);
      const std::string ratio =
          prev_n * 4 == n ? harness::Fixed(t.median_ms / prev_ms, 2) : std::string("-");
      table.AddRow({name, std::to_string(call.plan.chunk()), harness::Fixed(t.median_ms, 2),
                    harness::Fixed(t.min_ms, 2), harness::Fixed(n / (t.median_ms * 1e3), 3),
                    harness::Fixed(gflops, 1),
                    sgemm > 0 ? harness::Fixed(100 * gflops / sgemm, 0) : std::string("-"), ratio});
      prev_ms = t.median_ms;
      prev_n = n;
    }
    if (table.rows() > 0) {
      std::printf("prefill (mode=chunk, planner's chunk):\n%s", table.Render(fmt).c_str());
      std::printf("GFLOP/s: the chunked form's products as run (full C x C tiles: 2C(F+Dv) + "
                  "4 F Dv per token and head)\nover the median; roof%%: of the sgemm above; "
                  "t(N)/t(N/4): 4.0 = linear scaling.\n\n");
      std::fflush(stdout);
    }
  }

  // ---- decode: one token per call after a context of L tokens
  if (any_selected("decode/")) {
    harness::Table table({"case", "linear_us/token", "linear_min_us", "dense_us/token",
                          "dense/linear"});
    const int64_t piece = 16384;  // the context is prefilled in pieces carrying the state
    std::vector<uint8_t> ctx_qkv = Random(dt, kHeads * piece * kDim, 2);
    std::vector<float> ctx_out(static_cast<size_t>(kHeads * piece * kDim));
    std::vector<float> state(static_cast<size_t>(kHeads * kDim * kDim), 0.0f);
    std::vector<uint8_t> tok = Random(dt, kHeads * kDim, 3);
    std::vector<float> tok_out(static_cast<size_t>(kHeads * kDim));
    LinearCall step(spec, dt, 1, tok.data(), tok_out.data(), state.data(), ctx, LinearMode::kRecurrent);
    int64_t filled = 0;
    for (int64_t l : decode_ctx) {
      const std::string name = "decode/ctx=" + Tokens(l);
      if (!selected(name)) continue;
      while (filled < l) {  // prefill the state up to l tokens
        const int64_t n = std::min(piece, l - filled);
        LinearCall(spec, dt, n, ctx_qkv.data(), ctx_out.data(), state.data(), ctx, LinearMode::kChunk)();
        filled += n;
      }
      // Timed steps update the state in place; restore it after, so every context
      // length sees a state of exactly l tokens.
      const std::vector<float> saved = state;
      const Timed lin = TimeIt(step, f.reps, std::min(f.min_time, 0.5));
      state = saved;
      std::string dense_us = "-", ratio = "-";
      {
        std::vector<uint8_t> kv = Random(dt, kHeads * l * kDim, 4);
        std::vector<float> dout(static_cast<size_t>(kHeads * kDim));
        DenseCall dense(dt, 1, l, false, tok.data(), kv.data(), dout.data(), ctx);
        const Timed d = TimeIt(dense, f.reps, std::min(f.min_time, 0.5));
        dense_us = harness::Fixed(d.median_ms * 1e3, 1);
        ratio = harness::Fixed(d.median_ms / lin.median_ms, 1);
      }
      table.AddRow({name, harness::Fixed(lin.median_ms * 1e3, 2), harness::Fixed(lin.min_ms * 1e3, 2),
                    dense_us, ratio});
    }
    if (table.rows() > 0) {
      std::printf("decode (mode=recurrent, 1 token per call, state updated in place):\n%s",
                  table.Render(fmt).c_str());
      std::printf("dense: attnkit dense attention of the token over a KV cache of ctx tokens "
                  "(k = v buffer).\n\n");
      std::fflush(stdout);
    }
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
