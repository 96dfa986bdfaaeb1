// SPDX-License-Identifier: Apache-2.0
// Decode work partitions and merges: stream-K for worker counts {1, 2, 3, 7}
// (every block processed exactly once), split-KV, cascade vs direct
// computation, FlashDecoding++ unified max with its fallback, the VNNI
// kernel against its oracle and the portable path, and one test per invalid
// decode input.
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>

#include "attnkit/error.h"
#include "src/kernels/decode/decode_plan.h"
#include "src/kernels/decode/decode_test_util.h"

namespace attnkit::decode {
namespace {

KVCacheConfig BaseConfig(KVDType dt = KVDType::kBF16) {
  KVCacheConfig c;
  c.num_kv_heads = 2;
  c.head_dim_k = c.head_dim_v = 64;
  c.dtype = dt;
  c.num_pages = 1024;
  c.max_seq_len = 2048;
  return c;
}

AttentionSpec BaseSpec() {
  AttentionSpec spec;
  spec.num_q_heads = 8;
  spec.num_kv_heads = 2;
  spec.head_dim_qk = spec.head_dim_v = 64;
  spec.mask.causal = true;
  spec.return_lse = true;
  return spec;
}

std::vector<int64_t> AppendAll(KVCache& cache, const std::vector<int64_t>& lengths, bool outliers) {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const int64_t id = cache.AddSequence();
    const TokenData t = MakeTokens(cache.config(), lengths[i], 100 + i, outliers);
    cache.Append(id, t.KView(cache.config()), t.VView(cache.config()));
    ids.push_back(id);
  }
  return ids;
}

// Default options with one edit.
template <class Edit>
DecodeOptions WithOptions(Edit edit) {
  DecodeOptions o;
  edit(o);
  return o;
}

// Problems with the given block counts, laid out in one line.
std::vector<Problem> LineOf(const std::vector<int32_t>& blocks) {
  std::vector<Problem> p;
  int32_t at = 0;
  for (int32_t n : blocks) {
    Problem pb{};
    pb.block_begin = at;
    pb.block_end = at + n;
    at += n;
    p.push_back(pb);
  }
  return p;
}

TEST(StreamKTest, EveryBlockIsCoveredOnceAndWorkersAreBalanced) {
  const std::vector<int32_t> blocks = {17, 0, 1, 40, 3, 0, 22};
  const std::vector<Problem> problems = LineOf(blocks);
  const int32_t total = std::accumulate(blocks.begin(), blocks.end(), 0);
  const std::vector<double> cost(static_cast<size_t>(total), 1.0);
  for (int workers : {1, 2, 3, 7, 64, 200}) {
    std::vector<int32_t> begin;
    const std::vector<Piece> pieces = StreamKPartition(problems, cost, workers, begin);
    ASSERT_EQ(begin.size(), static_cast<size_t>(workers) + 1);
    std::vector<int> seen(static_cast<size_t>(total), 0);
    std::vector<int> empty_problem_pieces(problems.size(), 0);
    for (const Piece& p : pieces) {
      const Problem& pb = problems[p.problem];
      EXPECT_GE(p.block_begin, pb.block_begin);
      EXPECT_LE(p.block_end, pb.block_end);
      if (pb.block_begin == pb.block_end) ++empty_problem_pieces[p.problem];
      for (int32_t b = p.block_begin; b < p.block_end; ++b) ++seen[b];
    }
    for (int32_t b = 0; b < total; ++b) EXPECT_EQ(seen[b], 1) << "block " << b << ", " << workers << " workers";
    for (size_t i = 0; i < problems.size(); ++i) {
      if (blocks[i] == 0) {
        EXPECT_EQ(empty_problem_pieces[i], 1) << "empty problem " << i;
      }
    }
    // Equal cost: every worker gets floor or ceil of total / workers (+-1).
    for (int w = 0; w < workers; ++w) {
      int n = 0;
      for (int32_t i = begin[w]; i < begin[w + 1]; ++i) n += pieces[i].block_end - pieces[i].block_begin;
      EXPECT_LE(std::abs(n - static_cast<double>(total) / workers), 1.0) << "worker " << w << " of " << workers;
    }
  }
}

// With a snap tolerance, cuts move to problem boundaries within snap x a
// worker's share: many short problems are never split (no partial states),
// the balance stays within two tolerances (+1 block), coverage stays exact;
// long problems, with no boundary near the targets, are cut as without snap.
TEST(StreamKTest, SnapKeepsShortProblemsWholeAndLongOnesEven) {
  std::vector<int32_t> blocks;
  for (int i = 0; i < 48; ++i) blocks.push_back(2 + (i * 7) % 9);  // 2..10 blocks each
  blocks.insert(blocks.begin() + 5, 0);                          // an empty problem
  std::vector<Problem> problems = LineOf(blocks);
  int32_t total = std::accumulate(blocks.begin(), blocks.end(), 0);
  std::vector<double> cost(static_cast<size_t>(total), 1.0);
  const int workers = 8;
  std::vector<int32_t> begin;
  std::vector<Piece> pieces = StreamKPartition(problems, cost, workers, begin, kStreamKSnap);
  std::vector<int> seen(static_cast<size_t>(total), 0), parts(problems.size(), 0);
  for (const Piece& p : pieces) {
    ++parts[p.problem];
    for (int32_t b = p.block_begin; b < p.block_end; ++b) ++seen[b];
  }
  for (int32_t b = 0; b < total; ++b) EXPECT_EQ(seen[b], 1) << "block " << b;
  for (size_t i = 0; i < problems.size(); ++i) EXPECT_EQ(parts[i], 1) << "problem " << i << " split";
  const double share = static_cast<double>(total) / workers, tol = kStreamKSnap * share;
  for (int w = 0; w < workers; ++w) {
    int n = 0;
    for (int32_t i = begin[w]; i < begin[w + 1]; ++i) n += pieces[i].block_end - pieces[i].block_begin;
    EXPECT_LE(std::abs(n - share), 2 * tol + 1.0) << "worker " << w;
  }
  blocks = {100, 3};
  problems = LineOf(blocks);
  total = 103;
  cost.assign(static_cast<size_t>(total), 1.0);
  pieces = StreamKPartition(problems, cost, 7, begin, kStreamKSnap);
  for (int w = 0; w < 7; ++w) {
    int n = 0;
    for (int32_t i = begin[w]; i < begin[w + 1]; ++i) n += pieces[i].block_end - pieces[i].block_begin;
    EXPECT_LE(std::abs(n - total / 7.0), 1.0) << "long problem, worker " << w;
  }
}

TEST(SplitKVTest, EveryBlockIsCoveredOnce) {
  const std::vector<int32_t> blocks = {9, 0, 2, 31};
  const std::vector<Problem> problems = LineOf(blocks);
  for (int64_t splits : {1, 2, 5, 100}) {
    std::vector<int> seen(42, 0);
    for (const Piece& p : SplitKVPartition(problems, splits)) {
      for (int32_t b = p.block_begin; b < p.block_end; ++b) ++seen[b];
    }
    for (int v : seen) EXPECT_EQ(v, 1);
  }
}

// Stream-K with each worker count and split-KV with several splits give the
// reference result, and the kernel visits every block exactly once.
TEST(DecodeWorkTest, StreamKAndSplitKVMatchTheReferenceAndVisitBlocksOnce) {
  for (KVDType dt : {KVDType::kBF16, KVDType::kInt8}) {
    KVCache cache(BaseConfig(dt));
    const std::vector<int64_t> lengths = {1500, 3, 700, 0, 64};
    const std::vector<int64_t> ids = AppendAll(cache, lengths, true);
    const AttentionSpec spec = BaseSpec();
    std::vector<DecodeOptions> options;
    for (int workers : {1, 2, 3, 7}) {
      DecodeOptions o;
      o.partition = DecodePartition::kStreamK;
      o.num_workers = workers;
      o.block_tokens = 128;
      options.push_back(o);
    }
    for (int64_t splits : {1, 3, 8}) {
      DecodeOptions o;
      o.partition = DecodePartition::kSplitKV;
      o.num_splits = splits;
      o.block_tokens = 64;
      options.push_back(o);
    }
    for (const DecodeOptions& o : options) {
      for (int threads : {1, 2}) {
        BatchData d = MakeBatch(spec, ids, {1, 3, 2, 0, 1}, 5);
        const std::string err = CheckDecode(spec, cache, d, ThreadingContext(threads), o);
        EXPECT_EQ(err, "") << Name(dt) << " workers " << o.num_workers << " splits " << o.num_splits
                           << " threads " << threads;
        // Exactly-once, counted by the kernel.
        const DecodePlan plan = MakeDecodePlan(spec, cache, d.batch, DType::kF32, DType::kF32,
                                               ThreadingContext(threads), o);
        std::vector<std::atomic<int64_t>> visits(plan.state().blocks.size());
        for (auto& v : visits) v = 0;
        std::vector<std::byte> ws(plan.workspace_bytes());
        RunDecodeWithHooks(plan, cache, d.t, ws, visits.data());
        for (size_t b = 0; b < visits.size(); ++b) ASSERT_EQ(visits[b].load(), 1) << "block " << b;
      }
    }
  }
}

// Cascade: a shared prefix attended once for the batch, merged with each
// sequence's suffix, equals the direct computation over prefix + suffix.
TEST(DecodeWorkTest, CascadeEqualsDirectComputation) {
  for (KVDType dt : {KVDType::kF32, KVDType::kInt4}) {
    KVCacheConfig c = BaseConfig(dt);
    c.rope.style = RopeStyle::kNeoX;
    KVCache cache(c);
    const int64_t prefix = cache.AddSequence();
    const int64_t lp = 320;  // whole groups, so the fork's quantised prefix is the prefix's
    const TokenData pt = MakeTokens(c, lp, 1, true);
    cache.Append(prefix, pt.KView(c), pt.VView(c));
    std::vector<int64_t> suffixes, direct;
    const std::vector<int64_t> own = {1, 40, 200};
    for (size_t i = 0; i < own.size(); ++i) {
      const TokenData t = MakeTokens(c, own[i], 10 + i, true);
      const int64_t s = cache.AddSequence(lp);
      cache.Append(s, t.KView(c), t.VView(c));
      suffixes.push_back(s);
      if (dt == KVDType::kF32) {  // direct: a fork of the prefix with the same suffix
        const int64_t f = cache.Fork(prefix);
        cache.Append(f, t.KView(c), t.VView(c));
        direct.push_back(f);
      }
    }
    AttentionSpec spec = BaseSpec();
    spec.alibi = true;
    spec.has_sinks = true;
    for (int threads : {1, 2}) {
      BatchData cas = MakeBatch(spec, suffixes, {1, 3, 2}, 4);
      cas.batch.shared_prefix = prefix;
      EXPECT_EQ(CheckDecode(spec, cache, cas, ThreadingContext(threads)), "") << Name(dt);
      if (dt != KVDType::kF32) continue;
      BatchData dir = MakeBatch(spec, direct, {1, 3, 2}, 4);
      EXPECT_EQ(CheckDecode(spec, cache, dir, ThreadingContext(threads)), "");
      for (size_t i = 0; i < cas.out.size(); ++i) {
        ASSERT_NEAR(cas.out[i], dir.out[i], 1e-5) << "cascade vs direct, element " << i;
      }
    }
  }
}

TEST(DecodeWorkTest, UnifiedMaxEqualsTheExactPathOrFallsBack) {
  KVCache cache(BaseConfig(KVDType::kF32));
  const std::vector<int64_t> ids = AppendAll(cache, {900, 20}, false);
  AttentionSpec spec = BaseSpec();
  DecodeOptions o;
  o.unified_max = 2.0f;  // logits of N(0,1) data are within a few units of 0
  BatchData d = MakeBatch(spec, ids, {2, 1}, 1);
  DecodeStats stats;
  EXPECT_EQ(CheckDecode(spec, cache, d, ThreadingContext(2), o, &stats), "");
  EXPECT_EQ(stats.unified_max_fallbacks, 0);
  // Logits of several hundred: far outside [phi - 80, phi + 40]: every piece falls back.
  BatchData big = MakeBatch(spec, ids, {2, 1}, 1, /*q_gain=*/300.0f);
  EXPECT_EQ(CheckDecode(spec, cache, big, ThreadingContext(2), o, &stats), "");
  EXPECT_GT(stats.unified_max_fallbacks, 0);
  // Soft-cap bounds every logit: phi = cap never falls back.
  spec.softcap = 30.0f;
  o.unified_max = 30.0f;
  BatchData capped = MakeBatch(spec, ids, {2, 1}, 1, 300.0f);
  EXPECT_EQ(CheckDecode(spec, cache, capped, ThreadingContext(2), o, &stats), "");
  EXPECT_EQ(stats.unified_max_fallbacks, 0);
}

// The VNNI kernel equals its oracle (exact attention on the 15-bit query codes
// it uses), and the query rounding costs ~1e-4 against the f32-query kernels.
TEST(DecodeWorkTest, VnniScoresMatchTheirOracleAndThePortablePath) {
  const CpuInfo& cpu = CpuInfo::Detect();
  if (GetVnniScoreFn(cpu) == nullptr) GTEST_SKIP() << "no AVX512-VNNI on this CPU";
  for (KVDType dt : {KVDType::kInt8, KVDType::kInt4}) {
    for (KScales ks : {KScales::kPerChannel, KScales::kPerToken}) {
      KVCacheConfig c = BaseConfig(dt);
      c.k_scales = ks;
      c.head_dim_k = 72;  // int4 words of 8 channels, a partial 16-lane tail
      c.page_size = 32;
      c.k_group = 32;
      KVCache cache(c);
      const std::vector<int64_t> ids = AppendAll(cache, {700, 33, 1}, true);
      AttentionSpec spec = BaseSpec();
      spec.head_dim_qk = 72;
      spec.softcap = 20.0f;
      BatchData vnni = MakeBatch(spec, ids, {3, 2, 1}, 8), portable = MakeBatch(spec, ids, {3, 2, 1}, 8);
      DecodeOptions o;
      o.kernel = kVnniKernel;
      Decode(spec, cache, vnni.batch, vnni.t, ThreadingContext(2), o);
      const RefResult oracle = ReferenceDecodeOnCodes(spec, cache, vnni.batch, vnni.t.q, vnni.t.sinks);
      const RefDiff d = CompareToReference(oracle, vnni.t.out, vnni.t.lse);
      // (Its P V also rounds the weights to 14-bit codes, which the oracle does not.)
      EXPECT_LE(d.max_rel, kWeightCodeTolerance) << Name(dt) << " per-channel " << (ks == KScales::kPerChannel);
      EXPECT_LE(d.lse_rel, 1e-5);
      o.kernel = kPortableKernel;
      EXPECT_EQ(CheckDecode(spec, cache, portable, ThreadingContext(2), o), "");
      double num = 0, den = 0;
      for (size_t i = 0; i < vnni.out.size(); ++i) {
        num += (vnni.out[i] - portable.out[i]) * (vnni.out[i] - portable.out[i]);
        den += portable.out[i] * portable.out[i];
      }
      // The 15-bit query codes and 14-bit weight codes cost 2-4e-4 rel-L2 on
      // this outlier data, with per-token and with per-channel key scales
      // folded in (one 8-bit query digit cost 2.2-2.7% with per-channel scales).
      const double cost = std::sqrt(num / den);
      std::printf("VNNI query- and weight-code cost (rel-L2 vs the portable kernel): %s %s %.2e\n", std::string(Name(dt)).c_str(),
                  ks == KScales::kPerToken ? "per-token" : "per-channel", cost);
      EXPECT_LE(cost, 1e-3) << "query codes cost more than 1e-3 (rel-L2): " << Name(dt)
                            << (ks == KScales::kPerToken ? " per-token" : " per-channel");
    }
  }
}

// The VNNI kernel's P V on the value codes (token quads, 14-bit weight codes)
// equals its oracle within kWeightCodeTolerance also for value groups smaller than the
// head, value widths with a 16-channel tail, row blocks of 4 plus a remainder
// (GQA 6 x 3 / 2 / 1 query tokens) and partial sub-tiles.
TEST(DecodeWorkTest, VnniValuesOnTheCodesMatchTheirOracle) {
  const CpuInfo& cpu = CpuInfo::Detect();
  if (GetVnniScoreFn(cpu) == nullptr || GetVnniValueFn(cpu) == nullptr) GTEST_SKIP() << "no AVX512-VNNI on this CPU";
  struct Case {
    KVDType dt;
    int64_t dv, v_group;
  };
  for (const Case& k : {Case{KVDType::kInt8, 80, 16}, Case{KVDType::kInt8, 96, 48}, Case{KVDType::kInt4, 80, 64},
                        Case{KVDType::kInt4, 48, 32}}) {
    KVCacheConfig c = BaseConfig(k.dt);
    c.head_dim_v = k.dv;
    c.v_group = k.v_group;
    c.page_size = 32;
    c.k_group = 32;
    KVCache cache(c);
    const std::vector<int64_t> ids = AppendAll(cache, {700, 33, 1}, true);
    AttentionSpec spec = BaseSpec();
    spec.num_q_heads = 12;
    spec.head_dim_v = k.dv;
    BatchData d = MakeBatch(spec, ids, {3, 2, 1}, 5, 4.0f);
    DecodeOptions o;
    o.kernel = kVnniKernel;
    const DecodePlan plan = MakeDecodePlan(spec, cache, d.batch, DType::kF32, DType::kF32, ThreadingContext(2), o);
    EXPECT_NE(plan.state().values, nullptr);
    EXPECT_EQ(CheckDecode(spec, cache, d, ThreadingContext(2), o), "")
        << Name(k.dt) << " dv " << k.dv << " v_group " << k.v_group;
  }
}

TEST(DecodeWorkTest, AutomaticKernelChoiceFollowsTheCpuFacts) {
  KVCacheConfig c = BaseConfig(KVDType::kInt8);
  c.k_scales = KScales::kPerToken;
  KVCache cache(c);
  KVCache per_channel(BaseConfig(KVDType::kInt8));
  const std::vector<int64_t> pc_ids = AppendAll(per_channel, {100}, false);
  const std::vector<int64_t> ids = AppendAll(cache, {100}, false);
  const AttentionSpec spec = BaseSpec();
  BatchData d = MakeBatch(spec, ids, {1}, 1);
  CpuInfo no_vnni = CpuInfo::Detect();
  no_vnni.has_avx512_vnni = false;
  EXPECT_EQ(MakeDecodePlan(spec, cache, d.batch, DType::kF32, DType::kF32, ThreadingContext(1, no_vnni)).kernel_name(),
            kFusedKernel);
  if (GetVnniScoreFn(CpuInfo::Detect()) != nullptr) {
    EXPECT_EQ(MakeDecodePlan(spec, cache, d.batch, DType::kF32, DType::kF32, ThreadingContext(1)).kernel_name(),
              kVnniKernel);
  }
  // Per-channel keys (the default) get it too: the 15-bit query codes keep them accurate.
  BatchData pc = MakeBatch(spec, pc_ids, {1}, 1);
  EXPECT_EQ(MakeDecodePlan(spec, per_channel, pc.batch, DType::kF32, DType::kF32, ThreadingContext(1, no_vnni)).kernel_name(),
            kFusedKernel);
  if (GetVnniScoreFn(CpuInfo::Detect()) != nullptr) {
    EXPECT_EQ(MakeDecodePlan(spec, per_channel, pc.batch, DType::kF32, DType::kF32, ThreadingContext(1)).kernel_name(),
              kVnniKernel);
  }
  EXPECT_THROW(MakeDecodePlan(spec, cache, d.batch, DType::kF32, DType::kF32, ThreadingContext(1, no_vnni),
                              WithOptions([](DecodeOptions& o) { o.kernel = kVnniKernel; })),
               Error);
}

// ---------------------------------------------------------------- errors

struct ErrorCase {
  KVCache cache{BaseConfig()};
  std::vector<int64_t> ids;
  AttentionSpec spec = BaseSpec();
  BatchData d;
  ErrorCase() {
    ids = AppendAll(cache, {50, 10}, false);
    d = MakeBatch(spec, ids, {2, 1}, 1);
  }
  void Expect(const std::string& what, const DecodeOptions& o = {}) {
    try {
      Decode(spec, cache, d.batch, d.t, ThreadingContext(1), o);
      ADD_FAILURE() << "no error; expected one naming " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  }
};

TEST(DecodeErrorTest, SpecMustMatchTheCache) {
  ErrorCase e;
  e.spec.num_kv_heads = 4;
  e.Expect("spec.num_kv_heads");
  ErrorCase f;
  f.spec.head_dim_v = 32;
  f.Expect("spec.head_dim_v");
}
TEST(DecodeErrorTest, BiasIsNotSupported) {
  ErrorCase e;
  e.spec.has_bias = true;
  e.Expect("has_bias");
}
TEST(DecodeErrorTest, TooManyQueryTokens) {
  ErrorCase e;
  e.d = MakeBatch(e.spec, e.ids, {17, 1}, 1);
  e.Expect("query tokens (allowed: 0..16)");
}
TEST(DecodeErrorTest, QueriesBeyondTheSequenceLength) {
  ErrorCase e;
  e.d = MakeBatch(e.spec, e.ids, {2, 11}, 1);
  e.Expect("holds only 10 tokens");
}
TEST(DecodeErrorTest, UnknownSequence) {
  ErrorCase e;
  e.d.batch.seq_ids[1] = 99;
  e.Expect("seq_ids[1] = 99");
}
TEST(DecodeErrorTest, BadCuSeqlens) {
  ErrorCase e;
  e.d.batch.cu_seqlens_q = {0, 2};
  e.Expect("cu_seqlens_q must have batch + 1");
}
TEST(DecodeErrorTest, WrongQueryDtype) {
  ErrorCase e;
  std::vector<uint16_t> q16(e.d.q.size());
  e.d.t.q = TensorView::Contiguous(q16.data(), DType::kBF16, {1, 8, 3, 64});
  const DecodePlan plan =
      MakeDecodePlan(e.spec, e.cache, e.d.batch, DType::kF32, DType::kF32, ThreadingContext(1));
  std::vector<std::byte> ws(plan.workspace_bytes());
  try {
    RunDecode(plan, e.cache, e.d.t, ws);
    ADD_FAILURE() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("tensor 'q' must have dtype f32"), std::string::npos) << err.what();
  }
}
TEST(DecodeErrorTest, WrongOutputShape) {
  ErrorCase e;
  e.d.t.out.shape[3] = 32;
  e.Expect("tensor 'out' has shape");
}
TEST(DecodeErrorTest, MissingLse) {
  ErrorCase e;
  e.d.t.lse = TensorView{};
  e.Expect("tensor 'lse'");
}
TEST(DecodeErrorTest, StalePlanAfterAppend) {
  ErrorCase e;
  const DecodePlan plan =
      MakeDecodePlan(e.spec, e.cache, e.d.batch, DType::kF32, DType::kF32, ThreadingContext(1));
  const TokenData t = MakeTokens(e.cache.config(), 1, 3, false);
  e.cache.Append(e.ids[0], t.KView(e.cache.config()), t.VView(e.cache.config()));
  std::vector<std::byte> ws(plan.workspace_bytes());
  EXPECT_THROW(RunDecode(plan, e.cache, e.d.t, ws), Error);
}
TEST(DecodeErrorTest, WorkspaceTooSmall) {
  ErrorCase e;
  const DecodePlan plan =
      MakeDecodePlan(e.spec, e.cache, e.d.batch, DType::kF32, DType::kF32, ThreadingContext(1));
  std::vector<std::byte> ws(plan.workspace_bytes() - 1);
  EXPECT_THROW(RunDecode(plan, e.cache, e.d.t, ws), Error);
}
TEST(DecodeErrorTest, BadOptions) {
  ErrorCase e;
  e.Expect("block_tokens", WithOptions([](DecodeOptions& o) { o.block_tokens = 100; }));
  e.Expect("unified_max",
           WithOptions([](DecodeOptions& o) { o.unified_max = std::numeric_limits<float>::infinity(); }));
  e.Expect("unknown decode kernel", WithOptions([](DecodeOptions& o) { o.kernel = "nope"; }));
  e.Expect("num_workers", WithOptions([](DecodeOptions& o) { o.num_workers = -1; }));
}
TEST(DecodeErrorTest, RingWindowLargerThanKept) {
  KVCacheConfig c = BaseConfig();
  c.retention = KVRetention::kRing;
  c.window = 32;
  ErrorCase e;
  e.cache = KVCache(c);
  e.ids = AppendAll(e.cache, {100}, false);
  e.d = MakeBatch(e.spec, e.ids, {1}, 1);
  e.Expect("window_left");  // unbounded: older keys are gone
  e.spec.mask.window_left = 60;
  e.Expect("window_left (60)");
}
TEST(DecodeErrorTest, CascadeSuffixWithoutPositionOffset) {
  ErrorCase e;
  e.d.batch.shared_prefix = e.ids[1];
  e.d = MakeBatch(e.spec, {e.ids[0]}, {1}, 1);
  e.d.batch.shared_prefix = e.ids[1];
  e.Expect("position_offset");
}

}  // namespace
}  // namespace attnkit::decode
