// SPDX-License-Identifier: Apache-2.0
// Fused decode tile (per-target Highway code, included by decode_kernel-inl.h):
// S = Q K^T and acc += P V computed straight from the stored K / V sub-tiles,
// converting each loaded vector in registers, instead of first writing f32
// K^T and V tiles to memory (which cost more than the products: decode does
// ~2 FLOPs per K/V byte, so every extra store and reload shows).
//
// Scores: a key sub-tile is [dk_pad / w][16 tokens][w] (kv_layout.h), so the
// keys of channel c for 16 tokens are one vector (f32), a half-width load
// (bf16 / f16), or lanes of a 4-byte word row (int8: w = 4, int4: w = 8).
// A block of R <= 4 query rows x 64 / N token vectors keeps R * 64 / N
// accumulators (16 on AVX-512): per channel, one load + convert per token
// vector and R FMAs with the query element broadcast from memory.
//   f32 / bf16 / f16:          s[r][t] = sum_c q[r][c] k[c][t]
//   int8 / int4 per channel:   k = s_c u + z_c, dequantised in registers
//   int8 / int4 per token:     s[r][t] = s_t (sum_c q[r][c] u[c][t]) + z_t sum_c q[r][c]
//
// P V: float values are row-major per token, so one vector is N channels of
// one token; quantised ones are stored in token quads (kv_layout.h), one
// token's N channels being byte t % 4 of N consecutive words (shift, mask). For each block of R rows and each pass of up to 4 channel vectors,
// the accumulators stay in registers over the tile's valid tokens:
//   acc[r][c] += w[r][t] * x[t][c]
// with w = p for float values and, for quantised ones (x = s_tg u + z_tg),
// w = p s_tg on the codes u plus sum_t p z_tg added once per pass.
// Quantised weights are prepared per row block in the piece's `pw` scratch:
// [v_groups][4][kTile] weights and [v_groups][4] zero-point sums.
//
// Prefetch: a tile's sub-tiles sit in one page, consecutive tiles in
// unrelated pages, and 4 KiB sub-tiles end the hardware streamer's runs
// early; so each tile requests the lines (K, V, scales) of a tile
// kPrefetchTiles ahead, a few lines per iteration of the first row block's
// channel and token loops (PrefetchQueue): spread over the whole tile, never a
// burst that fills the line-fill buffers and stalls the core (with a burst in
// the short VNNI score loop, a third of that loop's samples sat on prefetches).

#if defined(ATTNKIT_KERNELS_DECODE_DECODE_FUSED_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_DECODE_DECODE_FUSED_INL_H_
#undef ATTNKIT_KERNELS_DECODE_DECODE_FUSED_INL_H_
#else
#define ATTNKIT_KERNELS_DECODE_DECODE_FUSED_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "hwy/highway.h"
#include "src/kernels/decode/decode_kernel.h"
#include "src/simd/convert-inl.h"
#include "src/simd/storage_types.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::decode {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;

// Rows of a register block, and channel vectors of a P V pass.
inline constexpr size_t kFusedRows = 4;
inline constexpr size_t kFusedPass = 4;

// One compute tile of a piece: its sub-tiles, the valid token columns
// [t0, t1), and the queue of a later tile's lines (may be empty).
struct FusedTile {
  const StoreLayout* layout;
  SubTile subs[kTile / kSub];
  size_t num_subs;
  size_t t0, t1;
  PrefetchQueue pf;
};

// Key channels per 64-byte line of a sub-tile (16 tokens of each).
template <KVDType F>
inline constexpr size_t kChannelsPerLine = F == KVDType::kF32 ? 1 : F == KVDType::kInt8 ? 4 : F == KVDType::kInt4 ? 8 : 2;

// ---------------------------------------------------------------- key loads

// Keys (or raw codes) of channel c, tokens [s, s + N) of a key sub-tile, as f32.
template <KVDType F, class DF>
HWY_INLINE hn::Vec<DF> LoadKeyLanes(DF df, const uint8_t* HWY_RESTRICT k, size_t c, size_t s) {
  if constexpr (F == KVDType::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(k) + c * kSub + s);
  } else if constexpr (F == KVDType::kBF16) {
    return LoadF32(df, reinterpret_cast<const BF16Bits*>(k) + c * kSub + s);
  } else if constexpr (F == KVDType::kF16) {
    return LoadF32(df, reinterpret_cast<const F16Bits*>(k) + c * kSub + s);
  } else {
    constexpr size_t kW = F == KVDType::kInt8 ? 4 : 8;  // channels per 4-byte word
    constexpr int kBits = F == KVDType::kInt8 ? 8 : 4;
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    const auto w = hn::LoadU(du, reinterpret_cast<const uint32_t*>(k) + (c / kW) * kSub + s);
    const auto u = hn::And(hn::ShiftRightSame(w, static_cast<int>(c % kW) * kBits),
                           hn::Set(du, (1u << kBits) - 1));
    return hn::ConvertTo(df, hn::BitCast(di, u));
  }
}

// Where the token vectors of a tile live: vector j holds tokens [j N, j N + N)
// = lanes [s, s + N) of sub-tile j N / 16.
struct TokenVecs {
  const uint8_t* k[kTile];
  const float* ks[kTile];  // key scales of that sub-tile (quantised keys)
  size_t lane[kTile];
};

// How quantised keys are scaled (float formats: kNone).
enum class KScale { kNone, kPerChannel, kPerToken };

// Scores of rows [0, R) (queries q, row stride ldq) for token vectors [v0, v0 + V).
// pf (or nullptr): the prefetch queue, stepped once per key line.
template <KVDType F, KScale M, size_t R, size_t V>
HWY_INLINE void FusedScoreBlock(const StoreLayout& l, const TokenVecs& tv, size_t v0,
                                const float* HWY_RESTRICT q, size_t ldq, size_t dk,
                                const float* HWY_RESTRICT qsum, float* HWY_RESTRICT s, size_t lds,
                                PrefetchQueue* pf) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  constexpr size_t kCpl = kChannelsPerLine<F>;
  const size_t dk_pad = static_cast<size_t>(l.dk_pad);
  hn::Vec<decltype(df)> acc[R][V];
  for (size_t r = 0; r < R; ++r) {
    for (size_t v = 0; v < V; ++v) acc[r][v] = hn::Zero(df);
  }
  PrefetchQueue::Cursor pfc = PrefetchQueue::Of(pf);
  for (size_t c0 = 0; c0 < dk; c0 += kCpl) {
    pfc.Step();
    const size_t c1 = std::min(dk, c0 + kCpl);
    for (size_t c = c0; c < c1; ++c) {
      hn::Vec<decltype(df)> x[V];
      for (size_t v = 0; v < V; ++v) {
        x[v] = LoadKeyLanes<F>(df, tv.k[v0 + v], c, tv.lane[v0 + v]);
        if constexpr (M == KScale::kPerChannel) {
          const float* ks = tv.ks[v0 + v];
          x[v] = hn::MulAdd(hn::Set(df, ks[c]), x[v], hn::Set(df, ks[dk_pad + c]));
        }
      }
      for (size_t r = 0; r < R; ++r) {
        const auto qv = hn::Set(df, q[r * ldq + c]);
        for (size_t v = 0; v < V; ++v) acc[r][v] = hn::MulAdd(qv, x[v], acc[r][v]);
      }
    }
  }
  pfc.Save();
  for (size_t v = 0; v < V; ++v) {
    const size_t col = (v0 + v) * N;
    if constexpr (M == KScale::kPerToken) {  // s_t dot + z_t sum(q)
      const float* ks = tv.ks[v0 + v] + tv.lane[v0 + v];
      const auto st = hn::LoadU(df, ks), zt = hn::LoadU(df, ks + kSub);
      for (size_t r = 0; r < R; ++r) {
        acc[r][v] = hn::MulAdd(st, acc[r][v], hn::Mul(zt, hn::Set(df, qsum[r])));
      }
    }
    for (size_t r = 0; r < R; ++r) hn::StoreU(acc[r][v], df, s + r * lds + col);
  }
}

// All rows: blocks of kFusedRows, token vectors in runs of 64 / N (at most 4 per block).
template <KVDType F, KScale M, size_t R>
HWY_INLINE void FusedScoreRows(const StoreLayout& l, const TokenVecs& tv, size_t nvec,
                               const float* q, size_t ldq, size_t dk, const float* qsum, float* s,
                               size_t lds, PrefetchQueue* pf) {
  for (size_t v0 = 0; v0 < nvec; v0 += 4) {
    PrefetchQueue* n = v0 == 0 ? pf : nullptr;  // the first vectors' pass steps the queue
    switch (std::min<size_t>(4, nvec - v0)) {
      case 4: FusedScoreBlock<F, M, R, 4>(l, tv, v0, q, ldq, dk, qsum, s, lds, n); break;
      case 3: FusedScoreBlock<F, M, R, 3>(l, tv, v0, q, ldq, dk, qsum, s, lds, n); break;
      case 2: FusedScoreBlock<F, M, R, 2>(l, tv, v0, q, ldq, dk, qsum, s, lds, n); break;
      default: FusedScoreBlock<F, M, R, 1>(l, tv, v0, q, ldq, dk, qsum, s, lds, n); break;
    }
  }
}

template <KVDType F, KScale M>
HWY_INLINE void FusedScoresOf(const StoreLayout& l, const TokenVecs& tv, size_t nvec, size_t nrows,
                              const float* q, size_t ldq, size_t dk, const float* qsum, float* s,
                              size_t lds, PrefetchQueue* pf) {
  size_t r = 0;
  for (; r + 4 <= nrows; r += 4) {
    FusedScoreRows<F, M, 4>(l, tv, nvec, q + r * ldq, ldq, dk, qsum + r, s + r * lds, lds,
                            r == 0 ? pf : nullptr);
  }
  const float* qr = q + r * ldq;
  float* sr = s + r * lds;
  PrefetchQueue* n = r == 0 ? pf : nullptr;
  switch (nrows - r) {
    case 3: FusedScoreRows<F, M, 3>(l, tv, nvec, qr, ldq, dk, qsum + r, sr, lds, n); break;
    case 2: FusedScoreRows<F, M, 2>(l, tv, nvec, qr, ldq, dk, qsum + r, sr, lds, n); break;
    case 1: FusedScoreRows<F, M, 1>(l, tv, nvec, qr, ldq, dk, qsum + r, sr, lds, n); break;
    default: break;
  }
}

// Base-2 logits s [nrows][lds] of the tile's tokens (16 per sub-tile);
// steps the tile's prefetch queue.
HWY_INLINE void FusedScores(FusedTile& ft, size_t nrows, const float* q, size_t ldq, size_t dk,
                            const float* qsum, float* s, size_t lds) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const StoreLayout& l = *ft.layout;
  TokenVecs tv;
  const size_t nvec = ft.num_subs * kSub / N;
  for (size_t v = 0; v < nvec; ++v) {
    const SubTile& st = ft.subs[v * N / kSub];
    tv.k[v] = st.k;
    tv.ks[v] = st.k_scale;
    tv.lane[v] = (v * N) % kSub;
  }
  PrefetchQueue* pf = &ft.pf;
  constexpr KScale kNo = KScale::kNone, kCh = KScale::kPerChannel, kTok = KScale::kPerToken;
  const bool pc = l.k_per_channel;
  switch (l.fmt) {
    case KVDType::kF32: return FusedScoresOf<KVDType::kF32, kNo>(l, tv, nvec, nrows, q, ldq, dk, qsum, s, lds, pf);
    case KVDType::kBF16: return FusedScoresOf<KVDType::kBF16, kNo>(l, tv, nvec, nrows, q, ldq, dk, qsum, s, lds, pf);
    case KVDType::kF16: return FusedScoresOf<KVDType::kF16, kNo>(l, tv, nvec, nrows, q, ldq, dk, qsum, s, lds, pf);
    case KVDType::kInt8:
      return pc ? FusedScoresOf<KVDType::kInt8, kCh>(l, tv, nvec, nrows, q, ldq, dk, qsum, s, lds, pf)
                : FusedScoresOf<KVDType::kInt8, kTok>(l, tv, nvec, nrows, q, ldq, dk, qsum, s, lds, pf);
    case KVDType::kInt4:
      return pc ? FusedScoresOf<KVDType::kInt4, kCh>(l, tv, nvec, nrows, q, ldq, dk, qsum, s, lds, pf)
                : FusedScoresOf<KVDType::kInt4, kTok>(l, tv, nvec, nrows, q, ldq, dk, qsum, s, lds, pf);
  }
}

// ---------------------------------------------------------------- value loads

// Values (or raw codes) of channels [c, c + N) of one token, as f32. Floats:
// `row` is the token's value row. Codes (kv_layout.h): `row` is its token
// quad and the token byte `tb` (t % 4) of each 4-byte word.
template <KVDType F, class DF>
HWY_INLINE hn::Vec<DF> LoadValueLanes(DF df, const uint8_t* HWY_RESTRICT row, size_t tb, size_t c) {
  if constexpr (F == KVDType::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(row) + c);
  } else if constexpr (F == KVDType::kBF16) {
    return LoadF32(df, reinterpret_cast<const BF16Bits*>(row) + c);
  } else if constexpr (F == KVDType::kF16) {
    return LoadF32(df, reinterpret_cast<const F16Bits*>(row) + c);
  } else {  // int8: word c; int4: word (c / 32) 16 + c % 16, high nibbles for c % 32 >= 16
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    constexpr bool kInt8 = F == KVDType::kInt8;
    const uint32_t* words = reinterpret_cast<const uint32_t*>(row) + (kInt8 ? c : (c / 32) * 16 + c % 16);
    const int shift = static_cast<int>(8 * tb + (kInt8 || c % 32 < 16 ? 0 : 4));
    const auto u = hn::And(hn::ShiftRightSame(hn::LoadU(du, words), shift), hn::Set(du, kInt8 ? 0xFFu : 0xFu));
    return hn::ConvertTo(df, hn::BitCast(di, u));
  }
}

// Channels [c0, c0 + V N) of one token as V vectors. int4 with 16 lanes and
// an even V reads each 32-channel line once for both nibbles.
template <KVDType F, size_t V, class DF>
HWY_INLINE void LoadValueVectors(DF df, const uint8_t* HWY_RESTRICT row, size_t tb, size_t c0, hn::Vec<DF>* x) {
  const size_t N = hn::Lanes(df);
  if constexpr (F == KVDType::kInt4 && V % 2 == 0) {
    if (N == 16) {
      const hn::RebindToUnsigned<DF> du;
      const hn::RebindToSigned<DF> di;
      const auto mask = hn::Set(du, 0xFu);
      const int shift = static_cast<int>(8 * tb);
      for (size_t v = 0; v < V; v += 2) {
        const auto w = hn::LoadU(du, reinterpret_cast<const uint32_t*>(row) + (c0 + v * N) / 2);
        x[v] = hn::ConvertTo(df, hn::BitCast(di, hn::And(hn::ShiftRightSame(w, shift), mask)));
        x[v + 1] = hn::ConvertTo(df, hn::BitCast(di, hn::And(hn::ShiftRightSame(w, shift + 4), mask)));
      }
      return;
    }
  }
  for (size_t v = 0; v < V; ++v) x[v] = LoadValueLanes<F>(df, row, tb, c0 + v * N);
}

// One pass: acc[r][c0 + j N] for j < V over tokens [t0, t1), weights
// w[j][r * kTile + t], plus (quantised values) zsum[j][r] added after.
// pf (or nullptr): the prefetch queue, stepped once per token.
template <KVDType F, size_t R, size_t V, bool kUniform>
HWY_INLINE void FusedPVPass(const uint8_t* const* vrow, const uint8_t* tbyte, size_t t0, size_t t1, size_t c0,
                            const float* const* w, const float* const* zsum, float* HWY_RESTRICT acc,
                            size_t lda, PrefetchQueue* pf) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  hn::Vec<decltype(df)> a[R][V];
  for (size_t r = 0; r < R; ++r) {
    for (size_t v = 0; v < V; ++v) a[r][v] = hn::LoadU(df, acc + r * lda + c0 + v * N);
  }
  PrefetchQueue::Cursor pfc = PrefetchQueue::Of(pf);
  for (size_t t = t0; t < t1; ++t) {
    pfc.Step();
    hn::Vec<decltype(df)> x[V];
    LoadValueVectors<F, V>(df, vrow[t], tbyte[t], c0, x);
    for (size_t r = 0; r < R; ++r) {
      if constexpr (kUniform) {  // one weight per row for every vector (one broadcast)
        const auto wr = hn::Set(df, w[0][r * kTile + t]);
        for (size_t v = 0; v < V; ++v) a[r][v] = hn::MulAdd(wr, x[v], a[r][v]);
      } else {
        for (size_t v = 0; v < V; ++v) a[r][v] = hn::MulAdd(hn::Set(df, w[v][r * kTile + t]), x[v], a[r][v]);
      }
    }
  }
  pfc.Save();
  for (size_t r = 0; r < R; ++r) {
    for (size_t v = 0; v < V; ++v) {
      auto y = a[r][v];
      if (zsum != nullptr) y = hn::Add(y, hn::Set(df, zsum[v][r]));
      hn::StoreU(y, df, acc + r * lda + c0 + v * N);
    }
  }
}

// Rows [0, R) of one row block: every pass over the value channels; pf as in
// FusedPVPass (the first row block steps the queue).
template <KVDType F, size_t R>
HWY_INLINE void FusedPVRows(const StoreLayout& l, const uint8_t* const* vrow, const uint8_t* tbyte, size_t t0, size_t t1,
                            size_t dv_acc, const float* p, const float* pw, float* acc, size_t lda,
                            PrefetchQueue* pf) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  constexpr bool kQuant = F == KVDType::kInt8 || F == KVDType::kInt4;
  const size_t groups = static_cast<size_t>(l.v_groups), vg = static_cast<size_t>(l.v_group);
  const auto pass = [&](auto kV, size_t c0) {
    constexpr size_t V = decltype(kV)::value;
    const float* w[V];
    const float* z[V];
    for (size_t v = 0; v < V; ++v) {
      const size_t g = (c0 + v * N) / vg;
      w[v] = kQuant ? pw + g * kFusedRows * kTile : p;
      z[v] = kQuant ? pw + groups * kFusedRows * kTile + g * kFusedRows : nullptr;
    }
    const float* const* zl = kQuant ? z : nullptr;
    bool uniform = true;  // every vector of the pass in one value group
    for (size_t v = 1; v < V; ++v) uniform = uniform && w[v] == w[0];
    const auto run = [&](auto kU) {
      FusedPVPass<F, R, V, decltype(kU)::value>(vrow, tbyte, t0, t1, c0, w, zl, acc, lda, pf);
    };
    if (uniform) {
      run(std::true_type());
    } else {
      run(std::false_type());
    }
  };
  const size_t step = kFusedPass * N;
  size_t c0 = 0;
  for (; c0 + step <= dv_acc; c0 += step) pass(std::integral_constant<size_t, kFusedPass>(), c0);
  for (; c0 < dv_acc; c0 += N) pass(std::integral_constant<size_t, 1>(), c0);
}

// Quantised values: pw = weights p s_tg [v_groups][kFusedRows][kTile] and
// zero-point sums sum_t p z_tg [v_groups][kFusedRows] of rows [0, R). Full
// sub-tiles take vector loads of their 16 scales; a partial one (its invalid
// tokens may hold any bits) only its valid tokens.
HWY_INLINE void PrepareValueWeights(const StoreLayout& l, const SubTile* subs, size_t t0, size_t t1,
                                    const float* p, size_t ldp, size_t R, float* HWY_RESTRICT pw) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const size_t groups = static_cast<size_t>(l.v_groups);
  float* zs = pw + groups * kFusedRows * kTile;
  for (size_t g = 0; g < groups; ++g) {
    for (size_t r = 0; r < R; ++r) {
      const float* pr = p + r * ldp;
      float* wr = pw + (g * kFusedRows + r) * kTile;
      auto zv = hn::Zero(df);
      float zsum = 0.0f;
      for (size_t t = t0 / kSub * kSub; t < t1; t += kSub) {
        const float* vs = subs[t / kSub].v_scale + g * 2 * kSub;  // s[16], z[16]
        if (t >= t0 && t + kSub <= t1) {
          for (size_t i = 0; i < kSub; i += N) {
            const auto pv = hn::LoadU(df, pr + t + i);
            hn::StoreU(hn::Mul(pv, hn::LoadU(df, vs + i)), df, wr + t + i);
            zv = hn::MulAdd(pv, hn::LoadU(df, vs + kSub + i), zv);
          }
        } else {
          for (size_t i = std::max(t, t0); i < std::min(t + kSub, t1); ++i) {
            wr[i] = pr[i] * vs[i - t];
            zsum += pr[i] * vs[kSub + i - t];
          }
        }
      }
      zs[g * kFusedRows + r] = zsum + hn::GetLane(hn::SumOfLanes(df, zv));
    }
  }
}

template <KVDType F>
HWY_INLINE void FusedPVOf(FusedTile& ft, size_t nrows, size_t dv_acc, const float* p, size_t ldp,
                          float* pw, float* acc, size_t lda) {
  constexpr bool kQuant = F == KVDType::kInt8 || F == KVDType::kInt4;
  const StoreLayout& l = *ft.layout;
  // Per token: its value row (floats), or its quad and byte in the quad's words (codes).
  const size_t row_bytes = static_cast<size_t>(l.v_sub_bytes / kSub);
  const uint8_t* vrow[kTile];
  uint8_t tbyte[kTile];
  for (size_t t = ft.t0; t < ft.t1; ++t) {
    const size_t i = t % kSub;
    vrow[t] = ft.subs[t / kSub].v + (kQuant ? i / 4 * 4 * row_bytes : i * row_bytes);
    tbyte[t] = static_cast<uint8_t>(kQuant ? i % 4 : 0);
  }
  for (size_t r0 = 0; r0 < nrows; r0 += kFusedRows) {
    const size_t R = std::min(kFusedRows, nrows - r0);
    const float* pr = p + r0 * ldp;
    if constexpr (kQuant) PrepareValueWeights(l, ft.subs, ft.t0, ft.t1, pr, ldp, R, pw);
    float* ar = acc + r0 * lda;
    PrefetchQueue* f = r0 == 0 ? &ft.pf : nullptr;
    switch (R) {
      case 4: FusedPVRows<F, 4>(l, vrow, tbyte, ft.t0, ft.t1, dv_acc, pr, pw, ar, lda, f); break;
      case 3: FusedPVRows<F, 3>(l, vrow, tbyte, ft.t0, ft.t1, dv_acc, pr, pw, ar, lda, f); break;
      case 2: FusedPVRows<F, 2>(l, vrow, tbyte, ft.t0, ft.t1, dv_acc, pr, pw, ar, lda, f); break;
      default: FusedPVRows<F, 1>(l, vrow, tbyte, ft.t0, ft.t1, dv_acc, pr, pw, ar, lda, f); break;
    }
  }
  ft.pf.Drain();  // what the loops did not hand out
}

// acc [nrows][lda] += P V over the tile's valid tokens (probabilities p
// [nrows][ldp], ldp == kTile); pw: scratch of v_groups * kFusedRows * (kTile + 1)
// floats for quantised values. Prefetches the next tile's values.
HWY_INLINE void FusedPV(FusedTile& ft, size_t nrows, size_t dv_acc, const float* p, size_t ldp,
                        float* pw, float* acc, size_t lda) {
  switch (ft.layout->fmt) {
    case KVDType::kF32: return FusedPVOf<KVDType::kF32>(ft, nrows, dv_acc, p, ldp, pw, acc, lda);
    case KVDType::kBF16: return FusedPVOf<KVDType::kBF16>(ft, nrows, dv_acc, p, ldp, pw, acc, lda);
    case KVDType::kF16: return FusedPVOf<KVDType::kF16>(ft, nrows, dv_acc, p, ldp, pw, acc, lda);
    case KVDType::kInt8: return FusedPVOf<KVDType::kInt8>(ft, nrows, dv_acc, p, ldp, pw, acc, lda);
    case KVDType::kInt4: return FusedPVOf<KVDType::kInt4>(ft, nrows, dv_acc, p, ldp, pw, acc, lda);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::decode
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_DECODE_DECODE_FUSED_INL_H_
