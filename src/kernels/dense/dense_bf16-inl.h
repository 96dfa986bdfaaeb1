// SPDX-License-Identifier: Apache-2.0
// The AVX512-BF16 products of the dense kernel (per-target Highway code; only
// the AVX3 target gets them, written with intrinsics because Highway 1.0.3 has
// no bf16 dot product). Included by dense.cc after dense-inl.h.
//
// vdpbf16ps: acc[j] += a[2j] b[2j] + a[2j+1] b[2j+1] for 16 f32 lanes j, i.e. 32
// multiply-adds per instruction, twice the f32 FMA. Both products become
// "broadcast one bf16 pair of A, dot it with 16 pairs of B":
//   S[r][c]  = sum_p (q[r][2p], q[r][2p+1]) . (k[c][2p], k[c][2p+1])
//              A = Q rows as bf16 (raw input, unscaled), B = K^T tile of pairs
//              [ceil(dqk/2)][block_k]; the scale (x log2 e) is applied to the
//              f32 result, so logits are the exact products summed in f32.
//   O[r][c] += sum_i (p[r][2i], p[r][2i+1]) . (v[2i][c], v[2i+1][c])
//              A = P rounded to bf16 (written over the f32 P row in place),
//              B = V tile of pairs [ceil(block_k/2)][dv_pad].
// Register blocking as in src/simd/tile_gemm-inl.h: 4 rows x 4 vectors (16
// accumulators), column tails as 8 x 1, 8 x 2 or 4 x 3 blocks, depth blocked so
// a block of B stays in L1.

#if defined(ATTNKIT_KERNELS_DENSE_DENSE_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_DENSE_DENSE_BF16_INL_H_
#undef ATTNKIT_KERNELS_DENSE_DENSE_BF16_INL_H_
#else
#define ATTNKIT_KERNELS_DENSE_DENSE_BF16_INL_H_
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "src/kernels/dense/dense-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::dense {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3
inline constexpr bool kHaveBf16Products = true;

// Functions using vdpbf16ps carry this on top of the AVX3 target of the region;
// they are only called after the planner has checked the CPU for AVX512-BF16.
#define ATTNKIT_BF16_TARGET __attribute__((target("avx512bf16")))

// One kMr x (kNv x 16) block: C (=|+=) scale * sum_p A[r][p] . B[p][c],
// A and B in 32-bit words holding bf16 pairs.
template <size_t kMr, size_t kNv, bool kAccumulate>
ATTNKIT_BF16_TARGET inline void Bf16Block(const uint32_t* HWY_RESTRICT a, size_t lda,
                                          const uint32_t* HWY_RESTRICT b, size_t ldb,
                                          size_t pairs, float* HWY_RESTRICT c, size_t ldc,
                                          float scale) {
  __m512 acc[kMr][kNv];
  for (size_t r = 0; r < kMr; ++r) {
    for (size_t v = 0; v < kNv; ++v) {
      acc[r][v] = kAccumulate ? _mm512_loadu_ps(c + r * ldc + v * 16) : _mm512_setzero_ps();
    }
  }
  for (size_t p = 0; p < pairs; ++p) {
    __m512bh bv[kNv];
    for (size_t v = 0; v < kNv; ++v) {
      bv[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * ldb + v * 16));
    }
    for (size_t r = 0; r < kMr; ++r) {
      const __m512bh av = reinterpret_cast<__m512bh>(
          _mm512_set1_epi32(static_cast<int>(a[r * lda + p])));
      for (size_t v = 0; v < kNv; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  }
  const __m512 vscale = _mm512_set1_ps(scale);
  for (size_t r = 0; r < kMr; ++r) {
    for (size_t v = 0; v < kNv; ++v) {
      _mm512_storeu_ps(c + r * ldc + v * 16, kAccumulate ? acc[r][v] : _mm512_mul_ps(acc[r][v], vscale));
    }
  }
}

// Row tail dispatch: `mr` (1..kMaxMr) rows.
template <size_t kMaxMr, size_t kNv, bool kAccumulate>
ATTNKIT_BF16_TARGET inline void Bf16BlockRows(size_t mr, const uint32_t* a, size_t lda,
                                              const uint32_t* b, size_t ldb, size_t pairs,
                                              float* c, size_t ldc, float scale) {
  if constexpr (kMaxMr > 1) {
    if (mr < kMaxMr) {
      return Bf16BlockRows<kMaxMr - 1, kNv, kAccumulate>(mr, a, lda, b, ldb, pairs, c, ldc, scale);
    }
  }
  Bf16Block<kMaxMr, kNv, kAccumulate>(a, lda, b, ldb, pairs, c, ldc, scale);
}

// C[rows x cols] (=|+=) scale * A[rows x pairs] . B[pairs x cols] for one depth
// block; cols a multiple of 16. The scale applies only when not accumulating.
template <bool kAccumulate>
ATTNKIT_BF16_TARGET inline void Bf16GemmDepthBlock(const uint32_t* a, size_t lda, const uint32_t* b,
                                                   size_t ldb, size_t rows, size_t pairs,
                                                   size_t cols, float* c, size_t ldc, float scale) {
  const size_t full_cols = cols / 64 * 64;
  for (size_t r0 = 0; r0 < rows; r0 += 4) {
    const size_t mr = rows - r0 < 4 ? rows - r0 : 4;
    for (size_t c0 = 0; c0 < full_cols; c0 += 64) {
      Bf16BlockRows<4, 4, kAccumulate>(mr, a + r0 * lda, lda, b + c0, ldb, pairs,
                                       c + r0 * ldc + c0, ldc, scale);
    }
  }
  const size_t nv = (cols - full_cols) / 16;
  if (nv == 0) return;
  const uint32_t* bt = b + full_cols;
  float* ct = c + full_cols;
  for (size_t r0 = 0; r0 < rows; r0 += 8) {  // 8-row tail blocks keep >= 8 chains
    const size_t mr = rows - r0 < 8 ? rows - r0 : 8;
    const uint32_t* ar = a + r0 * lda;
    float* cr = ct + r0 * ldc;
    if (nv == 1) {
      Bf16BlockRows<8, 1, kAccumulate>(mr, ar, lda, bt, ldb, pairs, cr, ldc, scale);
    } else if (nv == 2) {
      Bf16BlockRows<8, 2, kAccumulate>(mr, ar, lda, bt, ldb, pairs, cr, ldc, scale);
    } else {
      Bf16BlockRows<4, 3, kAccumulate>(mr < 4 ? mr : 4, ar, lda, bt, ldb, pairs, cr, ldc, scale);
      if (mr > 4) {
        Bf16BlockRows<4, 3, kAccumulate>(mr - 4, ar + 4 * lda, lda, bt, ldb, pairs, cr + 4 * ldc,
                                         ldc, scale);
      }
    }
  }
}

// Depth block size (in pairs) that keeps a kc x cols block of B in L1.
inline size_t Bf16DepthBlock(size_t cols, size_t l1_floats) {
  return l1_floats / cols > 8 ? l1_floats / cols : 8;
}

// C (=|+=) A . B unscaled, depth blocked so that a block of B fits in l1_floats.
template <bool kAccumulate>
ATTNKIT_BF16_TARGET inline void Bf16Gemm(const uint32_t* a, size_t lda, const uint32_t* b,
                                         size_t ldb, size_t rows, size_t pairs, size_t cols,
                                         float* c, size_t ldc, size_t l1_floats) {
  const size_t kc = Bf16DepthBlock(cols, l1_floats);
  for (size_t p0 = 0; p0 < pairs; p0 += kc) {
    const size_t kd = pairs - p0 < kc ? pairs - p0 : kc;
    if (kAccumulate || p0 > 0) {
      Bf16GemmDepthBlock<true>(a + p0, lda, b + p0 * ldb, ldb, rows, kd, cols, c, ldc, 1.0f);
    } else {
      Bf16GemmDepthBlock<false>(a + p0, lda, b + p0 * ldb, ldb, rows, kd, cols, c, ldc, 1.0f);
    }
  }
  if (pairs == 0 && !kAccumulate) {
    for (size_t r = 0; r < rows; ++r) std::memset(c + r * ldc, 0, cols * sizeof(float));
  }
}

// P (f32, `width` columns, a multiple of 16) -> bf16 pairs in place: the bf16
// row occupies the first half of the f32 row's bytes. Round to nearest even.
ATTNKIT_BF16_TARGET inline void RoundRowToBf16InPlace(float* row, size_t width) {
  uint16_t* out = reinterpret_cast<uint16_t*>(row);
  size_t c = 0;
  for (; c + 32 <= width; c += 32) {  // reads [4c, 4c + 128) bytes, writes [2c, 2c + 64)
    const __m512 lo = _mm512_loadu_ps(row + c), hi = _mm512_loadu_ps(row + c + 16);
    _mm512_storeu_si512(out + c, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
  }
  if (c < width) {  // one vector of 16
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(row + c));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), reinterpret_cast<__m256i>(h));
  }
}

struct Bf16Products {
  // QK scales its f32 results on the store (logits: exact products, f32 sums,
  // one rounding for the scale).
  static constexpr bool kScaledLogits = true;
  // Q rows stay raw bf16 (exact), padded to an even count: pairs of 32 bits.
  template <typename T>
  static void LoadQRow(const DenseArgs& a, const T* src, float* dst) {
    static_assert(std::is_same_v<T, BF16Bits>, "the bf16 products take bf16 inputs only");
    uint16_t* out = reinterpret_cast<uint16_t*>(dst);
    std::memcpy(out, src, static_cast<size_t>(a.dqk) * sizeof(uint16_t));
    if (a.dqk % 2 != 0) out[a.dqk] = 0;
  }
  ATTNKIT_BF16_TARGET static void QK(const DenseArgs& a, QueryTileState& ts, int64_t t,
                                     size_t width) {
    // Q rows: ldq floats apart = ldq words; K^T tile: block_k words per pair row.
    const size_t ldq = static_cast<size_t>(RoundUp(a.dqk, kPad));
    const size_t ldk = static_cast<size_t>(a.block_k);
    const size_t pairs = static_cast<size_t>(CeilDiv(a.dqk, 2));
    const float scale = a.scale * kLog2e;
    const uint32_t* q = reinterpret_cast<const uint32_t*>(ts.qs);
    const uint32_t* k = reinterpret_cast<const uint32_t*>(KTile(a, *ts.seq, ts.kv_head, t));
    if (pairs <= Bf16DepthBlock(width, a.l1_floats)) {  // one depth block: scale on store
      Bf16GemmDepthBlock<false>(q, ldq, k, ldk, ts.nrows, pairs, width, ts.st, ldk, scale);
      return;
    }
    // Several depth blocks accumulate unscaled; scale once at the end.
    Bf16Gemm<false>(q, ldq, k, ldk, ts.nrows, pairs, width, ts.st, ldk, a.l1_floats);
    const __m512 vscale = _mm512_set1_ps(scale);
    for (size_t r = 0; r < ts.nrows; ++r) {
      float* row = ts.st + r * ldk;
      for (size_t c = 0; c < width; c += 16) {
        _mm512_storeu_ps(row + c, _mm512_mul_ps(_mm512_loadu_ps(row + c), vscale));
      }
    }
  }
  ATTNKIT_BF16_TARGET static void PV(const DenseArgs& a, QueryTileState& ts, int64_t t,
                                     size_t cols) {
    const size_t ldk = static_cast<size_t>(a.block_k), dvp = static_cast<size_t>(a.dv_pad);
    const size_t width = static_cast<size_t>(RoundUp(static_cast<int64_t>(cols), kPad));
    for (size_t r = 0; r < ts.nrows; ++r) RoundRowToBf16InPlace(ts.st + r * ldk, width);
    // P rows in bf16 are ldk floats = ldk words apart; pairs beyond cols are 0.
    const uint32_t* p = reinterpret_cast<const uint32_t*>(ts.st);
    const uint32_t* v = reinterpret_cast<const uint32_t*>(VTile(a, *ts.seq, ts.kv_head, t));
    Bf16Gemm<true>(p, ldk, v, dvp, ts.nrows, (cols + 1) / 2, dvp, ts.acc, dvp, a.l1_floats);
  }
};

// Packs key tile `k_tile` as K^T pairs [ceil(dqk/2)][block_k] (32-bit words),
// zero-filling columns past the last key and the odd-dqk pad element.
inline void PackKPairsTile(const DenseArgs& a, const PackItem& it) {
  const Sequence& s = a.seqs[it.seq];
  const int64_t bk = a.block_k, j0 = it.k_tile * bk;
  const int64_t cols = std::min(bk, s.nk - j0), pairs = CeilDiv(a.dqk, 2);
  uint32_t* dst = reinterpret_cast<uint32_t*>(KTile(a, s, it.kv_head, it.k_tile));
  const uint16_t* src = reinterpret_cast<const uint16_t*>(
      RowPtr<const BF16Bits>(a.k, s.batch_index, it.kv_head, s.k_offset + j0));
  const int64_t row_stride = a.k.strides[2];
  for (int64_t c = 0; c < cols; ++c) {
    const uint16_t* row = src + c * row_stride;
    for (int64_t p = 0; p < pairs; ++p) {
      const uint32_t lo = row[2 * p];
      const uint32_t hi = 2 * p + 1 < a.dqk ? row[2 * p + 1] : 0u;
      dst[p * bk + c] = lo | hi << 16;
    }
  }
  for (int64_t p = 0; p < pairs; ++p) std::fill(dst + p * bk + cols, dst + (p + 1) * bk, 0u);
}

// Packs value tile `k_tile` as V pairs [ceil(block_k/2)][dv_pad]: word (i, c)
// holds (v[2i][c], v[2i+1][c]); zero past the last key and past dv.
inline void PackVPairsTile(const DenseArgs& a, const PackItem& it) {
  const Sequence& s = a.seqs[it.seq];
  const int64_t bk = a.block_k, j0 = it.k_tile * bk;
  const int64_t cols = std::min(bk, s.nk - j0), dvp = a.dv_pad;
  uint32_t* dst = reinterpret_cast<uint32_t*>(VTile(a, s, it.kv_head, it.k_tile));
  for (int64_t i = 0; i < CeilDiv(cols, 2); ++i) {
    const uint16_t* r0 = reinterpret_cast<const uint16_t*>(
        RowPtr<const BF16Bits>(a.v, s.batch_index, it.kv_head, s.k_offset + j0 + 2 * i));
    const uint16_t* r1 = 2 * i + 1 < cols ? r0 + a.v.strides[2] : nullptr;
    uint32_t* out = dst + i * dvp;
    for (int64_t c = 0; c < a.dv; ++c) {
      out[c] = static_cast<uint32_t>(r0[c]) | static_cast<uint32_t>(r1 ? r1[c] : 0) << 16;
    }
    std::fill(out + a.dv, out + dvp, 0u);
  }
}

#else   // no AVX512-BF16 path on this target
inline constexpr bool kHaveBf16Products = false;
#endif  // HWY_TARGET == HWY_AVX3

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::dense
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_DENSE_DENSE_BF16_INL_H_
