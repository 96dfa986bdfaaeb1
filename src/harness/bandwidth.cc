// SPDX-License-Identifier: Apache-2.0
// MeasureReadBandwidth (see bandwidth.h): 8 independent 64-bit sums per
// 64-byte line keep enough loads in flight that DRAM, not the core, limits.
#include "src/harness/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "src/common/workspace.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace attnkit::harness {
namespace {

uint64_t SumLines(const uint64_t* p, size_t words) {
  uint64_t s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i + 8 <= words; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += p[i + j];
  }
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

// This thread's index in the enclosing OpenMP team (0 without OpenMP).
int ThreadIndex() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace

Bandwidth MeasureReadBandwidth(int threads, int64_t bytes, int passes) {
  Bandwidth r;
  threads = std::max(1, threads);
  r.threads = threads;
  r.passes = std::max(1, passes);
  r.bytes = bytes > 0 ? bytes : (int64_t{1} << 30);
  const size_t words = static_cast<size_t>(r.bytes) / 8 / 8 * 8;
  // Huge pages, as the KV-cache pool has (src/common/workspace.h): the roof is
  // the bandwidth of the same kind of memory.
  HugePageBuffer buffer(words * 8);
  uint64_t* const data_ptr = reinterpret_cast<uint64_t*>(buffer.data());
  const size_t share = words / static_cast<size_t>(threads) / 8 * 8;
  std::vector<double> seconds;
  volatile uint64_t sink = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
  {
    const int t = ThreadIndex();
    uint64_t* mine = data_ptr + static_cast<size_t>(t) * share;
    for (size_t i = 0; i < share; ++i) mine[i] = i;  // first touch by the reader
    for (int pass = 0; pass <= r.passes; ++pass) {
      std::chrono::steady_clock::time_point start;
#ifdef _OPENMP
#pragma omp barrier
#pragma omp master
#endif
      start = std::chrono::steady_clock::now();
      const uint64_t s = SumLines(mine, share);
#ifdef _OPENMP
#pragma omp barrier
#pragma omp master
#endif
      {
        sink = sink + s;
        if (pass > 0) {
          seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
      }
    }
  }
  std::sort(seconds.begin(), seconds.end());
  const double read = static_cast<double>(share) * 8 * threads;
  r.best_gbps = read / seconds.front() / 1e9;
  r.median_gbps = read / seconds[seconds.size() / 2] / 1e9;
  return r;
}

CacheEvictor::CacheEvictor(int64_t l3_bytes) {
  const int64_t bytes = std::clamp<int64_t>(2 * l3_bytes, int64_t{64} << 20, int64_t{1} << 30);
  buffer_.assign(static_cast<size_t>(bytes / 8), 1);
}

void CacheEvictor::Evict(int threads) const {
  threads = std::max(1, threads);
  const size_t share = buffer_.size() / static_cast<size_t>(threads) / 8 * 8;
  volatile uint64_t sink = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
  {
    const int t = ThreadIndex();
    const uint64_t s = SumLines(buffer_.data() + static_cast<size_t>(t) * share, share);
#ifdef _OPENMP
#pragma omp critical
#endif
    sink = sink + s;
  }
}

}  // namespace attnkit::harness
