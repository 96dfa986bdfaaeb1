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
// Columns left over after the full blocks (1-3 vectors) run as 8 x 1, 8 x 2
// or 4 x 3 blocks, so narrow tiles keep >= 8 independent accumulator chains.
//
// Depth blocking: every 4-row block sweeps all columns of B, so the depth loop
// runs in blocks of at most l1_floats / cols rows of B, keeping the block of B
// in L1 while all row blocks reuse it (the planner passes 3/4 of L1; e.g.
// 48 KiB L1, cols 64 -> 144), split evenly (32 KiB L1, P V with Dv 256 and
// 32 keys: 16 + 16 rows, not 24 + 8). Each extra depth block reloads and
// stores the C block once.
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
#include "src/simd/hold_register-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline constexpr size_t kGemmMr = 4;
// Rows of the column-tail blocks: a tail of 1-2 vectors gets 8 rows so that it
// still has 8-16 independent FMA chains (4 x 1 would be latency-bound).
inline constexpr size_t kGemmTailMr = 8;
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
    for (size_t v = 0; v < kNv; ++v) {
      bv[v] = hn::LoadU(d, b + k * ldb + v * N);
      HoldInRegister(bv[v]);  // one load per vector, not one per row's FMA
    }
    for (size_t r = 0; r < kMr; ++r) {
      V av = hn::Set(d, a[r * lda + k]);
      HoldInRegister(av);  // one broadcast per row, not one per FMA
      for (size_t v = 0; v < kNv; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  for (size_t r = 0; r < kMr; ++r) {
    for (size_t v = 0; v < kNv; ++v) hn::StoreU(acc[r][v], d, c + r * ldc + v * N);
  }
}

// Picks the instantiation for a row tail of `mr` rows (1..kMaxMr).
template <size_t kMaxMr, size_t kNv, bool kAccumulate, class D>
HWY_INLINE void GemmBlockRows(D d, size_t mr, const float* a, size_t lda, const float* b,
                              size_t ldb, size_t depth, float* c, size_t ldc) {
  if constexpr (kMaxMr > 1) {
    if (mr < kMaxMr) {
      return GemmBlockRows<kMaxMr - 1, kNv, kAccumulate>(d, mr, a, lda, b, ldb, depth, c, ldc);
    }
  }
  GemmBlock<kMaxMr, kNv, kAccumulate>(d, a, lda, b, ldb, depth, c, ldc);
}

// All rows for the `nv` (1..3) tail vectors of columns starting at B + c0.
template <bool kAccumulate, class D>
HWY_INLINE void GemmColumnTail(D d, size_t nv, const float* a, size_t lda, const float* b,
                               size_t ldb, size_t rows, size_t depth, float* c, size_t ldc) {
  for (size_t r0 = 0; r0 < rows; r0 += kGemmTailMr) {
    const size_t mr = rows - r0 < kGemmTailMr ? rows - r0 : kGemmTailMr;
    const float* a_r = a + r0 * lda;
    float* c_r = c + r0 * ldc;
    if (nv == 1) {
      GemmBlockRows<kGemmTailMr, 1, kAccumulate>(d, mr, a_r, lda, b, ldb, depth, c_r, ldc);
    } else if (nv == 2) {
      GemmBlockRows<kGemmTailMr, 2, kAccumulate>(d, mr, a_r, lda, b, ldb, depth, c_r, ldc);
    } else {
      GemmBlockRows<kGemmMr, 3, kAccumulate>(d, mr < kGemmMr ? mr : kGemmMr, a_r, lda, b, ldb,
                                             depth, c_r, ldc);
      if (mr > kGemmMr) {
        GemmBlockRows<kGemmMr, 3, kAccumulate>(d, mr - kGemmMr, a_r + kGemmMr * lda, lda, b, ldb,
                                               depth, c_r + kGemmMr * ldc, ldc);
      }
    }
  }
}

// C[rows x cols] (=|+=) A[rows x depth] · B[depth x cols] for one depth block.
template <bool kAccumulate>
HWY_INLINE void TileGemmDepthBlock(const float* HWY_RESTRICT a, size_t lda,
                                   const float* HWY_RESTRICT b, size_t ldb, size_t rows,
                                   size_t depth, size_t cols, float* HWY_RESTRICT c, size_t ldc) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  constexpr size_t kNv = GemmNv(hn::ScalableTag<float>());
  const size_t full_cols = cols / (kNv * N) * (kNv * N);
  for (size_t r0 = 0; r0 < rows; r0 += kGemmMr) {
    const size_t mr = rows - r0 < kGemmMr ? rows - r0 : kGemmMr;
    for (size_t c0 = 0; c0 < full_cols; c0 += kNv * N) {
      GemmBlockRows<kGemmMr, kNv, kAccumulate>(d, mr, a + r0 * lda, lda, b + c0, ldb, depth,
                                               c + r0 * ldc + c0, ldc);
    }
  }
  if (full_cols < cols) {
    GemmColumnTail<kAccumulate>(d, (cols - full_cols) / N, a, lda, b + full_cols, ldb, rows, depth,
                                c + full_cols, ldc);
  }
}

// C[rows x cols] (=|+=) A[rows x depth] · B[depth x cols], depth blocked so
// that a block of B fits in `l1_floats`.
template <bool kAccumulate>
HWY_INLINE void TileGemm(const float* HWY_RESTRICT a, size_t lda, const float* HWY_RESTRICT b,
                         size_t ldb, size_t rows, size_t depth, size_t cols,
                         float* HWY_RESTRICT c, size_t ldc, size_t l1_floats) {
  const size_t kc_max = cols > 0 && l1_floats / cols > 8 ? l1_floats / cols : 8;
  // Equal depth blocks (32 = 16 + 16, not 24 + 8: a short last block pays a
  // full reload and store of C for a few FMAs per accumulator).
  const size_t blocks = (depth + kc_max - 1) / kc_max;
  const size_t kc = blocks > 1 ? (depth + blocks - 1) / blocks : kc_max;
  for (size_t k0 = 0; k0 < depth; k0 += kc) {
    const size_t kd = depth - k0 < kc ? depth - k0 : kc;
    if (kAccumulate || k0 > 0) {
      TileGemmDepthBlock<true>(a + k0, lda, b + k0 * ldb, ldb, rows, kd, cols, c, ldc);
    } else {
      TileGemmDepthBlock<false>(a + k0, lda, b + k0 * ldb, ldb, rows, kd, cols, c, ldc);
    }
  }
  if (depth == 0 && !kAccumulate) {  // an empty product still defines C
    for (size_t r = 0; r < rows; ++r) {
      for (size_t j = 0; j < cols; ++j) c[r * ldc + j] = 0.0f;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_TILE_GEMM_INL_H_
