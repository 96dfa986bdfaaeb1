// SPDX-License-Identifier: Apache-2.0
// In-register transpose of an N x N block of f32 (N = lanes of the full
// vector: 16 on AVX-512, 8 on AVX2, 4 on SSE4 / EMU128, 1 on SCALAR), for the
// kernels that pack rows of tokens into lanes-are-tokens layouts (K^T, Q^T)
// and back. No gathers and no staging block in memory: N loads, log2(N)
// stages of one two-source shuffle per output vector, N stores.
//
//   1. 32-bit interleave of rows (2i, 2i + 1), within 128-bit blocks;
//   2. 64-bit interleave of (4g, 4g + 2) and (4g + 1, 4g + 3): block L of
//      u[4g + m] now holds rows 4g .. 4g + 3 of column 4L + m (N = 4: done);
//   3. N = 8: 128-bit halves of (u[m], u[4 + m]);
//      N = 16: two rounds of 128-bit block shuffles (vshuff32x4) gather block
//      L of u[m], u[4 + m], u[8 + m], u[12 + m] into output 4L + m.

#if defined(ATTNKIT_SIMD_TRANSPOSE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_SIMD_TRANSPOSE_INL_H_
#undef ATTNKIT_SIMD_TRANSPOSE_INL_H_
#else
#define ATTNKIT_SIMD_TRANSPOSE_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "src/simd/convert-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// v[i] lane j <- v[j] lane i for i, j < Lanes(d); d is a full f32 vector tag.
template <class D>
HWY_INLINE void TransposeSquare(D d, hn::Vec<D>* HWY_RESTRICT v) {
  constexpr size_t N = hn::MaxLanes(d);
  static_assert(N == 1 || N == 4 || N == 8 || N == 16, "full f32 vectors of 1, 4, 8 or 16 lanes");
#if HWY_TARGET == HWY_SCALAR  // one lane: nothing to move (and no shuffle ops)
  (void)d;
  (void)v;
#else
  using V = hn::Vec<D>;
  const hn::Repartition<double, D> d64;
  V t[N];
  for (size_t i = 0; i < N; i += 2) {
    t[i] = hn::InterleaveLower(d, v[i], v[i + 1]);
    t[i + 1] = hn::InterleaveUpper(d, v[i], v[i + 1]);
  }
  for (size_t g = 0; g < N; g += 4) {
    const auto a = hn::BitCast(d64, t[g]), b = hn::BitCast(d64, t[g + 1]);
    const auto c = hn::BitCast(d64, t[g + 2]), e = hn::BitCast(d64, t[g + 3]);
    v[g] = hn::BitCast(d, hn::InterleaveLower(d64, a, c));
    v[g + 1] = hn::BitCast(d, hn::InterleaveUpper(d64, a, c));
    v[g + 2] = hn::BitCast(d, hn::InterleaveLower(d64, b, e));
    v[g + 3] = hn::BitCast(d, hn::InterleaveUpper(d64, b, e));
  }
  if constexpr (N == 8) {
    for (size_t m = 0; m < 4; ++m) {
      const V lo = v[m], hi = v[4 + m];
      v[m] = hn::ConcatLowerLower(d, hi, lo);
      v[4 + m] = hn::ConcatUpperUpper(d, hi, lo);
    }
  }
  if constexpr (N == 16) {
#if HWY_TARGET <= HWY_AVX3
    for (size_t m = 0; m < 4; ++m) {
      // x = [u_m.b0, u_m.b2, u_4+m.b0, u_4+m.b2], y = the odd blocks; z, w
      // the same of u_8+m, u_12+m; then even / odd blocks of (x, z), (y, w).
      const __m512 x = _mm512_shuffle_f32x4(v[m].raw, v[4 + m].raw, 0x88);
      const __m512 y = _mm512_shuffle_f32x4(v[m].raw, v[4 + m].raw, 0xDD);
      const __m512 z = _mm512_shuffle_f32x4(v[8 + m].raw, v[12 + m].raw, 0x88);
      const __m512 w = _mm512_shuffle_f32x4(v[8 + m].raw, v[12 + m].raw, 0xDD);
      v[m] = V{_mm512_shuffle_f32x4(x, z, 0x88)};
      v[8 + m] = V{_mm512_shuffle_f32x4(x, z, 0xDD)};
      v[4 + m] = V{_mm512_shuffle_f32x4(y, w, 0x88)};
      v[12 + m] = V{_mm512_shuffle_f32x4(y, w, 0xDD)};
    }
#endif
  }
#endif
}

// dst[c * dst_stride + r] = scale[c] * float(src[r * src_stride + c]) for
// r, c < N (lane c of every source row is scaled by lane c of `scale`, then
// the block is transposed): one full N x N block, branch-free so that the N
// vectors stay in registers (with conditional rows the compiler kept them on
// the stack, at twice the cost).
template <class D, typename T>
HWY_INLINE void TransposeBlock(D d, const T* HWY_RESTRICT src, int64_t src_stride, hn::Vec<D> scale,
                               float* HWY_RESTRICT dst, int64_t dst_stride) {
  constexpr size_t N = hn::MaxLanes(d);
  hn::Vec<D> v[N];
  for (size_t r = 0; r < N; ++r) {
    v[r] = hn::Mul(LoadF32(d, src + static_cast<int64_t>(r) * src_stride), scale);
  }
  TransposeSquare(d, v);
  for (size_t c = 0; c < N; ++c) hn::StoreU(v[c], d, dst + static_cast<int64_t>(c) * dst_stride);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_TRANSPOSE_INL_H_
