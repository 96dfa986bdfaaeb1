// SPDX-License-Identifier: Apache-2.0
// SIMD building blocks of the mask predictors (non-SIMD interface): gathering
// query rows (also XAttention's strided "reshaped" rows), packing key rows
// transposed, the f32 tile product of src/simd/tile_gemm-inl.h, and row-wise
// softmax of base-2 logits. The predictors (predict_*.cc) are plain C++ on top.
#ifndef ATTNKIT_KERNELS_SPARSE_SCORES_H_
#define ATTNKIT_KERNELS_SPARSE_SCORES_H_

#include <cstddef>
#include <cstdint>

#include "attnkit/dtype.h"
#include "attnkit/tensor.h"

namespace attnkit::sparse {

// A [rows x dim] matrix in any storage dtype, row stride in elements (the
// last axis contiguous). Rows at or beyond `rows` read as zeros.
struct RowSource {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0, dim = 0, row_stride = 0;
  // Head `head` of batch `b` of a [B, H, N, D] view.
  static RowSource Of(const TensorView& t, int64_t b, int64_t head);
};

// Reshaped rows (XAttention): row r of stride `group` is the concatenation
// over t < group of source rows r * group + t (or r * group + group - 1 - t
// when `reverse`), a vector of group * dim values. group = 1 is the plain row.
struct ScoreFns {
  // dst[r * ld + t * dim + d] = scale * reshaped row (first + r), r < count.
  void (*gather_rows)(const RowSource& src, int64_t first, int64_t count, int64_t group,
                      bool reverse, float scale, float* dst, int64_t ld) = nullptr;
  // dst[(t * dim + d) * ld + (c - c0)] = reshaped row c, element t * dim + d,
  // for c in [c0, c1): the transposed [group * dim x (c1 - c0)] operand.
  void (*pack_transposed)(const RowSource& src, int64_t group, int64_t c0, int64_t c1,
                          float* dst, int64_t ld) = nullptr;
  // out[r][c] = sum_k a[r][k] * bt[k][c] for r < rows, c < cols; cols a
  // multiple of 16 (TileGemm, depth-blocked for `l1_floats`).
  void (*gemm)(const float* a, size_t lda, const float* bt, size_t ldb, size_t rows, size_t depth,
               size_t cols, float* out, size_t ldo, size_t l1_floats) = nullptr;
  // Row r of s (base-2 logits, `width` a multiple of 16 columns) becomes its
  // softmax over columns [0, limit[r]); the other columns become 0, and a row
  // with limit 0 becomes all 0.
  void (*softmax_rows)(float* s, size_t rows, size_t ld, size_t width,
                       const int64_t* limit) = nullptr;
  // Running statistics over chunks of one row set (-inf entries are masked):
  // m[r] = max, l[r] = sum 2^(s - m) (OnlineSoftmaxTile; s is overwritten;
  // m, l, alpha hold RoundUp(rows, 16) floats).
  void (*online_stats)(float* s, size_t rows, size_t ld, size_t width, float* m, float* l,
                       float* alpha) = nullptr;
  // s[r][c] = 2^(s[r][c] - m[r]) / l[r] (0 where s = -inf or l[r] = 0).
  void (*normalise_rows)(float* s, size_t rows, size_t ld, size_t width, const float* m,
                         const float* l) = nullptr;
  // Per column c in [c0, c1) (multiples of 16): sum[c] += sum_r ws[r] s[r][c]
  // and max[c] = max(max[c], max_r wm[r] s[r][c]) over rows r < rows (the
  // sampled predictor's per-column block shares and entry maxima).
  void (*weighted_column_stats)(const float* s, size_t rows, size_t ld, size_t c0, size_t c1,
                                const float* ws, const float* wm, float* sum,
                                float* max) = nullptr;
};
ScoreFns GetScoreFns();

}  // namespace attnkit::sparse

#endif  // ATTNKIT_KERNELS_SPARSE_SCORES_H_
