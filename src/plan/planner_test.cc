// SPDX-License-Identifier: Apache-2.0
// The planner: every registry entry is selectable and correct, tile overrides
// are honoured, the partition is longest-first, causal tiles are skipped, and
// Explain() reports the choice.
#include <gtest/gtest.h>

#include "attnkit/attnkit.h"
#include "src/harness/cases.h"
#include "src/plan/cost_model.h"
#include "src/plan/cpu_probe.h"
#include "src/plan/autotune.h"
#include "src/plan/plan_impl.h"
#include "src/plan/registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace attnkit {
namespace {

harness::Case SmallCase() {
  harness::Case c;
  c.spec.num_q_heads = 4;
  c.spec.num_kv_heads = 2;
  c.spec.head_dim_qk = 40;
  c.spec.head_dim_v = 24;
  c.spec.mask.causal = true;
  c.spec.has_sinks = true;
  c.spec.softcap = 20.0f;
  c.batch = 2;
  c.seqlen_q = 33;
  c.seqlen_k = 70;
  return c;
}

TEST(PlannerTest, EveryRegistryEntryMatchesTheReference) {
  const std::vector<KernelInfo> kernels = ListKernels();
  ASSERT_GE(kernels.size(), 2u);
  for (const KernelInfo& k : kernels) {
    const KernelEntry* entry = FindKernel(k.name);
    if (entry == nullptr) continue;  // other families' kernels have their own tests
    for (DType dt : k.dtypes) {
      harness::Case c = SmallCase();
      c.kernel = k.name;
      c.dtype = dt;
      const std::string why = entry->why_unsupported(c.spec, c.Shape());
      if (!why.empty()) {
        std::printf("[   NOTE   ] %s cannot run here (%s): not tested on this machine\n",
                    k.name.c_str(), why.c_str());
        continue;
      }
      const harness::CheckResult r = harness::Check(c);
      EXPECT_TRUE(r.pass) << k.name << " " << Name(dt) << ": " << r.failure;
    }
  }
}

TEST(PlannerTest, AutomaticChoiceIsNotTheReference) {
  const harness::Case c = SmallCase();
  const Plan plan = MakePlan(c.spec, c.Shape(), ThreadingContext(2));
  EXPECT_EQ(plan.kernel_name(), "dense_fwd_f32acc_tiled");
  EXPECT_EQ(plan.num_threads(), 2);
  EXPECT_EQ(plan.spec().head_dim_qk, 40);
  EXPECT_EQ(plan.shape().seqlen_k, 70);
  EXPECT_THROW(Plan().spec(), Error);
  EXPECT_GT(plan.workspace_bytes(), 0u);
}

TEST(PlannerTest, TileOverridesAreHonoured) {
  const harness::Case c = SmallCase();
  PlanOptions o;
  o.block_q = 7;
  o.block_k = 48;
  const Plan plan = MakePlan(c.spec, c.Shape(), ThreadingContext(1), o);
  EXPECT_EQ(plan.impl().block_q, 7);
  EXPECT_EQ(plan.impl().block_k, 48);
  EXPECT_NE(plan.Explain().find("block_q 7 x block_k 48 (14 rows"), std::string::npos) << plan.Explain();
}

TEST(PlannerTest, ExplainNamesKernelTilesPartitionAndAlternatives) {
  const harness::Case c = SmallCase();
  const std::string text = MakePlan(c.spec, c.Shape(), ThreadingContext(2)).Explain();
  for (const char* needle : {"kernel    : dense_fwd_f32acc_tiled", "tiles", "partition", "workspace",
                             "candidates", "<- chosen", "causal"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << "missing '" << needle << "' in\n" << text;
  }
}

TEST(PlannerTest, WorkIsLongestFirstAndCausalSkipsTiles) {
  harness::Case c = SmallCase();
  c.seqlen_q = c.seqlen_k = 256;
  PlanOptions o;
  o.block_q = 32;
  o.block_k = 32;
  const Plan plan = MakePlan(c.spec, c.Shape(), ThreadingContext(2), o);
  const PlanImpl& p = plan.impl();
  int64_t prev = INT64_MAX, visited = 0;
  for (const dense::WorkItem& w : p.items) {
    const int64_t rows = std::min<int64_t>(32, 256 - w.q_tile * 32);
    const int64_t t = VisitedKeyTiles(p, 256, 256, w.q_tile * 32, rows, 32);
    EXPECT_LE(t * rows, prev);
    prev = t * rows;
    visited += t;
  }
  // Causal, aligned tiles: query tile i visits i + 1 key tiles: 1 + 2 + ... + 8 = 36 of 64.
  EXPECT_EQ(visited, 36 * c.batch * c.spec.num_kv_heads);  // one item per GQA group
}

TEST(PlannerTest, WindowSkipsTilesOnBothSides) {
  harness::Case c = SmallCase();
  c.seqlen_q = c.seqlen_k = 1024;
  c.spec.mask = {};
  c.spec.mask.window_left = 40;
  c.spec.mask.window_right = 10;
  PlanOptions o;
  o.block_q = 64;
  o.block_k = 64;
  const Plan plan = MakePlan(c.spec, c.Shape(), ThreadingContext(1), o);
  // Rows 0..63 of tile q see keys up to 73: tiles 0 and 1; a middle tile sees 3.
  EXPECT_EQ(VisitedKeyTiles(plan.impl(), 1024, 1024, 0, 64, 64), 2);
  EXPECT_EQ(VisitedKeyTiles(plan.impl(), 1024, 1024, 512, 64, 64), 3);
  // Nq > Nk, causal: the first Nq - Nk rows see nothing.
  c.spec.mask = {};
  c.spec.mask.causal = true;
  c.seqlen_q = 200;
  c.seqlen_k = 50;
  const Plan p2 = MakePlan(c.spec, c.Shape(), ThreadingContext(1), o);
  EXPECT_EQ(VisitedKeyTiles(p2.impl(), 200, 50, 0, 64, 64), 0);
  EXPECT_EQ(VisitedKeyTiles(p2.impl(), 200, 50, 128, 64, 64), 1);
}

TEST(PlannerTest, AutotuneMeasuresOnceThenUsesTheCache) {
  setenv("ATTNKIT_AUTOTUNE_CACHE", "off", 1);  // in-process cache only
  harness::Case c = SmallCase();
  c.seqlen_q = 77;  // a shape no other test tunes
  c.autotune = true;
  const Plan first = MakePlan(c.spec, c.Shape(), ThreadingContext(1), c.Options());
  const PlanImpl& p = first.impl();
  ASSERT_FALSE(p.tuning.empty());
  EXPECT_LE(p.tuning.size(), kAutotuneCandidates);
  const auto fastest = std::min_element(p.tuning.begin(), p.tuning.end(),
                                        [](const auto& a, const auto& b) { return a.ms < b.ms; });
  EXPECT_EQ(p.block_q, fastest->block_q);
  EXPECT_EQ(p.block_k, fastest->block_k);
  EXPECT_NE(first.Explain().find("autotune  : measured"), std::string::npos);
  const Plan second = MakePlan(c.spec, c.Shape(), ThreadingContext(1), c.Options());
  EXPECT_TRUE(second.impl().tuned_from_cache);
  EXPECT_EQ(second.impl().block_q, p.block_q);
  EXPECT_EQ(second.impl().block_k, p.block_k);
  // The tuned plan computes the right thing.
  const harness::CheckResult r = harness::Check(c);
  EXPECT_TRUE(r.pass) << r.failure;
}

TEST(PlannerTest, CostModelPrefersTilesThatFitL2) {
  harness::Case c = SmallCase();
  c.spec.head_dim_qk = c.spec.head_dim_v = 1024;
  c.seqlen_q = c.seqlen_k = 2048;
  CpuInfo small_l2 = CpuInfo::Detect();
  small_l2.l2_bytes = 512 << 10;
  const Plan plan = MakePlan(c.spec, c.Shape(), ThreadingContext(2, small_l2));
  const TileCandidate& chosen = plan.impl().candidates.front();
  EXPECT_TRUE(chosen.fits_l2) << plan.Explain();
  EXPECT_LE(chosen.working_set, 512 << 10);
}

TEST(CpuProbe, Bf16DotRatioOverride) {
  EXPECT_EQ(Bf16DotRatioOrOverride(nullptr, 0.55), 0.55);
  EXPECT_EQ(Bf16DotRatioOrOverride("", 0.55), 0.55);
  EXPECT_EQ(Bf16DotRatioOrOverride("2", 0.55), 2.0);
  EXPECT_EQ(Bf16DotRatioOrOverride("0.5", 2.0), 0.5);
  for (const char* bad : {"fast", "2x", "0", "-1", "1e9", "nan"}) {
    try {
      Bf16DotRatioOrOverride(bad, 1.0);
      ADD_FAILURE() << "accepted ATTNKIT_BF16_DOT_RATIO=" << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("ATTNKIT_BF16_DOT_RATIO='") + bad + "'"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace attnkit
