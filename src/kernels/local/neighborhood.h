// SPDX-License-Identifier: Apache-2.0
// Interface of the neighbourhood-attention kernel (non-SIMD part): per-axis
// window arithmetic (NATTEN's rules, see attnkit/local.h), the query tiles and
// the arguments of the per-target tile kernel.
//
// Layout. The last spatial axis is the "lane" axis: queries are processed in
// vectors of consecutive positions along it, so a key offset c of the window
// is, for interior queries, one contiguous (unaligned) vector load of K^T.
// With dilation r on that axis the tokens split into r residue classes; each
// (outer coordinates, residue) pair is a "line" of Ls tokens, packed per
// (batch, KV head) as
//   K^T  [slot][Dqk][lp]       lp = RoundUp(max Ls, 16) + 16
//   V^T  [slot][Dv][lp]        floats (zero padding past Ls),
// line l in slot l % slots (all lines, or a ring of the recent ones, see
// PackSlots),
// and per work item the query lines as Q^T [Dqk][lp], pre-scaled by
// scale * log2 e. Outer axes only select which key lines a query line reads.
//
// Tiles. A work item is a tile of up to kTileRows query lines that are
// neighbours along axis rank - 2 (same residue under its dilation, consecutive
// sub-grid indices; same lane residue): their windows along the outer axes
// overlap in all but kTileRows - 1 key lines, so every K^T / V^T vector loaded
// for a key line serves every tile row whose window contains that line (an
// outer product of rows x window offsets, see neighborhood-inl.h). Rank 1 has
// no outer axis: one line per tile.
#ifndef ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_H_
#define ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "attnkit/local.h"
#include "attnkit/tensor.h"

namespace attnkit::local {

// One spatial axis: extent L, kernel K, dilation r, stride s, causal.
struct Axis {
  int64_t extent = 1, kernel = 1, dilation = 1, stride = 1;
  bool causal = false;
};

// Tokens of residue `rho` along the axis: the length of its sub-grid.
inline int64_t SubLength(const Axis& a, int64_t rho) {
  return (a.extent - rho + a.dilation - 1) / a.dilation;
}

// The window of sub-grid index x (sub-grid length ls) as sub-grid indices
// [start, end): NATTEN's get_window_start / end for the axis.
struct Window {
  int64_t start, end;
};
inline Window AxisWindow(const Axis& a, int64_t ls, int64_t x) {
  const int64_t k = a.kernel, s = a.stride;
  if (a.causal) {
    const int64_t leader = std::min((x / s) * s + s - 1, ls - 1);
    return {std::max<int64_t>(leader - k + 1, 0), std::min(x + 1, ls)};
  }
  const int64_t wl = k / 2, wr = k / 2 + k % 2 - 1;
  const int64_t leader = std::min((x / s) * s + s / 2, ls - 1);
  const int64_t start =
      std::max<int64_t>(leader - wl, 0) + (leader + wr >= ls ? ls - wr - leader - 1 : 0);
  return {start, start + k};
}

// Everything one line of queries needs; the packed K^T / V are those of the
// line's (batch, KV head).
struct LineArgs {
  int rank = 1;
  std::array<Axis, kMaxSpatialRank> axes{};
  int64_t dqk = 0, dv = 0;
  int64_t lp = 0;         // floats per packed K^T / V^T row of a line
  float scale_log2 = 1;   // scale * log2 e
  TensorView q, out, lse;  // [B, Hq, N, D]; lse may be empty
  const float* kt = nullptr;  // packed line l at slot l % slots
  const float* vt = nullptr;
  int64_t slots = 1;          // lines the packed buffers hold
};

// Query lines per tile. A key line is read by 1..4 of them (rank 2, kernel
// 7: 10 lines, 28 (row, line) pairs); the micro-kernels take up to 3 rows
// per register block (4 as 2 + 2, see neighborhood-inl.h).
inline constexpr int64_t kTileRows = 4;

// kTileRows (or fewer) query lines line0 + j * step, j < rows.
struct LineTile {
  int64_t line0 = 0, rows = 1, step = 1;
};
std::vector<LineTile> MakeTiles(const LineArgs& a);
// Per tile, the smallest and largest key line its rows read.
struct KeySpan {
  int64_t first, last;
};
std::vector<KeySpan> TileKeySpans(const LineArgs& a, const std::vector<LineTile>& tiles);
// Packed-line slots needed when tiles run in order and lines are packed in
// order up to each tile's last key line: every tile's lines from its first
// key line to the last packed line must still be held (at most `lines`).
int64_t PackSlots(const std::vector<KeySpan>& spans, int64_t lines);

// Scratch floats per worker: Q^T of the tile's lines, logits of one query
// vector of every row for every key ([rows x K^rank x 16]), O^T of one vector
// per row, K_lane x 16 zeros (P V of rows that skip a key line), and the
// tile's key-line tables (int64, see the kernel).
int64_t LineScratchFloats(const LineArgs& a);

using LineFn = void (*)(const LineArgs& a, int64_t batch, int64_t head, const LineTile& tile,
                        float* scratch);
using PackFn = void (*)(const LineArgs& a, const TensorView& k, const TensorView& v,
                        int64_t batch, int64_t kv_head, int64_t line, float* kt, float* vt);
struct NeighborhoodFns {
  LineFn tile = nullptr;  // one tile of query lines
  PackFn pack = nullptr;  // K^T and V^T of one line
  const char* target = "";
};
NeighborhoodFns GetNeighborhoodFns();

// Line geometry shared by the kernel and the planner.
inline int64_t NumLines(const LineArgs& a) {
  int64_t outer = 1;
  for (int i = 0; i + 1 < a.rank; ++i) outer *= a.axes[static_cast<size_t>(i)].extent;
  return outer * a.axes[static_cast<size_t>(a.rank - 1)].dilation;
}
// Token index of sub-grid position x of `line`.
inline int64_t TokenOf(const LineArgs& a, int64_t line, int64_t x) {
  const Axis& lane = a.axes[static_cast<size_t>(a.rank - 1)];
  const int64_t rho = line % lane.dilation, outer = line / lane.dilation;
  return outer * lane.extent + x * lane.dilation + rho;
}

// Key lines of query `line`: the product of the outer axes' windows,
// row-major like the lines (ascending). Returns their count.
template <int kRank>
int64_t KeyLinesOf(const LineArgs& a, int64_t line, int64_t* key_lines) {
  const Axis& lane = a.axes[kRank - 1];
  const int64_t rho = line % lane.dilation, outer = line / lane.dilation;
  int64_t n_out = 1;
  key_lines[0] = 0;
  int64_t rem = outer, coord[kMaxSpatialRank] = {0, 0, 0};
  for (int ax = kRank - 2; ax >= 0; --ax) {
    coord[ax] = rem % a.axes[static_cast<size_t>(ax)].extent;
    rem /= a.axes[static_cast<size_t>(ax)].extent;
  }
  for (int ax = 0; ax + 1 < kRank; ++ax) {
    const Axis& axis = a.axes[static_cast<size_t>(ax)];
    const int64_t r = axis.dilation, res = coord[ax] % r;
    const Window w = AxisWindow(axis, SubLength(axis, res), coord[ax] / r);
    const int64_t count = w.end - w.start;
    for (int64_t u = n_out - 1; u >= 0; --u) {  // expand in place, back to front
      for (int64_t j = count - 1; j >= 0; --j) {
        key_lines[u * count + j] = key_lines[u] * axis.extent + (w.start + j) * r + res;
      }
    }
    n_out *= count;
  }
  for (int64_t o = 0; o < n_out; ++o) key_lines[o] = key_lines[o] * lane.dilation + rho;
  return n_out;
}

}  // namespace attnkit::local

#endif  // ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_H_
