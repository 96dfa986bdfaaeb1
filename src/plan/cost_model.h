// SPDX-License-Identifier: Apache-2.0
// Cost model of the dense kernel: estimates the time of a tiling (block_q x
// block_k) from the exact count of visited tiles, the SIMD width of the chosen
// target and the cache sizes. Used to rank candidates; absolute numbers are
// rough (see docs/benchmarks.md for measured ones).
#ifndef ATTNKIT_PLAN_COST_MODEL_H_
#define ATTNKIT_PLAN_COST_MODEL_H_

#include <cstdint>
#include <vector>

#include "src/plan/plan_impl.h"

namespace attnkit {

// f32 lanes of a Highway target name ("AVX3" -> 16, "AVX2" -> 8, else 4).
int LanesOfTarget(const std::string& target);

// Key tiles visited by a query tile of `rows` rows starting at row i0 of a
// sequence (nq, nk) under the plan's window bounds. Same arithmetic as the kernel.
int64_t VisitedKeyTiles(const PlanImpl& p, int64_t nq, int64_t nk, int64_t i0, int64_t rows,
                        int64_t block_k);

// Estimates one candidate; needs p.seqs, the window, dims, threads and p.fns.
TileCandidate EstimateDenseTiles(const PlanImpl& p, int64_t block_q, int64_t block_k);

// All candidates from the standard grid that make sense for this problem,
// sorted by estimated time (best first).
std::vector<TileCandidate> RankDenseTiles(const PlanImpl& p);

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_COST_MODEL_H_
