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

// Packs key tile `k_tile` of (seq, kv_head) as K^T [dqk x block_k] in f32,
// zero-filling the columns past the last key.
template <typename T>
void PackKTile(const DenseArgs& a, const PackItem& it) {
  const Sequence& s = a.seqs[it.seq];
  const int64_t bk = a.block_k, j0 = it.k_tile * bk;
  const int64_t cols = std::min(bk, s.nk - j0);
  float* HWY_RESTRICT dst = a.packed_k + s.packed_k_offset +
                            (it.kv_head * CeilDiv(s.nk, bk) + it.k_tile) * a.dqk * bk;
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
  float* HWY_RESTRICT dst = a.packed_v + s.packed_v_offset +
                            (it.kv_head * CeilDiv(s.nk, bk) + it.k_tile) * bk * a.dv_pad;
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

// One work item: all `group` query heads of KV head w.kv_head for the query
// positions [i0, i0 + rows) of one sequence. Its tile rows are head-major:
// row rr is query head h0 + rr / rows at position i0 + rr % rows, so every K^T
// and V tile is loaded once for the whole GQA group. `scratch` holds
// ScratchFloats(block_q * group, ...) floats owned by this worker.
template <typename T>
void QueryTile(const DenseArgs& a, const WorkItem& w, float* HWY_RESTRICT scratch) {
  const Sequence& s = a.seqs[w.seq];
  const int64_t g = w.kv_head, group = a.group, h0 = g * group;
  const int64_t bq = a.block_q, bk = a.block_k, i0 = w.q_tile * bq;
  const int64_t rows = std::min(bq, s.nq - i0);  // query positions of this tile
  const size_t nrows = static_cast<size_t>(group * rows);  // tile rows
  const int64_t cap = group * bq, cap_pad = RoundUp(cap, kPad);
  const size_t dqk = static_cast<size_t>(a.dqk), ldq = static_cast<size_t>(RoundUp(a.dqk, kPad));
  const size_t dvp = static_cast<size_t>(a.dv_pad), ldk = static_cast<size_t>(bk);
  float* HWY_RESTRICT qs = scratch;             // [cap x ldq]
  float* HWY_RESTRICT st = qs + cap * ldq;      // [cap x bk] logits, then probabilities
  float* HWY_RESTRICT acc = st + cap * bk;      // [cap x dvp]
  float* HWY_RESTRICT m = acc + cap * dvp;      // [cap_pad] running max (base 2)
  float* HWY_RESTRICT l = m + cap_pad;          // [cap_pad] running sum
  float* HWY_RESTRICT alpha = l + cap_pad;      // [cap_pad] rescale factor of this tile

  // Q rows scaled into base-2 logit units. A learned sink is a virtual key with
  // logit sink[h] and value 0: it starts the row state at m = sink, l = 1.
  const bool has_sink = a.sinks.data != nullptr;
  for (int64_t hh = 0; hh < group; ++hh) {
    const int64_t h = h0 + hh;
    for (int64_t r = 0; r < rows; ++r) {
      ConvertScaleRow(RowPtr<const T>(a.q, s.batch_index, h, s.q_offset + i0 + r), dqk,
                      a.scale * kLog2e, qs + (hh * rows + r) * ldq);
    }
    const float sink =
        has_sink ? kLog2e * LoadAsF32(a.sinks.data, a.sinks.dtype, h * a.sinks.strides[0]) : kNegInf;
    std::fill(m + hh * rows, m + (hh + 1) * rows, sink);
    std::fill(l + hh * rows, l + (hh + 1) * rows, has_sink ? 1.0f : 0.0f);
  }
  std::fill(m + nrows, m + cap_pad, kNegInf);  // lanes past the last row
  std::fill(l + nrows, l + cap_pad, 0.0f);
  std::fill(acc, acc + nrows * dvp, 0.0f);

  // Visible keys of the tile's positions pmin..pmax: the union of their
  // windows is [lo, hi).
  const int64_t pmin = s.nk - s.nq + i0, pmax = pmin + rows - 1;
  const int64_t left = a.window_left, right = a.window_right;
  const int64_t lo = left == kUnbounded ? 0 : std::max<int64_t>(0, pmin - left);
  const int64_t hi = right == kUnbounded ? s.nk : std::min<int64_t>(s.nk, pmax + right + 1);
  const bool modifiers = ScoreModifiers::AnyEnabled(a);
  const int64_t num_tiles = CeilDiv(s.nk, bk);

  for (int64_t t = lo / bk; t * bk < hi; ++t) {
    const int64_t j0 = t * bk;
    const size_t cols = static_cast<size_t>(std::min(bk, s.nk - j0));
    // Fully visible for every row of the tile: no mask work at all.
    const bool full = (left == kUnbounded || j0 >= pmax - left) &&
                      (right == kUnbounded || j0 + static_cast<int64_t>(cols) - 1 <= pmin + right);

    // Only the lane-padded width of the last tile is computed, not all of block_k.
    const size_t width = static_cast<size_t>(RoundUp(static_cast<int64_t>(cols), kPad));
    const float* kt = a.packed_k + s.packed_k_offset + (g * num_tiles + t) * a.dqk * bk;
    TileGemm</*kAccumulate=*/false>(qs, ldq, kt, ldk, nrows, dqk, width, st, ldk, a.l1_floats);

    if (modifiers || !full || cols < width) {
      for (size_t rr = 0; rr < nrows; ++rr) {
        float* srow = st + rr * ldk;
        const int64_t hh = static_cast<int64_t>(rr) / rows, r = static_cast<int64_t>(rr) % rows;
        const int64_t pos = pmin + r;
        if (modifiers) {
          ScoreModifiers::Apply(a, RowContext{s.batch_index, h0 + hh, i0 + r, pos, j0, cols, width},
                                srow);
        }
        if (!full) {
          MaskRow(srow, left == kUnbounded ? 0 : pos - left - j0,
                  right == kUnbounded ? bk : pos + right - j0, cols, width);
        } else if (cols < width) {
          std::fill(srow + cols, srow + width, kNegInf);
        }
      }
    }
    OnlineSoftmaxTile(st, nrows, ldk, width, m, l, alpha);
    for (size_t rr = 0; rr < nrows; ++rr) {
      if (alpha[rr] != 1.0f) ScaleRow(acc + rr * dvp, dvp, alpha[rr]);
    }

    const float* vt;
    size_t ldv;
    if (a.packed_v != nullptr) {
      vt = a.packed_v + s.packed_v_offset + (g * num_tiles + t) * bk * a.dv_pad;
      ldv = dvp;
    } else {  // f32 V with dv == dv_pad, read in place
      vt = RowPtr<const float>(a.v, s.batch_index, g, s.k_offset + j0);
      ldv = static_cast<size_t>(a.v.strides[2]);
    }
    TileGemm</*kAccumulate=*/true>(st, ldk, vt, ldv, nrows, cols, dvp, acc, dvp, a.l1_floats);
  }

  VisitStorageType(a.out.dtype, [&](auto out_tag) {
    using TOut = decltype(out_tag);
    for (size_t rr = 0; rr < nrows; ++rr) {
      const int64_t hh = static_cast<int64_t>(rr) / rows, r = static_cast<int64_t>(rr) % rows;
      StoreOutputRow<TOut>(a, s, h0 + hh, i0 + r, acc + rr * dvp, m[rr], l[rr]);
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::dense
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_DENSE_DENSE_INL_H_
