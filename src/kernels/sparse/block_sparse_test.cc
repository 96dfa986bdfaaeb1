// SPDX-License-Identifier: Apache-2.0
// Block-sparse kernel against the fp64 reference with the same mask
// materialised: random masks, empty rows, all-full, causal (bottom-right),
// windows, GQA (shared and per-head masks), odd sizes and tile +-1, every
// dtype, layouts, strides, Highway targets and thread counts; skipped blocks
// are never read; invalid masks and options are errors naming the argument.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "attnkit/sparse.h"
#include "hwy/targets.h"
#include "src/harness/cases.h"
#include "src/kernels/sparse/test_util.h"
#include "src/reference/sparse.h"

namespace attnkit {
namespace {

enum class MaskKind { kRandom, kEmptyRows, kAllFull, kEmpty };

struct SparseCase {
  harness::Case c;
  int64_t block_q = 64, block_k = 64;
  MaskKind kind = MaskKind::kRandom;
  double density = 0.3;
  bool group_shared = false;  // every head of a GQA group keeps the same blocks
  uint64_t seed = 7;
  std::string name;
  friend void PrintTo(const SparseCase& sc, std::ostream* os) { *os << sc.name; }
};

BlockMask RandomMask(const SparseCase& sc) {
  const harness::Case& c = sc.c;
  const int64_t hq = c.spec.num_q_heads, group = hq / c.spec.num_kv_heads;
  const int64_t nqb = (c.seqlen_q + sc.block_q - 1) / sc.block_q;
  const int64_t nkb = (c.seqlen_k + sc.block_k - 1) / sc.block_k;
  std::vector<uint8_t> dense(static_cast<size_t>(c.batch * hq * nqb * nkb));
  std::mt19937_64 rng(sc.seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t h = 0; h < hq; ++h) {
      for (int64_t iq = 0; iq < nqb; ++iq) {
        const bool empty_row = sc.kind == MaskKind::kEmpty ||
                               (sc.kind == MaskKind::kEmptyRows && u(rng) < 0.3);
        for (int64_t jk = 0; jk < nkb; ++jk) {
          const size_t at = static_cast<size_t>(((b * hq + h) * nqb + iq) * nkb + jk);
          if (sc.group_shared && h % group != 0) {  // copy the group's first head
            dense[at] = dense[static_cast<size_t>(((b * hq + h - h % group) * nqb + iq) * nkb + jk)];
            continue;
          }
          dense[at] = !empty_row && (sc.kind == MaskKind::kAllFull || u(rng) < sc.density);
        }
      }
    }
  }
  return BlockMask::FromDense(c.batch, hq, c.seqlen_q, c.seqlen_k, sc.block_q, sc.block_k, dense);
}

testing::Agreement RunAndCompare(const SparseCase& sc, int threads = 1) {
  harness::Case c = sc.c;
  c.spec.return_lse = true;
  harness::Inputs in = harness::MakeInputs(c);
  const BlockMask mask = RandomMask(sc);
  BlockSparseAttention(c.spec, in.tensors, mask, ThreadingContext(threads));
  const reference::Result ref =
      reference::BlockSparseAttention(c.spec, c.Shape(), in.tensors, mask);
  return testing::Compare(ref, in.tensors);
}

harness::Case Base(int64_t hq, int64_t hkv, int64_t nq, int64_t nk, int64_t d) {
  harness::Case c;
  c.spec.num_q_heads = hq;
  c.spec.num_kv_heads = hkv;
  c.spec.head_dim_qk = c.spec.head_dim_v = d;
  c.batch = 2;
  c.seqlen_q = nq;
  c.seqlen_k = nk;
  return c;
}

std::vector<SparseCase> Cases() {
  std::vector<SparseCase> v;
  auto add = [&](std::string name, harness::Case c, auto&& edit) {
    SparseCase sc;
    sc.c = c;
    sc.name = std::move(name);
    edit(sc);
    v.push_back(sc);
  };
  const auto none = [](SparseCase&) {};
  add("random_mha", Base(3, 3, 256, 256, 64), none);
  add("random_causal", Base(3, 3, 320, 320, 64), [](SparseCase& s) { s.c.spec.mask.causal = true; });
  add("empty_rows", Base(2, 2, 256, 192, 48), [](SparseCase& s) { s.kind = MaskKind::kEmptyRows; });
  add("empty_rows_causal_sinks", Base(2, 1, 200, 200, 32), [](SparseCase& s) {
    s.kind = MaskKind::kEmptyRows;
    s.c.spec.mask.causal = true;
    s.c.spec.has_sinks = true;
  });
  add("all_full", Base(4, 2, 192, 256, 64), [](SparseCase& s) { s.kind = MaskKind::kAllFull; });
  add("all_full_causal", Base(4, 2, 192, 256, 64), [](SparseCase& s) {
    s.kind = MaskKind::kAllFull;
    s.c.spec.mask.causal = true;
  });
  add("empty_mask", Base(2, 2, 100, 100, 16), [](SparseCase& s) { s.kind = MaskKind::kEmpty; });
  add("gqa_shared", Base(6, 2, 256, 256, 64), [](SparseCase& s) {
    s.group_shared = true;
    s.c.spec.mask.causal = true;
  });
  add("gqa_per_head", Base(6, 2, 256, 256, 64), [](SparseCase& s) { s.c.spec.mask.causal = true; });
  add("gqa_mixed_rows", Base(8, 2, 256, 256, 32), [](SparseCase& s) {
    s.density = 0.85;  // many rows agree across the group, some do not
    s.c.spec.mask.causal = true;
  });
  add("mqa", Base(5, 1, 130, 190, 24), none);
  add("odd_sizes_causal", Base(3, 1, 97, 131, 40), [](SparseCase& s) {
    s.c.spec.head_dim_v = 24;
    s.c.spec.mask.causal = true;
  });
  for (int64_t bs : {32, 64, 128}) {
    for (int64_t delta : {-1, 0, 1}) {
      const int64_t n = 2 * bs + delta;
      add("tile_" + std::to_string(bs) + "_n" + std::to_string(n), Base(2, 1, n, n, 32),
          [bs](SparseCase& s) {
            s.block_q = s.block_k = bs;
            s.c.spec.mask.causal = true;
            s.density = 0.6;
          });
    }
  }
  add("bq32_bk128", Base(2, 2, 200, 300, 64), [](SparseCase& s) {
    s.block_q = 32;
    s.block_k = 128;
    s.c.spec.mask.causal = true;
  });
  add("bq128_bk32", Base(2, 2, 300, 200, 64), [](SparseCase& s) {
    s.block_q = 128;
    s.block_k = 32;
  });
  add("causal_nq_gt_nk", Base(2, 2, 300, 150, 32), [](SparseCase& s) {
    s.c.spec.mask.causal = true;  // the first 150 rows see no key
    s.density = 0.7;
  });
  add("window", Base(2, 2, 256, 256, 32), [](SparseCase& s) {
    s.c.spec.mask.causal = true;
    s.c.spec.mask.window_left = 70;
    s.density = 0.7;
  });
  add("window_two_sided", Base(2, 2, 256, 256, 32), [](SparseCase& s) {
    s.c.spec.mask.window_left = 40;
    s.c.spec.mask.window_right = 90;
    s.density = 0.7;
  });
  add("softcap_sinks_scale", Base(4, 2, 160, 160, 64), [](SparseCase& s) {
    s.c.spec.softcap = 20.0f;
    s.c.spec.has_sinks = true;
    s.c.spec.scale = 0.3f;
  });
  add("bf16", Base(4, 2, 200, 200, 64), [](SparseCase& s) {
    s.c.dtype = DType::kBF16;
    s.c.spec.mask.causal = true;
  });
  add("f16_to_bf16", Base(4, 2, 200, 200, 64), [](SparseCase& s) {
    s.c.dtype = DType::kF16;
    s.c.out_dtype = DType::kBF16;
  });
  add("bnhd_padded", Base(4, 2, 150, 170, 40), [](SparseCase& s) {
    s.c.layout = Layout::kBNHD;
    s.c.row_padding = 3;
    s.c.spec.mask.causal = true;
  });
  add("spikes", Base(2, 2, 192, 192, 64), [](SparseCase& s) {
    s.c.inputs = harness::InputKind::kSpikes;
    s.c.spec.mask.causal = true;
  });
  return v;
}

class BlockSparseTest : public ::testing::TestWithParam<SparseCase> {};

TEST_P(BlockSparseTest, MatchesReferenceWithTheMaskMaterialised) {
  const SparseCase& sc = GetParam();
  // Spiky inputs get FlashAttention's allowance for f32 rounding of large logits.
  const testing::Agreement r = RunAndCompare(sc);
  const double factor = sc.c.inputs == harness::InputKind::kGaussian ? 1.0 : 10.0;
  EXPECT_LE(r.max_abs, (1e-5 * factor + (sc.c.out_dtype == DType::kF32 ? 0 : 0x1.0p-8)) * r.out_scale)
      << r.failure;
  if (factor == 1.0) {
    EXPECT_TRUE(r.ok()) << r.failure;
  }
}

INSTANTIATE_TEST_SUITE_P(Masks, BlockSparseTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BlockSparse, AllFullMaskEqualsDenseReference) {
  harness::Case c = Base(4, 2, 180, 220, 64);
  c.spec.mask.causal = true;
  c.spec.return_lse = true;
  harness::Inputs in = harness::MakeInputs(c);
  SparseCase sc;
  sc.c = c;
  sc.kind = MaskKind::kAllFull;
  BlockSparseAttention(c.spec, in.tensors, RandomMask(sc), ThreadingContext(2));
  const reference::Result ref = reference::Attention(c.spec, c.Shape(), in.tensors);
  const testing::Agreement r = testing::Compare(ref, in.tensors);
  EXPECT_TRUE(r.ok()) << r.failure;
}

TEST(BlockSparse, ResultsAreBitwiseIndependentOfThreadCount) {
  SparseCase sc;
  sc.c = Base(6, 2, 300, 300, 64);
  sc.c.spec.mask.causal = true;
  harness::Inputs in = harness::MakeInputs(sc.c);
  const BlockMask mask = RandomMask(sc);
  std::vector<uint8_t> first;
  for (int threads : {1, 2, 3}) {
    BlockSparseAttention(sc.c.spec, in.tensors, mask, ThreadingContext(threads));
    if (first.empty()) {
      first = in.out;
    } else {
      EXPECT_EQ(in.out, first) << threads << " threads";
    }
  }
}

struct TargetScope {
  explicit TargetScope(int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  ~TargetScope() { hwy::SetSupportedTargetsForTest(0); }
};

TEST(BlockSparse, EveryHighwayTargetMatchesTheReference) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    TargetScope scope(target);
    for (DType dt : {DType::kF32, DType::kBF16}) {
      SparseCase sc;
      sc.c = Base(4, 2, 150, 170, 40);
      sc.c.dtype = dt;
      sc.c.spec.mask.causal = true;
      sc.c.spec.has_sinks = true;
      const testing::Agreement r = RunAndCompare(sc, 2);
      EXPECT_TRUE(r.ok()) << hwy::TargetName(target) << " " << Name(dt) << ": " << r.failure;
    }
  }
}

// A NaN in a key block that no row keeps is never read (not even packed); a
// row that keeps it does see it (NaN propagates, as for dense attention).
TEST(BlockSparse, SkippedBlocksAreNeverRead) {
  harness::Case c = Base(2, 1, 128, 256, 32);
  c.batch = 1;
  harness::Inputs in = harness::MakeInputs(c);
  float* k = reinterpret_cast<float*>(in.k.data());
  k[200 * in.tensors.k.strides[2]] = std::nanf("");  // key 200: block 3 of 64
  // Query block 0 keeps key blocks {0, 1}, query block 1 keeps {3}; both heads.
  std::vector<uint8_t> dense = {1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1};
  const BlockMask mask = BlockMask::FromDense(1, 2, 128, 256, 64, 64, dense);
  BlockSparseAttention(c.spec, in.tensors, mask, ThreadingContext(1));
  const float* out = reinterpret_cast<const float*>(in.out.data());
  const TensorView& o = in.tensors.out;
  for (int64_t h = 0; h < 2; ++h) {
    EXPECT_FALSE(std::isnan(out[h * o.strides[1] + 10 * o.strides[2]])) << "head " << h;
    EXPECT_TRUE(std::isnan(out[h * o.strides[1] + 100 * o.strides[2]])) << "head " << h;
  }
}

TEST(BlockSparse, PlanCountsOnlyVisibleKeptBlocks) {
  AttentionSpec spec;
  spec.num_q_heads = 2;
  spec.num_kv_heads = 1;
  spec.head_dim_qk = spec.head_dim_v = 32;
  spec.mask.causal = true;
  AttentionShape shape;
  shape.seqlen_q = shape.seqlen_k = 256;
  // Everything kept: the causal mask leaves 1 + 2 + 3 + 4 of the 16 blocks per head.
  std::vector<uint8_t> dense(2 * 4 * 4, 1);
  BlockSparsePlan plan = MakeBlockSparsePlan(
      spec, shape, BlockMask::FromDense(1, 2, 256, 256, 64, 64, dense), ThreadingContext(1));
  EXPECT_EQ(plan.kept_blocks(), 20);
  EXPECT_EQ(plan.visible_blocks(), 20);
  // Head 1 keeps only the diagonal.
  for (int64_t iq = 0; iq < 4; ++iq) {
    for (int64_t jk = 0; jk < 4; ++jk) dense[static_cast<size_t>(16 + iq * 4 + jk)] = iq == jk;
  }
  plan = MakeBlockSparsePlan(spec, shape, BlockMask::FromDense(1, 2, 256, 256, 64, 64, dense),
                             ThreadingContext(1));
  EXPECT_EQ(plan.kept_blocks(), 14);
  EXPECT_EQ(KeptDensity(BlockMask::FromDense(1, 2, 256, 256, 64, 64, dense), spec.mask), 14.0 / 20);
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

struct ErrorFixture {
  AttentionSpec spec;
  AttentionShape shape;
  BlockMask mask;
  ErrorFixture() {
    spec.num_q_heads = 2;
    spec.num_kv_heads = 1;
    spec.head_dim_qk = spec.head_dim_v = 32;
    shape.seqlen_q = 100;
    shape.seqlen_k = 130;
    std::vector<uint8_t> dense(2 * 2 * 3, 1);
    mask = BlockMask::FromDense(1, 2, 100, 130, 64, 64, dense);
  }
  void Plan() const { MakeBlockSparsePlan(spec, shape, mask, ThreadingContext(1)); }
};

TEST(BlockSparseErrors, BlockSizeNot32Or64Or128) {
  ExpectError([] { BlockMask::FromDense(1, 1, 96, 96, 48, 64, std::vector<uint8_t>(4, 1)); },
              "block_q must be 32, 64 or 128, got 48");
  ErrorFixture f;
  f.mask.block_k = 96;
  ExpectError([&] { f.Plan(); }, "block_mask.block_k must be 32, 64 or 128");
}

TEST(BlockSparseErrors, DenseMaskOfWrongSize) {
  ExpectError([] { BlockMask::FromDense(1, 2, 100, 130, 64, 64, std::vector<uint8_t>(11, 1)); },
              "block_mask has 11 entries");
}

TEST(BlockSparseErrors, MaskForOtherLengths) {
  ErrorFixture f;
  f.shape.seqlen_k = 129;
  ExpectError([&] { f.Plan(); }, "block_mask is for seqlen_q 100, seqlen_k 130");
}

TEST(BlockSparseErrors, MaskForOtherHeads) {
  ErrorFixture f;
  f.spec.num_q_heads = 4;
  ExpectError([&] { f.Plan(); }, "but the problem has batch 1 x num_q_heads 4");
}

TEST(BlockSparseErrors, RepeatedKeyBlock) {
  ErrorFixture f;
  f.mask.key_blocks[1] = 0;  // row 0 = {0, 0}
  ExpectError([&] { f.Plan(); }, "strictly ascending (no repeats)");
}

TEST(BlockSparseErrors, KeyBlockOutOfRange) {
  ErrorFixture f;
  f.mask.key_blocks[2] = 3;
  ExpectError([&] { f.Plan(); }, "block 3 of row 0 is outside [0, 3)");
}

TEST(BlockSparseErrors, RowOffsetsOfWrongLength) {
  ErrorFixture f;
  f.mask.row_begin.pop_back();
  ExpectError([&] { f.Plan(); }, "block_mask.row_begin has 4 entries");
}

TEST(BlockSparseErrors, DecreasingRowOffsets) {
  ErrorFixture f;
  f.mask.row_begin[1] = 5;
  f.mask.row_begin[2] = 3;
  ExpectError([&] { f.Plan(); }, "block_mask.row_begin must be non-decreasing");
}

TEST(BlockSparseErrors, AlibiBiasAndVarlenAreRejected) {
  ErrorFixture f;
  f.spec.alibi = true;
  ExpectError([&] { f.Plan(); }, "does not support ALiBi");
  f.spec.alibi = false;
  f.spec.has_bias = true;
  ExpectError([&] { f.Plan(); }, "does not support an additive bias");
  f.spec.has_bias = false;
  f.shape.batch = 1;
  f.shape.cu_seqlens_q = {0, 100};
  f.shape.cu_seqlens_k = {0, 130};
  ExpectError([&] { f.Plan(); }, "fixed-length batch");
}

TEST(BlockSparseErrors, TensorsNotMatchingThePlan) {
  ErrorFixture f;
  const BlockSparsePlan plan = MakeBlockSparsePlan(f.spec, f.shape, f.mask, ThreadingContext(1));
  std::vector<float> q(2 * 99 * 32), k(130 * 32), out(2 * 100 * 32);
  AttentionTensors t;
  t.q = TensorView::Attention(q.data(), DType::kF32, Layout::kBHND, 1, 2, 99, 32);
  t.k = t.v = TensorView::Attention(k.data(), DType::kF32, Layout::kBHND, 1, 1, 130, 32);
  t.out = TensorView::Attention(out.data(), DType::kF32, Layout::kBHND, 1, 2, 100, 32);
  std::vector<std::byte> ws(plan.workspace_bytes());
  ExpectError([&] { RunBlockSparse(plan, t, ws); }, "tensor 'q' has shape");
}

}  // namespace
}  // namespace attnkit
