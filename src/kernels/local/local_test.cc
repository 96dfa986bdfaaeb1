// SPDX-License-Identifier: Apache-2.0
// Neighbourhood attention against a brute-force masked fp64 reference for
// ranks 1-3, dilations 1-3, strides, odd and even kernels, per-axis causal and
// borders, and the tiled kernel's edges (tile / vector-exact, +- 1 and prime
// extents, kernels 3..13, GQA, Dqk != Dv); its invariants (K^rank keys per query, K = L is dense, stride = K is
// Swin without shift); Swin window attention against the explicit window
// partition (shifted, relative position bias); every invalid parameter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "attnkit/local.h"
#include "hwy/targets.h"
#include "src/harness/cases.h"
#include "src/kernels/local/neighborhood.h"
#include "src/kernels/sparse/test_util.h"
#include "src/reference/local.h"

namespace attnkit {
namespace {

struct NaCase {
  NeighborhoodParams p;
  int64_t hq = 2, hkv = 1, dqk = 32, dv = 32, batch = 2;
  DType dtype = DType::kF32;
  Layout layout = Layout::kBHND;
  std::string name;
  friend void PrintTo(const NaCase& c, std::ostream* os) { *os << c.name; }
};

harness::Case CaseOf(const NaCase& nc) {
  harness::Case c;
  c.spec.num_q_heads = nc.hq;
  c.spec.num_kv_heads = nc.hkv;
  c.spec.head_dim_qk = nc.dqk;
  c.spec.head_dim_v = nc.dv;
  c.spec.return_lse = true;
  c.batch = nc.batch;
  c.seqlen_q = c.seqlen_k = nc.p.tokens();
  c.dtype = nc.dtype;
  c.layout = nc.layout;
  return c;
}

NaCase Make(std::string name, int rank, std::array<int64_t, 3> extent, std::array<int64_t, 3> k,
            std::array<int64_t, 3> r = {1, 1, 1}, std::array<int64_t, 3> s = {1, 1, 1},
            std::array<bool, 3> causal = {false, false, false}) {
  NaCase c;
  c.name = std::move(name);
  c.p.rank = rank;
  c.p.extent = extent;
  c.p.kernel_size = k;
  c.p.dilation = r;
  c.p.stride = s;
  c.p.causal = causal;
  return c;
}

std::vector<NaCase> NaCases() {
  std::vector<NaCase> v;
  // 1-D: every kernel / dilation / stride / causal combination on a short line
  // (borders everywhere) and a line longer than two 16-lane vectors.
  for (int64_t len : {17, 40}) {
    for (int64_t k : {1, 2, 3, 4, 7}) {
      for (int64_t r : {1, 2, 3}) {
        if (k * r > len) continue;
        for (int64_t s : {int64_t{1}, int64_t{2}, k}) {
          if (s > k || (s == k && k <= 2)) continue;  // {1, 2, k} repeats s for k <= 2
          for (bool causal : {false, true}) {
            v.push_back(Make("1d_L" + std::to_string(len) + "_K" + std::to_string(k) + "_r" +
                                 std::to_string(r) + "_s" + std::to_string(s) + (causal ? "_causal" : ""),
                             1, {len, 1, 1}, {k, 1, 1}, {r, 1, 1}, {s, 1, 1}, {causal, false, false}));
          }
        }
      }
    }
  }
  // 2-D: dilation and causal per axis, strides, even kernels, borders.
  for (auto [r0, r1] : {std::pair{1, 1}, {2, 1}, {1, 3}, {2, 2}, {3, 2}}) {
    for (auto [c0, c1] : {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
      v.push_back(Make("2d_r" + std::to_string(r0) + std::to_string(r1) + "_c" +
                           std::to_string(c0) + std::to_string(c1),
                       2, {13, 19, 1}, {3, 5, 1}, {r0, r1, 1}, {1, 1, 1}, {c0, c1, false}));
    }
  }
  v.push_back(Make("2d_stride", 2, {12, 21, 1}, {4, 5, 1}, {1, 2, 1}, {2, 3, 1}));
  v.push_back(Make("2d_stride_causal", 2, {12, 21, 1}, {4, 5, 1}, {1, 1, 1}, {3, 2, 1}, {true, true, false}));
  v.push_back(Make("2d_even_kernel", 2, {10, 18, 1}, {4, 6, 1}));
  v.push_back(Make("2d_56x56_k7", 2, {56, 56, 1}, {7, 7, 1}));
  v.push_back(Make("2d_gather_lanes", 2, {6, 40, 1}, {3, 9, 1}, {1, 1, 1}, {1, 9, 1}));
  // 3-D.
  v.push_back(Make("3d", 3, {5, 6, 7}, {3, 3, 5}));
  v.push_back(Make("3d_dilated_causal", 3, {6, 7, 9}, {3, 2, 3}, {2, 3, 2}, {1, 1, 1}, {true, false, true}));
  v.push_back(Make("3d_stride", 3, {6, 6, 20}, {3, 3, 4}, {1, 1, 2}, {3, 2, 4}, {false, true, false}));
  v.push_back(Make("3d_video_k3", 3, {4, 8, 8}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {true, false, false}));
  // dtypes, GQA, head dims, layout.
  NaCase c = Make("2d_bf16_gqa", 2, {9, 20, 1}, {5, 7, 1});
  c.dtype = DType::kBF16;
  c.hq = 4;
  c.hkv = 2;
  v.push_back(c);
  c = Make("2d_dims_bnhd", 2, {8, 17, 1}, {3, 5, 1}, {2, 1, 1});
  c.dqk = 40;
  c.dv = 72;
  c.layout = Layout::kBNHD;
  v.push_back(c);
  c = Make("1d_f16_d1", 1, {33, 1, 1}, {5, 1, 1});
  c.dtype = DType::kF16;
  c.dqk = c.dv = 1;
  v.push_back(c);
  return v;
}

// The tiled kernel (neighborhood-inl.h): tiles of kTileRows = 4 query lines
// along axis rank - 2, a lane vector of 4 / 8 / 16 queries along the last
// axis. Row extents tile-exact, tile +- 1 and prime (last tile of 1-3 rows),
// lane extents vector-exact, +- 1 and prime, kernels 3..13 (odd and even),
// dilation 1..3 on either axis, causal per axis, borders everywhere.
std::vector<NaCase> TileCases() {
  std::vector<NaCase> v;
  struct Grid2 {
    int64_t rows, lanes, k0, k1;
  };
  const Grid2 grids[] = {{4, 16, 3, 3},   {8, 16, 3, 5},  {7, 15, 5, 7},  {9, 17, 7, 7},
                         {13, 31, 13, 5}, {5, 33, 4, 6},  {16, 13, 9, 11}, {17, 29, 13, 13},
                         {11, 23, 6, 8},  {12, 40, 11, 3}};
  int variant = 0;
  for (const Grid2& g : grids) {
    for (auto [r0, r1] : {std::pair{1, 1}, {2, 1}, {1, 2}, {3, 3}}) {
      if (g.k0 * r0 > g.rows || g.k1 * r1 > g.lanes) continue;
      for (auto [c0, c1] : {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
        if ((variant++ % 3) != 0 && !(r0 == 1 && r1 == 1)) continue;  // thin out the dilated ones
        v.push_back(Make("tile2d_" + std::to_string(g.rows) + "x" + std::to_string(g.lanes) + "_k" +
                             std::to_string(g.k0) + "x" + std::to_string(g.k1) + "_r" +
                             std::to_string(r0) + std::to_string(r1) + "_c" + std::to_string(c0) +
                             std::to_string(c1),
                         2, {g.rows, g.lanes, 1}, {g.k0, g.k1, 1}, {r0, r1, 1}, {1, 1, 1},
                         {c0, c1, false}));
      }
    }
  }
  for (int64_t len : {13, 16, 17, 29}) {
    for (int64_t k : {3, 8, 13}) {
      if (k > len) continue;
      v.push_back(Make("tile1d_L" + std::to_string(len) + "_k" + std::to_string(k), 1, {len, 1, 1},
                       {k, 1, 1}));
      v.push_back(Make("tile1d_L" + std::to_string(len) + "_k" + std::to_string(k) + "_causal", 1,
                       {len, 1, 1}, {k, 1, 1}, {1, 1, 1}, {1, 1, 1}, {true, false, false}));
    }
  }
  v.push_back(Make("tile3d_exact", 3, {5, 8, 16}, {3, 3, 5}));
  v.push_back(Make("tile3d_prime", 3, {7, 9, 17}, {5, 7, 7}, {1, 1, 1}, {1, 1, 1}, {true, false, false}));
  v.push_back(Make("tile3d_k7_video", 3, {8, 13, 19}, {7, 7, 7}, {1, 1, 1}, {1, 1, 1}, {true, false, true}));
  v.push_back(Make("tile3d_dilated", 3, {9, 11, 15}, {3, 3, 4}, {3, 2, 3}, {1, 1, 1}, {false, true, false}));
  v.push_back(Make("tile3d_stride", 3, {6, 9, 18}, {3, 5, 6}, {1, 1, 1}, {3, 2, 4}));
  // Dqk != Dv with GQA (the group's heads share the packed lines), odd dims
  // (value-column tails of the P V block), bf16 in / out, BNHD.
  NaCase c = Make("tile2d_gqa_dims", 2, {9, 21, 1}, {7, 5, 1}, {1, 2, 1}, {1, 1, 1}, {false, true, false});
  c.hq = 6;
  c.hkv = 2;
  c.dqk = 24;
  c.dv = 37;
  v.push_back(c);
  c = Make("tile3d_gqa_bf16_bnhd", 3, {4, 7, 18}, {3, 5, 7});
  c.hq = 4;
  c.hkv = 1;
  c.dqk = 40;
  c.dv = 16;
  c.dtype = DType::kBF16;
  c.layout = Layout::kBNHD;
  v.push_back(c);
  return v;
}

testing::Agreement RunNa(const NaCase& nc, int threads = 1) {
  const harness::Case c = CaseOf(nc);
  harness::Inputs in = harness::MakeInputs(c);
  NeighborhoodAttention(nc.p, c.spec, in.tensors, ThreadingContext(threads));
  const reference::Result ref = reference::NeighborhoodAttention(nc.p, c.spec, in.tensors);
  return testing::Compare(ref, in.tensors);
}

class NeighborhoodTest : public ::testing::TestWithParam<NaCase> {};

TEST_P(NeighborhoodTest, MatchesBruteForceMaskedReference) {
  const testing::Agreement r = RunNa(GetParam());
  EXPECT_TRUE(r.ok()) << r.failure;
}

INSTANTIATE_TEST_SUITE_P(Grid, NeighborhoodTest, ::testing::ValuesIn(NaCases()),
                         [](const auto& info) { return info.param.name; });

// Two threads: batch 2 x 1-2 KV heads runs the two-loop schedule (pack every
// (batch, KV head), then every tile), the other tests the per-pair one.
class NeighborhoodTileTest : public ::testing::TestWithParam<NaCase> {};

TEST_P(NeighborhoodTileTest, MatchesBruteForceMaskedReference) {
  const testing::Agreement r = RunNa(GetParam(), 2);
  EXPECT_TRUE(r.ok()) << r.failure;
}

INSTANTIATE_TEST_SUITE_P(Tiles, NeighborhoodTileTest, ::testing::ValuesIn(TileCases()),
                         [](const auto& info) { return info.param.name; });

// The oracle's own invariants: every non-causal query sees exactly prod K keys;
// K = L is full attention; stride = K (dividing L) is blocked attention.
TEST(NeighborhoodMask, InvariantsOfTheReferenceMask) {
  NeighborhoodParams p = Make("", 2, {9, 12, 1}, {3, 5, 1}, {2, 1, 1}).p;
  const int64_t n = p.tokens();
  std::vector<uint8_t> m = reference::NeighborhoodMask(p);
  for (int64_t i = 0; i < n; ++i) {
    int64_t seen = 0;
    for (int64_t j = 0; j < n; ++j) seen += m[static_cast<size_t>(i * n + j)];
    EXPECT_EQ(seen, 15) << "query " << i;
  }
  p = Make("", 2, {6, 7, 1}, {6, 7, 1}).p;
  m = reference::NeighborhoodMask(p);
  EXPECT_EQ(std::count(m.begin(), m.end(), 1), 42 * 42);
  p = Make("", 1, {12, 1, 1}, {4, 1, 1}, {1, 1, 1}, {4, 1, 1}).p;
  m = reference::NeighborhoodMask(p);
  for (int64_t i = 0; i < 12; ++i) {
    for (int64_t j = 0; j < 12; ++j) EXPECT_EQ(m[static_cast<size_t>(i * 12 + j)], i / 4 == j / 4);
  }
}

// The packing ring of the per-pair schedule (lines packed in order up to each
// tile's last key line, kept in slots l % PackSlots): replaying that order,
// every key line of every row of every tile must still be in its slot when
// the tile runs, and TileKeySpans must bracket them. The 56 x 56 case checks
// that the ring is smaller than the full buffer (else the test is vacuous).
template <int kRank>
void CheckRing(const NeighborhoodParams& p, bool expect_ring) {
  local::LineArgs a;
  a.rank = p.rank;
  for (int i = 0; i < p.rank; ++i) {
    const size_t x = static_cast<size_t>(i);
    a.axes[x] = local::Axis{p.extent[x], p.kernel_size[x], p.dilation[x], p.stride[x], p.causal[x]};
  }
  const std::vector<local::LineTile> tiles = local::MakeTiles(a);
  const std::vector<local::KeySpan> spans = local::TileKeySpans(a, tiles);
  const int64_t lines = local::NumLines(a), slots = local::PackSlots(spans, lines);
  ASSERT_EQ(spans.size(), tiles.size());
  ASSERT_GE(slots, 1);
  ASSERT_LE(slots, lines);
  if (expect_ring) {
    EXPECT_LT(slots, lines);
  }
  std::vector<int64_t> keys(7 * 7 * 13 * 13);
  int64_t packed = 0;
  for (size_t t = 0; t < tiles.size(); ++t) {
    packed = std::max(packed, spans[t].last + 1);
    for (int64_t j = 0; j < tiles[t].rows; ++j) {
      const int64_t n = local::KeyLinesOf<kRank>(a, tiles[t].line0 + j * tiles[t].step, keys.data());
      for (int64_t o = 0; o < n; ++o) {
        const int64_t line = keys[static_cast<size_t>(o)];
        ASSERT_GE(line, spans[t].first) << "tile " << t;
        ASSERT_LE(line, spans[t].last) << "tile " << t;
        ASSERT_GE(line, packed - slots) << "tile " << t << ": line " << line << " overwritten";
      }
    }
  }
}

TEST(Neighborhood, PackingRingHoldsEveryLineATileReads) {
  CheckRing<2>(Make("", 2, {56, 56, 1}, {7, 7, 1}).p, true);
  CheckRing<2>(Make("", 2, {23, 30, 1}, {5, 7, 1}, {3, 2, 1}, {1, 1, 1}, {true, false, false}).p, false);
  CheckRing<2>(Make("", 2, {12, 21, 1}, {4, 5, 1}, {1, 2, 1}, {2, 3, 1}).p, false);
  CheckRing<3>(Make("", 3, {8, 13, 19}, {7, 7, 7}, {1, 1, 1}, {1, 1, 1}, {true, false, true}).p, false);
  CheckRing<3>(Make("", 3, {9, 11, 15}, {3, 3, 4}, {3, 2, 3}, {1, 1, 1}, {false, true, false}).p, false);
  CheckRing<1>(Make("", 1, {40, 1, 1}, {7, 1, 1}, {3, 1, 1}).p, false);
}

TEST(Neighborhood, BitwiseIndependentOfThreadCount) {
  const NaCase nc = Make("t", 2, {23, 30, 1}, {5, 7, 1}, {1, 2, 1}, {1, 1, 1}, {true, false, false});
  const harness::Case c = CaseOf(nc);
  harness::Inputs in = harness::MakeInputs(c);
  NeighborhoodAttention(nc.p, c.spec, in.tensors, ThreadingContext(1));
  const std::vector<uint8_t> one = in.out;
  NeighborhoodAttention(nc.p, c.spec, in.tensors, ThreadingContext(3));
  EXPECT_EQ(in.out, one);
}

struct TargetScope {
  explicit TargetScope(int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  ~TargetScope() { hwy::SetSupportedTargetsForTest(0); }
};

TEST(Neighborhood, EveryHighwayTargetMatchesTheReference) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    TargetScope scope(target);
    for (const NaCase& nc : {Make("a", 2, {11, 37, 1}, {3, 7, 1}, {1, 2, 1}, {1, 1, 1}, {false, true, false}),
                             Make("b", 1, {50, 1, 1}, {6, 1, 1}, {1, 1, 1}, {6, 1, 1}),
                             Make("c", 3, {5, 9, 19}, {3, 7, 5}, {1, 1, 2}, {1, 1, 1}, {true, false, false})}) {
      const testing::Agreement r = RunNa(nc, 2);
      EXPECT_TRUE(r.ok()) << hwy::TargetName(target) << " " << nc.name << ": " << r.failure;
    }
  }
}

TEST(Neighborhood, ThinWrappersEqualTheGenericCall) {
  NaCase nc = Make("w", 3, {4, 5, 6}, {3, 3, 3}, {1, 1, 2}, {1, 1, 1}, {false, true, false});
  const harness::Case c = CaseOf(nc);
  harness::Inputs in = harness::MakeInputs(c);
  NeighborhoodAttention(nc.p, c.spec, in.tensors, ThreadingContext(1));
  const std::vector<uint8_t> generic = in.out;
  NaArgs<3> a;
  a.extent = {4, 5, 6};
  a.kernel_size = {3, 3, 3};
  a.dilation = {1, 1, 2};
  a.causal = {false, true, false};
  Na3d(a, c.spec, in.tensors, ThreadingContext(1));
  EXPECT_EQ(in.out, generic);
  nc = Make("w1", 1, {30, 1, 1}, {5, 1, 1}, {2, 1, 1});
  const harness::Case c1 = CaseOf(nc);
  harness::Inputs in1 = harness::MakeInputs(c1);
  NeighborhoodAttention(nc.p, c1.spec, in1.tensors, ThreadingContext(1));
  const std::vector<uint8_t> generic1 = in1.out;
  Na1d(NaArgs<1>{{30}, {5}, {2}, {1}, {false}}, c1.spec, in1.tensors, ThreadingContext(1));
  EXPECT_EQ(in1.out, generic1);
}

// ---------------------------------------------------------------- Swin

struct SwinCase {
  WindowParams p;
  bool rpb = false;
  int64_t hq = 3, hkv = 3;
  DType dtype = DType::kF32;
  std::string name;
  friend void PrintTo(const SwinCase& c, std::ostream* os) { *os << c.name; }
};

std::vector<float> Table(const SwinCase& sc) {
  std::vector<float> t(static_cast<size_t>(sc.hq * (2 * sc.p.window[0] - 1) * (2 * sc.p.window[1] - 1)));
  for (size_t i = 0; i < t.size(); ++i) t[i] = 0.37f * static_cast<float>((i * 7919) % 23) - 4.0f;
  return t;
}

class SwinTest : public ::testing::TestWithParam<SwinCase> {};

TEST_P(SwinTest, MatchesTheExplicitWindowPartition) {
  const SwinCase& sc = GetParam();
  harness::Case c;
  c.spec.num_q_heads = sc.hq;
  c.spec.num_kv_heads = sc.hkv;
  c.spec.head_dim_qk = c.spec.head_dim_v = 32;
  c.spec.return_lse = true;
  c.batch = 2;
  c.seqlen_q = c.seqlen_k = sc.p.height * sc.p.width;
  c.dtype = sc.dtype;
  harness::Inputs in = harness::MakeInputs(c);
  const std::vector<float> table = sc.rpb ? Table(sc) : std::vector<float>{};
  WindowAttention(sc.p, c.spec, in.tensors, table, ThreadingContext(2));
  const reference::Result ref = reference::WindowAttention(sc.p, c.spec, in.tensors, table);
  const testing::Agreement r = testing::Compare(ref, in.tensors);
  EXPECT_TRUE(r.ok()) << r.failure;
}

std::vector<SwinCase> SwinCases() {
  std::vector<SwinCase> v;
  auto add = [&](std::string name, int64_t h, int64_t w, std::array<int64_t, 2> m,
                 std::array<int64_t, 2> s, bool rpb) {
    SwinCase c;
    c.p.height = h;
    c.p.width = w;
    c.p.window = m;
    c.p.shift = s;
    c.rpb = rpb;
    c.name = std::move(name);
    v.push_back(c);
  };
  add("w_msa", 14, 21, {7, 7}, {0, 0}, false);
  add("sw_msa", 14, 21, {7, 7}, {3, 3}, false);
  add("w_msa_rpb", 14, 14, {7, 7}, {0, 0}, true);
  add("sw_msa_rpb", 14, 14, {7, 7}, {3, 3}, true);
  add("rect_windows", 12, 15, {4, 5}, {2, 1}, true);
  add("one_window", 6, 6, {6, 6}, {0, 0}, false);
  add("shift_one_axis", 8, 12, {4, 4}, {0, 2}, false);
  v.push_back(v[3]);
  v.back().name = "sw_msa_gqa_bf16";
  v.back().hq = 4;
  v.back().hkv = 2;
  v.back().dtype = DType::kBF16;
  return v;
}

INSTANTIATE_TEST_SUITE_P(Windows, SwinTest, ::testing::ValuesIn(SwinCases()),
                         [](const auto& info) { return info.param.name; });

// Neighbourhood attention with kernel = stride = M is blocked attention: the
// unshifted Swin windows (B9's special case), through two different kernels.
TEST(Swin, UnshiftedWindowsEqualNeighborhoodWithStrideEqualKernel) {
  harness::Case c;
  c.spec.num_q_heads = c.spec.num_kv_heads = 2;
  c.spec.head_dim_qk = c.spec.head_dim_v = 32;
  c.seqlen_q = c.seqlen_k = 14 * 21;
  harness::Inputs in = harness::MakeInputs(c);
  WindowParams wp;
  wp.height = 14;
  wp.width = 21;
  WindowAttention(wp, c.spec, in.tensors, {}, ThreadingContext(1));
  std::vector<float> swin(in.out.size() / 4);
  std::memcpy(swin.data(), in.out.data(), in.out.size());
  Na2d(NaArgs<2>{{14, 21}, {7, 7}, {1, 1}, {7, 7}, {false, false}}, c.spec, in.tensors,
       ThreadingContext(1));
  const float* na = reinterpret_cast<const float*>(in.out.data());
  for (size_t i = 0; i < swin.size(); ++i) ASSERT_NEAR(na[i], swin[i], 1e-5) << i;
}

// ---------------------------------------------------------------- errors

template <class Fn>
void ExpectError(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(LocalErrors, KernelLargerThanTheInput) {
  ExpectError([] { ValidateNeighborhoodParams(Make("", 2, {9, 6, 1}, {3, 7, 1}).p); },
              "kernel_size[1] x dilation[1] = 7 x 1 is larger than the input extent[1] = 6");
  ExpectError([] { ValidateNeighborhoodParams(Make("", 1, {9, 1, 1}, {4, 1, 1}, {3, 1, 1}).p); },
              "kernel_size[0] x dilation[0] = 4 x 3 is larger than the input extent[0] = 9");
}

TEST(LocalErrors, StrideOutsideOneToKernel) {
  ExpectError([] { ValidateNeighborhoodParams(Make("", 1, {9, 1, 1}, {3, 1, 1}, {1, 1, 1}, {4, 1, 1}).p); },
              "stride[0] must be in [1, kernel_size[0] = 3], got 4");
  ExpectError([] { ValidateNeighborhoodParams(Make("", 1, {9, 1, 1}, {3, 1, 1}, {1, 1, 1}, {0, 1, 1}).p); },
              "stride[0] must be in [1, kernel_size[0] = 3], got 0");
}

TEST(LocalErrors, DilationKernelRankAndExtent) {
  ExpectError([] { ValidateNeighborhoodParams(Make("", 1, {9, 1, 1}, {3, 1, 1}, {0, 1, 1}).p); },
              "dilation[0] must be >= 1, got 0");
  ExpectError([] { ValidateNeighborhoodParams(Make("", 1, {9, 1, 1}, {0, 1, 1}).p); },
              "kernel_size[0] must be >= 1, got 0");
  ExpectError([] { ValidateNeighborhoodParams(Make("", 4, {9, 1, 1}, {1, 1, 1}).p); },
              "rank must be 1, 2 or 3, got 4");
  ExpectError([] { ValidateNeighborhoodParams(Make("", 2, {9, 0, 1}, {1, 1, 1}).p); },
              "extent[1] must be >= 1, got 0");
}

TEST(LocalErrors, SpecOptionsAndTokenCount) {
  const NaCase nc = Make("", 2, {5, 6, 1}, {3, 3, 1});
  harness::Case c = CaseOf(nc);
  harness::Inputs in = harness::MakeInputs(c);
  AttentionSpec s = c.spec;
  s.mask.causal = true;
  ExpectError([&] { NeighborhoodAttention(nc.p, s, in.tensors); }, "spec.mask must be off");
  s = c.spec;
  s.softcap = 5;
  ExpectError([&] { NeighborhoodAttention(nc.p, s, in.tensors); }, "soft-cap, ALiBi, sinks");
  NeighborhoodParams p = nc.p;
  p.extent[1] = 5;
  ExpectError([&] { NeighborhoodAttention(p, c.spec, in.tensors); }, "must have N = 25 tokens");
}

TEST(LocalErrors, SwinWindowParameters) {
  WindowParams p;
  p.height = 14;
  p.width = 20;
  ExpectError([&] { ValidateWindowParams(p); }, "width (20) must be a multiple of window[1] (7)");
  p.width = 14;
  p.shift = {7, 0};
  ExpectError([&] { ValidateWindowParams(p); }, "shift[0] must be in [0, window[0] = 7), got 7");
  p.shift = {0, 0};
  p.window = {7, 15};
  ExpectError([&] { ValidateWindowParams(p); }, "window[1] must be in [1, width = 14], got 15");
}

TEST(LocalErrors, SwinRelativePositionTableSize) {
  harness::Case c;
  c.spec.num_q_heads = c.spec.num_kv_heads = 2;
  c.spec.head_dim_qk = c.spec.head_dim_v = 16;
  c.seqlen_q = c.seqlen_k = 49;
  harness::Inputs in = harness::MakeInputs(c);
  WindowParams p;
  p.height = p.width = 7;
  ExpectError([&] { WindowAttention(p, c.spec, in.tensors, std::vector<float>(10)); },
              "rel_pos_bias must have num_q_heads x (2 window_y - 1) x (2 window_x - 1) = 2 x 13 x 13");
}

}  // namespace
}  // namespace attnkit
