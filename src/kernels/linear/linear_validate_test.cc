// SPDX-License-Identifier: Apache-2.0
// Every invalid linear-attention input is an attnkit::Error whose message names
// the argument: one test per check of linear_validate.cc and of the plan/run edge.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "attnkit/error.h"
#include "src/kernels/linear/linear_test_util.h"

namespace attnkit::linear {
namespace {

using testing::Inputs;
using testing::Problem;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// A valid gated-DeltaNet problem: every optional tensor present.
Problem Valid() {
  Problem p;
  p.spec.num_q_heads = 4;
  p.spec.num_kv_heads = 2;
  p.spec.head_dim_k = 8;
  p.spec.head_dim_v = 8;
  p.spec.rule = LinearRule::kDelta;
  p.spec.qk_l2norm = true;
  p.spec.gate = LinearGate::kScalar;
  p.batch = 2;
  p.seqlen = 12;
  return p;
}

struct Call {
  Problem p;
  Inputs in;
  LinearPlanOptions options;
};

struct BadCase {
  const char* name;
  std::function<void(Call&)> mutate;
  const char* message;  // regex the Error's message must contain
};

std::vector<BadCase> Cases() {
  return {
      // ---- spec
      {"NumQHeads", [](Call& c) { c.p.spec.num_q_heads = 0; }, "num_q_heads must be >= 1, got 0"},
      {"NumKvHeads", [](Call& c) { c.p.spec.num_kv_heads = 0; }, "num_kv_heads must be >= 1"},
      {"HeadRatio", [](Call& c) { c.p.spec.num_kv_heads = 3; },
       "num_q_heads \\(4\\) must be a multiple of num_kv_heads \\(3\\)"},
      {"HeadDimK", [](Call& c) { c.p.spec.head_dim_k = 1025; }, "head_dim_k must be in \\[1, 1024\\]"},
      {"HeadDimV", [](Call& c) { c.p.spec.head_dim_v = 0; }, "head_dim_v must be in \\[1, 1024\\], got 0"},
      {"Scale", [](Call& c) { c.p.spec.scale = kNaN; }, "scale must be finite"},
      {"Rule", [](Call& c) { c.p.spec.rule = static_cast<LinearRule>(7); }, "rule must be additive"},
      {"FeatureMapEnum", [](Call& c) { c.p.spec.feature_map = static_cast<FeatureMap>(9); },
       "feature_map must be identity, elu\\+1, relu, hedgehog or based"},
      {"NormEnum", [](Call& c) { c.p.spec.norm = static_cast<LinearNorm>(9); }, "norm must be none"},
      {"GateEnum", [](Call& c) { c.p.spec.gate = static_cast<LinearGate>(5); }, "gate must be none"},
      {"DecayCount", [](Call& c) { c.p.spec.decay = {0.9f}; },
       "decay must have num_kv_heads \\(2\\) entries, got 1"},
      {"DecayZero", [](Call& c) { c.p.spec.decay = {0.0f, 0.5f}; }, "decay\\[0\\] must be in \\(0, 1\\]"},
      {"DecayAboveOne", [](Call& c) { c.p.spec.decay = {0.5f, 1.5f}; }, "decay\\[1\\] must be in"},
      {"DecayNaN", [](Call& c) { c.p.spec.decay = {kNaN, 0.5f}; }, "decay\\[0\\] must be in"},
      {"HedgehogWeightsWithoutHedgehog",
       [](Call& c) { c.p.spec.hedgehog_weight_q.assign(64, 0.0f); },
       "hedgehog_weight_q given but feature_map is identity"},
      {"HedgehogWeightMissing", [](Call& c) { c.p.spec.feature_map = FeatureMap::kHedgehog; },
       "hedgehog_weight_q must have head_dim_k\\^2 = 64 entries"},
      {"HedgehogBiasSize",
       [](Call& c) {
         c.p.spec.feature_map = FeatureMap::kHedgehog;
         c.p.spec.hedgehog_weight_q.assign(64, 0.0f);
         c.p.spec.hedgehog_bias_q.assign(3, 0.0f);
       },
       "hedgehog_bias_q must be empty or have 8 entries, got 3"},
      {"HedgehogKeyWeightSize",
       [](Call& c) {
         c.p.spec.feature_map = FeatureMap::kHedgehog;
         c.p.spec.hedgehog_weight_q.assign(64, 0.0f);
         c.p.spec.hedgehog_weight_k.assign(63, 0.0f);
       },
       "hedgehog_weight_k must be empty or have 64 entries"},
      {"HedgehogKeyBiasWithoutWeight",
       [](Call& c) {
         c.p.spec.feature_map = FeatureMap::kHedgehog;
         c.p.spec.hedgehog_weight_q.assign(64, 0.0f);
         c.p.spec.hedgehog_bias_k.assign(8, 0.0f);
       },
       "hedgehog_bias_k given without hedgehog_weight_k"},
      {"HedgehogWeightNotFinite",
       [](Call& c) {
         c.p.spec.feature_map = FeatureMap::kHedgehog;
         c.p.spec.hedgehog_weight_q.assign(64, 0.0f);
         c.p.spec.hedgehog_weight_q[3] = kInf;
       },
       "hedgehog_weight_q\\[3\\] must be finite"},
      {"BasedTooWide",
       [](Call& c) {
         c.p.spec.feature_map = FeatureMap::kBased;
         c.p.spec.head_dim_k = 64;
       },
       "feature_map based with head_dim_k 64 has 4161 features"},
      {"ChannelGateNeedsDkFeatures",
       [](Call& c) {
         c.p.spec.gate = LinearGate::kChannel;
         c.p.spec.feature_map = FeatureMap::kBased;
       },
       "gate=channel gates the Dk feature channels"},
      {"DeltaWithDenominator", [](Call& c) { c.p.spec.norm = LinearNorm::kDenominator; },
       "norm=denominator is not defined for the delta rule"},
      {"NormEps", [](Call& c) { c.p.spec.norm_eps = 0.0f; }, "norm_eps must be finite and > 0"},
      {"Window", [](Call& c) { c.p.spec.window = -1; }, "window must be >= 0"},
      {"LinearWeight", [](Call& c) { c.p.spec.linear_weight = kInf; }, "linear_weight must be finite"},
      {"WindowWeight", [](Call& c) { c.p.spec.window_weight = kNaN; }, "window_weight must be finite"},
      {"WindowScale", [](Call& c) { c.p.spec.window_scale = kInf; }, "window_scale must be finite"},
      // ---- shape and options
      {"Dtype", [](Call& c) { c.in.shape.dtype = static_cast<DType>(9); }, "dtype must be f32, bf16 or f16"},
      {"Batch", [](Call& c) { c.in.shape.batch = 0; }, "batch must be >= 1, got 0"},
      {"Seqlen", [](Call& c) { c.in.shape.seqlen = 0; }, "seqlen must be >= 1, got 0"},
      {"CuSeqlensCount", [](Call& c) { c.in.shape.cu_seqlens = {0, 3}; },
       "cu_seqlens must have batch \\+ 1 = 3 entries, got 2"},
      {"CuSeqlensStart",
       [](Call& c) {
         c.in.shape.batch = 2;
         c.in.shape.cu_seqlens = {1, 3, 6};
       },
       "cu_seqlens\\[0\\] must be 0, got 1"},
      {"CuSeqlensDecreasing",
       [](Call& c) {
         c.in.shape.batch = 2;
         c.in.shape.cu_seqlens = {0, 5, 4};
       },
       "cu_seqlens must be non-decreasing, but cu_seqlens\\[2\\] = 4"},
      {"Mode", [](Call& c) { c.options.mode = static_cast<LinearMode>(9); }, "mode must be auto"},
      {"Chunk", [](Call& c) { c.options.chunk = 2000; }, "chunk must be in \\[1, 1024\\]"},
      {"ChunkNegative", [](Call& c) { c.options.chunk = -3; }, "chunk must be in \\[1, 1024\\]"},
      {"ChunkWithRecurrent",
       [](Call& c) {
         c.options.mode = LinearMode::kRecurrent;
         c.options.chunk = 16;
       },
       "chunk = 16 applies to mode=chunk, but mode is recurrent"},
      {"ParallelTooLong",
       [](Call& c) {
         c.options.mode = LinearMode::kParallel;
         c.in.shape.seqlen = 9000;
       },
       "mode=parallel materialises N x N scores"},
      // ---- tensors
      {"QShape", [](Call& c) { c.in.t.q.shape[3] = 9; }, "tensor 'q' has shape \\[2, 4, 12, 9\\]"},
      {"KHeads", [](Call& c) { c.in.t.k.shape[1] = 4; }, "tensor 'k' has shape"},
      {"VDim", [](Call& c) { c.in.t.v.shape[3] = 7; }, "tensor 'v' has shape"},
      {"QRank", [](Call& c) { c.in.t.q.rank = 3; }, "tensor 'q' must have rank 4"},
      {"OutMissing", [](Call& c) { c.in.t.out = TensorView{}; }, "tensor 'out' is missing"},
      {"OutOverlaps", [](Call& c) { c.in.t.out.strides[2] = 0; }, "output tensor 'out' has stride 0"},
      {"LastAxisStride", [](Call& c) { c.in.t.k.strides[3] = 2; },
       "tensor 'k' must be contiguous along its last axis"},
      {"NegativeStride", [](Call& c) { c.in.t.v.strides[1] = -1; }, "tensor 'v' has negative stride"},
      {"QkvDtypes", [](Call& c) { c.in.t.k.dtype = DType::kBF16; }, "q, k and v must all have dtype f32"},
      {"OutDtype", [](Call& c) { c.in.t.out.dtype = DType::kF16; }, "out must have dtype f32, got f16"},
      {"GateMissing", [](Call& c) { c.in.t.gate = TensorView{}; }, "tensor 'gate' is missing"},
      {"GateUnexpected", [](Call& c) { c.p.spec.gate = LinearGate::kNone; },
       "a gate tensor was given but spec.gate is none"},
      {"GateRankForChannel", [](Call& c) { c.p.spec.gate = LinearGate::kChannel; },
       "tensor 'gate' must have rank 4 \\[B, Hkv, N, Dk\\]"},
      {"GateDtype", [](Call& c) { c.in.t.gate.dtype = DType::kBF16; }, "tensor 'gate' must be f32"},
      {"GatePositive", [](Call& c) { c.in.gate[1 * 12 + 5] = 0.5f; },
       "gate\\[0, 1, 5\\] = 0.5: gates are log-gates and must be <= 0"},
      {"GateNaN", [](Call& c) { c.in.gate[30] = kNaN; }, "gate\\[1, 0, 6\\] = nan"},
      {"GatePlusInf", [](Call& c) { c.in.gate[0] = kInf; }, "gate\\[0, 0, 0\\] = inf"},
      {"BetaMissing", [](Call& c) { c.in.t.beta = TensorView{}; }, "tensor 'beta' is missing"},
      {"BetaUnexpected", [](Call& c) { c.p.spec.rule = LinearRule::kAdditive; },
       "a beta tensor was given but spec.rule is additive"},
      {"BetaAboveTwo", [](Call& c) { c.in.beta[7] = 2.5f; },
       "beta\\[0, 0, 7\\] = 2.5: the delta rule's write strength must be in \\[0, 2\\]"},
      {"BetaNegative", [](Call& c) { c.in.beta[2] = -0.1f; }, "beta\\[0, 0, 2\\] = -0.1"},
      {"BetaNaN", [](Call& c) { c.in.beta[3] = kNaN; }, "beta\\[0, 0, 3\\] = nan"},
      {"InitialStateShape", [](Call& c) { c.in.t.initial_state.shape[2] = 9; },
       "tensor 'initial_state' has shape"},
      {"InitialStateDtype", [](Call& c) { c.in.t.initial_state.dtype = DType::kBF16; },
       "tensor 'initial_state' must be f32"},
      {"FinalStateShape", [](Call& c) { c.in.t.final_state.shape[0] = 1; }, "tensor 'final_state' has shape"},
      {"FinalStateOverlaps",
       [](Call& c) {
         c.in.t.final_state = c.in.t.initial_state;
         c.in.t.final_state.data = c.in.state_in.data() + 1;
       },
       "initial_state and final_state overlap without being the same view"},
  };
}

class LinearErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(LinearErrorTest, NamesTheArgument) {
  Call c;
  c.p = Valid();
  testing::MakeInputs(c.p, c.in);
  GetParam().mutate(c);
  try {
    const LinearPlan plan = MakeLinearPlan(c.p.spec, c.in.shape, ThreadingContext(2), c.options);
    std::vector<std::byte> ws(plan.workspace_bytes());
    RunLinear(plan, c.in.t, ws);
    ADD_FAILURE() << "no error; expected: " << GetParam().message;
  } catch (const Error& e) {
    EXPECT_TRUE(std::regex_search(e.what(), std::regex(GetParam().message)))
        << "message: " << e.what() << "\nexpected: " << GetParam().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Linear, LinearErrorTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LinearErrorTest, TheValidProblemRuns) {
  Call c;
  c.p = Valid();
  testing::MakeInputs(c.p, c.in);
  EXPECT_NO_THROW(testing::Run(c.p, c.in, LinearMode::kAuto));
}

TEST(LinearErrorTest, WorkspaceTooSmall) {
  Call c;
  c.p = Valid();
  testing::MakeInputs(c.p, c.in);
  const LinearPlan plan = MakeLinearPlan(c.p.spec, c.in.shape, ThreadingContext(2));
  std::vector<std::byte> ws(plan.workspace_bytes() - 1);
  EXPECT_THROW(
      {
        try {
          RunLinear(plan, c.in.t, ws);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("RunLinear: workspace has"), std::string::npos);
          throw;
        }
      },
      Error);
}

TEST(LinearErrorTest, EmptyPlan) {
  LinearTensors t;
  EXPECT_THROW(RunLinear(LinearPlan(), t, {}), Error);
  EXPECT_THROW(LinearPlan().spec(), Error);
}

TEST(LinearErrorTest, UnknownNames) {
  for (const auto& [fn, msg] :
       {std::pair<std::function<void()>, const char*>{[] { ParseFeatureMap("softmax"); },
                                                      "unknown feature_map 'softmax' \\(allowed: "
                                                      "identity, elu\\+1, relu, hedgehog, based\\)"},
        {[] { ParseLinearNorm("l1"); }, "unknown norm 'l1' \\(allowed: none, denominator"},
        {[] { ParseLinearMode("fast"); }, "unknown mode 'fast' \\(allowed: auto, chunk"}}) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << msg;
    } catch (const Error& e) {
      EXPECT_TRUE(std::regex_search(e.what(), std::regex(msg))) << e.what();
    }
  }
}

}  // namespace
}  // namespace attnkit::linear
