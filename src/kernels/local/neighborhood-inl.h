// SPDX-License-Identifier: Apache-2.0
// SIMD body of neighbourhood attention (per-target Highway code, included by
// neighborhood.cc once per target): one template over the spatial rank.
//
// One call processes one tile of R <= kTileRows query lines (neighbours along
// axis rank - 2, see neighborhood.h) in vectors of N consecutive sub-grid
// positions x0 .. x0 + N - 1 of the lane axis (N = f32 lanes, 16 on AVX-512).
// The rows of a tile share the lane axis, so lane i's window along it starts
// at start_i in every row; for interior queries start_i = start_0 + i, and
// offset c of the window is the unaligned vector K^T[d][start_0 + c ..]
// ("contiguous"). Near borders and with stride > 1 the starts are monotone but
// not consecutive: a lane permutation of the same load when they span fewer
// than N keys ("permute"), else a gather.
//
// The key lines of the tile are the union U of its rows' outer windows (for
// rank 2 and kernel K: R + K - 1 lines, each read by 1..R rows). Lanes are
// queries, so both products are outer products over the lanes,
// register-blocked (at most 3 rows x 7 vectors on AVX-512, see BlockRows)
// over (rows reading u x window offsets) -- no wasted (query, key) pair --
// and over (row chunks x value dims), where a row of the chunk that does not
// read u multiplies zeros (2 of 16 slots for 2-row chunks of a 4-row tile, so
// that the O^T accumulators stay in registers over all key lines):
//   S_j[o][c]  = sum_d Q^T_j[d][x0..] * K^T_u[d][start + c]   row j, key line
//                u in U of local index o in j's window, c < K: the K^T
//                vector is loaded once for all rows j whose window has u
//   S = -inf where c >= len_i (causal windows near the start)
//   m = max, p = 2^(S - m), l = sum p          per row, vertical over keys:
//                                              no horizontal reductions
//   O^T_j[e][x0..] = sum_{u,c} p_j[o][c] * V^T_u[e][start + c] / l
//                                              the V^T vector serves all rows
// and O^T is transposed into the output rows (Q^T, K^T, V^T and O by 16 x 16
// register transposes, TransposeBlock). Logits are exact f32 dot
// products of the packed f32 operands; every query sees between 1 and K^rank
// keys, never an empty row, so the softmax is two-pass over stored logits
// (at most K^rank x N floats per row) rather than online.

#if defined(ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
#undef ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
#else
#define ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "hwy/highway.h"
#include "src/kernels/local/neighborhood.h"
#include "src/simd/convert-inl.h"
#include "src/simd/exp-inl.h"
#include "src/simd/flush_denormals.h"
#include "src/simd/hold_register-inl.h"
#include "src/simd/storage_types.h"
#include "src/simd/transpose-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::local {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Register blocks of the micro-kernels: up to BlockRows() tile rows x
// BlockCols() window vectors (logits: window offsets; P V: value dims), all
// window vectors and one query / probability vector held in registers
// (HoldInRegister): 3 x 7 accumulators + 7 + 1 = 29 of AVX-512's 32
// registers (a kernel of 7 is one pass), 2 x 4 + 4 + 1 = 13 of the 16 of
// AVX2 / SSE4. Per depth step: kBlockCols window loads (mostly line-split)
// and BlockRows() aligned loads for BlockRows() x BlockCols() FMAs.
constexpr int64_t BlockRows() {
#if HWY_TARGET <= HWY_AVX3  // 32 vector registers
  return 3;
#else
  return 2;
#endif
}
constexpr int64_t BlockCols() {
#if HWY_TARGET <= HWY_AVX3
  return 7;
#else
  return 4;
#endif
}

// Calls fn(begin, size) for ceil(n / max_size) chunks of [0, n) of sizes
// that differ by at most one (4 rows as 2 + 2, not 3 + 1).
template <class Fn>
HWY_INLINE void ForEachChunk(int64_t n, int64_t max_size, Fn&& fn) {
  const int64_t chunks = (n + max_size - 1) / max_size;
  for (int64_t i = 0, begin = 0; i < chunks; ++i) {
    const int64_t size = n / chunks + (i < n % chunks ? 1 : 0);
    fn(begin, size);
    begin += size;
  }
}

enum class LoadMode { kContiguous, kPermute, kGather };

template <typename T>
HWY_INLINE const T* Row(const TensorView& t, int64_t b, int64_t h, int64_t n) {
  return static_cast<const T*>(t.data) + b * t.strides[0] + h * t.strides[1] + n * t.strides[2];
}

// dst[dd * ld + x] = scale * float(src[x * stride + dd]) for x < n, dd <
// depth, and 0 for x in [n, ld) (ld a multiple of N): N x N blocks (N rows,
// N depth columns) transposed in registers (TransposeBlock); blocks at the
// row or depth tail are first copied, zero-padded, into a staging block.
template <typename T>
HWY_INLINE void TransposeRows(const T* HWY_RESTRICT src, int64_t stride, int64_t n, int64_t depth,
                              float scale, float* HWY_RESTRICT dst, int64_t ld) {
  const hn::ScalableTag<float> d;
  constexpr int64_t N = static_cast<int64_t>(hn::MaxLanes(d));
  const auto vscale = hn::Set(d, scale);
  HWY_ALIGN float stage[N * N];
  for (int64_t x0 = 0; x0 < n; x0 += N) {
    const int64_t nx = std::min(N, n - x0);
    // The rows two blocks ahead (past n they are the next line's, which is
    // usually packed next; prefetches do not fault, and the address is formed
    // as an integer, not as a pointer past the tensor).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(src) +
                            static_cast<uintptr_t>((x0 + 2 * N) * stride) * sizeof(T);
    for (int64_t i = 0; i < N; ++i) {
      const uintptr_t row = ahead + static_cast<uintptr_t>(i * stride) * sizeof(T);
      for (uintptr_t byte = 0; byte < static_cast<uintptr_t>(depth) * sizeof(T); byte += 64) {
        __builtin_prefetch(reinterpret_cast<const void*>(row + byte), 0, 3);
      }
    }
    for (int64_t d0 = 0; d0 < depth; d0 += N) {
      const int64_t w = std::min(N, depth - d0);
      if (nx == N && w == N) {
        TransposeBlock(d, src + x0 * stride + d0, stride, vscale, dst + d0 * ld + x0, ld);
        continue;
      }
      std::fill(stage, stage + N * N, 0.0f);
      for (int64_t i = 0; i < nx; ++i) {
        ConvertScaleRow(src + (x0 + i) * stride + d0, static_cast<size_t>(w), scale, stage + i * N);
      }
      if (w == N) {
        TransposeBlock(d, stage, N, hn::Set(d, 1.0f), dst + d0 * ld + x0, ld);
      } else {  // only w rows of the transposed block are in range
        HWY_ALIGN float out[N * N];
        TransposeBlock(d, stage, N, hn::Set(d, 1.0f), out, N);
        for (int64_t dd = 0; dd < w; ++dd) {
          hn::StoreU(hn::Load(d, out + dd * N), d, dst + (d0 + dd) * ld + x0);
        }
      }
    }
  }
  const int64_t padded = (n + N - 1) / N * N;  // [n, padded) zeroed above
  for (int64_t dd = 0; dd < depth; ++dd) {
    for (int64_t x = padded; x < ld; x += N) hn::StoreU(hn::Zero(d), d, dst + dd * ld + x);
  }
}

// K^T and V^T of one line of (b, g), in f32 (see neighborhood.h).
template <typename T>
void PackLineT(const LineArgs& a, const TensorView& k, const TensorView& v, int64_t b, int64_t g,
               int64_t line, float* kt, float* vt) {
  const Axis& lane = a.axes[static_cast<size_t>(a.rank - 1)];
  const int64_t ls = SubLength(lane, line % lane.dilation);
  float* HWY_RESTRICT kl = kt + (line % a.slots) * a.dqk * a.lp;
  float* HWY_RESTRICT vl = vt + (line % a.slots) * a.dv * a.lp;
  const int64_t n0 = TokenOf(a, line, 0);  // tokens n0 + x * dilation, x < ls
  TransposeRows(Row<T>(k, b, g, n0), lane.dilation * k.strides[2], ls, a.dqk, 1.0f, kl, a.lp);
  TransposeRows(Row<T>(v, b, g, n0), lane.dilation * v.strides[2], ls, a.dv, 1.0f, vl, a.lp);
}

// The packed row vector of window offset c for the N query lanes: row[start_i
// + c] (base = start_0; idx = start_i - base for kPermute, start_i for kGather).
template <LoadMode kMode, class D, class VI>
HWY_INLINE hn::Vec<D> LoadWindow(D d, const float* HWY_RESTRICT row, int64_t base, VI idx,
                                 int64_t c) {
  if constexpr (kMode == LoadMode::kContiguous) {
    return hn::LoadU(d, row + base + c);
  } else if constexpr (kMode == LoadMode::kPermute) {
    return hn::TableLookupLanes(hn::LoadU(d, row + base + c), hn::IndicesFromVec(d, idx));
  } else {
    return hn::GatherIndex(d, row + c, idx);
  }
}

// Calls fn(rows, cols) with 1 <= rows <= kMaxR, 1 <= cols <= kMaxC as
// compile-time constants (std::integral_constant<int64_t, ...>).
template <int64_t kMaxR, int64_t kMaxC, class Fn>
HWY_INLINE void VisitBlock(int64_t rows, int64_t cols, Fn&& fn) {
  if constexpr (kMaxR > 1) {
    if (rows < kMaxR) return VisitBlock<kMaxR - 1, kMaxC>(rows, cols, fn);
  }
  if constexpr (kMaxC > 1) {
    if (cols < kMaxC) return VisitBlock<kMaxR, kMaxC - 1>(rows, cols, fn);
  }
  fn(std::integral_constant<int64_t, kMaxR>(), std::integral_constant<int64_t, kMaxC>());
}

// Logits of window offsets [c0, c0 + kC) of one key line kl (K^T [dqk][lp])
// for kR tile rows (q[j]: row j's Q^T at the vector's first lane): stored at
// s[j] + c * N. The kR x kC accumulators stay in registers for all of dqk.
template <LoadMode kMode, int64_t kR, int64_t kC, class D, class VI>
HWY_INLINE void LogitsBlock(D d, const float* const* q, int64_t lp, int64_t dqk,
                            const float* HWY_RESTRICT kl, int64_t base, VI idx, int64_t c0,
                            float* const* s) {
  using V = hn::Vec<D>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  V acc[kR][kC];
  for (int64_t j = 0; j < kR; ++j) {
    for (int64_t c = 0; c < kC; ++c) acc[j][c] = hn::Zero(d);
  }
  for (int64_t dd = 0; dd < dqk; ++dd) {
    V kv[kC];
    for (int64_t c = 0; c < kC; ++c) {
      kv[c] = LoadWindow<kMode>(d, kl + dd * lp, base, idx, c0 + c);
      HoldInRegister(kv[c]);
    }
    for (int64_t j = 0; j < kR; ++j) {
      V qv = hn::LoadU(d, q[j] + dd * lp);
      HoldInRegister(qv);
      for (int64_t c = 0; c < kC; ++c) acc[j][c] = hn::MulAdd(qv, kv[c], acc[j][c]);
    }
  }
  for (int64_t j = 0; j < kR; ++j) {
    for (int64_t c = 0; c < kC; ++c) hn::StoreU(acc[j][c], d, s[j] + (c0 + c) * N);
  }
}

// The key lines of a tile: U (ascending) and, per key line u, the rows that
// read it — a run [row_begin, row_end) of consecutive rows, since windows are
// monotone in the row coordinate — and each such row's index o of u in its
// window (row j's logits of line u start at s_j + o K N).
struct TileKeys {
  int64_t n = 0;              // |U|
  int64_t* lines;             // [n]
  int64_t* slot;              // [n] lines[u] % slots: its place in the packed K^T / V^T
  int64_t* local;             // [n x kTileRows], -1 where the row does not read u
  int64_t* run;               // [n x 2] row_begin, row_end
  int64_t count[kTileRows];   // key lines per row
};

// O^T[e0, e0 + kE) = sum_{u, c < k} p_j[u][c] * V^T_u[e][start + c] for the
// kR rows j0 .. j0 + kR - 1 of the tile (o[j]: [dv][N]), over every key line
// u that any of them reads; a row that does not read u multiplies `zeros`
// (k x N floats) instead, so the kR x kE accumulators stay in registers over
// all lines and offsets and are stored once (for rank 2 and 2-row chunks,
// 2 of 16 (row, line) slots are such padding).
template <LoadMode kMode, int64_t kR, int64_t kE, class D, class VI>
HWY_INLINE void ValuesBlock(D d, const TileKeys& keys, int64_t j0, float* const* srow,
                            const float* zeros, int64_t k, const float* HWY_RESTRICT vt,
                            int64_t dv, int64_t lp, int64_t base, VI idx, int64_t e0,
                            float* const* o) {
  using V = hn::Vec<D>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  V acc[kR][kE];
  for (int64_t j = 0; j < kR; ++j) {
    for (int64_t e = 0; e < kE; ++e) acc[j][e] = hn::Zero(d);
  }
  for (int64_t u = 0; u < keys.n; ++u) {
    const int64_t* local = keys.local + u * kTileRows + j0;
    bool any = false;
    const float* p[kR];
    for (int64_t j = 0; j < kR; ++j) {
      any = any || local[j] >= 0;
      p[j] = local[j] >= 0 ? srow[j0 + j] + local[j] * k * N : zeros;
    }
    if (!any) continue;
    const float* HWY_RESTRICT vl = vt + (keys.slot[u] * dv + e0) * lp;
    for (int64_t c = 0; c < k; ++c) {
      V vv[kE];
      for (int64_t e = 0; e < kE; ++e) {
        vv[e] = LoadWindow<kMode>(d, vl + e * lp, base, idx, c);
        HoldInRegister(vv[e]);
      }
      for (int64_t j = 0; j < kR; ++j) {
        V pv = hn::LoadU(d, p[j] + c * N);
        HoldInRegister(pv);
        for (int64_t e = 0; e < kE; ++e) acc[j][e] = hn::MulAdd(pv, vv[e], acc[j][e]);
      }
    }
  }
  for (int64_t j = 0; j < kR; ++j) {
    for (int64_t e = 0; e < kE; ++e) hn::StoreU(acc[j][e], d, o[j0 + j] + (e0 + e) * N);
  }
}

// U and the local indices of a tile (see TileKeys). `per_row` holds
// kTileRows x outer_keys int64 (outer_keys = prod of the outer kernels).
template <int kRank>
void BuildTileKeys(const LineArgs& a, const LineTile& tile, int64_t outer_keys, int64_t* per_row,
                   TileKeys& keys) {
  int64_t pos[kTileRows];
  for (int64_t j = 0; j < kTileRows; ++j) {
    keys.count[j] = j < tile.rows
                        ? KeyLinesOf<kRank>(a, tile.line0 + j * tile.step, per_row + j * outer_keys)
                        : 0;
    pos[j] = 0;
  }
  keys.n = 0;
  for (;;) {  // k-way merge of the rows' ascending lists
    int64_t next = -1;
    for (int64_t j = 0; j < kTileRows; ++j) {
      if (pos[j] < keys.count[j]) {
        const int64_t l = per_row[j * outer_keys + pos[j]];
        next = next < 0 ? l : std::min(next, l);
      }
    }
    if (next < 0) break;
    keys.lines[keys.n] = next;
    keys.slot[keys.n] = next % a.slots;
    int64_t begin = kTileRows, end = 0;
    for (int64_t j = 0; j < kTileRows; ++j) {
      const bool has = pos[j] < keys.count[j] && per_row[j * outer_keys + pos[j]] == next;
      keys.local[keys.n * kTileRows + j] = has ? pos[j]++ : -1;
      if (has) {
        begin = std::min(begin, j);
        end = j + 1;
      }
    }
    for (int64_t j = begin; j < end; ++j) {  // monotone windows: no gaps
      HWY_DASSERT(keys.local[keys.n * kTileRows + j] >= 0);
    }
    keys.run[2 * keys.n] = begin;
    keys.run[2 * keys.n + 1] = end;
    ++keys.n;
  }
}

// Window geometry of one vector of N lanes x0 .. x0 + N - 1 along the lane
// axis, shared by every row of the tile.
struct LaneVector {
  int64_t nv;        // valid lanes
  int32_t base;      // start of lane 0
  LoadMode mode;
  bool full;         // every valid lane sees K keys along the lane axis
  int32_t starts[64], lens[64], offsets[64];  // N <= 16 lanes (64 for safety)
};

template <class D>
HWY_INLINE void SetUpLaneVector(D d, const Axis& lane, int64_t ls, int64_t x0, LaneVector& v) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(d)), k = lane.kernel;
  v.nv = std::min(N, ls - x0);
  v.full = true;
  for (int64_t i = 0; i < N; ++i) {
    const Window w = AxisWindow(lane, ls, std::min(x0 + i, ls - 1));
    v.starts[i] = static_cast<int32_t>(w.start);
    v.lens[i] = static_cast<int32_t>(w.end - w.start);
    v.full = v.full && (i >= v.nv || v.lens[i] == k);
  }
  v.base = v.starts[0];
  bool contiguous = true, permute = true;
  for (int64_t i = 0; i < v.nv; ++i) {
    contiguous = contiguous && v.starts[i] == v.base + i;
    permute = permute && v.starts[i] - v.base >= 0 && v.starts[i] - v.base < N;
  }
  for (int64_t i = v.nv; i < N; ++i) {  // padding lanes: harmless, in-range reads
    v.starts[i] = contiguous ? v.base + static_cast<int32_t>(i) : v.starts[v.nv - 1];
  }
  v.mode = contiguous ? LoadMode::kContiguous : permute ? LoadMode::kPermute : LoadMode::kGather;
  for (int64_t i = 0; i < N; ++i) v.offsets[i] = permute ? v.starts[i] - v.base : v.starts[i];
}

// Calls fn(mode_tag) with the LoadMode as a compile-time constant.
template <class Fn>
HWY_INLINE void VisitLoadMode(LoadMode mode, Fn&& fn) {
  using C = LoadMode;
  if (mode == C::kContiguous) return fn(std::integral_constant<C, C::kContiguous>());
  if (mode == C::kPermute) return fn(std::integral_constant<C, C::kPermute>());
  fn(std::integral_constant<C, C::kGather>());
}

// Softmax of row j's logits s[n_keys x N] in place, vectorised over the N
// queries; -inf first where c >= len (causal lane windows). Returns m, l.
template <class D>
HWY_INLINE void RowSoftmax(D d, const LaneVector& lv, int64_t k, int64_t n_keys,
                           float* HWY_RESTRICT s, float* ms, float* ls_sum) {
  const hn::RebindToSigned<D> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  if (!lv.full) {
    const auto len = hn::ConvertTo(d, hn::LoadU(di, lv.lens));
    for (int64_t key = 0; key < n_keys; ++key) {
      const auto c = hn::Set(d, static_cast<float>(key % k));
      float* sk = s + key * N;
      hn::StoreU(hn::IfThenElse(hn::Lt(c, len), hn::LoadU(d, sk), hn::Set(d, kNegInf)), d, sk);
    }
  }
  auto m = hn::Set(d, kNegInf);
  for (int64_t key = 0; key < n_keys; ++key) m = hn::Max(m, hn::LoadU(d, s + key * N));
  auto l0 = hn::Zero(d), l1 = hn::Zero(d);  // two chains hide the add latency
  int64_t key = 0;
  for (; key + 2 <= n_keys; key += 2) {
    const auto p0 = Exp2(d, hn::Sub(hn::LoadU(d, s + key * N), m));
    const auto p1 = Exp2(d, hn::Sub(hn::LoadU(d, s + (key + 1) * N), m));
    hn::StoreU(p0, d, s + key * N);
    hn::StoreU(p1, d, s + (key + 1) * N);
    l0 = hn::Add(l0, p0);
    l1 = hn::Add(l1, p1);
  }
  if (key < n_keys) {
    const auto p = Exp2(d, hn::Sub(hn::LoadU(d, s + key * N), m));
    hn::StoreU(p, d, s + key * N);
    l0 = hn::Add(l0, p);
  }
  hn::StoreU(m, d, ms);
  hn::StoreU(hn::Add(l0, l1), d, ls_sum);
}

// The input and output dtypes are runtime values here (only the Q transpose
// and the output stores depend on them), so the micro-kernels are instantiated
// once per rank, not once per (rank, input, output dtype).
template <int kRank>
void ProcessTile(const LineArgs& a, int64_t b, int64_t h, const LineTile& tile, float* scratch) {
  const ScopedFlushDenormals flush;
  // Lanes of the full vector: the scratch layout's stride (an 8-lane tail
  // pass uses the first half of each slot).
  constexpr int64_t kLanes = static_cast<int64_t>(hn::MaxLanes(hn::ScalableTag<float>()));
  constexpr int64_t kRows = BlockRows();
  constexpr int64_t kCols = BlockCols();
  const Axis& lane = a.axes[kRank - 1];
  const int64_t rho = tile.line0 % lane.dilation;
  const int64_t ls = SubLength(lane, rho), k = lane.kernel, dqk = a.dqk, dv = a.dv, lp = a.lp;

  // Scratch (LineScratchFloats): Q^T [R][dqk x lp] | S [R][K^rank x N] | O^T
  // [R][dv x N] | zeros [K_lane x N] | int64 key-line tables.
  int64_t max_keys = 1, outer_keys = 1;
  for (int i = 0; i < kRank; ++i) max_keys *= a.axes[static_cast<size_t>(i)].kernel;
  for (int i = 0; i + 1 < kRank; ++i) outer_keys *= a.axes[static_cast<size_t>(i)].kernel;
  float* HWY_RESTRICT qt = scratch;
  float* HWY_RESTRICT s = qt + kTileRows * dqk * lp;
  float* HWY_RESTRICT ot = s + kTileRows * max_keys * kLanes;
  // int64_t tables need 8-byte alignment; a worker's scratch may start at an
  // odd float (LineScratchFloats leaves 16 floats of slack for this).
  float* HWY_RESTRICT zeros = ot + kTileRows * dv * kLanes;  // P V of rows that skip a line
  std::fill(zeros, zeros + k * kLanes, 0.0f);
  float* idx_base = zeros + k * kLanes;
  idx_base += (reinterpret_cast<uintptr_t>(idx_base) / sizeof(float)) & 1;
  int64_t* per_row = reinterpret_cast<int64_t*>(idx_base);
  TileKeys keys;
  keys.lines = per_row + kTileRows * outer_keys;
  keys.slot = keys.lines + kTileRows * outer_keys;
  keys.local = keys.slot + kTileRows * outer_keys;
  keys.run = keys.local + kTileRows * kTileRows * outer_keys;
  BuildTileKeys<kRank>(a, tile, outer_keys, per_row, keys);

  // Q^T of each row line, scaled into base-2 logit units; padding columns 0.
  for (int64_t j = 0; j < tile.rows; ++j) {
    const int64_t line = tile.line0 + j * tile.step;
    float* HWY_RESTRICT qj = qt + j * dqk * lp;
    VisitStorageType(a.q.dtype, [&](auto in_tag) {
      using T = decltype(in_tag);
      TransposeRows(Row<T>(a.q, b, h, TokenOf(a, line, 0)), lane.dilation * a.q.strides[2], ls,
                    dqk, a.scale_log2, qj, lp);
    });
  }

  float* srow[kTileRows];
  float* orow[kTileRows];
  for (int64_t j = 0; j < kTileRows; ++j) {
    srow[j] = j < tile.rows ? s + j * max_keys * kLanes : nullptr;
    orow[j] = j < tile.rows ? ot + j * dv * kLanes : nullptr;
  }
  // One vector of lanes x0 .. x0 + Lanes(d) - 1 of every row: d is the full
  // vector, or on AVX-512 an 8-lane half for a lane-axis tail of at most 8
  // (56 = 16 + 16 + 16 + 8: no FMAs on 8 padding lanes).
  LaneVector lv;
  const auto vector_pass = [&](auto d, int64_t x0) {
    using DV = decltype(d);
    const hn::RebindToSigned<DV> di;
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    SetUpLaneVector(d, lane, ls, x0, lv);
    const auto idx = hn::LoadU(di, lv.offsets);
    VisitLoadMode(lv.mode, [&](auto mode_tag) {
      constexpr LoadMode kMode = decltype(mode_tag)::value;
      // Logits of every key line of U for the rows that read it.
      for (int64_t u = 0; u < keys.n; ++u) {
        const int64_t j0 = keys.run[2 * u], rows = keys.run[2 * u + 1] - j0;
        const float* kl = a.kt + keys.slot[u] * dqk * lp;
        ForEachChunk(rows, kRows, [&](int64_t r0, int64_t nr) {
          const float* qj[kTileRows];
          float* sj[kTileRows];
          for (int64_t j = 0; j < nr; ++j) {
            const int64_t row = j0 + r0 + j;
            qj[j] = qt + row * dqk * lp + x0;
            sj[j] = srow[row] + keys.local[u * kTileRows + row] * k * N;
          }
          ForEachChunk(k, kCols, [&](int64_t c0, int64_t nc) {
            VisitBlock<kRows, kCols>(nr, nc, [&](auto r_tag, auto c_tag) {
              LogitsBlock<kMode, decltype(r_tag)::value, decltype(c_tag)::value>(
                  d, qj, lp, dqk, kl, lv.base, idx, c0, sj);
            });
          });
        });
      }
      float ms[kTileRows][64], lsum[kTileRows][64];  // N <= 16 lanes (64 for safety)
      for (int64_t j = 0; j < tile.rows; ++j) {
        RowSoftmax(d, lv, k, keys.count[j] * k, srow[j], ms[j], lsum[j]);
      }
      // P V, a chunk of up to kRows tile rows over all the lines they read.
      ForEachChunk(tile.rows, kRows, [&](int64_t r0, int64_t nr) {
        ForEachChunk(dv, kCols, [&](int64_t e0, int64_t ne) {
          VisitBlock<kRows, kCols>(nr, ne, [&](auto r_tag, auto e_tag) {
            ValuesBlock<kMode, decltype(r_tag)::value, decltype(e_tag)::value>(
                d, keys, r0, srow, zeros, k, a.vt, dv, lp, lv.base, idx, e0, orow);
          });
        });
      });
      // O^T / l -> output rows (and LSE): lane i's row is column i of O^T,
      // N value dims at a time by an N x N register transpose.
      for (int64_t j = 0; j < tile.rows; ++j) {
        const int64_t line = tile.line0 + j * tile.step;
        const auto inv = hn::Div(hn::Set(d, 1.0f), hn::LoadU(d, lsum[j]));
        const float* HWY_RESTRICT oj = orow[j];
        void* out[64];  // N <= 16 lanes (64 for safety)
        const int64_t n0 = TokenOf(a, line, x0);
        for (int64_t i = 0; i < lv.nv; ++i) {
          const int64_t n = n0 + i * lane.dilation;
          out[i] = static_cast<unsigned char*>(a.out.data) +
                   (b * a.out.strides[0] + h * a.out.strides[1] + n * a.out.strides[2]) *
                       static_cast<int64_t>(SizeOf(a.out.dtype));
          if (a.lse.data != nullptr) {
            float* lse = static_cast<float*>(a.lse.data) + b * a.lse.strides[0] +
                         h * a.lse.strides[1] + n * a.lse.strides[2];
            *lse = (ms[j][i] + std::log2(lsum[j][i])) * kLn2;
          }
        }
        // Rows of lane i: tokens n0 + i * dilation, out_stride elements apart.
        const int64_t out_stride = lane.dilation * a.out.strides[2];
        int64_t e0 = 0;
        if (a.out.dtype == DType::kF32 && lv.nv == N) {
          for (; e0 + N <= dv; e0 += N) {
            TransposeBlock(d, oj + e0 * N, N, inv, static_cast<float*>(out[0]) + e0, out_stride);
          }
        }
        HWY_ALIGN float block[hn::MaxLanes(d) * hn::MaxLanes(d)];
        for (; e0 + N <= dv; e0 += N) {  // partial vectors or other output dtypes
          TransposeBlock(d, oj + e0 * N, N, inv, block, N);
          for (int64_t i = 0; i < lv.nv; ++i) {
            for (int64_t e = 0; e < N; ++e) StoreFromF32(out[i], a.out.dtype, e0 + e, block[i * N + e]);
          }
        }
        HWY_ALIGN float inv_lanes[hn::MaxLanes(d)];
        hn::Store(inv, d, inv_lanes);
        for (int64_t i = 0; i < lv.nv; ++i) {
          for (int64_t e = e0; e < dv; ++e) {
            StoreFromF32(out[i], a.out.dtype, e, oj[e * N + i] * inv_lanes[i]);
          }
        }
      }
    });
  };
  for (int64_t x0 = 0; x0 < ls; x0 += kLanes) {
    if constexpr (kLanes >= 16) {
      if (ls - x0 <= 8) {
        vector_pass(hn::CappedTag<float, 8>(), x0);
        break;
      }
    }
    vector_pass(hn::ScalableTag<float>(), x0);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::local
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
