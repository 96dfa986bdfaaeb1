// SPDX-License-Identifier: Apache-2.0
// Linear-attention kernels against the fp64 oracle: the parallel, recurrent and
// chunked forms of every variant agree (rel-L2 <= 1e-5 in f32), for chunks that
// do not divide N, split calls carrying the state, varlen resets, extreme gates,
// bf16 inputs, every Highway target and any thread count. Errors: linear_validate_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "attnkit/plan.h"
#include "attnkit/spec.h"
#include "hwy/targets.h"
#include "src/kernels/linear/linear_test_util.h"

namespace attnkit::linear {
namespace {

using testing::Inputs;
using testing::Problem;
using testing::RelL2;

constexpr double kTol = 1e-5;  // rel-L2 of f32 kernels vs the fp64 oracle (issue 8)

std::vector<float> RandomVector(size_t n, float sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

Problem Base(const char* name, int64_t dk, int64_t dv) {
  Problem p;
  p.name = name;
  p.spec.num_q_heads = 4;
  p.spec.num_kv_heads = 2;
  p.spec.head_dim_k = dk;
  p.spec.head_dim_v = dv;
  return p;
}

// One problem per variant of the family (issue 8's list).
std::vector<Problem> Variants() {
  std::vector<Problem> v;
  v.push_back(Base("plain", 24, 20));
  {
    Problem p = Base("lightning_decay", 32, 32);
    p.spec.decay = LightningDecays(p.spec.num_kv_heads);
    v.push_back(p);
  }
  {
    Problem p = Base("retnet_decay_mha", 16, 48);
    p.spec.num_q_heads = p.spec.num_kv_heads = 3;
    p.spec.decay = RetNetDecays(3);
    v.push_back(p);
  }
  {
    Problem p = Base("mamba2_scalar_gate", 32, 24);
    p.spec.gate = LinearGate::kScalar;
    p.gate_lo = -2.0f;
    v.push_back(p);
  }
  {
    Problem p = Base("gla_channel_gate", 40, 24);
    p.spec.gate = LinearGate::kChannel;
    p.gate_lo = -0.1f;  // the chunk decays by < 20 nats: one pivot per chunk
    v.push_back(p);
  }
  {
    Problem p = Base("gla_channel_gate_fast", 24, 16);
    p.spec.gate = LinearGate::kChannel;
    p.gate_lo = -3.0f;  // 16-row blocks, some evaluated pair by pair
    v.push_back(p);
  }
  {
    Problem p = Base("gla_channel_gate_and_decay", 16, 16);
    p.spec.gate = LinearGate::kChannel;
    p.spec.decay = {0.9f, 0.99f};
    v.push_back(p);
  }
  {
    Problem p = Base("deltanet", 32, 32);
    p.spec.rule = LinearRule::kDelta;
    p.spec.qk_l2norm = true;
    v.push_back(p);
  }
  {
    Problem p = Base("gated_deltanet", 48, 40);
    p.spec.rule = LinearRule::kDelta;
    p.spec.qk_l2norm = true;
    p.spec.gate = LinearGate::kScalar;
    p.gate_lo = -1.0f;
    v.push_back(p);
  }
  {
    Problem p = Base("kda_channel_delta", 24, 24);
    p.spec.rule = LinearRule::kDelta;
    p.spec.qk_l2norm = true;
    p.spec.gate = LinearGate::kChannel;
    p.gate_lo = -0.5f;
    v.push_back(p);
  }
  {
    Problem p = Base("elu_denominator", 24, 20);
    p.spec.feature_map = FeatureMap::kEluPlusOne;
    p.spec.norm = LinearNorm::kDenominator;
    v.push_back(p);
  }
  {
    Problem p = Base("relu_denominator_decay", 16, 20);
    p.spec.feature_map = FeatureMap::kRelu;
    p.spec.norm = LinearNorm::kDenominator;
    p.spec.decay = {0.95f, 0.8f};
    v.push_back(p);
  }
  {
    Problem p = Base("hedgehog_denominator", 16, 24);
    p.spec.feature_map = FeatureMap::kHedgehog;
    p.spec.norm = LinearNorm::kDenominator;
    p.spec.hedgehog_weight_q = RandomVector(16 * 16, 0.3f, 1);
    p.spec.hedgehog_bias_q = RandomVector(16, 0.1f, 2);
    p.spec.hedgehog_weight_k = RandomVector(16 * 16, 0.3f, 3);
    v.push_back(p);
  }
  {
    Problem p = Base("based_denominator", 8, 16);
    p.spec.feature_map = FeatureMap::kBased;
    p.spec.norm = LinearNorm::kDenominator;
    v.push_back(p);
  }
  {
    Problem p = Base("transnormer_rmsnorm", 32, 32);
    p.spec.feature_map = FeatureMap::kEluPlusOne;
    p.spec.norm = LinearNorm::kRmsNorm;
    p.spec.decay = LightningDecays(2);
    v.push_back(p);
  }
  {
    Problem p = Base("layernorm_gated", 20, 36);
    p.spec.norm = LinearNorm::kLayerNorm;
    p.spec.gate = LinearGate::kScalar;
    v.push_back(p);
  }
  {
    Problem p = Base("hybrid_window_gla", 32, 32);
    p.spec.gate = LinearGate::kChannel;
    p.gate_lo = -0.2f;
    p.spec.window = 9;
    p.spec.linear_weight = 0.7f;
    p.spec.window_weight = 0.4f;
    v.push_back(p);
  }
  {
    Problem p = Base("gqa_8_to_1_wide", 64, 80);
    p.spec.num_q_heads = 8;
    p.spec.num_kv_heads = 1;
    p.spec.decay = {0.97f};
    p.batch = 1;
    v.push_back(p);
  }
  return v;
}

std::string VariantName(const ::testing::TestParamInfo<Problem>& info) { return info.param.name; }

Problem Variant(const std::string& name) {
  for (const Problem& p : Variants()) {
    if (p.name == name) return p;
  }
  ADD_FAILURE() << "no variant " << name;
  return Problem();
}

class LinearVariantTest : public ::testing::TestWithParam<Problem> {};

// The two fp64 forms are independent computations of the same definition.
TEST_P(LinearVariantTest, ReferenceFormsAgree) {
  const Problem& p = GetParam();
  Inputs in;
  testing::MakeInputs(p, in);
  const ReferenceOutput rec = LinearReference(p.spec, in.shape, in.t, ReferenceForm::kRecurrent);
  const ReferenceOutput par = LinearReference(p.spec, in.shape, in.t, ReferenceForm::kParallel);
  EXPECT_LE(RelL2(par.out, rec.out), 1e-12);
  EXPECT_LE(RelL2(par.state, rec.state), 1e-12);
}

// Every kernel form (and two chunk lengths of the chunked one) vs the oracle.
TEST_P(LinearVariantTest, EveryFormMatchesTheReference) {
  const Problem& p = GetParam();
  Inputs ref_in;
  testing::MakeInputs(p, ref_in);
  const ReferenceOutput ref = LinearReference(p.spec, ref_in.shape, ref_in.t, ReferenceForm::kRecurrent);
  struct Form {
    LinearMode mode;
    int64_t chunk;
  };
  for (const Form f : {Form{LinearMode::kChunk, 0}, Form{LinearMode::kChunk, 16},
                       Form{LinearMode::kChunk, 23}, Form{LinearMode::kRecurrent, 0},
                       Form{LinearMode::kParallel, 0}}) {
    Inputs in;
    testing::MakeInputs(p, in);
    testing::Run(p, in, f.mode, f.chunk);
    EXPECT_LE(RelL2(testing::OutValues(in), ref.out), kTol) << Name(f.mode) << " chunk " << f.chunk;
    EXPECT_LE(RelL2(testing::StateValues(in), ref.state), kTol) << Name(f.mode) << " state";
  }
}

// A sequence split over three calls, the state passed from each to the next,
// equals one call. Every part also equals the oracle run on that part alone
// from the carried state. The hybrid's softmax window sees only its own call's
// tokens (docs/linear.md), so for hybrids the whole-call equality holds for the
// state and for the rows whose window lies inside their call; the other rows
// are covered by the per-part oracle check.
TEST_P(LinearVariantTest, SplitCallsCarryTheState) {
  Problem p = GetParam();
  p.batch = 1;
  p.seqlen = 100;
  p.layout = Layout::kBHND;
  Inputs whole;
  testing::MakeInputs(p, whole);
  testing::Run(p, whole, LinearMode::kChunk, 16);
  const std::vector<double> want = testing::OutValues(whole);

  const int64_t cuts[] = {0, 37, 38, 100};
  std::vector<double> got(want.size());
  std::vector<char> comparable(want.size(), 1);  // rows that must equal the one-call output
  std::vector<float> state = whole.state_in;
  const int64_t hq = p.spec.num_q_heads, hkv = p.spec.num_kv_heads, dv = p.spec.head_dim_v;
  for (int part = 0; part < 3; ++part) {
    const int64_t n0 = cuts[part], n = cuts[part + 1] - n0;
    LinearTensors t = whole.t;  // BHND views into the whole sequence, shortened
    auto slice = [&](TensorView v) {
      v.data = static_cast<uint8_t*>(v.data) + n0 * v.strides[2] * SizeOf(v.dtype);
      v.shape[2] = n;
      return v;
    };
    std::vector<uint8_t> out(static_cast<size_t>(hq * n * dv) * 4);
    t.q = slice(t.q);
    t.k = slice(t.k);
    t.v = slice(t.v);
    t.out = TensorView::Attention(out.data(), DType::kF32, Layout::kBHND, 1, hq, n, dv);
    if (t.gate.data != nullptr) t.gate = slice(t.gate);
    if (t.beta.data != nullptr) t.beta = slice(t.beta);
    t.initial_state = t.final_state = TensorView::Contiguous(
        state.data(), DType::kF32, {1, hkv, p.spec.feature_dim(), p.spec.state_cols()});
    LinearShape part_shape = whole.shape;
    part_shape.seqlen = n;
    // The oracle of this part alone, from the carried state (read before the in-place run).
    const ReferenceOutput part_ref = LinearReference(p.spec, part_shape, t, ReferenceForm::kRecurrent);
    LinearPlanOptions o;
    o.mode = part == 1 ? LinearMode::kRecurrent : LinearMode::kChunk;  // a 1-token decode step
    LinearAttention(p.spec, t, ThreadingContext(2), {}, o);
    const float* of = reinterpret_cast<const float*>(out.data());
    std::vector<double> part_got(of, of + hq * n * dv);
    EXPECT_LE(RelL2(part_got, part_ref.out), kTol) << "part " << part;
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < dv; ++c) {
          const size_t w = static_cast<size_t>((h * 100 + n0 + i) * dv + c);
          got[w] = of[(h * n + i) * dv + c];
          // The window of row n0 + i reaches back before this call's first token.
          if (p.spec.window > 0 && n0 > 0 && i < p.spec.window - 1) comparable[w] = 0;
        }
  }
  std::vector<double> got_cmp, want_cmp;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!comparable[i]) continue;
    got_cmp.push_back(got[i]);
    want_cmp.push_back(want[i]);
  }
  EXPECT_GT(got_cmp.size(), want.size() / 2);
  EXPECT_LE(RelL2(got_cmp, want_cmp), kTol);
  EXPECT_LE(RelL2(std::vector<double>(state.begin(), state.end()), testing::StateValues(whole)), kTol);
}

INSTANTIATE_TEST_SUITE_P(Variants, LinearVariantTest, ::testing::ValuesIn(Variants()), VariantName);

Problem Gla() {
  Problem p = Base("gla", 32, 32);
  p.spec.gate = LinearGate::kChannel;
  p.gate_lo = -0.4f;
  return p;
}

TEST(LinearTest, ChunkLengthsThatDoNotDivideN) {
  for (Problem p : {Gla(), Variant("gated_deltanet")}) {
    p.seqlen = 157;
    Inputs ref_in;
    testing::MakeInputs(p, ref_in);
    const ReferenceOutput ref = LinearReference(p.spec, ref_in.shape, ref_in.t, ReferenceForm::kRecurrent);
    for (int64_t chunk : {1, 7, 16, 33, 64, 100, 157, 300}) {
      Inputs in;
      testing::MakeInputs(p, in);
      testing::Run(p, in, LinearMode::kChunk, chunk);
      EXPECT_LE(RelL2(testing::OutValues(in), ref.out), kTol) << p.name << " chunk " << chunk;
      EXPECT_LE(RelL2(testing::StateValues(in), ref.state), kTol) << p.name << " chunk " << chunk;
    }
  }
}

// A varlen batch equals one call per sequence, each from its own initial state:
// the state is reset at every boundary and never leaks into the next sequence.
TEST(LinearTest, VarlenBoundariesResetTheState) {
  for (Problem p : {Gla(), Variant("deltanet"), Variant("elu_denominator")}) {
    p.varlen = {37, 0, 64, 1, 90};
    Inputs in;
    testing::MakeInputs(p, in);
    testing::Run(p, in, LinearMode::kChunk, 16);
    const std::vector<double> got = testing::OutValues(in), got_state = testing::StateValues(in);
    const ReferenceOutput ref = LinearReference(p.spec, in.shape, in.t, ReferenceForm::kParallel);
    EXPECT_LE(RelL2(got, ref.out), kTol) << p.name;
    EXPECT_LE(RelL2(got_state, ref.state), kTol) << p.name;
    // Changing the first sequence's keys changes nothing in the others.
    std::vector<uint8_t> k_saved = in.k;
    for (int64_t h = 0; h < p.spec.num_kv_heads; ++h)
      for (int64_t n = 0; n < 37; ++n)
        StoreFromF32(in.k.data(), p.dtype, in.t.k.strides[1] * h + in.t.k.strides[2] * n, 5.0f);
    std::fill(in.out.begin(), in.out.end(), 0);
    testing::Run(p, in, LinearMode::kChunk, 16);
    const std::vector<double> changed = testing::OutValues(in);
    const int64_t dv = p.spec.head_dim_v;
    size_t differ_first = 0, differ_rest = 0;
    for (int64_t h = 0; h < p.spec.num_q_heads; ++h)
      for (int64_t n = 0; n < in.shape.total(); ++n)
        for (int64_t c = 0; c < dv; ++c) {
          const size_t i = static_cast<size_t>((h * in.shape.total() + n) * dv + c);
          (n < 37 ? differ_first : differ_rest) += changed[i] != got[i];
        }
    EXPECT_GT(differ_first, 0u) << p.name;
    EXPECT_EQ(differ_rest, 0u) << p.name;
    in.k = k_saved;
  }
}

// Gates of 0 (a = 1), -inf (a reset), near and below the f32 underflow of e^g,
// mixed within chunks; scalar and per-channel; additive and delta.
TEST(LinearTest, ExtremeGates) {
  const float kInf = std::numeric_limits<float>::infinity();
  const float extremes[] = {0.0f, -kInf, -87.0f, -88.5f, -103.0f, -150.0f, -1e-30f, -1e-6f, -1e30f};
  for (LinearGate gate : {LinearGate::kScalar, LinearGate::kChannel}) {
    for (LinearRule rule : {LinearRule::kAdditive, LinearRule::kDelta}) {
      Problem p = Base("extreme", 16, 16);
      p.spec.gate = gate;
      p.spec.rule = rule;
      p.spec.qk_l2norm = rule == LinearRule::kDelta;
      p.seqlen = 90;
      Inputs in;
      testing::MakeInputs(p, in);
      std::mt19937_64 rng(3);
      for (size_t i = 0; i < in.gate.size(); ++i) {
        // Runs of small gates interrupted by extreme ones.
        if (rng() % 4 == 0) in.gate[i] = extremes[rng() % std::size(extremes)];
      }
      const ReferenceOutput ref = LinearReference(p.spec, in.shape, in.t, ReferenceForm::kRecurrent);
      for (LinearMode mode : {LinearMode::kChunk, LinearMode::kRecurrent, LinearMode::kParallel}) {
        std::fill(in.out.begin(), in.out.end(), 0);
        testing::Run(p, in, mode, mode == LinearMode::kChunk ? 32 : 0);
        const std::string what = std::string(Name(gate)) + " " + Name(rule) + " " + Name(mode);
        EXPECT_LE(RelL2(testing::OutValues(in), ref.out), kTol) << what;
        EXPECT_LE(RelL2(testing::StateValues(in), ref.state), kTol) << what;
      }
    }
  }
}

// With every gate -inf the state is reset before each token: o_t = scale q_t.k_t v_t.
TEST(LinearTest, ResetGatesLeaveOnlyTheCurrentToken) {
  Problem p = Base("reset", 8, 8);
  p.spec.num_q_heads = p.spec.num_kv_heads = 1;
  p.spec.gate = LinearGate::kScalar;
  p.batch = 1;
  p.seqlen = 40;
  p.initial_state = true;
  Inputs in;
  testing::MakeInputs(p, in);
  std::fill(in.gate.begin(), in.gate.end(), -std::numeric_limits<float>::infinity());
  testing::Run(p, in, LinearMode::kChunk, 16);
  const std::vector<double> got = testing::OutValues(in);
  const float* q = reinterpret_cast<const float*>(in.q.data());
  const float* k = reinterpret_cast<const float*>(in.k.data());
  const float* v = reinterpret_cast<const float*>(in.v.data());
  const double scale = 1.0 / std::sqrt(8.0);
  for (int64_t t = 0; t < 40; ++t) {
    double qk = 0;
    for (int i = 0; i < 8; ++i) qk += q[t * 8 + i] * k[t * 8 + i];
    for (int i = 0; i < 8; ++i) EXPECT_NEAR(got[t * 8 + i], scale * qk * v[t * 8 + i], 1e-5) << t;
  }
}

TEST(LinearTest, Bf16InputsAndOutputs) {
  for (Problem p : {Gla(), Variant("gated_deltanet"), Variant("based_denominator")}) {
    p.dtype = DType::kBF16;
    Inputs in;
    testing::MakeInputs(p, in);
    const ReferenceOutput ref = LinearReference(p.spec, in.shape, in.t, ReferenceForm::kRecurrent);
    for (LinearMode mode : {LinearMode::kChunk, LinearMode::kRecurrent}) {
      std::fill(in.out.begin(), in.out.end(), 0);
      testing::Run(p, in, mode);
      EXPECT_LE(RelL2(testing::OutValues(in), ref.out), kTol) << p.name << " " << Name(mode);
    }
    p.out_dtype = DType::kBF16;  // rounding the output costs up to 2^-9 relative
    Inputs in16;
    testing::MakeInputs(p, in16);
    testing::Run(p, in16, LinearMode::kChunk);
    EXPECT_LE(RelL2(testing::OutValues(in16), ref.out), 3e-3) << p.name << " bf16 out";
  }
}

struct TargetScope {
  explicit TargetScope(int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  ~TargetScope() { hwy::SetSupportedTargetsForTest(0); }
};

TEST(LinearTest, EveryHighwayTargetMatchesTheReference) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    TargetScope scope(target);
    for (Problem p : {Gla(), Variant("kda_channel_delta"), Variant("hedgehog_denominator")}) {
      Inputs in;
      testing::MakeInputs(p, in);
      const ReferenceOutput ref = LinearReference(p.spec, in.shape, in.t, ReferenceForm::kRecurrent);
      for (LinearMode mode : {LinearMode::kChunk, LinearMode::kRecurrent}) {
        std::fill(in.out.begin(), in.out.end(), 0);
        testing::Run(p, in, mode);
        EXPECT_LE(RelL2(testing::OutValues(in), ref.out), kTol)
            << hwy::TargetName(target) << " " << p.name << " " << Name(mode);
      }
    }
  }
}

TEST(LinearTest, ResultsAreBitwiseIndependentOfThreadCount) {
  for (LinearMode mode : {LinearMode::kChunk, LinearMode::kRecurrent}) {
    Problem p = Gla();
    Inputs one;
    testing::MakeInputs(p, one);
    testing::Run(p, one, mode, 0, 1);
    for (int threads : {2, 3, 8}) {
      Inputs in;
      testing::MakeInputs(p, in);
      testing::Run(p, in, mode, 0, threads);
      EXPECT_EQ(in.out, one.out) << threads;
      EXPECT_EQ(in.state_out, one.state_out) << threads;
    }
  }
}

// Decode: one token per call with the state updated in place equals prefill.
TEST(LinearTest, DecodeStepsWithInPlaceStateEqualPrefill) {
  Problem p = Variant("gated_deltanet");
  p.batch = 1;
  p.seqlen = 30;
  p.layout = Layout::kBHND;
  Inputs whole;
  testing::MakeInputs(p, whole);
  testing::Run(p, whole, LinearMode::kChunk, 16);
  std::vector<float> state = whole.state_in;
  const int64_t hq = p.spec.num_q_heads, dv = p.spec.head_dim_v;
  LinearShape shape = whole.shape;
  shape.seqlen = 1;
  const LinearPlan plan = MakeLinearPlan(p.spec, shape, ThreadingContext(2));
  EXPECT_EQ(plan.mode(), LinearMode::kRecurrent);
  std::vector<std::byte> ws(plan.workspace_bytes());
  std::vector<double> got(whole.out.size() / 4);
  for (int64_t n = 0; n < 30; ++n) {
    LinearTensors t = whole.t;
    for (TensorView* v : {&t.q, &t.k, &t.v, &t.gate, &t.beta}) {
      v->data = static_cast<uint8_t*>(v->data) + n * v->strides[2] * SizeOf(v->dtype);
      v->shape[2] = 1;
    }
    std::vector<float> out(hq * dv);
    t.out = TensorView::Attention(out.data(), DType::kF32, Layout::kBHND, 1, hq, 1, dv);
    t.initial_state = t.final_state = TensorView::Contiguous(
        state.data(), DType::kF32, {1, p.spec.num_kv_heads, p.spec.feature_dim(), p.spec.state_cols()});
    RunLinear(plan, t, ws);
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t c = 0; c < dv; ++c) got[(h * 30 + n) * dv + c] = out[h * dv + c];
  }
  EXPECT_LE(RelL2(got, testing::OutValues(whole)), kTol);
  EXPECT_LE(RelL2(std::vector<double>(state.begin(), state.end()), testing::StateValues(whole)), kTol);
}

TEST(LinearTest, PlannerChoosesFormsAndExplains) {
  Problem p = Gla();
  LinearShape shape = p.Shape();
  shape.seqlen = 4096;
  const LinearPlan prefill = MakeLinearPlan(p.spec, shape, ThreadingContext(2));
  EXPECT_EQ(prefill.mode(), LinearMode::kChunk);
  EXPECT_EQ(prefill.kernel_name(), "linear_chunk_f32acc_tilegemm");
  EXPECT_GE(prefill.chunk(), 16);
  EXPECT_NE(prefill.Explain().find("<- chosen"), std::string::npos) << prefill.Explain();
  shape.seqlen = 1;
  EXPECT_EQ(MakeLinearPlan(p.spec, shape, ThreadingContext(2)).mode(), LinearMode::kRecurrent);
  LinearPlanOptions o;
  o.mode = LinearMode::kParallel;
  shape.seqlen = 100;
  const LinearPlan par = MakeLinearPlan(p.spec, shape, ThreadingContext(2), o);
  EXPECT_EQ(par.chunk(), 100);
  // The registry lists every form.
  int linear = 0;
  for (const KernelInfo& k : ListKernels()) linear += k.family == "linear";
  EXPECT_EQ(linear, 4);
}

TEST(LinearTest, ReferenceModeRunsTheOracle) {
  Problem p = Variant("layernorm_gated");
  Inputs in;
  testing::MakeInputs(p, in);
  const ReferenceOutput ref = LinearReference(p.spec, in.shape, in.t, ReferenceForm::kRecurrent);
  testing::Run(p, in, LinearMode::kReference);
  EXPECT_LE(RelL2(testing::OutValues(in), ref.out), 1e-7);
  EXPECT_LE(RelL2(testing::StateValues(in), ref.state), 1e-7);
}

TEST(LinearTest, DecayTables) {
  const std::vector<float> l = LightningDecays(8), alibi = AlibiSlopes(8), r = RetNetDecays(4);
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(l[h], std::exp(-alibi[h]));
  EXPECT_FLOAT_EQ(r[0], 1.0f - 1.0f / 32);
  EXPECT_FLOAT_EQ(r[3], 1.0f - 1.0f / 256);
}

}  // namespace
}  // namespace attnkit::linear
