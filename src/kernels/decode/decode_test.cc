// SPDX-License-Identifier: Apache-2.0
// Decode against the fp64 oracle on the materialised KV: every KV dtype x
// layout (contiguous, paged 16 and 64, ring) x query tokens {1, 3, 16} x
// ragged batches with lengths 0 and 1; GQA ratios; MLA; the score options;
// threads 1 and 2; every Highway target; bitwise equality of paged and
// contiguous storage.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "hwy/targets.h"
#include "src/kernels/decode/decode_plan.h"
#include "src/kernels/decode/decode_test_util.h"

namespace attnkit::decode {
namespace {

enum class Store { kContiguous, kPaged16, kPaged64, kRing };
const char* Name(Store s) {
  switch (s) {
    case Store::kContiguous: return "contiguous";
    case Store::kPaged16: return "paged16";
    case Store::kPaged64: return "paged64";
    case Store::kRing: return "ring";
  }
  return "?";
}

struct DecodeCase {
  KVDType dtype = KVDType::kF32;
  KScales k_scales = KScales::kPerChannel;
  Store store = Store::kPaged16;
  int64_t hq = 4, hkv = 2, dk = 64, dv = 64;
  bool outliers = false;
};

constexpr int64_t kRingWindow = 48;

KVCacheConfig MakeConfig(const DecodeCase& s) {
  KVCacheConfig c;
  c.num_kv_heads = s.hkv;
  c.head_dim_k = s.dk;
  c.head_dim_v = s.dv;
  c.dtype = s.dtype;
  c.k_scales = s.k_scales;
  c.layout = s.store == Store::kContiguous ? KVLayout::kContiguous : KVLayout::kPaged;
  c.page_size = s.store == Store::kPaged64 ? 64 : 16;
  c.num_pages = 512;
  c.max_seqs = 8;
  c.max_seq_len = 400;
  if (IsQuantized(s.dtype)) c.residual = 20;  // a residual that is not a multiple of 16
  if (s.store == Store::kRing) {
    c.retention = KVRetention::kRing;
    c.window = kRingWindow;
  }
  return c;
}

AttentionSpec MakeSpec(const DecodeCase& s) {
  AttentionSpec spec;
  spec.num_q_heads = s.hq;
  spec.num_kv_heads = s.hkv;
  spec.head_dim_qk = s.dk;
  spec.head_dim_v = s.dv;
  spec.mask.causal = true;
  spec.return_lse = true;
  if (s.store == Store::kRing) spec.mask.window_left = kRingWindow - 1;
  return spec;
}

// A cache holding sequences of the given lengths (appended in two parts).
struct Filled {
  KVCache cache;
  std::vector<int64_t> ids;
};
Filled Fill(const KVCacheConfig& c, const std::vector<int64_t>& lengths, TokenStyle style, uint64_t seed = 1) {
  Filled f{KVCache(c), {}};
  for (size_t i = 0; i < lengths.size(); ++i) {
    const int64_t id = f.cache.AddSequence();
    const int64_t first = lengths[i] / 3;
    for (const auto& [n, s] : {std::pair{first, seed + 10 * i}, std::pair{lengths[i] - first, seed + 10 * i + 5}}) {
      const TokenData t = MakeTokens(c, n, s, style);
      f.cache.Append(id, t.KView(c), t.VView(c));
    }
    f.ids.push_back(id);
  }
  return f;
}
Filled Fill(const KVCacheConfig& c, const std::vector<int64_t>& lengths, bool outliers, uint64_t seed = 1) {
  return Fill(c, lengths, outliers ? TokenStyle::kScaled : TokenStyle::kGaussian, seed);
}

std::vector<int64_t> QueriesFor(const std::vector<int64_t>& lengths, int64_t nq) {
  std::vector<int64_t> q;
  for (int64_t len : lengths) q.push_back(std::min(nq, len));
  return q;
}

// A forced kernel: the fused tiles (the automatic choice without VNNI) or the
// f32-tile kernel (MLA's, and the fallback).
DecodeOptions Kernel(const char* name) {
  DecodeOptions o;
  o.kernel = name;
  return o;
}
constexpr const char* kBothKernels[] = {kFusedKernel, kPortableKernel};

// Every KV dtype x layout x query tokens, ragged lengths including 0 and 1.
TEST(DecodeTest, EveryDtypeLayoutAndQueryCountMatchesTheReference) {
  const std::vector<int64_t> lengths = {300, 0, 1, 37, 129};
  for (KVDType dt : {KVDType::kF32, KVDType::kBF16, KVDType::kF16, KVDType::kInt8, KVDType::kInt4}) {
    for (Store st : {Store::kContiguous, Store::kPaged16, Store::kPaged64, Store::kRing}) {
      DecodeCase s;
      s.dtype = dt;
      s.store = st;
      s.outliers = true;
      const KVCacheConfig c = MakeConfig(s);
      const AttentionSpec spec = MakeSpec(s);
      Filled f = Fill(c, lengths, true);
      for (int64_t nq : {1, 3, 16}) {
        for (const char* kernel : kBothKernels) {
          BatchData d = MakeBatch(spec, f.ids, QueriesFor(lengths, nq), 7 + nq);
          const std::string err = CheckDecode(spec, f.cache, d, ThreadingContext(2), Kernel(kernel));
          EXPECT_EQ(err, "") << Name(dt) << " " << Name(st) << " nq " << nq << " " << kernel;
        }
      }
    }
  }
}

// Keys with large per-channel offsets (the bench's KIVI-style data): the
// zero points of per-channel scales carry most of each key; every kernel
// (the automatic choice is the VNNI one where the CPU has it).
TEST(DecodeTest, OffsetOutlierKeysMatchTheReference) {
  const std::vector<int64_t> lengths = {200, 1, 77};
  for (KVDType dt : {KVDType::kBF16, KVDType::kInt8, KVDType::kInt4}) {
    DecodeCase s;
    s.dtype = dt;
    s.store = Store::kPaged64;
    const KVCacheConfig c = MakeConfig(s);
    const AttentionSpec spec = MakeSpec(s);
    Filled f = Fill(c, lengths, TokenStyle::kOffsets);
    for (const char* kernel : {"", kFusedKernel, kPortableKernel}) {
      BatchData d = MakeBatch(spec, f.ids, QueriesFor(lengths, 3), 5);
      const std::string err = CheckDecode(spec, f.cache, d, ThreadingContext(2), Kernel(kernel));
      EXPECT_EQ(err, "") << Name(dt) << " " << kernel;
    }
  }
}

TEST(DecodeTest, PerTokenKeyScalesMatchTheReference) {
  for (KVDType dt : {KVDType::kInt8, KVDType::kInt4}) {
    DecodeCase s;
    s.dtype = dt;
    s.k_scales = KScales::kPerToken;
    const KVCacheConfig c = MakeConfig(s);
    const AttentionSpec spec = MakeSpec(s);
    const std::vector<int64_t> lengths = {200, 1, 50};
    Filled f = Fill(c, lengths, true);
    for (const char* kernel : kBothKernels) {
      BatchData d = MakeBatch(spec, f.ids, QueriesFor(lengths, 3), 3);
      EXPECT_EQ(CheckDecode(spec, f.cache, d, ThreadingContext(1), Kernel(kernel)), "") << Name(dt) << " " << kernel;
    }
    // The automatic kernel (VNNI scores on the codes where the CPU has them;
    // CheckDecode then uses its oracle) with every score option.
    AttentionSpec opts = spec;
    opts.mask.window_left = 70;
    opts.alibi = true;
    opts.softcap = 5.0f;
    opts.has_sinks = true;
    BatchData e = MakeBatch(opts, f.ids, QueriesFor(lengths, 3), 4, 3.0f);
    EXPECT_EQ(CheckDecode(opts, f.cache, e, ThreadingContext(2)), "") << Name(dt) << " automatic kernel";
  }
}

TEST(DecodeTest, GqaRatiosMatchTheReference) {
  for (int64_t ratio : {1, 2, 4, 8, 12}) {
    for (int64_t nq : {1, 16}) {  // 12 x 16 = 192 rows: two row blocks
      DecodeCase s;
      s.dtype = KVDType::kBF16;
      s.hkv = 2;
      s.hq = 2 * ratio;
      s.dk = 72;  // not a multiple of 16
      s.dv = 40;
      const KVCacheConfig c = MakeConfig(s);
      const AttentionSpec spec = MakeSpec(s);
      Filled f = Fill(c, {150, 17}, false);
      BatchData d = MakeBatch(spec, f.ids, {nq, std::min<int64_t>(nq, 17)}, ratio);
      EXPECT_EQ(CheckDecode(spec, f.cache, d, ThreadingContext(2)), "") << "ratio " << ratio << " nq " << nq;
    }
  }
}

// DeepSeek-V2/V3 absorbed MLA: one KV head of [c (512) ; k_rope (64)], V = c.
TEST(DecodeTest, MlaShapesMatchTheReference) {
  for (KVDType dt : {KVDType::kBF16, KVDType::kInt8}) {
    for (const auto& [hq, nq] : {std::pair<int64_t, int64_t>{16, 1}, std::pair<int64_t, int64_t>{128, 2}}) {
      KVCacheConfig c;
      c.num_kv_heads = 1;
      c.head_dim_k = 576;
      c.head_dim_v = 512;
      c.v_from_k = true;
      c.dtype = dt;
      c.num_pages = 64;
      c.page_size = 64;
      c.max_seq_len = 1024;
      c.rope.style = RopeStyle::kNeoX;
      c.rope.start = 512;
      c.rope.dims = 64;
      c.hadamard = dt == KVDType::kInt8;
      AttentionSpec spec;
      spec.num_q_heads = hq;
      spec.num_kv_heads = 1;
      spec.head_dim_qk = 576;
      spec.head_dim_v = 512;
      spec.scale = 1.0f / std::sqrt(192.0f);
      spec.mask.causal = true;
      spec.return_lse = true;
      Filled f = Fill(c, {200, 70}, false);
      BatchData d = MakeBatch(spec, f.ids, {nq, 1}, 11);
      EXPECT_EQ(CheckDecode(spec, f.cache, d, ThreadingContext(2)), "") << Name(dt) << " hq " << hq;
    }
  }
}

TEST(DecodeTest, WindowAlibiSoftcapAndSinksMatchTheReference) {
  for (KVDType dt : {KVDType::kF32, KVDType::kInt8}) {
    DecodeCase s;
    s.dtype = dt;
    s.hq = 6;
    const KVCacheConfig c = MakeConfig(s);
    AttentionSpec spec = MakeSpec(s);
    spec.mask.window_left = 70;
    spec.alibi = true;
    spec.softcap = 5.0f;
    spec.has_sinks = true;
    const std::vector<int64_t> lengths = {300, 2, 80};
    Filled f = Fill(c, lengths, true);
    BatchData d = MakeBatch(spec, f.ids, QueriesFor(lengths, 3), 5, 3.0f);
    EXPECT_EQ(CheckDecode(spec, f.cache, d, ThreadingContext(2)), "") << Name(dt);
    // Non-causal with a right window: queries see the keys after them.
    spec.mask.causal = false;
    spec.mask.window_right = 1;
    BatchData d2 = MakeBatch(spec, f.ids, QueriesFor(lengths, 3), 6);
    EXPECT_EQ(CheckDecode(spec, f.cache, d2, ThreadingContext(1)), "") << Name(dt) << " right window";
  }
}

TEST(DecodeTest, SinkRecentCacheMatchesTheReference) {
  for (KVDType dt : {KVDType::kBF16, KVDType::kInt4}) {
    KVCacheConfig c = MakeConfig(DecodeCase{});
    c.dtype = dt;
    c.residual = -1;
    c.retention = KVRetention::kSinkRecent;
    c.sink_tokens = 4;
    c.recent_tokens = 100;
    c.rope.style = RopeStyle::kInterleaved;
    c.hadamard = true;
    DecodeCase s;
    AttentionSpec spec = MakeSpec(s);
    const std::vector<int64_t> lengths = {350, 3, 104};
    Filled f = Fill(c, lengths, true);
    BatchData d = MakeBatch(spec, f.ids, QueriesFor(lengths, 2), 9);
    EXPECT_EQ(CheckDecode(spec, f.cache, d, ThreadingContext(2)), "") << Name(dt);
  }
}

TEST(DecodeTest, OutputAndQueryDtypes) {
  DecodeCase s;
  s.dtype = KVDType::kBF16;
  const KVCacheConfig c = MakeConfig(s);
  const AttentionSpec spec = MakeSpec(s);
  Filled f = Fill(c, {100}, false);
  for (DType qt : {DType::kBF16, DType::kF16}) {
    BatchData d = MakeBatch(spec, f.ids, {2}, 1);
    std::vector<uint16_t> q16(d.q.size()), out16(d.out.size());
    for (size_t i = 0; i < d.q.size(); ++i) {
      q16[i] = qt == DType::kBF16 ? F32ToBF16(d.q[i]) : F32ToF16(d.q[i]);
    }
    d.t.q = TensorView::Contiguous(q16.data(), qt, {1, 4, 2, 64});
    d.t.out = TensorView::Contiguous(out16.data(), qt, {1, 4, 2, 64});
    Decode(spec, f.cache, d.batch, d.t, ThreadingContext(1));
    const RefResult ref = ReferenceDecode(spec, f.cache, d.batch, d.t.q, d.t.sinks);
    const RefDiff diff = CompareToReference(ref, d.t.out, d.t.lse);
    EXPECT_LE(diff.max_rel, qt == DType::kBF16 ? 1e-5 + 0x1p-8 : 1e-5 + 0x1p-11);
    EXPECT_LE(diff.lse_rel, 1e-5);
  }
}

TEST(DecodeTest, OneAndTwoThreadsMatchTheReference) {
  DecodeCase s;
  s.dtype = KVDType::kInt4;
  const KVCacheConfig c = MakeConfig(s);
  const AttentionSpec spec = MakeSpec(s);
  const std::vector<int64_t> lengths = {399, 5, 260, 1};
  Filled f = Fill(c, lengths, true);
  for (int threads : {1, 2}) {
    BatchData d = MakeBatch(spec, f.ids, QueriesFor(lengths, 3), 2);
    EXPECT_EQ(CheckDecode(spec, f.cache, d, ThreadingContext(threads)), "") << threads << " threads";
  }
}

// With a fixed partition, results do not depend on the thread count (bitwise).
TEST(DecodeTest, FixedWorkersAreBitwiseIndependentOfThreads) {
  DecodeCase s;
  s.dtype = KVDType::kBF16;
  const KVCacheConfig c = MakeConfig(s);
  const AttentionSpec spec = MakeSpec(s);
  Filled f = Fill(c, {399, 40, 260}, false);
  DecodeOptions o;
  o.num_workers = 5;
  o.block_tokens = 64;
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    BatchData d = MakeBatch(spec, f.ids, {1, 3, 2}, 2);
    Decode(spec, f.cache, d.batch, d.t, ThreadingContext(threads), o);
    if (first.empty()) first = d.out;
    EXPECT_EQ(d.out, first) << threads << " threads";
  }
}

// Paged storage in any page order (and any page size) computes exactly what
// contiguous storage does: the tiles never depend on pages.
TEST(DecodeTest, PagedInShuffledPagesIsBitwiseEqualToContiguous) {
  for (KVDType dt : {KVDType::kF16, KVDType::kInt8}) {
    DecodeCase s;
    s.dtype = dt;
    s.store = Store::kContiguous;
    // Per-channel key groups of 16 in both (the contiguous default is 64), so
    // both caches quantise exactly the same groups; float caches have none.
    const int64_t k_group = IsQuantized(dt) ? 16 : 0;
    KVCacheConfig cc = MakeConfig(s);
    cc.k_group = k_group;
    s.store = Store::kPaged16;
    KVCacheConfig pc = MakeConfig(s);
    pc.k_group = k_group;
    const AttentionSpec spec = MakeSpec(s);
    // Scatter the paged sequence's pages: interleave it with another sequence.
    KVCache paged(pc);
    const int64_t a = paged.AddSequence(), b = paged.AddSequence();
    const TokenData t = MakeTokens(pc, 333, 1, true), u = MakeTokens(pc, 333, 2, true);
    for (int64_t i = 0; i < 333; i += 16) {
      const int64_t n = std::min<int64_t>(16, 333 - i);
      for (const auto& [id, src] : {std::pair{a, &t}, std::pair{b, &u}}) {
        TokenData part;
        part.n = n;
        part.k.assign(src->k.begin() + i * 128, src->k.begin() + (i + n) * 128);
        part.v.assign(src->v.begin() + i * 128, src->v.begin() + (i + n) * 128);
        paged.Append(id, part.KView(pc), part.VView(pc));
      }
    }
    KVCache contiguous(cc);
    const int64_t ca = contiguous.AddSequence();
    contiguous.Append(ca, t.KView(cc), t.VView(cc));
    BatchData d1 = MakeBatch(spec, {ca}, {3}, 4), d2 = MakeBatch(spec, {a}, {3}, 4);
    Decode(spec, contiguous, d1.batch, d1.t, ThreadingContext(2));
    Decode(spec, paged, d2.batch, d2.t, ThreadingContext(2));
    EXPECT_EQ(d1.out, d2.out) << Name(dt);
  }
}

// Each compiled Highway target (and with it the portable path of the
// int8/int4 kernels) gives the reference result.
TEST(DecodeTest, EveryHighwayTargetMatchesTheReference) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    for (KVDType dt : {KVDType::kF32, KVDType::kBF16, KVDType::kF16, KVDType::kInt8, KVDType::kInt4}) {
      DecodeCase s;
      s.dtype = dt;
      s.dk = 40;
      s.dv = 72;
      const KVCacheConfig c = MakeConfig(s);
      AttentionSpec spec = MakeSpec(s);
      spec.softcap = 10.0f;
      spec.alibi = true;
      Filled f = Fill(c, {150, 1}, true);
      for (const char* kernel : kBothKernels) {
        BatchData d = MakeBatch(spec, f.ids, {3, 1}, 1);
        EXPECT_EQ(CheckDecode(spec, f.cache, d, ThreadingContext(2), Kernel(kernel)), "")
            << hwy::TargetName(target) << " " << Name(dt) << " " << kernel;
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace attnkit::decode
