// SPDX-License-Identifier: Apache-2.0
// Tests of the SIMD primitives on every compiled Highway target: Exp2
// accuracy and special values, the online-softmax row step, and the tile
// micro-kernels against a plain triple loop.
#include <cmath>
#include <limits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/simd/simd_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "src/simd/online_softmax-inl.h"
#include "src/simd/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void TestExp2() {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  std::vector<float> in(N), out(N);
  double worst = 0;
  for (double x = -126.0; x <= 20.0; x += 0.0137) {
    for (size_t i = 0; i < N; ++i) in[i] = static_cast<float>(x + 1e-3 * i);
    hn::StoreU(Exp2(d, hn::LoadU(d, in.data())), d, out.data());
    for (size_t i = 0; i < N; ++i) {
      const double want = std::exp2(static_cast<double>(in[i]));
      worst = std::max(worst, std::abs(out[i] - want) / want);
    }
  }
  EXPECT_LT(worst, 4e-7) << "relative error of Exp2";
  const float specials[] = {-std::numeric_limits<float>::infinity(), -1000.0f, -127.0f,
                            std::numeric_limits<float>::quiet_NaN(), 0.0f};
  for (float s : specials) {
    std::fill(in.begin(), in.end(), s);
    hn::StoreU(Exp2(d, hn::LoadU(d, in.data())), d, out.data());
    if (std::isnan(s)) {
      EXPECT_TRUE(std::isnan(out[0])) << "NaN must propagate";
    } else if (s == 0.0f) {
      EXPECT_EQ(out[0], 1.0f);
    } else {
      EXPECT_EQ(out[0], 0.0f) << "exp2(" << s << ") must be exactly 0";
    }
  }
}

void TestOnlineSoftmaxRow() {
  constexpr size_t n = 64;
  std::vector<float> a(n), b(n);
  for (size_t i = 0; i < n; ++i) {
    a[i] = std::sin(0.37f * i) * 5.0f;
    b[i] = std::cos(0.11f * i) * 7.0f + 3.0f;
  }
  a[5] = -std::numeric_limits<float>::infinity();  // a masked key
  // Reference: softmax normaliser over both tiles at once.
  double mx = -1e300, sum = 0;
  for (size_t i = 0; i < n; ++i) mx = std::max({mx, double(a[i]), double(b[i])});
  for (size_t i = 0; i < n; ++i) sum += std::exp2(a[i] - mx) + std::exp2(b[i] - mx);  // base 2
  float m = -std::numeric_limits<float>::infinity(), l = 0;
  std::vector<float> pa = a, pb = b;
  const float alpha0 = OnlineSoftmaxRow(pa.data(), n, m, l);
  EXPECT_EQ(alpha0, 0.0f) << "first tile: old state is empty";
  EXPECT_EQ(pa[5], 0.0f);
  const float alpha1 = OnlineSoftmaxRow(pb.data(), n, m, l);
  EXPECT_NEAR(alpha1, std::exp2(*std::max_element(a.begin(), a.end()) - m), 1e-6);
  EXPECT_NEAR(m + std::log2(l), mx + std::log2(sum), 1e-5);
  // A row with nothing visible keeps the empty state and yields p = 0.
  std::vector<float> masked(n, -std::numeric_limits<float>::infinity());
  float m2 = -std::numeric_limits<float>::infinity(), l2 = 0;
  OnlineSoftmaxRow(masked.data(), n, m2, l2);
  EXPECT_EQ(l2, 0.0f);
  EXPECT_EQ(masked[0], 0.0f);
  EXPECT_TRUE(std::isinf(m2));
}

void TestTileGemm() {
  const hn::ScalableTag<float> d;
  for (size_t rows : {1, 3, 4, 5, 9}) {
    for (size_t depth : {1, 7, 64}) {
      for (size_t cols : {16, 32, 48, 80}) {
        if (cols % hn::Lanes(d) != 0) continue;
        std::vector<float> a(rows * depth), b(depth * cols), c(rows * cols, 1.0f);
        for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.3f * i);
        for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(0.7f * i);
        TileGemm<true>(a.data(), depth, b.data(), cols, rows, depth, cols, c.data(), cols);
        for (size_t r = 0; r < rows; ++r) {
          for (size_t j = 0; j < cols; ++j) {
            double want = 1.0;
            for (size_t k = 0; k < depth; ++k) want += double(a[r * depth + k]) * b[k * cols + j];
            ASSERT_NEAR(c[r * cols + j], want, 1e-4) << rows << "x" << depth << "x" << cols;
          }
        }
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attnkit {
HWY_BEFORE_TEST(SimdTest);
HWY_EXPORT_AND_TEST_P(SimdTest, TestExp2);
HWY_EXPORT_AND_TEST_P(SimdTest, TestOnlineSoftmaxRow);
HWY_EXPORT_AND_TEST_P(SimdTest, TestTileGemm);
}  // namespace attnkit
#endif
