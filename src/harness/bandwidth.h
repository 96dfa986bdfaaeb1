// SPDX-License-Identifier: Apache-2.0
// The read-bandwidth roof of decode benchmarks (STREAM-like): every thread
// sums its share of one large array. Not a general memory benchmark: reads only.
#ifndef ATTNKIT_HARNESS_BANDWIDTH_H_
#define ATTNKIT_HARNESS_BANDWIDTH_H_

#include <cstdint>
#include <vector>

namespace attnkit::harness {

struct Bandwidth {
  double best_gbps = 0;    // fastest pass, 1e9 bytes per second
  double median_gbps = 0;
  int64_t bytes = 0;       // array size
  int threads = 1, passes = 0;
};

// Reads an array of `bytes` (0 = 1 GiB, several times a server L3, so the
// figure is DRAM bandwidth) with `threads` OpenMP threads, each its own
// contiguous share, `passes` times after one warm-up pass. Pages are touched
// first by the thread that later reads them.
Bandwidth MeasureReadBandwidth(int threads, int64_t bytes = 0, int passes = 7);

// Evicts the caches between timed calls of a memory-bound kernel: Evict()
// reads a buffer of twice the L3 (at least 64 MiB, at most 1 GiB), so that
// data the kernel read before (a decode step's KV cache, which in a real model
// step is long evicted by the other layers) comes from DRAM again.
class CacheEvictor {
 public:
  explicit CacheEvictor(int64_t l3_bytes);
  void Evict(int threads) const;

 private:
  std::vector<uint64_t> buffer_;
};

}  // namespace attnkit::harness

#endif  // ATTNKIT_HARNESS_BANDWIDTH_H_
