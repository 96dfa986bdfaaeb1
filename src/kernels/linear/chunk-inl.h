// SPDX-License-Identifier: Apache-2.0
// The chunked linear-attention kernel (per-target Highway code, included by
// linear.cc once per target): intra-chunk tile products plus the state passed
// from chunk to chunk. The recurrent form is recurrent-inl.h.
//
// Per work item (sequence, KV head g) and chunk of c <= C tokens, with feature
// rows Q [G*c x F] (all G query heads of g, head-major), K [c x F], V [c x Dv']
// (Dv' = Dv, + a ones column with the denominator), the state S [F x Dv'] at
// the chunk start, and B_t = sum_{u<=t} log a_u the log-decay from the chunk
// start (a scalar per token, or per channel; 0 without gates):
//
//   P   = (Q K^T) o Gamma,  Gamma_tj = e^{B_t - B_j} for j <= t, else 0
//   delta rule only (the WY / UT form of flash-linear-attention):
//     A   = StrictLower((K K^T) o Gamma) scaled by beta_t per row
//     T   = (I + A)^-1                     forward substitution, c^3 / 6 FMAs
//     U   = T (beta o (V - (K o e^B) S))   the "pseudo values" replacing V
//   O   = P U + (Q o e^B) S                intra + inter (U = V for the additive rule)
//   S  <- e^{B_last} o S + (K o e^{B_last - B})^T U
//
// The four products are TileGemm calls (src/simd/tile_gemm-inl.h):
//   P = Q K^T      rows G*c, depth F,  cols RoundUp(c, 16)   B = packed K^T [F x Cp]
//   O = P U        rows G*c, depth c,  cols Dvp
//   O += Qd S      rows G*c, depth F,  cols Dvp
//   S += Kd^T U    rows F,   depth c,  cols Dvp              A = packed Kd^T [F x Cp]
// so per token 2 G C (F + Dvp) + 2 (G + 1) F Dvp FLOPs; C = 64 balances the
// intra-chunk tiles (which grow with C) against the state's load and store per
// chunk (F x Dvp, which shrinks per token as 1 / C). See linear_plan.cc.
//
// Numerics. Exponents are differences of double prefix sums of the log-gates,
// rounded to f32 once: no cancellation even when the decay from the chunk
// start is large. Every factor applied is <= 1 (Gamma, e^{B_t}, e^{B_last-B_j})
// except in the per-channel scores, which need a pivot between t and j
// (GatedScoresChannel): one pivot per chunk when the chunk's decay is within
// kPivotSpan nats, else query blocks of 16 rows, each with its own pivot, and
// an exact per-pair evaluation of a diagonal block that decays faster still.

#if defined(ATTNKIT_KERNELS_LINEAR_CHUNK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_LINEAR_CHUNK_INL_H_
#undef ATTNKIT_KERNELS_LINEAR_CHUNK_INL_H_
#else
#define ATTNKIT_KERNELS_LINEAR_CHUNK_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "src/kernels/linear/linear.h"
#include "src/kernels/linear/linear_common-inl.h"
#include "src/simd/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::linear {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

// Pointers into one worker's scratch (see ChunkLayout) and the sizes of the
// current chunk.
struct ChunkBuffers {
  float *state, *qf, *kf, *kpos, *kt, *kdt, *u, *p, *o, *r, *tm, *qs, *kd, *w, *beta, *tmp;
  double *bp, *piv;
};

struct ChunkDims {
  size_t G, F, Fp, Dvp, Cp;  // group, features, padded strides
  size_t c;                  // tokens of this chunk
  size_t cw;                 // RoundUp(c, 16): computed width of score rows
};

HWY_INLINE ChunkBuffers MakeBuffers(const LinearArgs& a, float* scratch) {
  const ChunkLayout L = MakeChunkLayout(a);
  ChunkBuffers b;
  b.state = scratch + L.state;
  b.qf = scratch + L.qf;
  b.kf = scratch + L.kf;
  b.kpos = scratch + L.kpos;
  b.kt = scratch + L.kt;
  b.kdt = scratch + L.kdt;
  b.u = scratch + L.u;
  b.p = scratch + L.p;
  b.o = scratch + L.o;
  b.r = scratch + L.r;
  b.tm = scratch + L.tm;
  b.qs = scratch + L.qs;
  b.kd = scratch + L.kd;
  b.w = scratch + L.w;
  b.beta = scratch + L.beta;
  b.tmp = scratch + L.tmp;
  b.bp = reinterpret_cast<double*>(scratch + L.bp);
  b.piv = reinterpret_cast<double*>(scratch + L.piv);
  return b;
}

// dst [F x ld] = src[j][ch] * (scale ? scale[j] : 1), transposed from rows
// src [c x Fp]; columns [c, cw) are zeroed.
HWY_INLINE void TransposeRows(const float* HWY_RESTRICT src, const ChunkDims& d,
                              const float* HWY_RESTRICT scale, float* HWY_RESTRICT dst) {
  for (size_t j = 0; j < d.c; ++j) {
    const float* row = src + j * d.Fp;
    const float f = scale != nullptr ? scale[j] : 1.0f;
    for (size_t ch = 0; ch < d.F; ++ch) dst[ch * d.Cp + j] = row[ch] * f;
  }
  for (size_t ch = 0; ch < d.F; ++ch) std::fill(dst + ch * d.Cp + d.c, dst + ch * d.Cp + d.cw, 0.0f);
}

// dst[ch][j] = src[j][ch] * e^{x[ch] - bp[j][ch]} (per-channel log-sums), for
// columns j < n, zeroing [n, RoundUp(n, 16)); x == nullptr means x = 0.
HWY_INLINE void TransposeScaledChannel(const float* HWY_RESTRICT src, const double* bp,
                                       const double* x, size_t n, const ChunkDims& d,
                                       float* HWY_RESTRICT w, float* HWY_RESTRICT dst) {
  static const double kZero = 0.0;
  for (size_t j = 0; j < n; ++j) {
    ExpOfDifference(x != nullptr ? x : &kZero, x != nullptr ? 1 : 0, bp + j * d.Fp, 1, d.F, w);
    const float* row = src + j * d.Fp;
    for (size_t ch = 0; ch < d.F; ++ch) dst[ch * d.Cp + j] = row[ch] * w[ch];
  }
  const size_t nw = static_cast<size_t>(RoundUp(static_cast<int64_t>(n), kPad));
  for (size_t ch = 0; ch < d.F; ++ch) std::fill(dst + ch * d.Cp + n, dst + ch * d.Cp + nw, 0.0f);
}

// rows[r][ch] *= e^{bp[t][ch] - base[ch]} for the nh x c rows r = hh * c + t of
// `rows` (row stride Fp); per channel (bp stride Fp) or scalar per token.
HWY_INLINE void ScaleRowsByDecay(float* HWY_RESTRICT rows, size_t nh, const double* bp,
                                 bool channel, const ChunkDims& d, float* HWY_RESTRICT w) {
  static const double kZero = 0.0;
  for (size_t t = 0; t < d.c; ++t) {
    if (channel) {
      ExpOfDifference(bp + t * d.Fp, 1, &kZero, 0, d.F, w);
      for (size_t hh = 0; hh < nh; ++hh) MulN(rows + (hh * d.c + t) * d.Fp, w, d.F);
    } else {
      const float f = std::exp(static_cast<float>(bp[t]));
      for (size_t hh = 0; hh < nh; ++hh) ScaleN(rows + (hh * d.c + t) * d.Fp, d.F, f);
    }
  }
}

// Keeps the causal part of nh x c score rows (row hh * c + t keeps j <= t, or
// j < t when `strict`) times e^{b_t - b_j} with scalar gates; zeroes the rest
// of the computed width.
HWY_INLINE void MaskScores(float* HWY_RESTRICT p, size_t nh, const double* bp, bool strict,
                           const ChunkDims& d, float* HWY_RESTRICT w) {
  for (size_t t = 0; t < d.c; ++t) {
    const size_t keep = strict ? t : t + 1;
    if (bp != nullptr) ExpOfDifference(bp + t, 0, bp, 1, keep, w);
    for (size_t hh = 0; hh < nh; ++hh) {
      float* row = p + (hh * d.c + t) * d.Cp;
      if (bp != nullptr) MulN(row, w, keep);
      std::fill(row + keep, row + d.cw, 0.0f);
    }
  }
}

// Per-channel gated scores without one pivot for the whole chunk:
//   P[hh * c + t][j] = sum_ch src[hh * c + t][ch] kf[j][ch] e^{B_t[ch] - B_j[ch]}
// for j <= t (j < t when strict), zero elsewhere. Query block [s0, s1) of 16
// rows uses the pivot B_{s0-1} (the decay up to the block): the query factors
// e^{B_t - pivot} and the factors e^{pivot - B_j} of the earlier keys are both
// <= 1, so the product of the two packed operands is one TileGemm and cannot
// overflow. Inside the block the key factors are >= 1: the same pivot if the
// block decays by at most kPivotSpan, else every pair exactly.
HWY_INLINE void GatedScoresChannel(const LinearArgs& a, const float* HWY_RESTRICT src, size_t nh,
                                   bool strict, const ChunkDims& d, const ChunkBuffers& b,
                                   float* HWY_RESTRICT p) {
  const size_t F = d.F, Fp = d.Fp, c = d.c;
  const double* bp = b.bp;
  for (size_t s0 = 0; s0 < c; s0 += kSubBlock) {
    const size_t s1 = std::min(c, s0 + static_cast<size_t>(kSubBlock)), bs = s1 - s0;
    if (s0 == 0) {
      std::fill(b.piv, b.piv + F, 0.0);
    } else {
      std::copy(bp + (s0 - 1) * Fp, bp + (s0 - 1) * Fp + F, b.piv);
    }
    // The block's query rows, scaled to the pivot.
    for (size_t i = 0; i < bs; ++i) {
      ExpOfDifference(bp + (s0 + i) * Fp, 1, b.piv, 1, F, b.w);
      for (size_t hh = 0; hh < nh; ++hh) {
        float* q = b.qs + (hh * bs + i) * Fp;
        std::copy(src + (hh * c + s0 + i) * Fp, src + (hh * c + s0 + i) * Fp + F, q);
        MulN(q, b.w, F);
      }
    }
    // Keys before the block: one product per head against the pivot-scaled K^T.
    if (s0 > 0) {
      TransposeScaledChannel(b.kf, bp, b.piv, s0, d, b.w, b.kt);
      const size_t width = static_cast<size_t>(RoundUp(static_cast<int64_t>(s0), kPad));
      for (size_t hh = 0; hh < nh; ++hh) {
        LinearGemm</*kAccumulate=*/false>(b.qs + hh * bs * Fp, Fp, b.kt, d.Cp, bs, F, width,
                                        p + (hh * c + s0) * d.Cp, d.Cp, a.l1_floats);
      }
    }
    // The diagonal block.
    double span = 0.0;
    for (size_t ch = 0; ch < F; ++ch) span = std::max(span, b.piv[ch] - bp[(s1 - 1) * Fp + ch]);
    if (span <= kPivotSpan) {
      for (size_t j = 0; j < bs; ++j) {
        ExpOfDifference(b.piv, 1, bp + (s0 + j) * Fp, 1, F, b.w);
        std::copy(b.kf + (s0 + j) * Fp, b.kf + (s0 + j) * Fp + F, b.kd + j * Fp);
        MulN(b.kd + j * Fp, b.w, F);
      }
      for (size_t hh = 0; hh < nh; ++hh) {
        for (size_t i = 0; i < bs; ++i) {
          float* row = p + (hh * c + s0 + i) * d.Cp + s0;
          for (size_t j = 0; j < (strict ? i : i + 1); ++j) {
            row[j] = DotN(b.qs + (hh * bs + i) * Fp, b.kd + j * Fp, F);
          }
        }
      }
    } else {
      for (size_t i = 0; i < bs; ++i) {
        for (size_t j = 0; j < (strict ? i : i + 1); ++j) {
          ExpOfDifference(bp + (s0 + i) * Fp, 1, bp + (s0 + j) * Fp, 1, F, b.w);
          MulN(b.w, b.kf + (s0 + j) * Fp, F);
          for (size_t hh = 0; hh < nh; ++hh) {
            p[(hh * c + s0 + i) * d.Cp + s0 + j] = DotN(src + (hh * c + s0 + i) * Fp, b.w, F);
          }
        }
      }
    }
    for (size_t hh = 0; hh < nh; ++hh) {
      for (size_t i = 0; i < bs; ++i) {
        float* row = p + (hh * c + s0 + i) * d.Cp;
        std::fill(row + s0 + (strict ? i : i + 1), row + d.cw, 0.0f);
      }
    }
  }
}

// tm [c x Cp] holds A (strictly lower); replaces it by T = (I + A)^-1, row by
// row: T_t = e_t - sum_{j<t} A_tj T_j. Rows of T are zero right of the
// diagonal, so each update is a full-vector axpy over RoundUp(j + 1, lanes).
HWY_INLINE void InvertUnitLower(const ChunkDims& d, float* HWY_RESTRICT tm, float* HWY_RESTRICT w) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  for (size_t t = 0; t < d.c; ++t) {
    float* row = tm + t * d.Cp;
    std::fill(w, w + d.cw, 0.0f);
    w[t] = 1.0f;
    for (size_t j = 0; j < t; ++j) {
      const float a = row[j];
      if (a == 0.0f) continue;
      const auto va = hn::Set(df, -a);
      const float* tj = tm + j * d.Cp;
      for (size_t i = 0; i <= j; i += N) {
        hn::StoreU(hn::MulAdd(va, hn::LoadU(df, tj + i), hn::LoadU(df, w + i)), df, w + i);
      }
    }
    std::copy(w, w + d.cw, row);
  }
}

// The delta rule's pseudo values: b.u <- U = T (beta o (V - Kpos S)).
HWY_INLINE void DeltaValues(const LinearArgs& a, const ChunkDims& d, const ChunkBuffers& b,
                            bool channel, bool pivot_chunk, bool state_zero) {
  const size_t F = d.F, Fp = d.Fp, Dvp = d.Dvp, c = d.c;
  const bool gated = a.gated();
  // Kpos = K o e^{B_t}: the keys as seen from the chunk start.
  const float* kpos = b.kf;
  if (gated) {
    std::copy(b.kf, b.kf + c * Fp, b.kpos);
    ScaleRowsByDecay(b.kpos, 1, b.bp, channel, d, b.w);
    kpos = b.kpos;
  }
  // R = beta o (V - Kpos S).
  if (!state_zero) {
    LinearGemm</*kAccumulate=*/false>(kpos, Fp, b.state, Dvp, c, F, Dvp, b.r, Dvp, a.l1_floats);
  }
  for (size_t t = 0; t < c; ++t) {
    const float* v = b.u + t * Dvp;
    float* r = b.r + t * Dvp;
    const float beta = b.beta[t];
    if (state_zero) {
      for (size_t i = 0; i < Dvp; ++i) r[i] = beta * v[i];
    } else {
      for (size_t i = 0; i < Dvp; ++i) r[i] = beta * (v[i] - r[i]);
    }
  }
  // A = StrictLower((K K^T) o Gamma), rows scaled by beta.
  if (channel && !pivot_chunk) {
    GatedScoresChannel(a, b.kf, 1, /*strict=*/true, d, b, b.tm);
  } else {
    // kt is K^T (scalar gates, no gates) or (K e^{-B})^T (one pivot per chunk).
    LinearGemm</*kAccumulate=*/false>(channel ? kpos : b.kf, Fp, b.kt, d.Cp, c, F, d.cw, b.tm,
                                    d.Cp, a.l1_floats);
    MaskScores(b.tm, 1, channel || !gated ? nullptr : b.bp, /*strict=*/true, d, b.w);
  }
  for (size_t t = 0; t < c; ++t) ScaleN(b.tm + t * d.Cp, t, b.beta[t]);
  InvertUnitLower(d, b.tm, b.w);
  LinearGemm</*kAccumulate=*/false>(b.tm, d.Cp, b.r, Dvp, c, c, Dvp, b.u, Dvp, a.l1_floats);
}

// One chunk of c tokens starting at token c0 of sequence s, KV head g.
inline void ChunkStep(const LinearArgs& a, const Sequence& s, int64_t g, int64_t c0, const ChunkDims& d,
               const ChunkBuffers& b, bool state_zero) {
  const size_t G = d.G, F = d.F, Fp = d.Fp, Dvp = d.Dvp, c = d.c;
  const int64_t n0 = s.offset + c0;
  // 1. Feature rows of Q (all heads of the group), K, and the V rows.
  for (size_t hh = 0; hh < G; ++hh) {
    const int64_t h = g * a.group + static_cast<int64_t>(hh);
    for (size_t t = 0; t < c; ++t) {
      FeatureRow(a, s.batch_index, h, n0 + static_cast<int64_t>(t), true, b.qf + (hh * c + t) * Fp,
                 b.tmp);
    }
  }
  for (size_t t = 0; t < c; ++t) {
    const int64_t n = n0 + static_cast<int64_t>(t);
    FeatureRow(a, s.batch_index, g, n, false, b.kf + t * Fp, b.tmp);
    ValueRow(a, s.batch_index, g, n, b.u + t * Dvp);
    if (a.delta) b.beta[t] = Beta(a, s, g, c0 + static_cast<int64_t>(t));
  }

  // 2. Log-decay prefix sums from the chunk start, in double: bp[t] (scalar)
  // or bp[t * Fp + ch] (per channel).
  const bool gated = a.gated(), channel = a.gate_kind == LinearGate::kChannel;
  bool pivot_chunk = true;  // per-channel scores with one pivot (the chunk start)
  if (channel) {
    for (size_t t = 0; t < c; ++t) {
      const float* gr = RowPtr<const float>(a.gate, s.batch_index, g, n0 + static_cast<int64_t>(t));
      const double dec = a.log_decay != nullptr ? a.log_decay[g] : 0.0;
      for (size_t ch = 0; ch < F; ++ch) {
        const double prev = t > 0 ? b.bp[(t - 1) * Fp + ch] : 0.0;
        b.bp[t * Fp + ch] = prev + dec + std::max(gr[ch], kMinLogGate);
      }
    }
    double span = 0.0;
    for (size_t ch = 0; ch < F; ++ch) span = std::max(span, -b.bp[(c - 1) * Fp + ch]);
    pivot_chunk = span <= kPivotSpan;
  } else if (gated) {
    for (size_t t = 0; t < c; ++t) {
      b.bp[t] = (t > 0 ? b.bp[t - 1] : 0.0) + LogGate(a, s, g, c0 + static_cast<int64_t>(t), 0);
    }
  }
  const double* scalar_bp = gated && !channel ? b.bp : nullptr;

  // 3. K^T for the scores: plain, or (K e^{-B})^T with one pivot per chunk.
  if (!channel) {
    TransposeRows(b.kf, d, nullptr, b.kt);
  } else if (pivot_chunk) {
    TransposeScaledChannel(b.kf, b.bp, nullptr, c, d, b.w, b.kt);
  }

  // 4. Delta rule: V -> U (uses the state before this chunk).
  if (a.delta) DeltaValues(a, d, b, channel, pivot_chunk, state_zero);

  // 5. Scores P [G*c x cw].
  if (channel && !pivot_chunk) {
    GatedScoresChannel(a, b.qf, G, /*strict=*/false, d, b, b.p);
  } else {
    if (channel) ScaleRowsByDecay(b.qf, G, b.bp, true, d, b.w);  // qf becomes Q o e^B
    LinearGemm</*kAccumulate=*/false>(b.qf, Fp, b.kt, d.Cp, G * c, F, d.cw, b.p, d.Cp, a.l1_floats);
    MaskScores(b.p, G, scalar_bp, /*strict=*/false, d, b.w);
  }

  // 6. Intra-chunk output O = P U, 7. plus the state's part (Q o e^B) S.
  LinearGemm</*kAccumulate=*/false>(b.p, d.Cp, b.u, Dvp, G * c, c, Dvp, b.o, Dvp, a.l1_floats);
  if (!state_zero) {
    if (gated && !(channel && pivot_chunk)) ScaleRowsByDecay(b.qf, G, b.bp, channel, d, b.w);
    LinearGemm</*kAccumulate=*/true>(b.qf, Fp, b.state, Dvp, G * c, F, Dvp, b.o, Dvp, a.l1_floats);
  }

  // 8. State: S <- e^{B_last} o S + (K o e^{B_last - B})^T U.
  const float* kdt = b.kt;  // no gates: plain K^T
  if (channel) {
    TransposeScaledChannel(b.kf, b.bp, b.bp + (c - 1) * Fp, c, d, b.w, b.kdt);
    kdt = b.kdt;
    if (!state_zero) {
      for (size_t ch = 0; ch < F; ++ch) {
        ScaleN(b.state + ch * Dvp, Dvp, std::exp(static_cast<float>(b.bp[(c - 1) * Fp + ch])));
      }
    }
  } else if (gated) {
    ExpOfDifference(b.bp + (c - 1), 0, b.bp, 1, c, b.w);
    TransposeRows(b.kf, d, b.w, b.kdt);
    kdt = b.kdt;
    if (!state_zero) ScaleN(b.state, F * Dvp, std::exp(static_cast<float>(b.bp[c - 1])));
  }
  LinearGemm</*kAccumulate=*/true>(kdt, d.Cp, b.u, Dvp, F, c, Dvp, b.state, Dvp, a.l1_floats);

  // 9. Output rows.
  for (size_t hh = 0; hh < G; ++hh) {
    const int64_t h = g * a.group + static_cast<int64_t>(hh);
    for (size_t t = 0; t < c; ++t) {
      FinishRow(a, s, h, c0 + static_cast<int64_t>(t), b.o + (hh * c + t) * Dvp, b.tmp);
    }
  }
}

// The whole sequence of work item w, chunk by chunk, from the initial state
// to the final state.
inline void ChunkSequence(const LinearArgs& a, const WorkItem& w, float* HWY_RESTRICT scratch) {
  const Sequence& s = a.seqs[w.seq];
  const ChunkBuffers b = MakeBuffers(a, scratch);
  bool state_zero = !LoadState(a, s, w.kv_head, b.state);
  ChunkDims d;
  d.G = static_cast<size_t>(a.group);
  d.F = static_cast<size_t>(a.f);
  d.Fp = static_cast<size_t>(a.f_pad);
  d.Dvp = static_cast<size_t>(a.dv_pad);
  d.Cp = static_cast<size_t>(RoundUp(a.chunk, kPad));
  for (int64_t c0 = 0; c0 < s.n; c0 += a.chunk) {
    d.c = static_cast<size_t>(std::min(a.chunk, s.n - c0));
    d.cw = static_cast<size_t>(RoundUp(static_cast<int64_t>(d.c), kPad));
    ChunkStep(a, s, w.kv_head, c0, d, b, state_zero);
    state_zero = false;
  }
  StoreState(a, s, w.kv_head, b.state);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::linear
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_LINEAR_CHUNK_INL_H_
