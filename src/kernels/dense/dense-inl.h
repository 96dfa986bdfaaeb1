// SPDX-License-Identifier: Apache-2.0
// SIMD body of the tiled FlashAttention-2 forward kernel (per-target Highway
// code, included by dense.cc once per target). See dense.h for the phases.
//
// Per work item (sequence s, KV head g, query tile of block_q positions; the
// tile's rows are the positions of every query head of g's GQA group):
//   Qs  = scale * log2(e) * Q[rows]              [group*block_q x Dqk] f32, so
//                                                logits are in base-2 units
//   for each key tile J that the mask leaves (partly) visible:
//     S   = Qs · K^T_J                           [block_q x block_k]
//     S   = modifiers(S)                         soft-cap, ALiBi, bias
//     S   = -inf outside the mask                only on tiles cut by the mask
//     (m, l, acc) <- online softmax step         src/simd/online_softmax-inl.h
//     acc += P · V_J                             [block_q x dv_pad]
//   O = acc / l, LSE = m + log l                 (O = 0, LSE = -inf if no key)
// Tiles fully outside the mask are never touched (causal halves the work).

#if defined(ATTNKIT_KERNELS_DENSE_DENSE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_DENSE_DENSE_INL_H_
#undef ATTNKIT_KERNELS_DENSE_DENSE_INL_H_
#else
#define ATTNKIT_KERNELS_DENSE_DENSE_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "hwy/highway.h"
#include "src/kernels/dense/dense.h"
#include "src/kernels/dense/score_modifiers-inl.h"
#include "src/simd/convert-inl.h"
#include "src/simd/flush_denormals.h"
#include "src/simd/online_softmax-inl.h"
#include "src/simd/storage_types.h"
#include "src/simd/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::dense {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Element pointer of row `n` of head `head` of a [B, H, N, D] view.
template <typename T>
HWY_INLINE T* RowPtr(const TensorView& t, int64_t batch, int64_t head, int64_t n) {
  return static_cast<T*>(t.data) + batch * t.strides[0] + head * t.strides[1] + n * t.strides[2];
}

// Packed K^T / V tile t of KV head g of sequence s (see DenseArgs).
HWY_INLINE float* KTile(const DenseArgs& a, const Sequence& s, int64_t g, int64_t t) {
  return a.packed_k + s.packed_k_offset + (g * CeilDiv(s.nk, a.block_k) + t) * a.k_tile_words;
}
HWY_INLINE float* VTile(const DenseArgs& a, const Sequence& s, int64_t g, int64_t t) {
  return a.packed_v + s.packed_v_offset + (g * CeilDiv(s.nk, a.block_k) + t) * a.v_tile_words;
}

// Packs key tile `k_tile` of (seq, kv_head) as K^T [dqk x block_k] in f32,
// zero-filling the columns past the last key.
template <typename T>
void PackKTile(const DenseArgs& a, const PackItem& it) {
  const Sequence& s = a.seqs[it.seq];
  const int64_t bk = a.block_k, j0 = it.k_tile * bk;
  const int64_t cols = std::min(bk, s.nk - j0);
  float* HWY_RESTRICT dst = KTile(a, s, it.kv_head, it.k_tile);
  const T* src = RowPtr<const T>(a.k, s.batch_index, it.kv_head, s.k_offset + j0);
  const int64_t row_stride = a.k.strides[2];
  int64_t c0 = 0;
  if constexpr (std::is_same_v<T, float>) {
    // f32: one gather collects element dd of Lanes consecutive keys.
    const hn::ScalableTag<float> d;
    const hn::RebindToSigned<decltype(d)> di;
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    if (row_stride * N < (int64_t{1} << 31)) {
      const auto idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(row_stride)));
      for (; c0 + N <= cols; c0 += N) {
        const float* col = src + c0 * row_stride;
        for (int64_t dd = 0; dd < a.dqk; ++dd) {
          hn::StoreU(hn::GatherIndex(d, col + dd, idx), d, dst + dd * bk + c0);
        }
      }
    }
  }
  // Other dtypes and the last keys: 16 keys at a time, 16 sequential read
  // streams and contiguous 64-byte writes.
  for (; c0 < cols; c0 += kPad) {
    const int64_t c1 = std::min(cols, c0 + kPad);
    for (int64_t dd = 0; dd < a.dqk; ++dd) {
      float* HWY_RESTRICT out = dst + dd * bk;
      for (int64_t c = c0; c < c1; ++c) out[c] = ToF32(src[c * row_stride + dd]);
    }
  }
  if (cols < bk) {
    for (int64_t dd = 0; dd < a.dqk; ++dd) std::fill(dst + dd * bk + cols, dst + (dd + 1) * bk, 0.0f);
  }
}

// Packs value tile `k_tile` of (seq, kv_head) as f32 [block_k x dv_pad] with
// zero padding columns; rows past the last key are never read.
template <typename T>
void PackVTile(const DenseArgs& a, const PackItem& it) {
  const Sequence& s = a.seqs[it.seq];
  const int64_t bk = a.block_k, j0 = it.k_tile * bk;
  const int64_t cols = std::min(bk, s.nk - j0);
  float* HWY_RESTRICT dst = VTile(a, s, it.kv_head, it.k_tile);
  for (int64_t c = 0; c < cols; ++c) {
    const T* src = RowPtr<const T>(a.v, s.batch_index, it.kv_head, s.k_offset + j0 + c);
    float* row = dst + c * a.dv_pad;
    ConvertScaleRow(src, static_cast<size_t>(a.dv), 1.0f, row);
    std::fill(row + a.dv, row + a.dv_pad, 0.0f);
  }
}

// Sets s[c] = -inf for keys outside [lo, hi] (tile-local, inclusive) and for
// the padding columns [cols, width).
HWY_INLINE void MaskRow(float* s, int64_t lo, int64_t hi, size_t cols, size_t width) {
  const int64_t n = static_cast<int64_t>(cols);
  lo = std::clamp<int64_t>(lo, 0, n);
  hi = std::clamp<int64_t>(hi + 1, lo, n);  // exclusive
  std::fill(s, s + lo, kNegInf);
  std::fill(s + hi, s + width, kNegInf);
}

// Writes row r of the output: acc / l in the output dtype, and its LSE.
template <typename TOut>
void StoreOutputRow(const DenseArgs& a, const Sequence& s, int64_t head, int64_t row,
                    const float* acc, float m, float l) {
  TOut* out = RowPtr<TOut>(a.out, s.batch_index, head, s.q_offset + row);
  const bool empty = (m == kNegInf);  // no visible key (and no sink)
  const float inv = empty ? 0.0f : 1.0f / l;
  if constexpr (std::is_same_v<TOut, float>) {
    const hn::ScalableTag<float> d;
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    const auto vinv = hn::Set(d, inv);
    int64_t c = 0;
    if (empty) {
      std::fill(out, out + a.dv, 0.0f);
    } else {
      for (; c + N <= a.dv; c += N) hn::StoreU(hn::Mul(hn::LoadU(d, acc + c), vinv), d, out + c);
      for (; c < a.dv; ++c) out[c] = acc[c] * inv;
    }
  } else {
    for (int64_t c = 0; c < a.dv; ++c) {
      StoreFromF32(out, a.out.dtype, c, empty ? 0.0f : acc[c] * inv);
    }
  }
  if (a.lse.data != nullptr) {
    float* lse = static_cast<float*>(a.lse.data) + s.batch_index * a.lse.strides[0] +
                 head * a.lse.strides[1] + (s.q_offset + row) * a.lse.strides[2];
    *lse = empty ? kNegInf : (m + std::log2(l)) * kLn2;  // back to natural units
  }
}

// The state of one query tile while it walks its key tiles: all `group` query
// heads of KV head `kv_head` for the query positions [i0, i0 + rows) of one
// sequence. Tile rows are head-major: row rr is query head h0 + rr / rows at
// position i0 + rr % rows, so every K^T and V tile is loaded once for the
// whole GQA group. The three steps (InitQueryTile, ProcessKeyTile,
// FinishQueryTile) are shared by the dense kernel (every visible key tile) and
// the block-sparse kernel (the key tiles its block mask keeps).
struct QueryTileState {
  const Sequence* seq;
  int64_t kv_head, h0, i0, rows;  // rows: query positions of this tile
  size_t nrows;                   // tile rows = group x rows
  int64_t pmin, pmax;             // absolute positions of the first and last position
  float* qs;                      // [cap x ldq]  Q rows, as the products want them
  float* st;                      // [cap x bk]   logits, then probabilities
  float* acc;                     // [cap x dvp]  unnormalised output
  float* m;                       // [cap_pad]    running max (base 2)
  float* l;                       // [cap_pad]    running sum
  float* alpha;                   // [cap_pad]    rescale factor of the current key tile
};

// The two products of a tile, as a policy (see dense.h, Products):
//   kScaledLogits          whether QK already applies scale x log2 e
//   LoadQRow(a, src, dst)  one Q row into the tile's Q buffer
//   QK(a, ts, t, width)    ts.st = Q K^T of key tile t (width columns)
//   PV(a, ts, t, cols)     ts.acc += P (in ts.st) x V of key tile t
// F32Products: exact f32 FMAs for every input dtype. Bf16Products (AVX512-BF16)
// is in dense_bf16-inl.h.
struct F32Products {
  // Q rows are stored f32, unscaled: S = Q K^T is exactly what a naive f32
  // implementation computes; the scale (x log2 e) is applied afterwards.
  static constexpr bool kScaledLogits = false;
  template <typename T>
  static void LoadQRow(const DenseArgs& a, const T* src, float* dst) {
    ConvertScaleRow(src, static_cast<size_t>(a.dqk), 1.0f, dst);
  }
  static void QK(const DenseArgs& a, QueryTileState& ts, int64_t t, size_t width) {
    const size_t ldq = static_cast<size_t>(RoundUp(a.dqk, kPad)), ldk = static_cast<size_t>(a.block_k);
    TileGemm</*kAccumulate=*/false>(ts.qs, ldq, KTile(a, *ts.seq, ts.kv_head, t), ldk, ts.nrows,
                                    static_cast<size_t>(a.dqk), width, ts.st, ldk, a.l1_floats);
  }
  static void PV(const DenseArgs& a, QueryTileState& ts, int64_t t, size_t cols) {
    const Sequence& s = *ts.seq;
    const size_t dvp = static_cast<size_t>(a.dv_pad);
    const float* vt;
    size_t ldv;
    if (a.packed_v != nullptr) {
      vt = VTile(a, s, ts.kv_head, t);
      ldv = dvp;
    } else {  // f32 V with dv == dv_pad, read in place
      vt = RowPtr<const float>(a.v, s.batch_index, ts.kv_head, s.k_offset + t * a.block_k);
      ldv = static_cast<size_t>(a.v.strides[2]);
    }
    TileGemm</*kAccumulate=*/true>(ts.st, static_cast<size_t>(a.block_k), vt, ldv, ts.nrows, cols,
                                   dvp, ts.acc, dvp, a.l1_floats);
  }
};

// Loads Q and resets the row states. A learned sink is a virtual key with
// logit sink[h] and value 0: it starts the row state at m = sink, l = 1.
// `scratch` holds ScratchFloats(block_q * group, ...) floats owned by this worker.
template <typename T, class Products>
QueryTileState InitQueryTile(const DenseArgs& a, const Sequence& s, int64_t kv_head,
                             int64_t q_tile, float* HWY_RESTRICT scratch) {
  const int64_t group = a.group, bq = a.block_q;
  const int64_t cap = group * bq, cap_pad = RoundUp(cap, kPad);
  const size_t ldq = static_cast<size_t>(RoundUp(a.dqk, kPad));
  QueryTileState ts;
  ts.seq = &s;
  ts.kv_head = kv_head;
  ts.h0 = kv_head * group;
  ts.i0 = q_tile * bq;
  ts.rows = std::min(bq, s.nq - ts.i0);
  ts.nrows = static_cast<size_t>(group * ts.rows);
  ts.pmin = s.nk - s.nq + ts.i0;
  ts.pmax = ts.pmin + ts.rows - 1;
  ts.qs = scratch;
  ts.st = ts.qs + cap * static_cast<int64_t>(ldq);
  ts.acc = ts.st + cap * a.block_k;
  ts.m = ts.acc + cap * a.dv_pad;
  ts.l = ts.m + cap_pad;
  ts.alpha = ts.l + cap_pad;

  const bool has_sink = a.sinks.data != nullptr;
  for (int64_t hh = 0; hh < group; ++hh) {
    const int64_t h = ts.h0 + hh;
    for (int64_t r = 0; r < ts.rows; ++r) {
      Products::LoadQRow(a, RowPtr<const T>(a.q, s.batch_index, h, s.q_offset + ts.i0 + r),
                         ts.qs + (hh * ts.rows + r) * static_cast<int64_t>(ldq));
    }
    const float sink =
        has_sink ? kLog2e * LoadAsF32(a.sinks.data, a.sinks.dtype, h * a.sinks.strides[0]) : kNegInf;
    std::fill(ts.m + hh * ts.rows, ts.m + (hh + 1) * ts.rows, sink);
    std::fill(ts.l + hh * ts.rows, ts.l + (hh + 1) * ts.rows, has_sink ? 1.0f : 0.0f);
  }
  std::fill(ts.m + ts.nrows, ts.m + cap_pad, kNegInf);  // lanes past the last row
  std::fill(ts.l + ts.nrows, ts.l + cap_pad, 0.0f);
  std::fill(ts.acc, ts.acc + ts.nrows * static_cast<size_t>(a.dv_pad), 0.0f);
  return ts;
}

// Key tiles [first, end) that the mask leaves (partly) visible to the tile:
// the union of its positions' windows.
struct KeyTileRange {
  int64_t first, end;
};
HWY_INLINE KeyTileRange VisibleKeyTiles(const DenseArgs& a, const QueryTileState& ts) {
  const int64_t nk = ts.seq->nk, bk = a.block_k;
  const int64_t left = a.window_left, right = a.window_right;
  const int64_t lo = left == kUnbounded ? 0 : std::max<int64_t>(0, ts.pmin - left);
  const int64_t hi = right == kUnbounded ? nk : std::min<int64_t>(nk, ts.pmax + right + 1);
  if (lo >= hi) return {0, 0};
  return {lo / bk, CeilDiv(hi, bk)};
}

// One online-softmax step over key tile t: S = Qs K^T_t, score modifiers, the
// mask where it cuts the tile, the rescale of the accumulator, acc += P V_t.
template <class Products>
HWY_INLINE void ProcessKeyTile(const DenseArgs& a, QueryTileState& ts, int64_t t) {
  const Sequence& s = *ts.seq;
  const int64_t bk = a.block_k, j0 = t * bk;
  const size_t cols = static_cast<size_t>(std::min(bk, s.nk - j0));
  const size_t dvp = static_cast<size_t>(a.dv_pad), ldk = static_cast<size_t>(bk);
  const int64_t left = a.window_left, right = a.window_right;
  // Fully visible for every row of the tile: no mask work at all.
  const bool full = (left == kUnbounded || j0 >= ts.pmax - left) &&
                    (right == kUnbounded || j0 + static_cast<int64_t>(cols) - 1 <= ts.pmin + right);
  // Only the lane-padded width of the last tile is computed, not all of block_k.
  const size_t width = static_cast<size_t>(RoundUp(static_cast<int64_t>(cols), kPad));
  Products::QK(a, ts, t, width);

  // Base-2 logits are qk_scale x S. The softmax applies a positive scale for
  // free (max commutes with it); score modifiers, or a zero or negative scale,
  // need the scaled logits first (before any -inf of the mask is written).
  const float qk_scale = Products::kScaledLogits ? 1.0f : a.scale * kLog2e;
  const bool modifiers = ScoreModifiers::AnyEnabled(a);
  const bool prescale = qk_scale != 1.0f && (modifiers || !(qk_scale > 0.0f));
  if (prescale || modifiers || !full || cols < width) {
    for (size_t rr = 0; rr < ts.nrows; ++rr) {
      float* srow = ts.st + rr * ldk;
      const int64_t hh = static_cast<int64_t>(rr) / ts.rows, r = static_cast<int64_t>(rr) % ts.rows;
      const int64_t pos = ts.pmin + r;
      if (prescale) ScaleRow(srow, width, qk_scale);
      if (modifiers) {
        ScoreModifiers::Apply(
            a, RowContext{s.batch_index, ts.h0 + hh, ts.i0 + r, pos, j0, cols, width}, srow);
      }
      if (!full) {
        MaskRow(srow, left == kUnbounded ? 0 : pos - left - j0,
                right == kUnbounded ? bk : pos + right - j0, cols, width);
      } else if (cols < width) {
        std::fill(srow + cols, srow + width, kNegInf);
      }
    }
  }
  OnlineSoftmaxTile(ts.st, ts.nrows, ldk, width, prescale ? 1.0f : qk_scale, ts.m, ts.l,
                    ts.alpha);
  for (size_t rr = 0; rr < ts.nrows; ++rr) {
    if (ts.alpha[rr] != 1.0f) ScaleRow(ts.acc + rr * dvp, dvp, ts.alpha[rr]);
  }

  Products::PV(a, ts, t, cols);
}

// Normalises and stores every row of the tile (O = acc / l, LSE), in the
// output dtype.
HWY_INLINE void FinishQueryTile(const DenseArgs& a, const QueryTileState& ts) {
  const int64_t dvp = a.dv_pad;
  VisitStorageType(a.out.dtype, [&](auto out_tag) {
    using TOut = decltype(out_tag);
    for (size_t rr = 0; rr < ts.nrows; ++rr) {
      const int64_t hh = static_cast<int64_t>(rr) / ts.rows, r = static_cast<int64_t>(rr) % ts.rows;
      StoreOutputRow<TOut>(a, *ts.seq, ts.h0 + hh, ts.i0 + r,
                           ts.acc + static_cast<int64_t>(rr) * dvp, ts.m[rr], ts.l[rr]);
    }
  });
}

// One dense work item: every visible key tile, in order. Runs with subnormals
// flushed (see ScopedFlushDenormals).
template <typename T, class Products = F32Products>
void QueryTile(const DenseArgs& a, const WorkItem& w, float* HWY_RESTRICT scratch) {
  const ScopedFlushDenormals flush;
  QueryTileState ts = InitQueryTile<T, Products>(a, a.seqs[w.seq], w.kv_head, w.q_tile, scratch);
  const KeyTileRange range = VisibleKeyTiles(a, ts);
  for (int64_t t = range.first; t < range.end; ++t) ProcessKeyTile<Products>(a, ts, t);
  FinishQueryTile(a, ts);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::dense
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_DENSE_DENSE_INL_H_
