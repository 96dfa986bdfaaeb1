// SPDX-License-Identifier: Apache-2.0
// AttentionState::Merge: the split-KV identity (attention over two key ranges,
// merged, equals attention over all keys), associativity and commutativity,
// and the "saw no key" (-inf) cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "attnkit/attnkit.h"
#include "src/harness/cases.h"

namespace attnkit {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Attention of q against keys [j0, j1) of k/v (single head, f32, BHND), as a state.
AttentionState Partial(const std::vector<float>& q, const std::vector<float>& k,
                       const std::vector<float>& v, int64_t nq, int64_t j0, int64_t j1, int64_t d) {
  AttentionState st(nq, d);
  if (j1 <= j0) return st;
  AttentionSpec spec;
  spec.num_q_heads = spec.num_kv_heads = 1;
  spec.head_dim_qk = spec.head_dim_v = d;
  spec.return_lse = true;
  AttentionTensors t;
  t.q = TensorView::Attention(q.data(), DType::kF32, Layout::kBHND, 1, 1, nq, d);
  t.k = TensorView::Attention(k.data() + j0 * d, DType::kF32, Layout::kBHND, 1, 1, j1 - j0, d);
  t.v = TensorView::Attention(v.data() + j0 * d, DType::kF32, Layout::kBHND, 1, 1, j1 - j0, d);
  t.out = TensorView::Attention(st.o().data(), DType::kF32, Layout::kBHND, 1, 1, nq, d);
  t.lse = TensorView::Contiguous(st.lse().data(), DType::kF32, {1, 1, nq});
  Attention(spec, t, ThreadingContext(1));
  return st;
}

TEST(StateTest, MergeOfSplitKeysEqualsFullAttention) {
  const int64_t nq = 9, nk = 100, d = 24;
  std::vector<float> q(nq * d), k(nk * d), v(nk * d);
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.1f * i);
  for (size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.37f * i) * 2.0f;
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.05f * i + 1.0f);
  AttentionState full = Partial(q, k, v, nq, 0, nk, d);
  for (int64_t split : {0, 1, 37, 99, 100}) {
    AttentionState a = Partial(q, k, v, nq, 0, split, d);
    AttentionState b = Partial(q, k, v, nq, split, nk, d);
    Merge(a.view(), b.view());
    for (int64_t i = 0; i < nq * d; ++i) EXPECT_NEAR(a.o()[i], full.o()[i], 1e-6) << split;
    for (int64_t i = 0; i < nq; ++i) EXPECT_NEAR(a.lse()[i], full.lse()[i], 1e-5) << split;
  }
}

TEST(StateTest, MergeIsAssociativeAndCommutative) {
  AttentionState a(2, 3), b(2, 3), c(2, 3);
  a.o() = {1, 2, 3, 4, 5, 6};
  a.lse() = {0.5f, -1.0f};
  b.o() = {-1, 0, 1, 2, 2, 2};
  b.lse() = {2.0f, kNegInf};
  c.o() = {0, 0, 9, 1, 1, 1};
  c.lse() = {-3.0f, 1.0f};
  AttentionState ab_c = a, a_bc = a, bc = b, cb = c;
  Merge(ab_c.view(), b.view());
  Merge(ab_c.view(), c.view());
  Merge(bc.view(), c.view());
  Merge(a_bc.view(), bc.view());
  Merge(cb.view(), b.view());
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(ab_c.o()[i], a_bc.o()[i], 1e-6);
    EXPECT_NEAR(bc.o()[i], cb.o()[i], 1e-6);
  }
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(ab_c.lse()[i], a_bc.lse()[i], 1e-6);
}

TEST(StateTest, EmptyStatesContributeNothing) {
  AttentionState a(1, 2), empty(1, 2);
  a.o() = {3, 4};
  a.lse() = {1.5f};
  AttentionState x = a;
  Merge(x.view(), empty.view());
  EXPECT_EQ(x.o(), a.o());
  EXPECT_EQ(x.lse(), a.lse());
  AttentionState y = empty;
  Merge(y.view(), a.view());
  EXPECT_EQ(y.o(), a.o());
  AttentionState z = empty;
  Merge(z.view(), empty.view());
  EXPECT_EQ(z.o()[0], 0.0f);
  EXPECT_TRUE(std::isinf(z.lse()[0]) && z.lse()[0] < 0);
}

TEST(StateTest, MergeOfLargeLseDoesNotOverflow) {
  AttentionState a(1, 1), b(1, 1);
  a.o() = {1};
  a.lse() = {1e4f};
  b.o() = {3};
  b.lse() = {1e4f};
  Merge(a.view(), b.view());
  EXPECT_FLOAT_EQ(a.o()[0], 2.0f);
  EXPECT_NEAR(a.lse()[0], 1e4f + std::log(2.0f), 1e-2);
}

TEST(StateTest, ShapeMismatchIsAnError) {
  AttentionState a(2, 3), b(3, 3), c(2, 4);
  EXPECT_THROW(Merge(a.view(), b.view()), Error);
  EXPECT_THROW(Merge(a.view(), c.view()), Error);
  EXPECT_THROW(AttentionState(-1, 2), Error);
}

}  // namespace
}  // namespace attnkit
