// SPDX-License-Identifier: Apache-2.0
// Every invalid-input path of MakePlan / Run throws attnkit::Error with a
// message naming the problem. Each test breaks one thing of a valid call.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "attnkit/attnkit.h"

namespace attnkit {
namespace {

// A valid f32 call: B=2, Hq=4, Hkv=2, Nq=5, Nk=7, Dqk=8, Dv=6.
struct Valid {
  AttentionSpec spec;
  std::vector<float> q, k, v, out, lse, sinks, bias;
  AttentionTensors t;
  Valid() {
    spec.num_q_heads = 4;
    spec.num_kv_heads = 2;
    spec.head_dim_qk = 8;
    spec.head_dim_v = 6;
    q.assign(2 * 4 * 5 * 8, 0.1f);
    k.assign(2 * 2 * 7 * 8, 0.2f);
    v.assign(2 * 2 * 7 * 6, 0.3f);
    out.assign(2 * 4 * 5 * 6, 0.0f);
    lse.assign(2 * 4 * 5, 0.0f);
    sinks.assign(4, 0.0f);
    bias.assign(2 * 4 * 5 * 7, 0.0f);
    t.q = TensorView::Attention(q.data(), DType::kF32, Layout::kBHND, 2, 4, 5, 8);
    t.k = TensorView::Attention(k.data(), DType::kF32, Layout::kBHND, 2, 2, 7, 8);
    t.v = TensorView::Attention(v.data(), DType::kF32, Layout::kBHND, 2, 2, 7, 6);
    t.out = TensorView::Attention(out.data(), DType::kF32, Layout::kBHND, 2, 4, 5, 6);
  }
  void Call() { Attention(spec, t, ThreadingContext(1)); }
};

// Expects Error whose message contains `needle`.
void ExpectError(const std::function<void(Valid&)>& breakit, const std::string& needle) {
  Valid c;
  breakit(c);
  try {
    c.Call();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message '" << e.what() << "' does not mention '" << needle << "'";
  }
}

TEST(ValidateTest, ValidCallSucceeds) {
  Valid c;
  EXPECT_NO_THROW(c.Call());
}

TEST(ValidateTest, HeadCounts) {
  ExpectError([](Valid& c) { c.spec.num_kv_heads = 3; }, "multiple of num_kv_heads");
  ExpectError([](Valid& c) { c.spec.num_q_heads = 0; }, "num_q_heads");
  ExpectError([](Valid& c) { c.spec.num_kv_heads = -1; }, "num_kv_heads");
}

TEST(ValidateTest, HeadDims) {
  ExpectError([](Valid& c) { c.spec.head_dim_qk = 0; }, "head_dim_qk");
  ExpectError([](Valid& c) { c.spec.head_dim_v = 1025; }, "head_dim_v");
  ExpectError([](Valid& c) { c.spec.head_dim_qk = -8; }, "head_dim_qk");
}

TEST(ValidateTest, ScaleAndSoftcap) {
  ExpectError([](Valid& c) { c.spec.scale = std::nanf(""); }, "scale must be finite");
  ExpectError([](Valid& c) { c.spec.scale = std::numeric_limits<float>::infinity(); }, "scale");
  ExpectError([](Valid& c) { c.spec.softcap = -1.0f; }, "softcap");
  ExpectError([](Valid& c) { c.spec.softcap = std::nanf(""); }, "softcap");
}

TEST(ValidateTest, Window) {
  ExpectError([](Valid& c) { c.spec.mask.window_left = -1; }, "window_left");
  ExpectError([](Valid& c) { c.spec.mask.window_right = -5; }, "window_right");
}

TEST(ValidateTest, Alibi) {
  ExpectError([](Valid& c) { c.spec.alibi_slopes = {1, 2, 3, 4}; }, "alibi is false");
  ExpectError([](Valid& c) { c.spec.alibi = true; c.spec.alibi_slopes = {1, 2}; }, "alibi_slopes");
  ExpectError([](Valid& c) {
    c.spec.alibi = true;
    c.spec.alibi_slopes = {1, 2, std::nanf(""), 4};
  }, "finite");
}

TEST(ValidateTest, MismatchedShapes) {
  ExpectError([](Valid& c) { c.t.k.shape[3] = 7; }, "tensor 'k'");
  ExpectError([](Valid& c) { c.t.v.shape[2] = 6; }, "tensor 'v'");
  ExpectError([](Valid& c) { c.t.out.shape[3] = 8; }, "tensor 'out'");
  ExpectError([](Valid& c) { c.t.k.shape[0] = 1; }, "tensor 'k'");
  ExpectError([](Valid& c) { c.t.q.rank = 3; }, "rank");
}

TEST(ValidateTest, BadStrides) {
  ExpectError([](Valid& c) { c.t.q.strides[3] = 2; }, "contiguous along its last axis");
  ExpectError([](Valid& c) { c.t.k.strides[2] = -8; }, "negative stride");
  ExpectError([](Valid& c) { c.t.out.strides[2] = 0; }, "overlap");
}

TEST(ValidateTest, Dtypes) {
  ExpectError([](Valid& c) { c.t.k.dtype = DType::kBF16; }, "dtype");
  ExpectError([](Valid& c) {
    c.spec.return_lse = true;
    c.t.lse = TensorView::Contiguous(c.lse.data(), DType::kF16, {2, 4, 5});
  }, "lse must be f32");
}

TEST(ValidateTest, MissingAndUnexpectedOptionalTensors) {
  ExpectError([](Valid& c) { c.spec.return_lse = true; }, "tensor 'lse' is missing");
  ExpectError([](Valid& c) { c.spec.has_sinks = true; }, "tensor 'sinks' is missing");
  ExpectError([](Valid& c) { c.spec.has_bias = true; }, "tensor 'bias' is missing");
  ExpectError([](Valid& c) { c.t.lse = TensorView::Contiguous(c.lse.data(), DType::kF32, {2, 4, 5}); },
              "return_lse is false");
  ExpectError([](Valid& c) { c.t.q.data = nullptr; }, "tensor 'q' is missing");
}

TEST(ValidateTest, SinksAndBiasShapes) {
  ExpectError([](Valid& c) {
    c.spec.has_sinks = true;
    c.t.sinks = TensorView::Contiguous(c.sinks.data(), DType::kF32, {3});
  }, "tensor 'sinks'");
  ExpectError([](Valid& c) {
    c.spec.has_bias = true;
    c.t.bias = TensorView::Contiguous(c.bias.data(), DType::kF32, {2, 3, 5, 7});
  }, "must be 1 or 4");
  ExpectError([](Valid& c) {
    c.spec.has_bias = true;
    c.t.bias = TensorView::Contiguous(c.bias.data(), DType::kF32, {2, 4, 5, 6});
  }, "axis 3");
}

TEST(ValidateTest, Varlen) {
  Valid c;
  AttentionTensors t = c.t;
  // Varlen tensors are [1, H, total, D]: here totals 5 and 7.
  t.q.shape[0] = t.k.shape[0] = t.v.shape[0] = t.out.shape[0] = 1;
  EXPECT_NO_THROW(Attention(c.spec, t, ThreadingContext(1), {0, 2, 2, 5}, {0, 3, 7, 7}));
  EXPECT_THROW(Attention(c.spec, t, ThreadingContext(1), {0, 2, 5}, {0, 3, 7, 7}), Error);
  EXPECT_THROW(Attention(c.spec, t, ThreadingContext(1), {1, 2, 5}, {0, 3, 7}), Error);
  EXPECT_THROW(Attention(c.spec, t, ThreadingContext(1), {0, 3, 2, 5}, {0, 3, 7, 7}), Error);
  EXPECT_THROW(Attention(c.spec, t, ThreadingContext(1), {0, 2, 2, 6}, {0, 3, 7, 7}), Error);
  EXPECT_THROW(Attention(c.spec, t, ThreadingContext(1), {0, 5}, {}), Error);
  AttentionSpec with_bias = c.spec;
  with_bias.has_bias = true;
  t.bias = TensorView::Contiguous(c.bias.data(), DType::kF32, {1, 4, 5, 7});
  EXPECT_THROW(Attention(with_bias, t, ThreadingContext(1), {0, 5}, {0, 7}), Error);
}

TEST(ValidateTest, EmptyVarlenTensorsNeedNoData) {
  // A varlen batch whose sequences are all empty: tensors with no elements may
  // have null data and any strides (DLPack exporters produce both).
  Valid c;
  AttentionTensors t;
  t.q = TensorView::Attention(nullptr, DType::kF32, Layout::kBNHD, 1, 4, 0, 8);
  t.k = TensorView::Attention(nullptr, DType::kF32, Layout::kBNHD, 1, 2, 0, 8);
  t.v = TensorView::Attention(nullptr, DType::kF32, Layout::kBNHD, 1, 2, 0, 6);
  t.out = TensorView::Attention(nullptr, DType::kF32, Layout::kBNHD, 1, 4, 0, 6);
  t.q.strides[3] = 7;
  EXPECT_NO_THROW(Attention(c.spec, t, ThreadingContext(1), {0, 0, 0}, {0, 0, 0}));
  t.out.data = c.out.data();  // out has elements when q has rows: still required to be given
  t.q.shape[2] = t.out.shape[2] = 1;
  t.q.data = nullptr;
  EXPECT_THROW(Attention(c.spec, t, ThreadingContext(1), {0, 1, 1}, {0, 0, 0}), Error);
}

TEST(ValidateTest, ShapeSizes) {
  AttentionSpec spec = Valid().spec;
  AttentionShape shape;
  shape.batch = 0;
  shape.seqlen_q = shape.seqlen_k = 4;
  EXPECT_THROW(MakePlan(spec, shape, ThreadingContext(1)), Error);
  shape.batch = 1;
  shape.seqlen_q = 0;
  EXPECT_THROW(MakePlan(spec, shape, ThreadingContext(1)), Error);
  shape.seqlen_q = 4;
  shape.seqlen_k = -2;
  EXPECT_THROW(MakePlan(spec, shape, ThreadingContext(1)), Error);
}

TEST(ValidateTest, PlanOptionsAndRun) {
  Valid c;
  AttentionShape shape = ShapeOf(c.t);
  PlanOptions bad_kernel;
  bad_kernel.kernel = "no_such_kernel";
  EXPECT_THROW(MakePlan(c.spec, shape, ThreadingContext(1), bad_kernel), Error);
  PlanOptions bad_tile;
  bad_tile.block_k = 24;
  EXPECT_THROW(MakePlan(c.spec, shape, ThreadingContext(1), bad_tile), Error);
  bad_tile.block_k = 0;
  bad_tile.block_q = -4;
  EXPECT_THROW(MakePlan(c.spec, shape, ThreadingContext(1), bad_tile), Error);
  const Plan plan = MakePlan(c.spec, shape, ThreadingContext(1));
  std::vector<std::byte> small(plan.workspace_bytes() / 2);
  EXPECT_THROW(attnkit::Run(plan, c.t, small), Error);
  EXPECT_THROW(attnkit::Run(Plan(), c.t, small), Error);
  EXPECT_THROW(ThreadingContext(5000), Error);
}

TEST(ValidateTest, ParseNames) {
  EXPECT_EQ(ParseDType("bf16"), DType::kBF16);
  EXPECT_THROW(ParseDType("f8"), Error);
  EXPECT_THROW(ParseLayout("nhd"), Error);
}

}  // namespace
}  // namespace attnkit
