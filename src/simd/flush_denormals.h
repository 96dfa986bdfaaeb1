// SPDX-License-Identifier: Apache-2.0
// ScopedFlushDenormals: sets flush-to-zero and denormals-are-zero in this
// thread's floating-point control (x86 MXCSR) for a scope, restoring it after.
#ifndef ATTNKIT_SIMD_FLUSH_DENORMALS_H_
#define ATTNKIT_SIMD_FLUSH_DENORMALS_H_

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace attnkit {

// Kernels whose exp produces values below 2^-126 (probabilities of keys more
// than ~87 nats below the row max) would otherwise pay microcode assists for
// every subnormal result and operand; flushed, they are exactly 0, which is
// what the softmax would round them to anyway at the end.
class ScopedFlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  ScopedFlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtzDaz); }
  ~ScopedFlushDenormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kFtzDaz = 0x8040;  // FTZ (bit 15) | DAZ (bit 6)
  unsigned saved_;
#else
  ScopedFlushDenormals() = default;
#endif
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;
};

}  // namespace attnkit

#endif  // ATTNKIT_SIMD_FLUSH_DENORMALS_H_
