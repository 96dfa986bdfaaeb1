// SPDX-License-Identifier: Apache-2.0
// SIMD body of the decode kernel (per-target Highway code, included by
// decode_kernel.cc once per target): dequantisation of 16-token sub-tiles into
// f32 tiles, score modifiers and masks with per-row positions, and one piece
// of work with the online softmax. See decode_kernel.h for the algorithm.

#if defined(ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_INL_H_
#undef ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_INL_H_
#else
#define ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/kernels/decode/decode_fused-inl.h"
#include "src/kernels/decode/decode_kernel.h"
#include "src/simd/convert-inl.h"
#include "src/simd/online_softmax-inl.h"
#include "src/simd/storage_types.h"
#include "src/simd/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::decode {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// FlashDecoding++ safe window, base 2: a row max above phi + 40 (natural) could
// overflow the f32 sums of 2^31 terms; one below phi - 80 loses its terms.
inline constexpr float kUnifiedOver = 40.0f * 1.4426950408889634f;
inline constexpr float kUnifiedUnder = 80.0f * 1.4426950408889634f;

// ---------------------------------------------------------------- dequantise

// Codes of channel word-row `w` (16 tokens x 4 bytes) shifted down by `shift`
// and masked: lanes [s, s + N) of the 16 tokens, as f32.
template <class DF>
HWY_INLINE hn::Vec<DF> CodesAt(DF df, const uint32_t* words, size_t s, int shift, uint32_t mask) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const auto v = hn::ShiftRightSame(hn::LoadU(du, words + s), shift);
  return hn::ConvertTo(df, hn::BitCast(di, hn::And(v, hn::Set(du, mask))));
}

// Writes the K^T columns [col, col + 16) of rows [0, dk_pad) of `kt`
// (row stride ld) from one sub-tile: x = s * u + z for quantised keys.
HWY_INLINE void DequantKSub(const StoreLayout& l, const SubTile& st, float* HWY_RESTRICT kt,
                            size_t ld, size_t col) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const size_t rows = static_cast<size_t>(l.dk_pad);
  switch (l.fmt) {
    case KVDType::kF32: {
      const float* src = reinterpret_cast<const float*>(st.k);
      for (size_t c = 0; c < rows; ++c) {
        for (size_t s = 0; s < kSub; s += N) hn::StoreU(hn::LoadU(df, src + c * kSub + s), df, kt + c * ld + col + s);
      }
      return;
    }
    case KVDType::kBF16:
    case KVDType::kF16: {
      VisitStorageType(l.fmt == KVDType::kBF16 ? DType::kBF16 : DType::kF16, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (!std::is_same_v<T, float>) {
          const T* src = reinterpret_cast<const T*>(st.k);
          for (size_t c = 0; c < rows; ++c) {
            for (size_t s = 0; s < kSub; s += N) {
              hn::StoreU(LoadF32(df, src + c * kSub + s), df, kt + c * ld + col + s);
            }
          }
        }
      });
      return;
    }
    case KVDType::kInt8:
    case KVDType::kInt4: {
      const bool int8 = l.fmt == KVDType::kInt8;
      const size_t per_word = int8 ? 4 : 8;
      const int bits = int8 ? 8 : 4;
      const uint32_t mask = int8 ? 0xFFu : 0xFu;
      const uint32_t* words = reinterpret_cast<const uint32_t*>(st.k);
      const float* ks = st.k_scale;
      for (size_t w = 0; w * per_word < rows; ++w) {
        for (size_t s = 0; s < kSub; s += N) {
          const auto sv = l.k_per_channel ? hn::Zero(df) : hn::LoadU(df, ks + s);
          const auto zv = l.k_per_channel ? hn::Zero(df) : hn::LoadU(df, ks + kSub + s);
          for (size_t j = 0; j < per_word; ++j) {
            const size_t c = w * per_word + j;
            const auto x = CodesAt(df, words + w * kSub, s, static_cast<int>(j) * bits, mask);
            const auto y = l.k_per_channel
                               ? hn::MulAdd(hn::Set(df, ks[c]), x, hn::Set(df, ks[rows + c]))
                               : hn::MulAdd(sv, x, zv);
            hn::StoreU(y, df, kt + c * ld + col + s);
          }
        }
      }
      return;
    }
  }
}

// One value row (token t of a sub-tile), f32 [dv_acc] at dst.
HWY_INLINE void DequantVRow(const StoreLayout& l, const SubTile& st, size_t t, size_t dv_acc,
                            float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const size_t dv_pad = static_cast<size_t>(l.dv_pad);
  switch (l.fmt) {
    case KVDType::kF32: {
      const float* src = reinterpret_cast<const float*>(st.v) + t * dv_pad;
      for (size_t c = 0; c < dv_acc; c += N) hn::StoreU(hn::LoadU(df, src + c), df, dst + c);
      return;
    }
    case KVDType::kBF16:
    case KVDType::kF16: {
      VisitStorageType(l.fmt == KVDType::kBF16 ? DType::kBF16 : DType::kF16, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (!std::is_same_v<T, float>) {
          const T* src = reinterpret_cast<const T*>(st.v) + t * dv_pad;
          for (size_t c = 0; c < dv_acc; c += N) hn::StoreU(LoadF32(df, src + c), df, dst + c);
        }
      });
      return;
    }
    case KVDType::kInt8:
    case KVDType::kInt4: {
      // Token quads (kv_layout.h): token t is byte t % 4 of each word of its quad.
      const bool int8 = l.fmt == KVDType::kInt8;
      const uint32_t* quad = reinterpret_cast<const uint32_t*>(st.v) + (t / 4) * (int8 ? dv_pad : dv_pad / 2);
      const float* vs = st.v_scale + t;  // [v_groups][s[16], z[16]]
      for (size_t c = 0; c < dv_acc; c += N) {
        const size_t g = c / static_cast<size_t>(l.v_group);
        const size_t word = int8 ? c : (c / 32) * 16 + c % 16;
        const int shift = static_cast<int>(8 * (t % 4) + (int8 || c % 32 < 16 ? 0 : 4));
        const auto x = CodesAt(df, quad + word, 0, shift, int8 ? 0xFFu : 0xFu);
        hn::StoreU(hn::MulAdd(hn::Set(df, vs[g * 2 * kSub]), x, hn::Set(df, vs[g * 2 * kSub + kSub])), df,
                   dst + c);
      }
      return;
    }
  }
}

// ---------------------------------------------------------------- scores

// s = c tanh(s / c) with the cap in base-2 units.
HWY_INLINE void SoftcapRow(float* HWY_RESTRICT s, size_t width, float cap2) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto cap = hn::Set(d, cap2), inv = hn::Set(d, 1.0f / cap2);
  for (size_t c = 0; c < width; c += N) {
    hn::StoreU(hn::Mul(cap, hn::Tanh(d, hn::Mul(hn::LoadU(d, s + c), inv))), d, s + c);
  }
}

// s[c] -= slope2 * |pos - (key_pos0 + c)| (symmetric ALiBi, base-2 slope).
HWY_INLINE void AlibiRow(float* HWY_RESTRICT s, size_t width, float slope2, int64_t pos,
                         int64_t key_pos0) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto slope = hn::Set(d, slope2);
  const auto p = hn::Set(d, static_cast<float>(pos - key_pos0));  // exact below 2^24
  for (size_t c = 0; c < width; c += N) {
    const auto dist = hn::Abs(hn::Sub(p, hn::Iota(d, static_cast<float>(c))));
    hn::StoreU(hn::NegMulAdd(slope, dist, hn::LoadU(d, s + c)), d, s + c);
  }
}

// The columns [lo, hi) of a tile that row r may see (maybe empty).
struct ColRange {
  int64_t lo, hi;
};
HWY_INLINE ColRange VisibleCols(const DecodeArgs& a, int64_t pos, int64_t key_pos0, int64_t c_lo,
                                int64_t c_hi) {
  int64_t lo = c_lo, hi = c_hi;
  if (a.window_left != kUnbounded) lo = std::max(lo, pos - a.window_left - key_pos0);
  if (a.window_right != kUnbounded) hi = std::min(hi, pos + a.window_right - key_pos0 + 1);
  return {lo, std::max(lo, hi)};
}

// The state of one piece: rows of one problem, walking KV tiles.
struct PieceState {
  const Problem* pb;
  size_t nrows;
  const float* qs;  // [nrows][dqk_pad]
  float* st;        // [nrows][kTile]   logits, then probabilities
  float* acc;       // [nrows][dv_acc]  unnormalised output
  float* m;         // running max (base 2); unified: phi2
  float* l;         // running sum
  float* alpha;     // rescale factors of the current tile
  float* seen;      // unified: largest logit seen (base 2)
  float* kt;        // [dqk_pad][kTile] K^T tile
  float* vt;        // [kTile][dv_acc]  V tile
  float* orow;      // [dv_acc] one finished row
  float* codes;     // integer queries of the VNNI scores (ScoreTile::codes)
  const float* codes_for;
  float* qsum;      // fused: sum of each row's query (per-token key scales)
  FusedTile ft;     // fused: the current tile (and the next one, to prefetch)
};

HWY_INLINE PieceState InitPiece(const DecodeArgs& a, const Piece& piece, float* HWY_RESTRICT scratch) {
  PieceState ps;
  ps.pb = &a.problems[piece.problem];
  ps.nrows = static_cast<size_t>(ps.pb->row_end - ps.pb->row_begin);
  const size_t rows_pad = static_cast<size_t>(RoundUp(static_cast<int64_t>(ps.nrows), 16));
  const size_t dv_acc = static_cast<size_t>(a.dv_acc), dqk_pad = static_cast<size_t>(a.dqk_pad);
  ps.qs = a.qs + static_cast<size_t>(ps.pb->row_begin) * dqk_pad;
  ps.st = scratch;
  ps.acc = ps.st + ps.nrows * kTile;
  ps.m = ps.acc + ps.nrows * dv_acc;
  ps.l = ps.m + rows_pad;
  ps.alpha = ps.l + rows_pad;
  ps.seen = ps.alpha + rows_pad;
  ps.kt = ps.seen + 2 * rows_pad;
  ps.vt = ps.kt + dqk_pad * kTile;
  ps.orow = ps.vt + kTile * dv_acc;
  ps.codes = ps.orow + dv_acc;
  ps.codes_for = nullptr;
  ps.qsum = ps.codes + CodesFloats(static_cast<int64_t>(ps.nrows), a.dqk_pad);
  if (a.fused) {
    for (size_t r = 0; r < ps.nrows; ++r) {
      const float* q = ps.qs + r * dqk_pad;
      float sum = 0.0f;
      for (size_t c = 0; c < dqk_pad; ++c) sum += q[c];
      ps.qsum[r] = sum;
    }
  }
  std::fill(ps.m, ps.m + rows_pad, a.unified ? a.phi2 : kNegInf);
  std::fill(ps.l, ps.l + rows_pad, 0.0f);
  std::fill(ps.seen, ps.seen + rows_pad, kNegInf);
  std::fill(ps.acc, ps.acc + ps.nrows * dv_acc, 0.0f);
  // K^T rows past the stored (padded) head dim are never written by the
  // dequantisation; the MLA V view may read them.
  if (!a.fused) std::fill(ps.kt, ps.kt + dqk_pad * kTile, 0.0f);
  return ps;
}

// The logits of one compute tile: tokens [u, u + width) of `seg` for the
// `cols` valid columns starting at c_lo; fills ps.st and the V tile.
HWY_INLINE void TileScoresAndValues(const DecodeArgs& a, PieceState& ps, const SegmentRef& seg,
                                    int64_t u, size_t width, int64_t c_lo, int64_t c_hi) {
  const StoreRef& ref = seg.store;
  const StoreLayout& l = *ref.layout;
  const int64_t head = ps.pb->kv_head;
  StoreRef resolved = ref;
  if (seg.sink_offset >= 0) resolved.base = a.sink_base + seg.sink_offset;
  const size_t num_subs = width / kSub;
  const size_t dv_acc = static_cast<size_t>(a.dv_acc);
  // Fused: the tile's sub-tiles are kept in ps.ft, for P V after the softmax.
  SubTile local[kTile / kSub];
  SubTile* subs = a.fused ? ps.ft.subs : local;
  for (size_t j = 0; j < num_subs; ++j) subs[j] = resolved.At(head, u + static_cast<int64_t>(j * kSub));
  const bool on_codes = a.score != nullptr && l.quantized();
  if (a.fused) {  // scores from the stored sub-tiles; P V later from the same sub-tiles
    ps.ft.num_subs = num_subs;
    ps.ft.layout = &l;
    ps.ft.t0 = static_cast<size_t>(c_lo);
    ps.ft.t1 = static_cast<size_t>(c_hi);
  }
  if (a.fused && !on_codes) {
    FusedScores(ps.ft, ps.nrows, ps.qs, static_cast<size_t>(a.dqk_pad), static_cast<size_t>(a.dqk),
                ps.qsum, ps.st, kTile);
    return;
  }
  if (!on_codes || a.v_from_k) {
    for (size_t j = 0; j < num_subs; ++j) DequantKSub(l, subs[j], ps.kt, kTile, j * kSub);
  }
  if (on_codes) {
    ScoreTile t;
    t.layout = &l;
    for (size_t j = 0; j < num_subs; ++j) t.subs[j] = subs[j];
    t.num_subs = static_cast<int>(num_subs);
    t.row_begin = ps.pb->row_begin;
    t.nrows = static_cast<int32_t>(ps.nrows);
    t.qs = ps.qs;
    t.s = ps.st;
    t.ld = kTile;
    t.codes = ps.codes;
    t.codes_for = &ps.codes_for;
    t.pf = a.fused ? &ps.ft.pf : nullptr;
    a.score(a, t);
    if (a.fused) return;
  } else {
    TileGemm</*kAccumulate=*/false>(ps.qs, static_cast<size_t>(a.dqk_pad), ps.kt, kTile, ps.nrows,
                                    static_cast<size_t>(a.dqk), width, ps.st, kTile, a.l1_floats);
  }
  // V tile; rows of invalid tokens are zero so that P V never sees stale data.
  for (size_t t = 0; t < width; ++t) {
    float* dst = ps.vt + t * dv_acc;
    if (static_cast<int64_t>(t) < c_lo || static_cast<int64_t>(t) >= c_hi) {
      std::fill(dst, dst + dv_acc, 0.0f);
    } else if (a.v_from_k) {
      for (size_t c = 0; c < dv_acc; ++c) dst[c] = ps.kt[c * kTile + t];
    } else {
      DequantVRow(l, subs[t / kSub], t % kSub, dv_acc, dst);
    }
  }
}

// Applies soft-cap, ALiBi and the mask to the logits of the tile; returns
// nothing, leaves -inf where a row may not look.
HWY_INLINE void ModifyAndMask(const DecodeArgs& a, PieceState& ps, int64_t key_pos0, size_t width,
                              int64_t c_lo, int64_t c_hi) {
  const bool softcap = a.softcap > 0.0f, alibi = a.alibi_slopes != nullptr;
  for (size_t r = 0; r < ps.nrows; ++r) {
    const Row& row = a.rows[ps.pb->row_begin + static_cast<int64_t>(r)];
    float* s = ps.st + r * kTile;
    const ColRange vis = VisibleCols(a, row.pos, key_pos0, c_lo, c_hi);
    if (vis.lo == 0 && vis.hi == static_cast<int64_t>(width) && !softcap && !alibi) continue;
    if (softcap) SoftcapRow(s, width, a.softcap * kLog2e);
    if (alibi) AlibiRow(s, width, a.alibi_slopes[row.head] * kLog2e, row.pos, key_pos0);
    std::fill(s, s + vis.lo, kNegInf);
    std::fill(s + vis.hi, s + width, kNegInf);
  }
}

// Online softmax step and acc += P V for the tile (exact or unified max).
// Returns false when the unified max left its safe window.
HWY_INLINE bool SoftmaxAndAccumulate(const DecodeArgs& a, PieceState& ps, size_t width) {
  const size_t dv_acc = static_cast<size_t>(a.dv_acc);
  if (a.unified) {
    for (size_t r = 0; r < ps.nrows; ++r) {
      float* s = ps.st + r * kTile;
      const float mx = RowMax(s, width);
      if (mx > a.phi2 + kUnifiedOver) return false;
      ps.seen[r] = std::max(ps.seen[r], mx);
      ps.l[r] += ExpSubtractMaxInPlace(s, width, a.phi2);
    }
  } else {
    OnlineSoftmaxTile(ps.st, ps.nrows, kTile, width, ps.m, ps.l, ps.alpha);
    for (size_t r = 0; r < ps.nrows; ++r) {
      if (ps.alpha[r] != 1.0f) ScaleRow(ps.acc + r * dv_acc, dv_acc, ps.alpha[r]);
    }
  }
  if (a.fused && a.values != nullptr && ps.ft.layout->quantized()) {  // P V on the codes (VNNI)
    ValueTile vt{ps.ft.layout, ps.ft.subs, static_cast<int>(ps.ft.num_subs), static_cast<int>(ps.ft.t0),
                 static_cast<int>(ps.ft.t1), static_cast<int>(ps.nrows), ps.st, ps.acc, dv_acc,
                 a.dv_acc, &ps.ft.pf};
    a.values(vt);
    return true;
  }
  if (a.fused) {  // ps.vt is free: the quantised-value weights live there
    FusedPV(ps.ft, ps.nrows, dv_acc, ps.st, kTile, ps.vt, ps.acc, dv_acc);
    return true;
  }
  TileGemm</*kAccumulate=*/true>(ps.st, kTile, ps.vt, dv_acc, ps.nrows, width, dv_acc, ps.acc,
                                 dv_acc, a.l1_floats);
  return true;
}

// Normalises every row and writes it to the output or to the piece's slot.
// Returns false when a unified-max row underflowed.
HWY_INLINE bool FinishPiece(const DecodeArgs& a, const Piece& piece, PieceState& ps) {
  const size_t dv_acc = static_cast<size_t>(a.dv_acc);
  if (a.unified) {
    for (size_t r = 0; r < ps.nrows; ++r) {
      if (ps.seen[r] != kNegInf && ps.seen[r] < a.phi2 - kUnifiedUnder) return false;
      if (ps.seen[r] == kNegInf) ps.m[r] = kNegInf;  // saw no key
    }
  }
  for (size_t r = 0; r < ps.nrows; ++r) {
    const bool empty = ps.m[r] == kNegInf || !(ps.l[r] > 0.0f);
    const float inv = empty ? 0.0f : 1.0f / ps.l[r];
    const float lse = empty ? kNegInf : (ps.m[r] + std::log2(ps.l[r])) * kLn2;
    float* dst = piece.partial_row < 0 ? ps.orow
                                       : a.partial_o + static_cast<size_t>(piece.partial_row + r) * dv_acc;
    const float* src = ps.acc + r * dv_acc;
    for (size_t c = 0; c < dv_acc; ++c) dst[c] = src[c] * inv;
    if (piece.partial_row < 0) {
      a.emit(a, ps.pb->row_begin + static_cast<int64_t>(r), ps.orow, lse);
    } else {
      a.partial_lse[piece.partial_row + static_cast<int64_t>(r)] = lse;
    }
  }
  return true;
}

// Tiles between the one computed and the one whose lines it prefetches: two,
// so that a fast (quantised) tile still has a tile's time of lead.
inline constexpr int64_t kPrefetchTiles = 2;

// Queues the lines (K, V, scales) of the tile of `seg` at tokens [u, end)
// for the fused kernels to prefetch while the current tile is computed.
HWY_INLINE void QueueTile(const DecodeArgs& a, int64_t head, const SegmentRef& seg, int64_t u,
                          int64_t end, PrefetchQueue& q) {
  q = PrefetchQueue();
  if (seg.sink_offset >= 0) return;  // the sink page is small and hot
  const StoreLayout& l = *seg.store.layout;
  const float* last_ks = nullptr;
  for (int64_t t = u; t < end; t += kSub) {
    const SubTile st = seg.store.At(head, t);
    q.Add(st.k, l.k_sub_bytes);
    q.Add(st.v, l.v_sub_bytes);
    if (!l.quantized()) continue;
    q.Add(st.v_scale, 2 * kSub * l.v_groups * 4);
    if (!l.k_per_channel) {
      q.Add(st.k_scale, 2 * kSub * 4);
    } else if (st.k_scale != last_ks) {  // a key group's sub-tiles share its scales
      q.Add(st.k_scale, 2 * l.dk_pad * 4);
      last_ks = st.k_scale;
    }
  }
  // The loops that step it: the first row block's key lines and its P V tokens.
  q.Plan(l.k_sub_bytes / 64 + CeilDiv(a.dv_acc, 64) * kTile);
}

// One piece: every compute tile of its blocks, in order.
inline bool RunPieceImpl(const DecodeArgs& a, const Piece& piece, float* HWY_RESTRICT scratch) {
  PieceState ps = InitPiece(a, piece, scratch);
  for (int32_t b = piece.block_begin; b < piece.block_end; ++b) {
    const Block& blk = a.blocks[b];
    const SegmentRef& seg = a.segments[blk.segment];
    for (int64_t u = blk.u_begin; u < blk.u_end; u += kTile) {
      if (a.fused) {  // the tile kPrefetchTiles ahead in this piece (in this block or a later one)
        int32_t nb = b;
        int64_t nu = u;
        for (int64_t step = 0; step < kPrefetchTiles && nb < piece.block_end; ++step) {
          nu += kTile;
          if (nu >= a.blocks[nb].u_end && ++nb < piece.block_end) nu = a.blocks[nb].u_begin;
        }
        if (nb < piece.block_end) {
          const Block& tb = a.blocks[nb];
          QueueTile(a, ps.pb->kv_head, a.segments[tb.segment], nu, std::min(tb.u_end, nu + kTile), ps.ft.pf);
        } else {
          ps.ft.pf = PrefetchQueue();
        }
      }
      const int64_t end = std::min(blk.u_end, u + kTile);
      const size_t width = static_cast<size_t>(RoundUp(end - u, kSub));
      // Valid columns: tokens of the segment (the first and last sub-tiles may be partial).
      const int64_t c_lo = std::max<int64_t>(0, seg.u0 - u);
      const int64_t c_hi = std::min(end, seg.u1) - u;
      const int64_t key_pos0 = seg.pos0 + (u - seg.u0);
      TileScoresAndValues(a, ps, seg, u, width, c_lo, c_hi);
      ModifyAndMask(a, ps, key_pos0, width, c_lo, c_hi);
      if (!SoftmaxAndAccumulate(a, ps, width)) return false;
    }
    if (a.block_visits != nullptr) a.block_visits[b].fetch_add(1, std::memory_order_relaxed);
  }
  return FinishPiece(a, piece, ps);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::decode
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_INL_H_
