// SPDX-License-Identifier: Apache-2.0
// Vectorised exp2 for softmax (per-target Highway code; include after
// foreach_target.h or highway.h). Not a general-purpose exp: it is accurate to
// ~2 ulp for x in [-126, 127], returns exactly 0 below -126 (so masked logits
// at -inf contribute nothing) and propagates NaN.

// Per-target include guard (Highway convention).
#if defined(ATTNKIT_SIMD_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_SIMD_EXP_INL_H_
#undef ATTNKIT_SIMD_EXP_INL_H_
#else
#define ATTNKIT_SIMD_EXP_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline constexpr float kLog2e = 1.4426950408889634f;

// 2^x. Range reduction x = n + f with n = round(x), |f| <= 1/2; 2^f by its
// degree-6 Taylor polynomial in f*ln2 (truncation error < 1.2e-7 relative,
// below f32 epsilon), then 2^n added to the exponent bits. 11 vector ops.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Exp2(D d, V x) {
  const hn::RebindToSigned<D> di;
  const V clamped = hn::Min(hn::Max(x, hn::Set(d, -127.0f)), hn::Set(d, 127.0f));
  const V n = hn::Round(clamped);
  const V f = hn::Sub(clamped, n);
  // c_k = ln(2)^k / k!
  V p = hn::Set(d, 1.5403530393381606e-4f);
  p = hn::MulAdd(p, f, hn::Set(d, 1.3333558146428443e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 9.6181291076284772e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 5.5504108664821580e-2f));
  p = hn::MulAdd(p, f, hn::Set(d, 2.4022650695910071e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 6.9314718055994531e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.0f));
  const auto biased = hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127));
  const V two_n = hn::BitCast(d, hn::ShiftLeft<23>(biased));
  const V r = hn::IfThenZeroElse(hn::Lt(x, hn::Set(d, -126.0f)), hn::Mul(p, two_n));
  return hn::IfThenElse(hn::Eq(x, x), r, x);  // NaN in, NaN out
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_EXP_INL_H_
