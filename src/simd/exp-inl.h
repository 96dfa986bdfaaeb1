// SPDX-License-Identifier: Apache-2.0
// Vectorised exp2 for softmax (per-target Highway code; include after
// foreach_target.h or highway.h). Not a general-purpose exp: see Exp2.

// Per-target include guard (Highway convention).
#if defined(ATTNKIT_SIMD_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_SIMD_EXP_INL_H_
#undef ATTNKIT_SIMD_EXP_INL_H_
#else
#define ATTNKIT_SIMD_EXP_INL_H_
#endif

#include "hwy/highway.h"

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

// 2^x for x <= 127 (softmax calls it with x <= 0), -inf -> exactly 0. Portable
// version (the AVX-512 one below differs only below 2^-126). Range reduction
// x = n + f with n = round(x), |f| <= 1/2; 2^f = 1 + f q(f) with q the
// degree-4 polynomial interpolating (2^f - 1) / f at the Chebyshev nodes of
// [-1/2, 1/2] (relative error 2.5e-7 with f32 arithmetic; 2^0 is exactly 1, so
// the largest logit of a row gets weight exactly 1); 2^n is added to the
// exponent bits. x is first
// clamped to >= -127, where the biased exponent becomes 0 and the result is
// exactly +0: masked logits (-inf) contribute exactly nothing, and results are
// never subnormal (no slow microcode assists). 12 vector ops.
// NaN propagates: Max(lo, NaN) returns its second operand on the x86 targets
// (checked per target in simd_test.cc); the emulated targets test explicitly.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Exp2(D d, V x) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if constexpr (hn::MaxLanes(D()) == 16) {
    // AVX-512: vreduceps gives f = x - round(x) in one instruction, and
    // vscalefps multiplies by 2^n without integer exponent arithmetic: 8 ops.
    // No clamping is needed: reduce(-inf) = 0 and n = -inf, so 2^-inf is
    // exactly 0; results below 2^-126 are subnormal (the dense kernel runs with
    // flush-to-zero, where they become 0 without microcode assists); NaN
    // propagates. (maskz forms: GCC 12's unmasked ones read an undefined source.)
    const __m512 f = _mm512_maskz_reduce_ps(0xFFFF, x.raw, 0x08);  // nearest, no fraction bits
    const __m512 n = _mm512_sub_ps(x.raw, f);
    __m512 p = _mm512_set1_ps(1.3381302537320797e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6663685153854480e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503810137964570e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022349038020360e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994530e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return V{_mm512_maskz_scalef_ps(0xFFFF, p, n)};
  }
#endif
  const hn::RebindToSigned<D> di;
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  const V x_in = x;
#endif
  x = hn::Max(hn::Set(d, -127.0f), x);
  const V n = hn::Round(x);
  const V f = hn::Sub(x, n);
  V p = hn::Set(d, 1.3381302537320797e-3f);
  p = hn::MulAdd(p, f, hn::Set(d, 9.6663685153854480e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 5.5503810137964570e-2f));
  p = hn::MulAdd(p, f, hn::Set(d, 2.4022349038020360e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 6.9314718055994530e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.0f));
  const auto biased = hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127));
  const V r = hn::Mul(p, hn::BitCast(d, hn::ShiftLeft<23>(biased)));
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  return hn::IfThenElse(hn::Ne(x_in, x_in), x_in, r);
#else
  return r;
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_EXP_INL_H_
