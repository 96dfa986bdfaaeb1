// SPDX-License-Identifier: Apache-2.0
// CpuInfo::Detect (cache sizes from sysconf, ISA from Highway and cpuid) and
// ThreadingContext.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "attnkit/error.h"
#include "attnkit/threading.h"
#include "hwy/targets.h"
#include "src/plan/cpu_probe.h"

namespace attnkit {
namespace {

int64_t SysconfOr(int name, int64_t fallback) {
  const long v = sysconf(name);
  return v > 0 ? static_cast<int64_t>(v) : fallback;
}

CpuInfo DetectNow() {
  CpuInfo c;
  c.l1d_bytes = SysconfOr(_SC_LEVEL1_DCACHE_SIZE, c.l1d_bytes);
  c.l2_bytes = SysconfOr(_SC_LEVEL2_CACHE_SIZE, c.l2_bytes);
  c.l3_bytes = SysconfOr(_SC_LEVEL3_CACHE_SIZE, c.l3_bytes);
  c.hardware_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t targets = hwy::SupportedTargets();
  c.simd_target = hwy::TargetName(targets & -targets);  // best = lowest bit
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  c.has_avx512_bf16 = __builtin_cpu_supports("avx512bf16");
  c.bf16_dot_flops_ratio =
      ProbeBf16DotFlopsRatio(__builtin_cpu_supports("avx512f"), c.has_avx512_bf16);
  if (c.has_avx512_bf16) {
    c.bf16_dot_flops_ratio =
        Bf16DotRatioOrOverride(std::getenv("ATTNKIT_BF16_DOT_RATIO"), c.bf16_dot_flops_ratio);
  }
  c.has_avx512_vnni = __builtin_cpu_supports("avx512vnni");
#endif
  return c;
}

}  // namespace

const CpuInfo& CpuInfo::Detect() {
  static const CpuInfo info = DetectNow();
  return info;
}

std::string CpuInfo::ToString() const {
  std::ostringstream os;
  os << hardware_threads << " hw threads, L1d " << (l1d_bytes >> 10) << " KiB, L2 "
     << (l2_bytes >> 10) << " KiB, L3 " << (l3_bytes >> 20) << " MiB, SIMD " << simd_target
     << (has_avx512_bf16 ? " +avx512bf16" : "") << (has_avx512_vnni ? " +vnni" : "");
  if (bf16_dot_flops_ratio > 0) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), " (bf16 dot %.2fx f32 FMA)", bf16_dot_flops_ratio);
    os << buf;
  }
  return os.str();
}

ThreadingContext::ThreadingContext(int num_threads) : ThreadingContext(num_threads, CpuInfo::Detect()) {}

ThreadingContext::ThreadingContext(int num_threads, const CpuInfo& cpu) : cpu_(cpu) {
  ATTNKIT_CHECK(num_threads <= 1024, "num_threads must be <= 1024, got ", num_threads);
  num_threads_ = num_threads > 0 ? num_threads : cpu.hardware_threads;
}

}  // namespace attnkit
