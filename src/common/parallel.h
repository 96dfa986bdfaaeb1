// SPDX-License-Identifier: Apache-2.0
// ParallelFor: dynamic scheduling of independent work items over OpenMP threads.
// Items are handed out one at a time from a shared counter, so uneven items
// (causal query tiles) balance themselves; callers order items longest first.
#ifndef ATTNKIT_COMMON_PARALLEL_H_
#define ATTNKIT_COMMON_PARALLEL_H_

#include <atomic>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace attnkit {

// Calls fn(worker, item) for item in [0, n); worker is in [0, num_threads).
// fn must not throw.
template <class Fn>
void ParallelFor(int num_threads, int64_t n, const Fn& fn) {
  if (num_threads <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(0, i);
    return;
  }
#ifdef _OPENMP
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(num_threads)
  {
    const int worker = omp_get_thread_num();
    for (;;) {
      const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) break;
      fn(worker, i);
    }
  }
#else
  for (int64_t i = 0; i < n; ++i) fn(0, i);
#endif
}

}  // namespace attnkit

#endif  // ATTNKIT_COMMON_PARALLEL_H_
