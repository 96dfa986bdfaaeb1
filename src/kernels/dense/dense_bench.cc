// SPDX-License-Identifier: Apache-2.0
// Google Benchmark micro-benchmarks of the dense kernels, generated from the
// kernel registry (every family but "reference") over Llama-3-8B-like shapes.
//
//   attnkit_bench [--threads=N] [--benchmark_filter=REGEX] [other --benchmark_* flags]
//
// Names are kernel/llama3-8b/N<tokens>/D<dim>/<causal|full>/<dtype>. Counters:
// dense_FLOPs = dense convention 4 B Hq N^2 D per second (shown with an SI
// prefix: "250G/s" is 250 GFLOP/s), eff_FLOPs = the same over visible
// (query, key) pairs only (causal: about half). Wall time
// (UseRealTime), since the kernel runs on --threads OpenMP threads.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "src/harness/cases.h"

namespace attnkit {
namespace {

struct Shape {
  int64_t n, d;
  bool causal;
  DType dtype;
};

// Llama-3-8B attention heads (Hq 32, Hkv 8), one sequence of N tokens.
harness::Case MakeCase(const std::string& kernel, const Shape& s, int threads) {
  harness::Case c;
  c.spec.num_q_heads = 32;
  c.spec.num_kv_heads = 8;
  c.spec.head_dim_qk = c.spec.head_dim_v = s.d;
  c.spec.mask.causal = s.causal;
  c.dtype = s.dtype;
  c.batch = 1;
  c.seqlen_q = c.seqlen_k = s.n;
  c.threads = threads;
  c.kernel = kernel;
  return c;
}

// Inputs, plan and workspace are made once per benchmark, outside the timing.
void BenchDense(benchmark::State& state, const harness::Case& c) {
  harness::Inputs in = harness::MakeInputs(c);
  PlanOptions options;
  options.kernel = c.kernel;
  Plan plan;
  try {
    plan = MakePlan(c.spec, c.Shape(), ThreadingContext(c.threads), options);
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<std::byte> workspace(plan.workspace_bytes());
  for (auto _ : state) {
    Run(plan, in.tensors, workspace);
    benchmark::ClobberMemory();
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["dense_FLOPs"] =
      benchmark::Counter(c.DenseFlops() * iters, benchmark::Counter::kIsRate);
  state.counters["eff_FLOPs"] =
      benchmark::Counter(c.EffectiveFlops() * iters, benchmark::Counter::kIsRate);
  state.counters["threads"] = c.threads;
}

void RegisterAll(int threads) {
  for (const KernelInfo& k : ListKernels()) {
    if (k.family == "reference") continue;
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      bool accepted = false;
      for (DType t : k.dtypes) accepted = accepted || t == dtype;
      if (!accepted) continue;
      for (int64_t d : {64, 128, 256}) {
        for (int64_t n : {512, 1024, 2048}) {
          for (bool causal : {true, false}) {
            const Shape s{n, d, causal, dtype};
            const std::string name = k.name + "/llama3-8b/N" + std::to_string(n) + "/D" +
                                     std::to_string(d) + (causal ? "/causal/" : "/full/") +
                                     std::string(Name(dtype));
            const harness::Case c = MakeCase(k.name, s, threads);
            benchmark::RegisterBenchmark(name.c_str(),
                                         [c](benchmark::State& st) { BenchDense(st, c); })
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace attnkit

int main(int argc, char** argv) {
  // Our one flag, --threads=N (default: all hardware threads), is removed
  // before Google Benchmark sees the arguments.
  int threads = 0;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strncmp(argv[i], "--threads=", 10) == 0) {
      char* end = nullptr;
      const long v = std::strtol(argv[i] + 10, &end, 10);
      if (*end != '\0' || v < 0 || v > 1024) {
        std::fprintf(stderr, "attnkit_bench: --threads must be an integer in [0, 1024], got '%s'\n",
                     argv[i] + 10);
        return 2;
      }
      threads = static_cast<int>(v);
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  attnkit::RegisterAll(attnkit::ThreadingContext(threads).num_threads());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
