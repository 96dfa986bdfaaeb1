// SPDX-License-Identifier: Apache-2.0
// The two work partitions of decode: fixed split-KV (FlashDecoding) and
// stream-K (LeanAttention). Pure functions of the problem list, so tests can
// check that every block is covered exactly once.
#include <algorithm>
#include <cmath>

#include "src/kernels/decode/decode_plan.h"

namespace attnkit::decode {

std::vector<Piece> StreamKPartition(const std::vector<Problem>& problems,
                                    const std::vector<double>& block_cost, int workers,
                                    std::vector<int32_t>& worker_begin, double snap) {
  // Prefix sums of the cost along the line (blocks are numbered along it).
  const int64_t num_blocks = static_cast<int64_t>(block_cost.size());
  std::vector<double> prefix(static_cast<size_t>(num_blocks) + 1, 0.0);
  for (int64_t b = 0; b < num_blocks; ++b) prefix[b + 1] = prefix[b] + block_cost[b];
  const double total = prefix.back();
  // Worker w owns blocks [cut[w], cut[w + 1]): cut[w] is the block boundary
  // whose cost prefix is nearest to w * total / workers.
  std::vector<int64_t> cut(static_cast<size_t>(workers) + 1, num_blocks);
  cut[0] = 0;
  int64_t b = 0;
  size_t next = 0;  // first problem whose block_begin is above the previous target
  const double tolerance = snap * total / workers;
  for (int w = 1; w < workers; ++w) {
    const double target = total * w / workers;
    while (b < num_blocks && prefix[b + 1] <= target) ++b;
    // b is the last boundary at or below the target; b + 1 may be nearer.
    int64_t c = b;
    if (b < num_blocks && prefix[b + 1] - target < target - prefix[b]) c = b + 1;
    if (tolerance > 0) {  // the problem boundaries around the target
      while (next < problems.size() && prefix[problems[next].block_begin] <= target) ++next;
      double best = tolerance;
      for (size_t i : {next > 0 ? next - 1 : next, next}) {
        if (i >= problems.size()) continue;
        const int64_t edge = problems[i].block_begin;
        const double off = std::abs(prefix[edge] - target);
        if (off <= best && edge > 0 && edge < num_blocks) {
          best = off;
          c = edge;
        }
      }
    }
    cut[w] = std::max(c, cut[w - 1]);
  }
  // Pieces: worker ranges intersected with problem ranges, in line order.
  std::vector<Piece> pieces;
  worker_begin.assign(static_cast<size_t>(workers) + 1, 0);
  size_t pi = 0;
  for (int w = 0; w < workers; ++w) {
    worker_begin[w] = static_cast<int32_t>(pieces.size());
    const int64_t lo = cut[w], hi = cut[w + 1];
    for (; pi < problems.size(); ++pi) {
      const Problem& p = problems[pi];
      if (p.block_begin == p.block_end) {  // no blocks: an empty piece where it sits
        if (p.block_begin > hi || (p.block_begin == hi && w + 1 < workers)) break;
        pieces.push_back(Piece{static_cast<int32_t>(pi), p.block_begin, p.block_end, -1});
        continue;
      }
      const int64_t b0 = std::max<int64_t>(lo, p.block_begin), b1 = std::min<int64_t>(hi, p.block_end);
      if (b0 < b1) {
        pieces.push_back(Piece{static_cast<int32_t>(pi), static_cast<int32_t>(b0),
                               static_cast<int32_t>(b1), -1});
      }
      if (p.block_end > hi) break;  // the problem continues in the next worker's range
    }
  }
  worker_begin[workers] = static_cast<int32_t>(pieces.size());
  return pieces;
}

std::vector<Piece> SplitKVPartition(const std::vector<Problem>& problems, int64_t splits) {
  std::vector<Piece> pieces;
  for (size_t pi = 0; pi < problems.size(); ++pi) {
    const Problem& p = problems[pi];
    const int64_t n = p.block_end - p.block_begin;
    const int64_t k = std::max<int64_t>(1, std::min(splits, n));
    for (int64_t i = 0; i < k; ++i) {
      pieces.push_back(Piece{static_cast<int32_t>(pi), static_cast<int32_t>(p.block_begin + i * n / k),
                             static_cast<int32_t>(p.block_begin + (i + 1) * n / k), -1});
    }
  }
  return pieces;
}

}  // namespace attnkit::decode
