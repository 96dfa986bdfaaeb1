// SPDX-License-Identifier: Apache-2.0
// The recurrent (token-by-token) linear-attention kernel (per-target Highway
// code, included by linear.cc once per target): the decode form. The chunked
// (prefill) form is chunk-inl.h.
//
// Per token t of work item (sequence, KV head g), with the feature rows
// q_h (every query head h of g's group), k, the value row v (+ 1 with the
// denominator) and a = e^{log-gate} per channel:
//   additive:  S <- diag(a) S + k v^T
//   delta:     u = (a o k)^T S   (= k^T diag(a) S, one read-only pass, TileGemm)
//              S <- diag(a) S + k (beta (v - u))^T
//   o_h = q_h^T S  for every head of the group.
// The update and the first four heads' outputs share one pass over S: per
// state row, 2 vectors of columns are loaded, updated, stored and multiplied
// into 4 x 2 accumulators (8 independent FMA chains; 8 + 2 + 3 registers fit
// the 16 of AVX2). Further heads take a TileGemm over the updated S. The cost
// per token is a fixed number of passes over the F x Dv state: independent of
// the context length, which is the point of linear attention for decode.

#if defined(ATTNKIT_KERNELS_LINEAR_RECURRENT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_LINEAR_RECURRENT_INL_H_
#undef ATTNKIT_KERNELS_LINEAR_RECURRENT_INL_H_
#else
#define ATTNKIT_KERNELS_LINEAR_RECURRENT_INL_H_
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

// Heads whose outputs are accumulated during the update pass.
inline constexpr size_t kFusedHeads = 4;

// Columns [j0, j0 + kNv * Lanes) of the state: S[ch] <- a[ch] S[ch] + k[ch] x
// for every row ch < F, and o_h = sum_ch q_h[ch] S[ch] for kH heads.
template <size_t kH, size_t kNv>
HWY_INLINE void UpdateColumns(const float* HWY_RESTRICT alpha, const float* HWY_RESTRICT k,
                              const float* HWY_RESTRICT x, const float* HWY_RESTRICT qf, size_t fp,
                              size_t f, float* HWY_RESTRICT state, size_t dvp, size_t j0,
                              float* HWY_RESTRICT o) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const size_t N = hn::Lanes(d);
  V xv[kNv], acc[kH][kNv];
  for (size_t v = 0; v < kNv; ++v) {
    xv[v] = hn::LoadU(d, x + j0 + v * N);
    for (size_t h = 0; h < kH; ++h) acc[h][v] = hn::Zero(d);
  }
  for (size_t ch = 0; ch < f; ++ch) {
    float* row = state + ch * dvp + j0;
    const V va = hn::Set(d, alpha[ch]), vk = hn::Set(d, k[ch]);
    V sv[kNv];
    for (size_t v = 0; v < kNv; ++v) {
      sv[v] = hn::MulAdd(va, hn::LoadU(d, row + v * N), hn::Mul(vk, xv[v]));
      hn::StoreU(sv[v], d, row + v * N);
    }
    for (size_t h = 0; h < kH; ++h) {
      const V vq = hn::Set(d, qf[h * fp + ch]);
      for (size_t v = 0; v < kNv; ++v) acc[h][v] = hn::MulAdd(vq, sv[v], acc[h][v]);
    }
  }
  for (size_t h = 0; h < kH; ++h) {
    for (size_t v = 0; v < kNv; ++v) hn::StoreU(acc[h][v], d, o + h * dvp + j0 + v * N);
  }
}

template <size_t kNv>
HWY_INLINE void UpdateColumnsHeads(size_t heads, const float* alpha, const float* k, const float* x,
                                   const float* qf, size_t fp, size_t f, float* state, size_t dvp,
                                   size_t j0, float* o) {
  switch (heads) {
    case 1: return UpdateColumns<1, kNv>(alpha, k, x, qf, fp, f, state, dvp, j0, o);
    case 2: return UpdateColumns<2, kNv>(alpha, k, x, qf, fp, f, state, dvp, j0, o);
    case 3: return UpdateColumns<3, kNv>(alpha, k, x, qf, fp, f, state, dvp, j0, o);
    default: return UpdateColumns<4, kNv>(alpha, k, x, qf, fp, f, state, dvp, j0, o);
  }
}

// S <- diag(alpha) S + k x^T, then o[h] = qf[h]^T S for the G heads.
HWY_INLINE void UpdateAndRead(const LinearArgs& a, const float* alpha, const float* k,
                              const float* x, const float* qf, float* state, float* o) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t G = static_cast<size_t>(a.group), F = static_cast<size_t>(a.f);
  const size_t fp = static_cast<size_t>(a.f_pad), dvp = static_cast<size_t>(a.dv_pad);
  const size_t fused = std::min(G, kFusedHeads);
  size_t j0 = 0;
  for (; j0 + 2 * N <= dvp; j0 += 2 * N) {
    UpdateColumnsHeads<2>(fused, alpha, k, x, qf, fp, F, state, dvp, j0, o);
  }
  for (; j0 < dvp; j0 += N) UpdateColumnsHeads<1>(fused, alpha, k, x, qf, fp, F, state, dvp, j0, o);
  if (G > fused) {
    LinearGemm</*kAccumulate=*/false>(qf + fused * fp, fp, state, dvp, G - fused, F, dvp,
                                    o + fused * dvp, dvp, a.l1_floats);
  }
}

inline void RecurrentSequence(const LinearArgs& a, const WorkItem& w, float* HWY_RESTRICT scratch) {
  const Sequence& s = a.seqs[w.seq];
  const int64_t g = w.kv_head;
  const RecurrentLayout L = MakeRecurrentLayout(a);
  float* HWY_RESTRICT state = scratch + L.state;
  float* HWY_RESTRICT qf = scratch + L.qf;
  float* HWY_RESTRICT kf = scratch + L.kf;
  float* HWY_RESTRICT x = scratch + L.vrow;
  float* HWY_RESTRICT alpha = scratch + L.alpha;
  float* HWY_RESTRICT o = scratch + L.o;
  float* HWY_RESTRICT tmp = scratch + L.tmp;
  const size_t F = static_cast<size_t>(a.f), fp = static_cast<size_t>(a.f_pad);
  const size_t dvp = static_cast<size_t>(a.dv_pad);
  LoadState(a, s, g, state);
  std::fill(alpha, alpha + fp, 1.0f);
  for (int64_t t = 0; t < s.n; ++t) {
    for (int64_t hh = 0; hh < a.group; ++hh) {
      const int64_t h = g * a.group + hh;
      FeatureRow(a, s.batch_index, h, s.offset + t, true, qf + hh * fp, tmp);
    }
    FeatureRow(a, s.batch_index, g, s.offset + t, false, kf, tmp);
    ValueRow(a, s.batch_index, g, s.offset + t, x);
    if (a.gate_kind == LinearGate::kChannel) {
      for (size_t ch = 0; ch < F; ++ch) alpha[ch] = LogGate(a, s, g, t, static_cast<int64_t>(ch));
      ExpInPlace(alpha, F);
    } else if (a.gated()) {
      std::fill(alpha, alpha + F, std::exp(LogGate(a, s, g, t, 0)));
    }
    if (a.delta) {
      // u = (alpha o k)^T S into o's first row (free until UpdateAndRead), then
      // the update row x = beta (v - u).
      float* ak = tmp;
      for (size_t ch = 0; ch < F; ++ch) ak[ch] = alpha[ch] * kf[ch];
      LinearGemm</*kAccumulate=*/false>(ak, fp, state, dvp, 1, F, dvp, o, dvp, a.l1_floats);
      const float beta = Beta(a, s, g, t);
      for (size_t i = 0; i < dvp; ++i) x[i] = beta * (x[i] - o[i]);
    }
    UpdateAndRead(a, alpha, kf, x, qf, state, o);
    for (int64_t hh = 0; hh < a.group; ++hh) {
      FinishRow(a, s, g * a.group + hh, t, o + hh * static_cast<int64_t>(dvp), tmp);
    }
  }
  StoreState(a, s, g, state);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::linear
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_LINEAR_RECURRENT_INL_H_
