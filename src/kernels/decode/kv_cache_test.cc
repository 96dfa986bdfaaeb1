// SPDX-License-Identifier: Apache-2.0
// KV-cache tests: quantiser round trips, RoPE on append against an fp64
// RoPE, the Hadamard rotation, fork with copy-on-write, free and reuse of
// pages, ring and sink+recent retention, capacity errors, and one test per
// invalid configuration.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "attnkit/error.h"
#include "src/kernels/decode/decode_test_util.h"
#include "src/kernels/decode/kv_cache_impl.h"
#include "src/kernels/decode/kv_quant.h"

namespace attnkit::decode {
namespace {

KVCacheConfig Config(KVDType dtype, KVLayout layout = KVLayout::kPaged, int64_t page = 16) {
  KVCacheConfig c;
  c.num_kv_heads = 2;
  c.head_dim_k = 40;
  c.head_dim_v = 24;
  c.dtype = dtype;
  c.layout = layout;
  c.page_size = page;
  c.num_pages = 64;
  c.max_seqs = 4;
  c.max_seq_len = 400;
  return c;
}

// RoPE in fp64 straight from the definition, for comparison.
void RopeRef(const RopeSpec& r, int64_t dim, double pos, std::vector<double>& x) {
  const int64_t dims = r.dims == 0 ? dim - r.start : r.dims, half = dims / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double theta = pos * std::pow(r.theta, -2.0 * i / dims);
    const int64_t a = r.start + (r.style == RopeStyle::kNeoX ? i : 2 * i);
    const int64_t b = r.start + (r.style == RopeStyle::kNeoX ? i + half : 2 * i + 1);
    const double xa = x[a], xb = x[b];
    x[a] = xa * std::cos(theta) - xb * std::sin(theta);
    x[b] = xa * std::sin(theta) + xb * std::cos(theta);
  }
}

std::vector<float> Slice(const std::vector<float>& x, int64_t begin, int64_t n) {
  return std::vector<float>(x.begin() + begin, x.begin() + begin + n);
}

// Materialised row j of head h of a [Hkv, n, D] array.
std::vector<float> RowOf(const std::vector<float>& m, int64_t n, int64_t d, int64_t h, int64_t j) {
  return Slice(m, (h * n + j) * d, d);
}

TEST(KVQuantTest, RoundTripErrorIsAtMostHalfAStep) {
  for (KVDType dt : {KVDType::kInt8, KVDType::kInt4}) {
    for (bool per_channel : {false, true}) {
      const StoreLayout l = MakeStoreLayout(dt, 1, 40, 64, true, per_channel, 32, dt == KVDType::kInt4 ? 32 : 16, 32);
      std::vector<uint8_t> page(static_cast<size_t>(l.page_bytes) + 64, 0);
      KVCacheConfig c = Config(dt);
      c.num_kv_heads = 1;
      c.head_dim_v = 64;
      const TokenData t = MakeTokens(c, 32, 3, /*outliers=*/true);
      if (per_channel) {
        StoreKeyGroup(l, page.data(), 0, 0, t.k.data(), 40);
        for (int64_t i = 0; i < 32; ++i) StoreValue(l, page.data(), 0, i, t.v.data() + i * 64);
      } else {
        for (int64_t i = 0; i < 32; ++i) StoreToken(l, page.data(), 0, i, t.k.data() + i * 40, t.v.data() + i * 64);
      }
      const int qmax = QMax(dt);
      std::vector<float> k(40), v(64);
      for (int64_t i = 0; i < 32; ++i) {
        LoadToken(l, page.data(), 0, i, k.data(), v.data());
        for (int64_t ch = 0; ch < 40; ++ch) {
          // Step of the group this element belongs to.
          const QuantParams p = per_channel ? MinMaxParams(t.k.data() + ch, 32, 40, qmax)
                                            : MinMaxParams(t.k.data() + i * 40, 40, 1, qmax);
          EXPECT_LE(std::abs(k[ch] - t.k[i * 40 + ch]), 0.5f * p.s * 1.0001f + 1e-6f)
              << Name(dt) << " per_channel " << per_channel << " token " << i << " ch " << ch;
        }
        const int64_t vg = dt == KVDType::kInt4 ? 32 : 16;
        for (int64_t ch = 0; ch < 64; ++ch) {
          const QuantParams p = MinMaxParams(t.v.data() + i * 64 + ch / vg * vg, vg, 1, qmax);
          EXPECT_LE(std::abs(v[ch] - t.v[i * 64 + ch]), 0.5f * p.s * 1.0001f + 1e-6f) << Name(dt);
        }
      }
    }
  }
}

TEST(KVQuantTest, HadamardIsOrthonormalAndItsOwnInverse) {
  EXPECT_EQ(HadamardBlock(128), 128);
  EXPECT_EQ(HadamardBlock(576), 64);
  EXPECT_EQ(HadamardBlock(40), 8);
  EXPECT_EQ(HadamardBlock(7), 1);
  std::vector<float> x(128), y;
  for (int i = 0; i < 128; ++i) x[i] = std::sin(0.3f * i) + (i == 5 ? 30.0f : 0.0f);
  y = x;
  HadamardInPlace(y.data(), 128, 128);
  double nx = 0, ny = 0, peak = 0;
  for (int i = 0; i < 128; ++i) {
    nx += x[i] * x[i];
    ny += y[i] * y[i];
    peak = std::max(peak, static_cast<double>(std::abs(y[i])));
  }
  EXPECT_NEAR(nx, ny, 1e-4 * nx);
  EXPECT_LT(peak, 10.0);  // the outlier of 30 is spread over all channels
  HadamardInPlace(y.data(), 128, 128);
  for (int i = 0; i < 128; ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
}

TEST(KVCacheTest, RopeOnAppendMatchesReferenceRope) {
  for (RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kNeoX}) {
    for (int64_t start : {0, 8}) {
      KVCacheConfig c = Config(KVDType::kF32);
      c.rope.style = style;
      c.rope.theta = 500.0;
      c.rope.start = start;
      c.rope.dims = start == 0 ? 0 : 16;  // partial rotary: dims [8, 24)
      KVCache cache(c);
      const int64_t id = cache.AddSequence(/*position_offset=*/1000);
      const TokenData t = MakeTokens(c, 37, 5, false);
      cache.Append(id, t.KView(c), t.VView(c));
      std::vector<float> k, v;
      cache.Materialize(id, k, v);
      for (int64_t j = 0; j < 37; ++j) {
        for (int64_t h = 0; h < 2; ++h) {
          std::vector<double> want(t.k.begin() + (j * 2 + h) * 40, t.k.begin() + (j * 2 + h + 1) * 40);
          RopeRef(cache.config().rope, 40, 1000.0 + j, want);
          const std::vector<float> got = RowOf(k, 37, 40, h, j);
          for (int64_t d = 0; d < 40; ++d) {
            ASSERT_NEAR(got[d], want[d], 2e-6 * (1 + std::abs(want[d])))
                << "style " << static_cast<int>(style) << " start " << start << " token " << j << " dim " << d;
          }
        }
      }
    }
  }
}

TEST(KVCacheTest, HadamardCacheMaterialisesTheOriginalBasis) {
  KVCacheConfig c = Config(KVDType::kF32);
  c.hadamard = true;
  KVCache cache(c);
  const int64_t id = cache.AddSequence();
  const TokenData t = MakeTokens(c, 20, 9, true);
  cache.Append(id, t.KView(c), t.VView(c));
  std::vector<float> k, v;
  cache.Materialize(id, k, v);
  for (int64_t j = 0; j < 20; ++j) {
    for (int64_t d = 0; d < 40; ++d) EXPECT_NEAR(RowOf(k, 20, 40, 1, j)[d], t.k[(j * 2 + 1) * 40 + d], 1e-4);
    for (int64_t d = 0; d < 24; ++d) EXPECT_NEAR(RowOf(v, 20, 24, 0, j)[d], t.v[(j * 2) * 24 + d], 1e-5);
  }
}

TEST(KVCacheTest, ForkSharesPagesAndCopiesTheLastOnWrite) {
  for (KVDType dt : {KVDType::kBF16, KVDType::kInt8}) {
    KVCacheConfig c = Config(dt);
    c.k_scales = KScales::kPerToken;
    KVCache cache(c);
    const int64_t a = cache.AddSequence();
    const TokenData t = MakeTokens(c, 40, 1, false);  // 2.5 pages
    cache.Append(a, t.KView(c), t.VView(c));
    std::vector<float> ka, va;
    cache.Materialize(a, ka, va);
    const int64_t free_before = cache.free_pages();
    const int64_t b = cache.Fork(a);
    EXPECT_EQ(cache.free_pages(), free_before);  // all pages shared
    EXPECT_EQ(cache.block_table(a), cache.block_table(b));
    const TokenData ta = MakeTokens(c, 3, 2, false), tb = MakeTokens(c, 3, 3, false);
    cache.Append(b, tb.KView(c), tb.VView(c));
    EXPECT_EQ(cache.free_pages(), free_before - 1) << "only the shared last page is copied";
    cache.Append(a, ta.KView(c), ta.VView(c));
    EXPECT_EQ(cache.free_pages(), free_before - 1) << "a owns its last page again";
    std::vector<float> k1, v1, k2, v2;
    cache.Materialize(a, k1, v1);
    cache.Materialize(b, k2, v2);
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t j = 0; j < 40; ++j) {
        EXPECT_EQ(RowOf(k1, 43, 40, h, j), RowOf(ka, 40, 40, h, j)) << Name(dt) << " shared token changed";
        EXPECT_EQ(RowOf(k2, 43, 40, h, j), RowOf(ka, 40, 40, h, j));
      }
      EXPECT_NE(RowOf(k1, 43, 40, h, 41), RowOf(k2, 43, 40, h, 41)) << "forks wrote into one page";
    }
    cache.Free(a);
    cache.Free(b);
    EXPECT_EQ(cache.free_pages(), cache.num_pages());
  }
}

TEST(KVCacheTest, FreedPagesAreReused) {
  KVCacheConfig c = Config(KVDType::kF16);
  c.num_pages = 4;
  KVCache cache(c);
  const TokenData t = MakeTokens(c, 64, 1, false);
  for (int round = 0; round < 3; ++round) {
    const int64_t id = cache.AddSequence();
    cache.Append(id, t.KView(c), t.VView(c));  // the whole pool
    EXPECT_EQ(cache.free_pages(), 0);
    const TokenData one = MakeTokens(c, 1, 2, false);
    EXPECT_THROW(cache.Append(id, one.KView(c), one.VView(c)), Error);
    cache.Free(id);
    EXPECT_EQ(cache.free_pages(), 4);
  }
}

TEST(KVCacheTest, AppendBeyondCapacityIsAnErrorAndChangesNothing) {
  for (KVLayout layout : {KVLayout::kContiguous, KVLayout::kPaged}) {
    KVCacheConfig c = Config(KVDType::kInt4, layout);
    c.max_seq_len = 100;
    KVCache cache(c);
    const int64_t id = cache.AddSequence();
    const TokenData t = MakeTokens(c, 90, 1, false);
    cache.Append(id, t.KView(c), t.VView(c));
    const uint64_t version = cache.version();
    std::vector<float> k0, v0, k1, v1;
    cache.Materialize(id, k0, v0);
    const TokenData more = MakeTokens(c, 11, 2, false);
    try {
      cache.Append(id, more.KView(c), more.VView(c));
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("max_seq_len"), std::string::npos) << e.what();
    }
    EXPECT_EQ(cache.length(id), 90);
    EXPECT_EQ(cache.version(), version);
    cache.Materialize(id, k1, v1);
    EXPECT_EQ(k0, k1);
  }
}

TEST(KVCacheTest, RingKeepsTheNewestTokensInOrder) {
  for (KVDType dt : {KVDType::kF32, KVDType::kInt8}) {
    for (KVLayout layout : {KVLayout::kContiguous, KVLayout::kPaged}) {
      KVCacheConfig c = Config(dt, layout);
      c.retention = KVRetention::kRing;
      c.window = 50;
      KVCache cache(c);
      const int64_t id = cache.AddSequence();
      const TokenData t = MakeTokens(c, 333, 4, false);
      KVCacheConfig f32 = c;
      f32.dtype = KVDType::kF32;
      f32.retention = KVRetention::kAll;
      f32.residual = -1;
      f32.layout = KVLayout::kContiguous;
      KVCache full(f32);
      const int64_t fid = full.AddSequence();
      for (int64_t i = 0; i < 333; i += 37) {  // appends of several sizes
        const int64_t n = std::min<int64_t>(37, 333 - i);
        TokenData part;
        part.n = n;
        part.k = Slice(t.k, i * 80, n * 80);
        part.v = Slice(t.v, i * 48, n * 48);
        cache.Append(id, part.KView(c), part.VView(c));
        full.Append(fid, part.KView(f32), part.VView(f32));
      }
      const int64_t kept = cache.kept(id);
      EXPECT_GE(kept, 50 + 15);
      EXPECT_LE(kept, 333);
      std::vector<float> k, v, kf, vf;
      cache.Materialize(id, k, v);
      full.Materialize(fid, kf, vf);
      // The kept tokens are the newest, in order (int8: within the quantisation error).
      for (int64_t j = 0; j < kept; ++j) {
        const std::vector<float> got = RowOf(k, kept, 40, 1, j), want = RowOf(kf, 333, 40, 1, 333 - kept + j);
        for (int64_t d = 0; d < 40; ++d) ASSERT_NEAR(got[d], want[d], dt == KVDType::kF32 ? 0.0 : 0.05);
      }
      if (layout == KVLayout::kPaged) {
        EXPECT_LE(c.num_pages - cache.free_pages(), 5);  // 65 slots
      }
    }
  }
}

TEST(KVCacheTest, SinkRecentKeepsSinksAndRecentAtSlotPositions) {
  KVCacheConfig c = Config(KVDType::kBF16);
  c.retention = KVRetention::kSinkRecent;
  c.sink_tokens = 4;
  c.recent_tokens = 32;
  c.rope.style = RopeStyle::kNeoX;
  KVCache cache(c);
  const int64_t id = cache.AddSequence();
  const TokenData t = MakeTokens(c, 100, 8, false);
  cache.Append(id, t.KView(c), t.VView(c));
  EXPECT_EQ(cache.kept(id), 36);
  std::vector<float> k, v;
  cache.Materialize(id, k, v);
  // Kept: tokens 0..3 then 68..99, at slot positions 0..35 relative to a
  // query at slot 35 = text position 99: sink j sits at text position j + 64.
  for (int64_t j = 0; j < 36; ++j) {
    const int64_t token = j < 4 ? j : 64 + j;
    const int64_t text_pos = j < 4 ? j + 64 : token;
    std::vector<double> want(t.k.begin() + token * 80 + 40, t.k.begin() + token * 80 + 80);  // head 1
    for (double& x : want) x = BF16ToF32(F32ToBF16(static_cast<float>(x)));
    if (j < 4) {  // sinks are kept in f32 and rotated at decode time
      want.assign(t.k.begin() + token * 80 + 40, t.k.begin() + token * 80 + 80);
    }
    RopeRef(cache.config().rope, 40, static_cast<double>(text_pos), want);
    const std::vector<float> got = RowOf(k, 36, 40, 1, j);
    for (int64_t d = 0; d < 40; ++d) {
      ASSERT_NEAR(got[d], want[d], 0.01 * (1 + std::abs(want[d]))) << "slot " << j << " dim " << d;
    }
  }
}

TEST(KVCacheTest, PagesFromAnEngineBlockTable) {
  KVCacheConfig c = Config(KVDType::kF32);
  KVCache cache(c);
  const int64_t a = cache.AddSequence();
  const TokenData t = MakeTokens(c, 48, 1, false);
  cache.Append(a, t.KView(c), t.VView(c));
  const std::vector<int32_t> table = cache.block_table(a);
  const int64_t b = cache.AddSequenceFromPages({table[0], table[1]}, 20);
  std::vector<float> ka, va, kb, vb;
  cache.Materialize(a, ka, va);
  cache.Materialize(b, kb, vb);
  EXPECT_EQ(RowOf(kb, 20, 40, 1, 19), RowOf(ka, 48, 40, 1, 19));
  try {
    cache.AddSequenceFromPages({table[0], 999}, 20);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block_table[1] = 999 is outside the pool"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(cache.AddSequenceFromPages({table[0], 40}, 20), Error);  // a free page
  EXPECT_THROW(cache.AddSequenceFromPages({table[0], table[1]}, 33), Error);  // length beyond the pages
}

// Each invalid configuration is an Error naming the field.
void ExpectConfigError(const KVCacheConfig& c, const std::string& field) {
  try {
    KVCache cache(c);
    ADD_FAILURE() << "no error for " << field;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(KVCacheTest, InvalidConfigurationsAreErrors) {
  KVCacheConfig c = Config(KVDType::kInt4);
  auto with = [&](auto edit) {
    KVCacheConfig x = c;
    edit(x);
    return x;
  };
  ExpectConfigError(with([](KVCacheConfig& x) { x.num_kv_heads = 0; }), "num_kv_heads");
  ExpectConfigError(with([](KVCacheConfig& x) { x.head_dim_k = 1025; }), "head_dim_k");
  ExpectConfigError(with([](KVCacheConfig& x) { x.page_size = 24; }), "page_size");
  ExpectConfigError(with([](KVCacheConfig& x) { x.page_size = 512; }), "page_size");
  ExpectConfigError(with([](KVCacheConfig& x) { x.num_pages = 0; }), "num_pages");
  ExpectConfigError(with([](KVCacheConfig& x) { x.k_group = 24; }), "k_group");
  ExpectConfigError(with([](KVCacheConfig& x) { x.k_group = 32; }), "multiple of k_group");
  ExpectConfigError(with([](KVCacheConfig& x) { x.v_group = 16; }), "v_group");
  ExpectConfigError(with([](KVCacheConfig& x) { x.residual = 5000; }), "residual");
  ExpectConfigError(with([](KVCacheConfig& x) { x.max_seq_len = 0; }), "max_seq_len");
  ExpectConfigError(with([](KVCacheConfig& x) { x.retention = KVRetention::kRing; }), "window");
  ExpectConfigError(with([](KVCacheConfig& x) {
                      x.retention = KVRetention::kSinkRecent;
                      x.recent_tokens = 8;
                    }),
                    "recent_tokens");
  ExpectConfigError(with([](KVCacheConfig& x) {
                      x.rope.style = RopeStyle::kNeoX;
                      x.rope.dims = 7;
                    }),
                    "rope.dims");
  ExpectConfigError(with([](KVCacheConfig& x) {
                      x.rope.style = RopeStyle::kNeoX;
                      x.rope.theta = -1;
                    }),
                    "rope.theta");
  ExpectConfigError(with([](KVCacheConfig& x) {
                      x.dtype = KVDType::kBF16;
                      x.v_group = 32;
                    }),
                    "v_group");
  ExpectConfigError(with([](KVCacheConfig& x) {
                      x.v_from_k = true;
                      x.head_dim_v = 64;
                    }),
                    "v_from_k");
  ExpectConfigError(with([](KVCacheConfig& x) { x.dtype = static_cast<KVDType>(9); }), "dtype");
}

TEST(KVCacheTest, InvalidAppendsAreErrors) {
  KVCacheConfig c = Config(KVDType::kBF16);
  KVCache cache(c);
  const int64_t id = cache.AddSequence();
  const TokenData t = MakeTokens(c, 4, 1, false);
  auto expect = [&](const TensorView& k, const TensorView& v, int64_t seq, const std::string& what) {
    try {
      cache.Append(seq, k, v);
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect(t.KView(c), t.VView(c), 77, "no sequence 77");
  TensorView bad = t.KView(c);
  bad.shape[2] = 39;
  expect(bad, t.VView(c), id, "'k' has shape");
  bad = t.KView(c);
  bad.dtype = static_cast<DType>(7);
  expect(bad, t.VView(c), id, "dtype");
  TensorView short_v = t.VView(c);
  short_v.shape[0] = 3;
  expect(t.KView(c), short_v, id, "'v' has 3");
  expect(t.KView(c), TensorView{}, id, "tensor 'v' is missing");
  EXPECT_EQ(cache.length(id), 0);
  KVCacheConfig s = c;
  s.layout = KVLayout::kContiguous;
  s.max_seqs = 1;
  KVCache one(s);
  one.AddSequence();
  EXPECT_THROW(one.AddSequence(), Error);
  EXPECT_THROW(cache.Free(12345), Error);
}

}  // namespace
}  // namespace attnkit::decode
