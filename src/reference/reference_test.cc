// SPDX-License-Identifier: Apache-2.0
// The oracle itself, against cases computed by hand: one key, uniform
// attention, masks, ALiBi's slope table, sinks (in-loop vs post-correction),
// GQA == MHA on repeated K/V, and the fully masked row convention.
#include "src/reference/reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace attnkit::reference {
namespace {

struct Tiny {
  AttentionSpec spec;
  AttentionShape shape;
  std::vector<float> q, k, v, sinks;
  AttentionTensors t;
  Tiny(int64_t hq, int64_t hkv, int64_t nq, int64_t nk, int64_t d) {
    spec.num_q_heads = hq;
    spec.num_kv_heads = hkv;
    spec.head_dim_qk = spec.head_dim_v = d;
    shape.seqlen_q = nq;
    shape.seqlen_k = nk;
    q.assign(hq * nq * d, 0.0f);
    k.assign(hkv * nk * d, 0.0f);
    v.assign(hkv * nk * d, 0.0f);
    sinks.assign(hq, 0.0f);
    t.q = TensorView::Attention(q.data(), DType::kF32, Layout::kBHND, 1, hq, nq, d);
    t.k = TensorView::Attention(k.data(), DType::kF32, Layout::kBHND, 1, hkv, nk, d);
    t.v = TensorView::Attention(v.data(), DType::kF32, Layout::kBHND, 1, hkv, nk, d);
    t.sinks = TensorView::Contiguous(sinks.data(), DType::kF32, {hq});
  }
  Result Run() const { return Attention(spec, shape, t); }
};

TEST(ReferenceTest, OneKeyReturnsItsValue) {
  Tiny c(1, 1, 1, 1, 3);
  c.v = {1.5f, -2.0f, 7.0f};
  c.q = {1, 2, 3};
  c.k = {4, 5, 6};
  const Result r = c.Run();
  EXPECT_DOUBLE_EQ(r.o(0, 0, 0, 0), 1.5);
  EXPECT_DOUBLE_EQ(r.o(0, 0, 0, 2), 7.0);
  EXPECT_NEAR(r.l(0, 0, 0), 32.0 / std::sqrt(3.0), 1e-6);  // LSE of one logit = the logit
}

TEST(ReferenceTest, EqualLogitsAverageTheValues) {
  Tiny c(1, 1, 1, 4, 1);
  c.v = {1, 2, 3, 10};
  const Result r = c.Run();
  EXPECT_DOUBLE_EQ(r.o(0, 0, 0, 0), 4.0);
  EXPECT_NEAR(r.l(0, 0, 0), std::log(4.0), 1e-12);
}

TEST(ReferenceTest, CausalIsBottomRightAlignedAndEmptyRowsAreZero) {
  Tiny c(1, 1, 3, 2, 1);  // Nq > Nk: row 0 sits at position -1
  c.v = {5, 7};
  c.spec.mask.causal = true;
  const Result r = c.Run();
  EXPECT_EQ(r.o(0, 0, 0, 0), 0.0);
  EXPECT_TRUE(std::isinf(r.l(0, 0, 0)) && r.l(0, 0, 0) < 0);
  EXPECT_DOUBLE_EQ(r.o(0, 0, 1, 0), 5.0);  // position 0: key 0 only
  EXPECT_DOUBLE_EQ(r.o(0, 0, 2, 0), 6.0);  // position 1: keys 0 and 1, equal logits
}

TEST(ReferenceTest, WindowBoundsAreInclusive) {
  Tiny c(1, 1, 1, 6, 1);
  c.v = {1, 10, 100, 1000, 10000, 100000};
  c.spec.mask.window_left = 2;  // position 5 sees keys 3, 4, 5
  c.spec.mask.window_right = 0;
  const Result r = c.Run();
  EXPECT_NEAR(r.o(0, 0, 0, 0), (1000 + 10000 + 100000) / 3.0, 1e-9);
}

TEST(ReferenceTest, AlibiSlopeTable) {
  // Closed form for powers of two and the interleaved rule otherwise.
  for (int64_t h : {8, 16, 32}) {
    const std::vector<float> s = AlibiSlopes(h);
    for (int64_t i = 0; i < h; ++i) EXPECT_FLOAT_EQ(s[i], std::exp2(-8.0 * (i + 1) / h));
  }
  for (int64_t h : {12, 40}) {
    const std::vector<float> s = AlibiSlopes(h);
    const int64_t p = h == 12 ? 8 : 32;
    ASSERT_EQ(static_cast<int64_t>(s.size()), h);
    for (int64_t i = 0; i < p; ++i) EXPECT_FLOAT_EQ(s[i], std::exp2(-8.0 * (i + 1) / p));
    for (int64_t i = p; i < h; ++i) EXPECT_FLOAT_EQ(s[i], std::exp2(-8.0 * (2 * (i - p) + 1) / (2 * p)));
  }
}

TEST(ReferenceTest, AlibiPenalisesDistance) {
  Tiny c(1, 1, 1, 3, 1);
  c.v = {1, 2, 3};
  c.spec.alibi = true;
  c.spec.alibi_slopes = {std::log(2.0f)};  // weights 1/4, 1/2, 1
  const Result r = c.Run();
  EXPECT_NEAR(r.o(0, 0, 0, 0), (0.25 * 1 + 0.5 * 2 + 1 * 3) / 1.75, 1e-6);
}

TEST(ReferenceTest, SinkEqualsPostCorrection) {
  Tiny c(2, 1, 3, 5, 4);
  for (size_t i = 0; i < c.q.size(); ++i) c.q[i] = std::sin(1.0f + i);
  for (size_t i = 0; i < c.k.size(); ++i) c.k[i] = std::cos(2.0f * i);
  for (size_t i = 0; i < c.v.size(); ++i) c.v[i] = std::sin(0.3f * i);
  c.sinks = {0.7f, -1.2f};
  const Result plain = c.Run();
  c.spec.has_sinks = true;
  const Result with_sink = c.Run();
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t i = 0; i < 3; ++i) {
      const double lse = plain.l(0, h, i), z = c.sinks[h];
      const double lse_new = std::log(std::exp(lse) + std::exp(z));
      EXPECT_NEAR(with_sink.l(0, h, i), lse_new, 1e-6);
      for (int64_t d = 0; d < 4; ++d) {
        EXPECT_NEAR(with_sink.o(0, h, i, d), plain.o(0, h, i, d) * std::exp(lse - lse_new), 1e-6);
      }
    }
  }
}

TEST(ReferenceTest, GqaEqualsMhaOnRepeatedKv) {
  Tiny gqa(4, 2, 3, 5, 2), mha(4, 4, 3, 5, 2);
  for (size_t i = 0; i < gqa.q.size(); ++i) gqa.q[i] = mha.q[i] = std::sin(0.7f * i);
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t j = 0; j < 10; ++j) {
      const float kv = std::cos(0.3f * (g * 10 + j)), vv = std::sin(0.9f * (g * 10 + j));
      gqa.k[g * 10 + j] = kv;
      gqa.v[g * 10 + j] = vv;
      for (int64_t r = 0; r < 2; ++r) {  // query heads 2g and 2g+1 read KV head g
        mha.k[(2 * g + r) * 10 + j] = kv;
        mha.v[(2 * g + r) * 10 + j] = vv;
      }
    }
  const Result a = gqa.Run(), b = mha.Run();
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.lse, b.lse);
}

}  // namespace
}  // namespace attnkit::reference
