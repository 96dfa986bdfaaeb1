// SPDX-License-Identifier: Apache-2.0
// The read-bandwidth roof of decode benchmarks (STREAM-like): every thread
// sums its share of one large array. Not a general memory benchmark: reads only.
#ifndef ATTNKIT_HARNESS_BANDWIDTH_H_
#define ATTNKIT_HARNESS_BANDWIDTH_H_

#include <cstdint>

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

}  // namespace attnkit::harness

#endif  // ATTNKIT_HARNESS_BANDWIDTH_H_
