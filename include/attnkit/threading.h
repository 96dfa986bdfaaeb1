// SPDX-License-Identifier: Apache-2.0
// ThreadingContext: thread count and CPU facts (cache sizes, ISA) chosen by the
// caller and passed to every Plan and Run. attnkit owns no global thread pool.
#ifndef ATTNKIT_THREADING_H_
#define ATTNKIT_THREADING_H_

#include <cstdint>
#include <string>

namespace attnkit {

struct CpuInfo {
  int64_t l1d_bytes = 32 << 10;   // per core
  int64_t l2_bytes = 1 << 20;     // per core
  int64_t l3_bytes = 32 << 20;    // shared
  int hardware_threads = 1;
  std::string simd_target;        // best Highway target compiled in and supported, e.g. "AVX3"
  bool has_avx512_bf16 = false;
  bool has_avx512_vnni = false;
  // Measured FLOP rate of AVX512-BF16 dot products relative to f32 FMA (0 = none).
  // The planner picks the bf16 kernel only where it is actually faster.
  double bf16_dot_flops_ratio = 0.0;

  // Read from the running machine (sysconf / cpuid); cached after the first call.
  static const CpuInfo& Detect();
  std::string ToString() const;
};

class ThreadingContext {
 public:
  // num_threads <= 0 means "all hardware threads". Throws Error above 1024.
  explicit ThreadingContext(int num_threads = 0);
  ThreadingContext(int num_threads, const CpuInfo& cpu);  // injected facts (tests, planning for another machine)

  int num_threads() const { return num_threads_; }
  const CpuInfo& cpu() const { return cpu_; }

 private:
  int num_threads_;
  CpuInfo cpu_;
};

}  // namespace attnkit

#endif  // ATTNKIT_THREADING_H_
