// SPDX-License-Identifier: Apache-2.0
// Per-target compilation unit of the predictors' SIMD building blocks (see
// scores.h): row gathers with dtype conversion, transposed packing, TileGemm
// and base-2 row softmax. foreach_target.h re-includes this file per target.
// clang-format off: foreach_target.h must come first and re-includes this file.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/sparse/scores.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include <algorithm>
#include <limits>

#include "hwy/highway.h"
#include "src/kernels/sparse/scores.h"
#include "src/simd/convert-inl.h"
#include "src/simd/online_softmax-inl.h"
#include "src/simd/storage_types.h"
#include "src/simd/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::sparse {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Source row `row` (zeros past the end) converted and scaled into dst[0, dim).
template <typename T>
HWY_INLINE void LoadRow(const RowSource& src, int64_t row, float scale, float* HWY_RESTRICT dst) {
  if (row >= src.rows) {
    std::fill(dst, dst + src.dim, 0.0f);
    return;
  }
  ConvertScaleRow(static_cast<const T*>(src.data) + row * src.row_stride,
                  static_cast<size_t>(src.dim), scale, dst);
}

void GatherRows(const RowSource& src, int64_t first, int64_t count, int64_t group, bool reverse,
                float scale, float* dst, int64_t ld) {
  VisitStorageType(src.dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t r = 0; r < count; ++r) {
      for (int64_t t = 0; t < group; ++t) {
        const int64_t row = (first + r) * group + (reverse ? group - 1 - t : t);
        LoadRow<T>(src, row, scale, dst + r * ld + t * src.dim);
      }
    }
  });
}

// Transposes in blocks of 16 reshaped rows: each source row is read once
// (contiguous) and scattered to 16-float column strips of the destination.
void PackTransposed(const RowSource& src, int64_t group, int64_t c0, int64_t c1, float* dst,
                    int64_t ld) {
  const int64_t dim = src.dim;
  VisitStorageType(src.dtype, [&](auto tag) {
    using T = decltype(tag);
    float row[1024];  // one source row (dim <= 1024, validated)
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t t = 0; t < group; ++t) {
        LoadRow<T>(src, c * group + t, 1.0f, row);
        float* out = dst + (t * dim) * ld + (c - c0);
        for (int64_t d = 0; d < dim; ++d) out[d * ld] = row[d];
      }
    }
  });
}

void Gemm(const float* a, size_t lda, const float* bt, size_t ldb, size_t rows, size_t depth,
          size_t cols, float* out, size_t ldo, size_t l1_floats) {
  TileGemm</*kAccumulate=*/false>(a, lda, bt, ldb, rows, depth, cols, out, ldo, l1_floats);
}

void SoftmaxRows(float* s, size_t rows, size_t ld, size_t width, const int64_t* limit) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  for (size_t r = 0; r < rows; ++r) {
    float* row = s + r * ld;
    const size_t lim = static_cast<size_t>(std::clamp<int64_t>(limit[r], 0, static_cast<int64_t>(width)));
    if (lim == 0) {
      std::fill(row, row + width, 0.0f);
      continue;
    }
    const size_t padded = (lim + N - 1) / N * N;
    std::fill(row + lim, row + padded, kNegInf);
    const float m = RowMax(row, padded);
    const float sum = ExpSubtractMaxInPlace(row, padded, 1.0f, m);
    ScaleRow(row, padded, 1.0f / sum);
    std::fill(row + padded, row + width, 0.0f);
  }
}

void OnlineStats(float* s, size_t rows, size_t ld, size_t width, float* m, float* l,
                 float* alpha) {
  OnlineSoftmaxTile(s, rows, ld, width, 1.0f, m, l, alpha);  // logits already base 2
}

void NormaliseRows(float* s, size_t rows, size_t ld, size_t width, const float* m,
                   const float* l) {
  for (size_t r = 0; r < rows; ++r) {
    float* row = s + r * ld;
    if (l[r] == 0.0f || m[r] == kNegInf) {
      std::fill(row, row + width, 0.0f);
      continue;
    }
    ExpSubtractMaxInPlace(row, width, 1.0f, m[r]);  // 2^(-inf - m) is exactly 0
    ScaleRow(row, width, 1.0f / l[r]);
  }
}

void WeightedColumnStats(const float* s, size_t rows, size_t ld, size_t c0, size_t c1,
                         const float* ws, const float* wm, float* sum, float* max) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  for (size_t c = c0; c < c1; c += N) {
    auto acc_sum = hn::LoadU(d, sum + c), acc_max = hn::LoadU(d, max + c);
    for (size_t r = 0; r < rows; ++r) {
      const auto x = hn::LoadU(d, s + r * ld + c);
      acc_sum = hn::MulAdd(hn::Set(d, ws[r]), x, acc_sum);
      acc_max = hn::Max(acc_max, hn::Mul(hn::Set(d, wm[r]), x));
    }
    hn::StoreU(acc_sum, d, sum + c);
    hn::StoreU(acc_max, d, max + c);
  }
}

const char* ScoresTargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::sparse
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/simd/dispatch.h"

namespace attnkit::sparse {

HWY_EXPORT(GatherRows);
HWY_EXPORT(PackTransposed);
HWY_EXPORT(Gemm);
HWY_EXPORT(SoftmaxRows);
HWY_EXPORT(OnlineStats);
HWY_EXPORT(NormaliseRows);
HWY_EXPORT(WeightedColumnStats);

RowSource RowSource::Of(const TensorView& t, int64_t b, int64_t head) {
  RowSource s;
  s.data = static_cast<const char*>(t.data) +
           (b * t.strides[0] + head * t.strides[1]) * static_cast<int64_t>(SizeOf(t.dtype));
  s.dtype = t.dtype;
  s.rows = t.shape[2];
  s.dim = t.shape[3];
  s.row_stride = t.strides[2];
  return s;
}

ScoreFns GetScoreFns() {
  const size_t index = ChosenTargetIndex();
  ScoreFns f;
  f.gather_rows = HWY_DISPATCH_TABLE(GatherRows)[index];
  f.pack_transposed = HWY_DISPATCH_TABLE(PackTransposed)[index];
  f.gemm = HWY_DISPATCH_TABLE(Gemm)[index];
  f.softmax_rows = HWY_DISPATCH_TABLE(SoftmaxRows)[index];
  f.online_stats = HWY_DISPATCH_TABLE(OnlineStats)[index];
  f.normalise_rows = HWY_DISPATCH_TABLE(NormaliseRows)[index];
  f.weighted_column_stats = HWY_DISPATCH_TABLE(WeightedColumnStats)[index];
  return f;
}

}  // namespace attnkit::sparse
#endif  // HWY_ONCE
