// SPDX-License-Identifier: Apache-2.0
// Register-blocked f32 micro-kernels for the two products of an attention tile
// (per-target Highway code):
//   S  = A · B      with A = Q tile [rows x depth] (row-major, broadcast one
//                   element at a time) and B = packed K^T [depth x cols];
//   O += P · V      the same shape of product with A = P [rows x depth] and
//                   B = V tile [depth x cols], accumulating into O.
// Both are "broadcast A, stream B" outer products: per depth step, kNv vectors
// of B are loaded once and reused by kMr rows; the kMr x kNv accumulators live
// in registers for the whole depth loop.
//
// Block sizes: AVX-512 has 32 vector registers, so 4 rows x 4 vectors = 16
// accumulators + 4 B vectors + 1 broadcast = 21 registers; 16 independent FMA
// chains cover 2 FMA ports x 4-cycle latency twice over. With 16 registers
// (AVX2, SSE4) we use 4 x 2 = 8 accumulators + 2 + 1. Per depth step the loads
// are kNv + kMr (broadcasts come from memory) for kMr * kNv FMAs: 8 loads per
// 16 FMAs on AVX-512, well under the 2-3 loads per cycle the core sustains.
//
// `cols` must be a multiple of Lanes (callers pad to 16 floats); `rows` and
// `depth` are arbitrary. Nothing is read or written beyond them.

#if defined(ATTNKIT_SIMD_TILE_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_SIMD_TILE_GEMM_INL_H_
#undef ATTNKIT_SIMD_TILE_GEMM_INL_H_
#else
#define ATTNKIT_SIMD_TILE_GEMM_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline constexpr size_t kGemmMr = 4;
template <class D>
constexpr size_t GemmNv(D d) {
  return hn::MaxLanes(d) >= 16 ? 4 : 2;
}

// One kMr x (kNv * Lanes) block: C[r][c] (=|+=) sum_k A[r][k] * B[k][c].
template <size_t kMr, size_t kNv, bool kAccumulate, class D>
HWY_INLINE void GemmBlock(D d, const float* HWY_RESTRICT a, size_t lda,
                          const float* HWY_RESTRICT b, size_t ldb, size_t depth,
                          float* HWY_RESTRICT c, size_t ldc) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kMr][kNv];
  for (size_t r = 0; r < kMr; ++r) {
    for (size_t v = 0; v < kNv; ++v) {
      acc[r][v] = kAccumulate ? hn::LoadU(d, c + r * ldc + v * N) : hn::Zero(d);
    }
  }
  for (size_t k = 0; k < depth; ++k) {
    V bv[kNv];
    for (size_t v = 0; v < kNv; ++v) bv[v] = hn::LoadU(d, b + k * ldb + v * N);
    for (size_t r = 0; r < kMr; ++r) {
      const V av = hn::Set(d, a[r * lda + k]);
      for (size_t v = 0; v < kNv; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  for (size_t r = 0; r < kMr; ++r) {
    for (size_t v = 0; v < kNv; ++v) hn::StoreU(acc[r][v], d, c + r * ldc + v * N);
  }
}

// Picks the instantiation for a row tail of `mr` (1..kMr) rows and `nv` vectors.
template <size_t kNv, bool kAccumulate, class D>
HWY_INLINE void GemmBlockRows(D d, size_t mr, const float* a, size_t lda, const float* b,
                              size_t ldb, size_t depth, float* c, size_t ldc) {
  switch (mr) {
    case 4: return GemmBlock<4, kNv, kAccumulate>(d, a, lda, b, ldb, depth, c, ldc);
    case 3: return GemmBlock<3, kNv, kAccumulate>(d, a, lda, b, ldb, depth, c, ldc);
    case 2: return GemmBlock<2, kNv, kAccumulate>(d, a, lda, b, ldb, depth, c, ldc);
    default: return GemmBlock<1, kNv, kAccumulate>(d, a, lda, b, ldb, depth, c, ldc);
  }
}

// C[rows x cols] (=|+=) A[rows x depth] · B[depth x cols].
template <bool kAccumulate>
HWY_INLINE void TileGemm(const float* HWY_RESTRICT a, size_t lda, const float* HWY_RESTRICT b,
                         size_t ldb, size_t rows, size_t depth, size_t cols,
                         float* HWY_RESTRICT c, size_t ldc) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  constexpr size_t kNv = GemmNv(hn::ScalableTag<float>());
  for (size_t r0 = 0; r0 < rows; r0 += kGemmMr) {
    const size_t mr = rows - r0 < kGemmMr ? rows - r0 : kGemmMr;
    const float* a_r = a + r0 * lda;
    float* c_r = c + r0 * ldc;
    size_t c0 = 0;
    for (; c0 + kNv * N <= cols; c0 += kNv * N) {
      GemmBlockRows<kNv, kAccumulate>(d, mr, a_r, lda, b + c0, ldb, depth, c_r + c0, ldc);
    }
    for (; c0 < cols; c0 += N) {  // column tail, one vector at a time
      GemmBlockRows<1, kAccumulate>(d, mr, a_r, lda, b + c0, ldb, depth, c_r + c0, ldc);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_TILE_GEMM_INL_H_
