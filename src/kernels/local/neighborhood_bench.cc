// SPDX-License-Identifier: Apache-2.0
// Neighbourhood attention against the dense kernel on the same tokens, per
// FLOP (issue 7's target):
//
//   attnkit_na_bench [--threads=N] [--reps=R] [--causal] [--na-only] [--filter=SUBSTRING]
//
// Per case: the median wall time of R calls of NeighborhoodAttention (f32,
// BHND, inputs and buffers made once) and of attnkit::Run of a full
// (non-causal) dense plan over the same q, k, v; effective GFLOP/s with
// 4 B H N K^rank D FLOPs for NA and 4 B H N^2 D for dense, and their ratio
// dense / NA (1.5 or less meets the target).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "attnkit/local.h"
#include "src/harness/cases.h"

namespace attnkit {
namespace {

struct NaBenchCase {
  std::string name;
  NeighborhoodParams p;
  int64_t heads, dim;
  bool causal;  // every axis
};

template <class Fn>
double MedianMs(int reps, Fn&& fn) {
  fn();  // warm-up: page faults, dispatch
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void BenchCase(const NaBenchCase& bc, int threads, int reps, bool dense) {
  harness::Case c;
  c.spec.num_q_heads = c.spec.num_kv_heads = bc.heads;
  c.spec.head_dim_qk = c.spec.head_dim_v = bc.dim;
  c.batch = 1;
  c.seqlen_q = c.seqlen_k = bc.p.tokens();
  harness::Inputs in = harness::MakeInputs(c);
  NeighborhoodParams p = bc.p;
  for (int i = 0; i < p.rank; ++i) p.causal[static_cast<size_t>(i)] = bc.causal;
  const ThreadingContext ctx(threads);
  const double na_ms = MedianMs(reps, [&] { NeighborhoodAttention(p, c.spec, in.tensors, ctx); });
  double dense_ms = 0;
  if (dense) {
    const Plan plan = MakePlan(c.spec, c.Shape(), ctx);
    std::vector<std::byte> workspace(plan.workspace_bytes());
    dense_ms = MedianMs(reps, [&] { Run(plan, in.tensors, workspace); });
  }
  const double n = static_cast<double>(p.tokens());
  double window = 1;  // keys per query (non-causal: exactly prod K)
  for (int i = 0; i < p.rank; ++i) window *= static_cast<double>(p.kernel_size[static_cast<size_t>(i)]);
  const double na_gflops = 4.0 * bc.heads * n * window * bc.dim / (na_ms * 1e6);
  const double dense_gflops = 4.0 * bc.heads * n * n * bc.dim / (dense_ms * 1e6);
  std::printf("| %s%s | %.1f | %.1f | %.1f | %.1f | %.2fx |\n", bc.name.c_str(),
              bc.causal ? ", causal" : "", na_ms, na_gflops, dense_ms, dense_gflops,
              dense_gflops / na_gflops);
  std::fflush(stdout);
}

NaBenchCase Grid(std::string name, std::vector<int64_t> extent, int64_t k, int64_t heads,
                 int64_t dim) {
  NaBenchCase bc{std::move(name), {}, heads, dim, false};
  bc.p.rank = static_cast<int>(extent.size());
  for (size_t i = 0; i < extent.size(); ++i) {
    bc.p.extent[i] = extent[i];
    bc.p.kernel_size[i] = k;
  }
  return bc;
}

}  // namespace
}  // namespace attnkit

int main(int argc, char** argv) {
  int threads = 0, reps = 5;
  bool causal = false, dense = true;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--reps=", 7) == 0) {
      reps = std::max(1, std::atoi(argv[i] + 7));
    } else if (std::strncmp(argv[i], "--filter=", 9) == 0) {
      filter = argv[i] + 9;
    } else if (std::strcmp(argv[i], "--na-only") == 0) {
      dense = false;
    } else if (std::strcmp(argv[i], "--causal") == 0) {
      causal = true;
    } else {
      std::fprintf(stderr, "usage: attnkit_na_bench [--threads=N] [--reps=R] [--causal] [--na-only] [--filter=SUBSTRING]\n");
      return 2;
    }
  }
  using attnkit::Grid;
  std::printf("| case | NA ms | NA eff. GFLOP/s | dense ms | dense GFLOP/s | dense / NA per FLOP |\n"
              "| --- | --- | --- | --- | --- | --- |\n");
  for (attnkit::NaBenchCase bc : {Grid("2-D 56 x 56, k 7, H 8, D 32", {56, 56}, 7, 8, 32),
                                  Grid("2-D 56 x 56, k 7, H 8, D 64", {56, 56}, 7, 8, 64),
                                  Grid("3-D 16 x 32 x 32, k 7, H 4, D 64", {16, 32, 32}, 7, 4, 64)}) {
    if (bc.name.find(filter) == std::string::npos) continue;
    bc.causal = causal;
    attnkit::BenchCase(bc, attnkit::ThreadingContext(threads).num_threads(), reps, dense);
  }
  return 0;
}
