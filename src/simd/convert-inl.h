// SPDX-License-Identifier: Apache-2.0
// Loading f32 / bf16 / f16 storage as f32 vectors and rows (per-target Highway
// code). Storage types are the raw 16-bit patterns; widening is exact.

#if defined(ATTNKIT_SIMD_CONVERT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_SIMD_CONVERT_INL_H_
#undef ATTNKIT_SIMD_CONVERT_INL_H_
#else
#define ATTNKIT_SIMD_CONVERT_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"
#include "src/simd/storage_types.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lanes(d) elements from p, widened to f32.
template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const float* p) {
  return hn::LoadU(d, p);
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const BF16Bits* p) {
  const hn::Rebind<hwy::bfloat16_t, D> dbf;
  return hn::PromoteTo(d, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(p)));
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const F16Bits* p) {
  const hn::Rebind<hwy::float16_t, D> df16;
  const hn::Rebind<uint16_t, D> du16;
  const auto raw = hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p));
  const hn::Vec<D> v = hn::PromoteTo(d, hn::BitCast(df16, raw));
#if HWY_TARGET >= HWY_SSE4  // SSE4, SSSE3, EMU128, SCALAR: no F16C
  // Highway 1.0.3 emulates the conversion there without infinities and NaNs
  // (exponent 31 becomes 2^16 (1 + m)): those lanes are rebuilt from the bits
  // as sign | f32 exponent 255 | mantissa << 13, which is what F16C does.
  const hn::RebindToUnsigned<D> du;
  const auto bits = hn::PromoteTo(du, raw);
  const auto exp_mask = hn::Set(du, 0x7C00u);
  const auto special = hn::Eq(hn::And(bits, exp_mask), exp_mask);
  const auto sign = hn::ShiftLeft<16>(hn::And(bits, hn::Set(du, 0x8000u)));
  const auto mant = hn::ShiftLeft<13>(hn::And(bits, hn::Set(du, 0x3FFu)));
  const auto inf_nan = hn::BitCast(d, hn::Or(hn::Or(sign, hn::Set(du, 0x7F800000u)), mant));
  return hn::IfThenElse(hn::RebindMask(d, special), inf_nan, v);
#else
  return v;
#endif
}

// dst[i] = scale * float(src[i]) for i < n.
template <typename T>
HWY_INLINE void ConvertScaleRow(const T* HWY_RESTRICT src, size_t n, float scale,
                                float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vscale = hn::Set(d, scale);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(LoadF32(d, src + i), vscale), d, dst + i);
  for (; i < n; ++i) dst[i] = scale * ToF32(src[i]);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_CONVERT_INL_H_
