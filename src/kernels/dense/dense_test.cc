// SPDX-License-Identifier: Apache-2.0
// Dense-kernel properties beyond the grid: every compiled Highway target gives
// the reference result, results are bitwise independent of the thread count,
// NaN inputs propagate instead of being silently masked, and GQA equals MHA on
// repeated K/V.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "hwy/targets.h"
#include "src/harness/cases.h"

namespace attnkit {
namespace {

harness::Case Mixed() {
  harness::Case c;
  c.spec.num_q_heads = 6;
  c.spec.num_kv_heads = 2;
  c.spec.head_dim_qk = 72;
  c.spec.head_dim_v = 40;
  c.spec.mask.causal = true;
  c.spec.mask.window_left = 50;
  c.spec.alibi = true;
  c.spec.softcap = 30.0f;
  c.spec.has_sinks = true;
  c.batch = 2;
  c.seqlen_q = 97;
  c.seqlen_k = 131;
  return c;
}

std::vector<float> RunOutput(const harness::Case& c) {
  harness::Inputs in = harness::MakeInputs(c);
  Attention(c.spec, in.tensors, ThreadingContext(c.threads), in.cu_seqlens_q, in.cu_seqlens_k,
            c.Options());
  std::vector<float> out(in.out.size() / 4);
  std::memcpy(out.data(), in.out.data(), in.out.size());
  return out;
}

// Restores the real CPU targets when a test ends.
struct TargetScope {
  explicit TargetScope(int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  ~TargetScope() { hwy::SetSupportedTargetsForTest(0); }
};

TEST(DenseTest, EveryHighwayTargetMatchesTheReference) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    TargetScope scope(target);
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
      harness::Case c = Mixed();
      c.dtype = dt;
      const harness::CheckResult r = harness::Check(c);
      EXPECT_TRUE(r.pass) << hwy::TargetName(target) << " " << Name(dt) << ": " << r.failure;
      c.spec.head_dim_qk = c.spec.head_dim_v = 64;  // V read in place (f32, Dv % 16 == 0)
      const harness::CheckResult r2 = harness::Check(c);
      EXPECT_TRUE(r2.pass) << hwy::TargetName(target) << " " << Name(dt) << " d64: " << r2.failure;
    }
  }
}

TEST(DenseTest, ResultsAreBitwiseIndependentOfThreadCount) {
  harness::Case c = Mixed();
  c.seqlen_q = c.seqlen_k = 300;
  c.threads = 1;
  const std::vector<float> one = RunOutput(c);
  for (int threads : {2, 3, 7}) {
    c.threads = threads;
    EXPECT_EQ(RunOutput(c), one) << threads << " threads";
  }
}

TEST(DenseTest, NanInputPropagatesToItsRows) {
  harness::Case c = Mixed();
  c.spec.has_sinks = false;
  c.spec.mask = {};
  harness::Inputs in = harness::MakeInputs(c);
  // NaN in key 10 of KV head 0, batch 0: every row of query heads 0-2 of batch 0 sees it.
  float* k = reinterpret_cast<float*>(in.k.data());
  k[10 * in.tensors.k.strides[2] + 3] = std::nanf("");
  Attention(c.spec, in.tensors, ThreadingContext(1));
  const float* out = reinterpret_cast<const float*>(in.out.data());
  const TensorView& o = in.tensors.out;
  EXPECT_TRUE(std::isnan(out[0]));                                   // batch 0, head 0, row 0
  EXPECT_TRUE(std::isnan(out[2 * o.strides[1] + 50 * o.strides[2]]));  // head 2
  EXPECT_FALSE(std::isnan(out[3 * o.strides[1]]));                   // head 3 reads KV head 1
  EXPECT_FALSE(std::isnan(out[o.strides[0]]));                       // batch 1
}

TEST(DenseTest, GqaIsBitwiseEqualToMhaOnRepeatedKv) {
  harness::Case gqa = Mixed();
  harness::Inputs a = harness::MakeInputs(gqa);
  harness::Case mha = gqa;
  mha.spec.num_kv_heads = mha.spec.num_q_heads;
  harness::Inputs b = harness::MakeInputs(mha);
  const int64_t group = gqa.spec.num_q_heads / gqa.spec.num_kv_heads;
  // Copy q and the repeated K/V heads into the MHA inputs.
  std::memcpy(b.q.data(), a.q.data(), a.q.size());
  std::memcpy(b.sinks.data(), a.sinks.data(), a.sinks.size());
  for (const auto& [src_t, dst_t, src, dst] :
       {std::tuple{a.tensors.k, b.tensors.k, a.k.data(), b.k.data()},
        std::tuple{a.tensors.v, b.tensors.v, a.v.data(), b.v.data()}}) {
    for (int64_t bi = 0; bi < gqa.batch; ++bi)
      for (int64_t h = 0; h < mha.spec.num_kv_heads; ++h)
        for (int64_t n = 0; n < gqa.seqlen_k; ++n)
          std::memcpy(dst + 4 * (bi * dst_t.strides[0] + h * dst_t.strides[1] + n * dst_t.strides[2]),
                      src + 4 * (bi * src_t.strides[0] + (h / group) * src_t.strides[1] + n * src_t.strides[2]),
                      4 * src_t.shape[3]);
  }
  Attention(gqa.spec, a.tensors, ThreadingContext(2));
  Attention(mha.spec, b.tensors, ThreadingContext(2));
  EXPECT_EQ(a.out, b.out);
}

}  // namespace
}  // namespace attnkit
