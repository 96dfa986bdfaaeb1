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
  return hn::PromoteTo(d, hn::LoadU(df16, reinterpret_cast<const hwy::float16_t*>(p)));
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
