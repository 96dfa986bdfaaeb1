// SPDX-License-Identifier: Apache-2.0
// Tests of the SIMD primitives on every compiled Highway target: Exp2
// accuracy and special values, the online-softmax tile step, the tile
// micro-kernels against a plain triple loop, f16 widening of special values and
// the in-register square transpose.
#include <cmath>
#include <limits>
#include <vector>

// clang-format off: foreach_target.h must come first and re-includes this file.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/simd/simd_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "src/simd/convert-inl.h"
#include "src/simd/online_softmax-inl.h"
#include "src/simd/tile_gemm-inl.h"
#include "src/simd/transpose-inl.h"

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
  const float specials[] = {-std::numeric_limits<float>::infinity(), -1000.0f, -160.0f,
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
  // Between -150 and -126 the result is 0 or the subnormal 2^x (the
  // implementations may flush); never above 2^-126, never negative or NaN.
  for (float s : {-126.5f, -127.0f, -140.0f, -149.5f}) {
    std::fill(in.begin(), in.end(), s);
    hn::StoreU(Exp2(d, hn::LoadU(d, in.data())), d, out.data());
    EXPECT_GE(out[0], 0.0f);
    EXPECT_LE(out[0], std::exp2(static_cast<double>(s)) * 1.01 + 1e-45) << s;
  }
}

void TestOnlineSoftmaxTile() {
  // Three rows, two tiles of 64 logits each: row 0 regular (one masked key),
  // row 1 masked in the first tile only, row 2 masked everywhere.
  constexpr size_t n = 64, rows = 3;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::vector<float> t1(rows * n), t2(rows * n);
  for (size_t i = 0; i < n; ++i) {
    t1[i] = std::sin(0.37f * i) * 5.0f;
    t2[i] = std::cos(0.11f * i) * 7.0f + 3.0f;
    t1[n + i] = kNegInf;
    t2[n + i] = std::sin(0.5f * i);
    t1[2 * n + i] = t2[2 * n + i] = kNegInf;
  }
  t1[5] = kNegInf;
  const std::vector<float> s1 = t1, s2 = t2;
  std::vector<float> m(16, kNegInf), l(16, 0.0f), alpha(16, 0.0f);
  OnlineSoftmaxTile(t1.data(), rows, n, n, 1.0f, m.data(), l.data(), alpha.data());
  EXPECT_EQ(alpha[0], 0.0f) << "first tile: the old state is empty";
  EXPECT_EQ(t1[5], 0.0f) << "masked key gets probability exactly 0";
  EXPECT_EQ(t1[n], 0.0f);
  OnlineSoftmaxTile(t2.data(), rows, n, n, 1.0f, m.data(), l.data(), alpha.data());
  const float max_a = *std::max_element(s1.begin(), s1.begin() + n);
  EXPECT_NEAR(alpha[0], std::exp2(max_a - m[0]), 1e-6);
  for (size_t r = 0; r < 2; ++r) {  // base-2 log-sum-exp over both tiles
    double mx = -1e300, sum = 0;
    for (size_t i = 0; i < n; ++i) mx = std::max({mx, double(s1[r * n + i]), double(s2[r * n + i])});
    for (size_t i = 0; i < n; ++i) sum += std::exp2(s1[r * n + i] - mx) + std::exp2(s2[r * n + i] - mx);
    EXPECT_NEAR(m[r] + std::log2(l[r]), mx + std::log2(sum), 1e-5) << "row " << r;
  }
  EXPECT_TRUE(std::isinf(m[2]) && m[2] < 0) << "a row with nothing visible keeps m = -inf";
  EXPECT_EQ(l[2], 0.0f);
  EXPECT_EQ(alpha[2], 1.0f);
  EXPECT_EQ(t2[2 * n], 0.0f);
}

// f16 storage widens exactly, infinities and NaNs included (Highway 1.0.3's
// emulation on targets without F16C maps exponent 31 to finite 2^16 (1 + m)).
void TestLoadF16Specials() {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const uint16_t patterns[] = {0x0000, 0x8000, 0x0001, 0x83FF, 0x3C00, 0xC000, 0x7BFF, 0xFBFF,
                               0x7C00, 0xFC00, 0x7E00, 0xFC01, 0x7FFF, 0x0400, 0x3555};
  const size_t count = sizeof(patterns) / sizeof(patterns[0]);
  std::vector<F16Bits> in(count + N);
  std::vector<float> out(N);
  for (size_t start = 0; start < count; ++start) {  // every pattern in every lane
    for (size_t i = 0; i < N; ++i) in[i].bits = patterns[(start + i) % count];
    hn::StoreU(LoadF32(d, in.data()), d, out.data());
    for (size_t i = 0; i < N; ++i) {
      const float want = F16ToF32(in[i].bits);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(out[i])) << std::hex << in[i].bits;
      } else {
        EXPECT_EQ(out[i], want) << std::hex << in[i].bits;
      }
    }
  }
}

void TestTileGemm() {
  const hn::ScalableTag<float> d;
  for (size_t rows : {1, 3, 4, 5, 9}) {
    for (size_t depth : {1, 7, 64, 130}) {
      for (size_t cols : {16, 32, 48, 80}) {
        if (cols % hn::Lanes(d) != 0) continue;
        std::vector<float> a(rows * depth), b(depth * cols), c(rows * cols, 1.0f);
        std::vector<float> c0(rows * cols, 1e30f);  // = A B: must overwrite
        for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.3f * i);
        for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(0.7f * i);
        // An L1 budget of 24 rows of B forces several depth blocks (depth 64: 22 + 22 + 20).
        const size_t l1_floats = 24 * cols;
        TileGemm<true>(a.data(), depth, b.data(), cols, rows, depth, cols, c.data(), cols, l1_floats);
        TileGemm<false>(a.data(), depth, b.data(), cols, rows, depth, cols, c0.data(), cols, l1_floats);
        for (size_t r = 0; r < rows; ++r) {
          for (size_t j = 0; j < cols; ++j) {
            double want = 0.0;
            for (size_t k = 0; k < depth; ++k) want += double(a[r * depth + k]) * b[k * cols + j];
            ASSERT_NEAR(c[r * cols + j], want + 1.0, 1e-4) << rows << "x" << depth << "x" << cols;
            ASSERT_NEAR(c0[r * cols + j], want, 1e-4) << rows << "x" << depth << "x" << cols;
          }
        }
      }
    }
  }
}

// Every element lands at its transposed place: distinct values (row * 100 +
// lane), so a swapped pair or a lane left behind fails.
void TestTransposeSquare() {
  const hn::ScalableTag<float> d;
  constexpr size_t N = hn::MaxLanes(d);
  ASSERT_EQ(N, hn::Lanes(d));
  hn::Vec<decltype(d)> v[N];
  HWY_ALIGN float row[N];
  for (size_t i = 0; i < N; ++i) {
    for (size_t j = 0; j < N; ++j) row[j] = static_cast<float>(i * 100 + j);
    v[i] = hn::Load(d, row);
  }
  TransposeSquare(d, v);
  for (size_t i = 0; i < N; ++i) {
    hn::Store(v[i], d, row);
    for (size_t j = 0; j < N; ++j) {
      ASSERT_EQ(row[j], static_cast<float>(j * 100 + i)) << "row " << i << " lane " << j;
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
HWY_EXPORT_AND_TEST_P(SimdTest, TestOnlineSoftmaxTile);
HWY_EXPORT_AND_TEST_P(SimdTest, TestTileGemm);
HWY_EXPORT_AND_TEST_P(SimdTest, TestLoadF16Specials);
HWY_EXPORT_AND_TEST_P(SimdTest, TestTransposeSquare);
}  // namespace attnkit
#endif
