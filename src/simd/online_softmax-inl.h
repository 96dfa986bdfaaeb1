// SPDX-License-Identifier: Apache-2.0
// The online-softmax primitive (per-target Highway code), shared by every
// softmax family. Logits are in base-2 units (natural logits times log2 e,
// folded into the query scale by the kernels), so every exp is one Exp2.
// One row of a query tile carries the state
//   m = running max of the logits seen so far (-inf before any visible key),
//   l = sum_j exp(s_j - m)                     (0 before any visible key),
//   acc = sum_j exp(s_j - m) v_j               (kept by the caller, unnormalised).
// A new tile of logits s_1..s_n updates it as
//   m' = max(m, max_j s_j),  alpha = exp(m - m'),  p_j = exp(s_j - m'),
//   l' = alpha l + sum_j p_j,  acc' = alpha acc + sum_j p_j v_j.
// with exp(x) meaning 2^x. The final row is O = acc / l and, back in natural
// units, LSE = (m + log2 l) ln 2 (FlashAttention-2's deferred normalisation).
// A row that never saw a visible key keeps m = -inf, l = 0 and gets O = 0,
// LSE = -inf.
// Merging two finished states is in src/common/state.cc (attnkit::Merge).

#if defined(ATTNKIT_SIMD_ONLINE_SOFTMAX_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_SIMD_ONLINE_SOFTMAX_INL_H_
#undef ATTNKIT_SIMD_ONLINE_SOFTMAX_INL_H_
#else
#define ATTNKIT_SIMD_ONLINE_SOFTMAX_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <limits>

#include "hwy/highway.h"
#include "src/simd/exp-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// max of s[0, n); n is a multiple of Lanes.
HWY_INLINE float RowMax(const float* HWY_RESTRICT s, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto m = hn::Set(d, -std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < n; i += N) m = hn::Max(m, hn::LoadU(d, s + i));
  return hn::GetLane(hn::MaxOfLanes(d, m));
}

// s[i] <- 2^(c s[i] - row_max) for i < n (a multiple of Lanes); returns the
// sum. c s - max is one fused operation (a single rounding), so huge logits
// lose no accuracy in the entries that carry the weight.
HWY_INLINE float ExpSubtractMaxInPlace(float* HWY_RESTRICT s, size_t n, float c, float row_max) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vmax = hn::Set(d, row_max), vc = hn::Set(d, c);
  auto sum0 = hn::Zero(d), sum1 = hn::Zero(d);  // two chains hide the add latency
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto p0 = Exp2(d, hn::MulSub(hn::LoadU(d, s + i), vc, vmax));
    const auto p1 = Exp2(d, hn::MulSub(hn::LoadU(d, s + i + N), vc, vmax));
    hn::StoreU(p0, d, s + i);
    hn::StoreU(p1, d, s + i + N);
    sum0 = hn::Add(sum0, p0);
    sum1 = hn::Add(sum1, p1);
  }
  for (; i < n; i += N) {
    const auto p = Exp2(d, hn::MulSub(hn::LoadU(d, s + i), vc, vmax));
    hn::StoreU(p, d, s + i);
    sum0 = hn::Add(sum0, p);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1)));
}

// s[i] <- 2^(s[i] - row_max): logits already in base-2 units.
HWY_INLINE float ExpSubtractMaxInPlace(float* HWY_RESTRICT s, size_t n, float row_max) {
  return ExpSubtractMaxInPlace(s, n, 1.0f, row_max);
}

// x[i] *= a for i < n (a multiple of Lanes).
HWY_INLINE void ScaleRow(float* HWY_RESTRICT x, size_t n, float a) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto va = hn::Set(d, a);
  for (size_t i = 0; i < n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), va), d, x + i);
}

// One online-softmax step for a whole tile: rows r < `rows` of `s` (row
// stride `ld`, `width` columns, a multiple of Lanes, padding at -inf), whose
// base-2 logits are c * s (c > 0: the caller may leave the softmax scale to
// this step, where it costs nothing). The per-row scalar work (new max,
// rescale factor) is vectorised across rows: alpha[r] receives the factor for
// row r's accumulator. m, l and alpha hold at least RoundUp(rows, Lanes) floats.
HWY_INLINE void OnlineSoftmaxTile(float* HWY_RESTRICT s, size_t rows, size_t ld, size_t width,
                                  float c, float* HWY_RESTRICT m, float* HWY_RESTRICT l,
                                  float* HWY_RESTRICT alpha) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  // Pass 1: new row maxima (alpha temporarily holds them).
  for (size_t r = 0; r < rows; ++r) {
    const float tile_max = c * RowMax(s + r * ld, width);
    alpha[r] = tile_max > m[r] ? tile_max : m[r];
  }
  for (size_t r = rows; r % N != 0; ++r) alpha[r] = m[r];  // lanes past the last row
  // Pass 2, vectorised over rows: alpha = 2^(m_old - m_new), or 1 for rows
  // that still saw nothing (their state stays m = -inf, l = 0).
  const auto neg_inf = hn::Set(d, kNegInf);
  for (size_t r = 0; r < rows; r += N) {
    const auto m_old = hn::LoadU(d, m + r), m_new = hn::LoadU(d, alpha + r);
    const auto nothing = hn::Eq(m_new, neg_inf);
    const auto a = hn::IfThenElse(nothing, hn::Set(d, 1.0f), Exp2(d, hn::Sub(m_old, m_new)));
    hn::StoreU(m_new, d, m + r);
    hn::StoreU(a, d, alpha + r);
  }
  // Pass 3: probabilities and row sums.
  for (size_t r = 0; r < rows; ++r) {
    float* row = s + r * ld;
    if (m[r] == kNegInf) {
      for (size_t i = 0; i < width; i += N) hn::StoreU(hn::Zero(d), d, row + i);
      continue;
    }
    l[r] = alpha[r] * l[r] + ExpSubtractMaxInPlace(row, width, c, m[r]);
  }
}

// The same step for logits already in base-2 units (c = 1).
HWY_INLINE void OnlineSoftmaxTile(float* HWY_RESTRICT s, size_t rows, size_t ld, size_t width,
                                  float* HWY_RESTRICT m, float* HWY_RESTRICT l,
                                  float* HWY_RESTRICT alpha) {
  OnlineSoftmaxTile(s, rows, ld, width, 1.0f, m, l, alpha);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_ONLINE_SOFTMAX_INL_H_
