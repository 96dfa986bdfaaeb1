// SPDX-License-Identifier: Apache-2.0
// Tiny throughput probes run once at CpuInfo::Detect(): how fast vdpbf16ps
// really is relative to f32 FMA on this core (on some CPUs it issues at half
// the FMA rate, so its 2 multiply-adds per lane buy nothing). ~0.3 ms in all.
#include "src/plan/cpu_probe.h"

#include <chrono>
#include <cstdlib>

#include "attnkit/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace attnkit {
namespace {

#if defined(__x86_64__)
constexpr int kChains = 12;       // independent accumulators: covers latency x ports
constexpr long kIterations = 4000;

template <class Fn>
double BestSeconds(Fn&& fn) {
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = s < best ? s : best;
  }
  return best;
}

// Keeps the chains alive: the sum of lane 0 of every accumulator.
// Not instrumented by sanitizers: under ASan the accumulators would live in
// memory and the probe would time loads and stores instead of the FMA ports.
#define ATTNKIT_NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

__attribute__((target("avx512f"))) ATTNKIT_NO_SANITIZE inline float SumOfFirstLanes(
    const __m512 (&acc)[kChains]) {
  float sum = 0;
  for (int i = 0; i < kChains; ++i) sum += _mm512_cvtss_f32(acc[i]);
  return sum;
}

// 12 chains x kIterations of 16-lane f32 FMA (32 flops each).
__attribute__((target("avx512f"), noinline)) ATTNKIT_NO_SANITIZE float FmaLoop() {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
  for (long it = 0; it < kIterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
  }
  return SumOfFirstLanes(acc);
}

// 12 chains x kIterations of vdpbf16ps (64 flops each).
__attribute__((target("avx512f,avx512bf16"), noinline)) ATTNKIT_NO_SANITIZE float Bf16DotLoop() {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3f803f80));
  for (long it = 0; it < kIterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], b, b);
  }
  return SumOfFirstLanes(acc);
}
#endif

}  // namespace

double ProbeBf16DotFlopsRatio(bool has_avx512f, bool has_avx512_bf16) {
#if defined(__x86_64__)
  if (!has_avx512f || !has_avx512_bf16) return 0.0;
  volatile float sink = 0;
  const double fma = BestSeconds([&] { sink = sink + FmaLoop(); });
  const double dot = BestSeconds([&] { sink = sink + Bf16DotLoop(); });
  // Same instruction count: a dot instruction does twice the flops of an FMA.
  return dot > 0 ? 2.0 * fma / dot : 0.0;
#else
  (void)has_avx512f;
  (void)has_avx512_bf16;
  return 0.0;
#endif
}

double Bf16DotRatioOrOverride(const char* env, double measured) {
  if (env == nullptr || *env == '\0') return measured;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  ATTNKIT_CHECK(end != env && *end == '\0' && v > 0 && v < 100, "ATTNKIT_BF16_DOT_RATIO='", env,
                "': expected a number in (0, 100), the vdpbf16ps / f32 FMA flop rate");
  return v;
}

}  // namespace attnkit
