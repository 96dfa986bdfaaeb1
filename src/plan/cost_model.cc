// SPDX-License-Identifier: Apache-2.0
// Dense tiling cost model (see cost_model.h).
#include "src/plan/cost_model.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace attnkit {
namespace {

// Machine constants of the model, in cycles of one core. The model ranks
// tilings; it does not predict absolute times (docs/benchmarks.md has those).
constexpr double kClockHz = 3.0e9;
constexpr double kFmaPorts = 2;
constexpr double kSoftmaxOpsPerVector = 15;  // max, subtract, exp2 (12), sum
constexpr double kRowOverheadCycles = 40;    // per row per tile: reductions, rescale, stats
constexpr double kTileOverheadCycles = 300;  // per tile: loop set-up, mask classification
constexpr double kPackCyclesPerElem = 1.0;   // scalar transpose + convert of K (and V)
constexpr double kL2MissPenalty = 1.6;       // working set beyond L2: operands from L3
// Each visited key tile first streams its K^T and V tiles into L1: from L2
// when the KV head's packed K/V fits there, else from L3. This first touch is
// not hidden behind the FMAs, so few tile rows (small block_q x group) pay it
// per few FLOPs: measured 1.45x slower with 28 rows than with 252 (GQA 7:1).
constexpr double kL2BytesPerCycle = 32;
constexpr double kL3BytesPerCycle = 10;

// Cycles of TileGemm on rows x depth x cols (see src/simd/tile_gemm-inl.h):
// full 4 x kNv blocks run at the FMA roof; the 1-3 column-tail vectors run as
// 8 x 1 (load-bound: 9 loads per 8 FMAs), 8 x 2 or 4 x 3 blocks; row tails pay
// for a full block.
double GemmCycles(double rows, double depth, double cols, double lanes) {
  const double nv = lanes >= 16 ? 4 : 2;
  const double vecs = std::ceil(cols / lanes);
  const double full = std::floor(vecs / nv), tail = vecs - full * nv;
  double cycles = std::ceil(rows / 4) * depth * full * (4 * nv / kFmaPorts);
  if (tail == 1) cycles += std::ceil(rows / 8) * depth * 4.5;
  if (tail == 2) cycles += std::ceil(rows / 8) * depth * 8;
  if (tail == 3) cycles += std::ceil(rows / 4) * depth * 6;
  return cycles;
}

}  // namespace

int LanesOfTarget(const std::string& target) {
  if (target.rfind("AVX3", 0) == 0) return 16;
  if (target == "AVX2") return 8;
  return 4;
}

int64_t VisitedKeyTiles(const PlanImpl& p, int64_t nq, int64_t nk, int64_t i0, int64_t rows,
                        int64_t block_k) {
  const int64_t pmin = nk - nq + i0, pmax = pmin + rows - 1;
  const int64_t lo = p.window_left == kUnbounded ? 0 : std::max<int64_t>(0, pmin - p.window_left);
  const int64_t hi =
      p.window_right == kUnbounded ? nk : std::min<int64_t>(nk, pmax + p.window_right + 1);
  if (lo >= hi) return 0;
  return dense::CeilDiv(hi, block_k) - lo / block_k;
}

TileCandidate EstimateDenseTiles(const PlanImpl& p, int64_t bq, int64_t bk) {
  const double lanes = LanesOfTarget(p.fns.target ? p.fns.target : "");
  const int64_t dqk = p.spec.head_dim_qk, dvp = p.dv_pad;
  const int64_t ldq = dense::RoundUp(dqk, dense::kPad);

  const int64_t group = p.spec.num_q_heads / p.spec.num_kv_heads;
  TileCandidate c;
  c.block_q = bq;
  c.block_k = bk;
  c.working_set = 4 * (group * bq * (ldq + bk + dvp) + bk * (dqk + dvp));
  c.fits_l2 = c.working_set <= p.cpu.l2_bytes * 3 / 4;
  const double cache_penalty = c.fits_l2 ? 1.0 : kL2MissPenalty;
  // vdpbf16ps does two multiply-adds per lane, but some cores issue it at half
  // the FMA rate: use the measured FLOP ratio (CpuInfo::bf16_dot_flops_ratio).
  const double products_cost = p.products == dense::Products::kBF16
                                   ? 1.0 / std::max(0.05, p.cpu.bf16_dot_flops_ratio)
                                   : 1.0;

  double total = 0, longest = 0, pack = 0;
  for (const dense::Sequence& s : p.seqs) {
    const double head_bytes = 4.0 * static_cast<double>(s.nk) * (dqk + dvp);
    const double tile_fetch = 4.0 * static_cast<double>(bk) * (dqk + dvp) /
                              (head_bytes <= 0.5 * p.cpu.l2_bytes ? kL2BytesPerCycle : kL3BytesPerCycle);
    for (int64_t i0 = 0; i0 < s.nq; i0 += bq) {
      const double rows = static_cast<double>(group * std::min(bq, s.nq - i0));  // tile rows
      const double tiles = static_cast<double>(VisitedKeyTiles(p, s.nq, s.nk, i0, std::min(bq, s.nq - i0), bk));
      const double per_tile = cache_penalty * products_cost *
                                  (GemmCycles(rows, dqk, bk, lanes) + GemmCycles(rows, bk, dvp, lanes)) +
                              rows * bk / lanes * kSoftmaxOpsPerVector / kFmaPorts +
                              rows * kRowOverheadCycles + kTileOverheadCycles + tile_fetch;
      const double item = (tiles * per_tile + rows * (dqk + dvp) / lanes * 2) / kClockHz;
      total += item * static_cast<double>(p.spec.num_kv_heads);
      longest = std::max(longest, item);
    }
    pack += static_cast<double>(p.spec.num_kv_heads * dense::RoundUp(s.nk, bk) * (dqk + dvp)) *
            kPackCyclesPerElem / kClockHz;
  }
  const double threads = std::max(1, p.num_threads);
  c.est_ms = 1e3 * (std::max(total / threads, longest) + pack / threads);
  return c;
}

std::vector<TileCandidate> RankDenseTiles(const PlanImpl& p) {
  int64_t max_nq = 1, max_nk = 1;
  for (const dense::Sequence& s : p.seqs) {
    max_nq = std::max(max_nq, s.nq);
    max_nk = std::max(max_nk, s.nk);
  }
  // Very large head dims need the smallest tiles to stay within L2.
  const bool huge_dims = p.spec.head_dim_qk + p.spec.head_dim_v > 512;
  std::vector<int64_t> bqs = {16, 32, 64, 128, 256}, bks = {32, 64, 128, 256, 512};
  if (huge_dims) {
    bqs.insert(bqs.begin(), 8);
    bks.insert(bks.begin(), 16);
  }
  // Tile rows are block_q x group (the whole GQA group shares a tile), so the
  // candidate positions per tile shrink with the group size.
  const int64_t group = p.spec.num_q_heads / p.spec.num_kv_heads;
  for (int64_t& bq : bqs) bq = std::max<int64_t>(1, bq / group);
  bqs.erase(std::unique(bqs.begin(), bqs.end()), bqs.end());
  std::vector<TileCandidate> out;
  for (int64_t bq : bqs) {
    if (bq > bqs[0] && bq / 2 >= max_nq) continue;  // a smaller tile already covers every sequence
    for (int64_t bk : bks) {
      if (bk > bks[0] && bk / 2 >= max_nk) continue;
      out.push_back(EstimateDenseTiles(p, bq, bk));
    }
  }
  // Prefer tilings that fit in L2; among them (or among all, if none fits) the cheapest.
  std::stable_sort(out.begin(), out.end(), [](const TileCandidate& a, const TileCandidate& b) {
    if (a.fits_l2 != b.fits_l2) return a.fits_l2;
    return a.est_ms < b.est_ms;
  });
  return out;
}

}  // namespace attnkit
