// SPDX-License-Identifier: Apache-2.0
// Measured tile choice for the dense family (PlanOptions::autotune): times the
// cost model's best tilings once on synthetic inputs of the problem's shape and
// keeps the fastest, cached per shape key (in-process and in a file).
#ifndef ATTNKIT_PLAN_AUTOTUNE_H_
#define ATTNKIT_PLAN_AUTOTUNE_H_

#include <functional>
#include <string>

#include "src/plan/plan_impl.h"

namespace attnkit {

// How many of the cost model's best candidates autotuning times.
inline constexpr size_t kAutotuneCandidates = 6;

// Everything the measured time depends on: kernel, dtypes, heads, dims, mask
// and modifiers, lengths, threads and the machine.
std::string AutotuneKey(const PlanImpl& p);

// The cached (block_q, block_k) for `key`, if any. The cache file is
// $ATTNKIT_AUTOTUNE_CACHE, else ~/.cache/attnkit/autotune.tsv ("off" disables it).
bool LookupTunedTiles(const std::string& key, int64_t& block_q, int64_t& block_k);
void StoreTunedTiles(const std::string& key, int64_t block_q, int64_t block_k, double ms);

// Times each candidate tiling: `plan_with_tiles(impl, block_q, block_k)` fills
// a copy of `base` for those tiles; returns the fastest tiling and writes the
// measurements into base.tuning.
struct TileTiming {
  int64_t block_q, block_k;
  double ms;
};
TileTiming AutotuneDenseTiles(
    PlanImpl& base, const std::vector<TileCandidate>& candidates,
    const std::function<void(PlanImpl&, int64_t, int64_t)>& plan_with_tiles);

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_AUTOTUNE_H_
