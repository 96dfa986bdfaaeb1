// SPDX-License-Identifier: Apache-2.0
// Tests of the unfused OpenBLAS baseline against the fp64 reference: masks,
// modifiers, GQA, varlen, strides, fully masked rows, chunking; and its errors.
#include "src/baseline/unfused.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "attnkit/error.h"
#include "src/baseline/compare.h"
#include "src/harness/cases.h"
#include "src/reference/reference.h"

namespace attnkit::baseline {
namespace {

using harness::Case;

Case Make(int64_t hq, int64_t hkv, int64_t nq, int64_t nk, int64_t dqk, int64_t dv) {
  Case c;
  c.spec.num_q_heads = hq;
  c.spec.num_kv_heads = hkv;
  c.spec.head_dim_qk = dqk;
  c.spec.head_dim_v = dv;
  c.seqlen_q = nq;
  c.seqlen_k = nk;
  return c;
}

#define SKIP_WITHOUT_BLAS() \
  if (!Blas().available) GTEST_SKIP() << Blas().Describe()

// Runs the baseline on `c` (f32 inputs are read in place with their strides,
// others are widened first) and compares O and LSE with the fp64 reference:
// max |O - O_ref| <= 1e-5 max |O_ref|, LSE to 1e-5 relative, fully masked
// rows exactly O = 0 and LSE = -inf. Returns the number of fully masked rows.
int ExpectMatchesReference(Case c, int threads, int64_t chunk_rows) {
  SCOPED_TRACE(c.ToString() + " threads " + std::to_string(threads) + " chunk " +
               std::to_string(chunk_rows));
  c.spec.return_lse = true;
  harness::Inputs in = harness::MakeInputs(c);
  const AttentionShape shape = c.Shape();
  AttentionTensors t = in.tensors;
  F32Inputs widened;
  if (c.dtype != DType::kF32) {
    widened = WidenToF32(in.tensors);
    t.q = widened.tensors.q;
    t.k = widened.tensors.k;
    t.v = widened.tensors.v;
    t.bias = widened.tensors.bias;
  }
  Unfused u(c.spec, shape, threads, chunk_rows);
  u.Run(t);

  const reference::Result ref = reference::Attention(c.spec, shape, in.tensors);
  double scale = 0;
  for (double v : ref.out) scale = std::max(scale, std::abs(v));
  if (scale == 0) scale = 1;
  double max_abs = 0, lse_err = 0;
  int masked_rows = 0;
  for (int64_t b = 0; b < ref.batch; ++b)
    for (int64_t h = 0; h < ref.heads; ++h)
      for (int64_t i = 0; i < ref.rows; ++i) {
        const float* o = static_cast<const float*>(t.out.data) + b * t.out.strides[0] +
                         h * t.out.strides[1] + i * t.out.strides[2];
        const float l = static_cast<const float*>(
            t.lse.data)[b * t.lse.strides[0] + h * t.lse.strides[1] + i * t.lse.strides[2]];
        const double lr = ref.l(b, h, i);
        if (std::isinf(lr) && lr < 0) {
          ++masked_rows;
          EXPECT_TRUE(std::isinf(l) && l < 0) << "fully masked row " << i << " got LSE " << l;
          for (int64_t d = 0; d < ref.dim; ++d) EXPECT_EQ(o[d], 0.0f) << "row " << i;
          continue;
        }
        lse_err = std::max(lse_err, std::abs(l - lr) / std::max(1.0, std::abs(lr)));
        for (int64_t d = 0; d < ref.dim; ++d) {
          const double e = std::abs(o[d] - ref.o(b, h, i, d));
          max_abs = std::max(max_abs, std::isnan(e) ? 1e300 : e);
        }
      }
  EXPECT_LE(max_abs, 1e-5 * scale) << "out scale " << scale;
  EXPECT_LE(lse_err, 1e-5);
  return masked_rows;
}

TEST(Unfused, NonCausalSeveralChunks) {
  SKIP_WITHOUT_BLAS();
  ExpectMatchesReference(Make(2, 2, 37, 53, 32, 32), 1, 16);
  ExpectMatchesReference(Make(2, 2, 1, 129, 16, 8), 1, 16);
}

TEST(Unfused, CausalGqa) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(4, 2, 100, 100, 64, 64);
  c.spec.mask.causal = true;
  ExpectMatchesReference(c, 1, 16);
  ExpectMatchesReference(c, 2, 7);
  c.spec.num_q_heads = 8;  // 8:1
  c.spec.num_kv_heads = 1;
  ExpectMatchesReference(c, 2, 256);
}

TEST(Unfused, CausalMoreQueriesThanKeysMasksFirstRows) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(2, 1, 70, 40, 32, 16);  // rows 0..29 see no key
  c.spec.mask.causal = true;
  EXPECT_EQ(ExpectMatchesReference(c, 2, 16), 2 * 30);
}

TEST(Unfused, SlidingWindows) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(2, 2, 90, 90, 32, 32);
  c.spec.mask.window_left = 8;
  c.spec.mask.window_right = 3;
  ExpectMatchesReference(c, 1, 16);
  c.spec.mask.causal = true;  // window (8, 0)
  c.seqlen_k = 130;
  ExpectMatchesReference(c, 2, 32);
  c.spec.mask = MaskSpec{};
  c.spec.mask.window_left = 0;  // only the diagonal
  c.spec.mask.window_right = 0;
  ExpectMatchesReference(c, 1, 16);
}

TEST(Unfused, Softcap) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(2, 1, 50, 77, 64, 64);
  c.spec.softcap = 2.0f;
  c.spec.mask.causal = true;
  ExpectMatchesReference(c, 1, 16);
  c.spec.softcap = 50.0f;
  c.spec.scale = 1.0f;  // large logits, some capped
  ExpectMatchesReference(c, 1, 16);
}

TEST(Unfused, Alibi) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(6, 3, 45, 60, 32, 32);  // 6 heads: the non-power-of-two slope table
  c.spec.alibi = true;
  ExpectMatchesReference(c, 1, 16);
  c.spec.mask.causal = true;
  c.spec.alibi_slopes = {0.5f, 0.25f, 0.1f, 0.0f, 1.0f, 0.03f};
  ExpectMatchesReference(c, 2, 16);
}

TEST(Unfused, SinksIncludingFullyMaskedRows) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(4, 2, 50, 30, 32, 32);
  c.spec.has_sinks = true;
  ExpectMatchesReference(c, 1, 16);
  c.spec.mask.causal = true;  // the first 20 rows see only the sink: O = 0, LSE = sink
  EXPECT_EQ(ExpectMatchesReference(c, 1, 16), 0);
}

TEST(Unfused, BiasWithMaskedRowsAndBroadcast) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(2, 1, 30, 41, 16, 16);
  c.spec.has_bias = true;  // rows 3, 10, 17, 24 of the bias are -inf
  EXPECT_EQ(ExpectMatchesReference(c, 1, 8), 2 * 4);
  c.bias_batch = false;
  c.bias_heads = false;
  c.batch = 2;
  ExpectMatchesReference(c, 2, 8);
  c.bias_rows = false;
  c.spec.mask.causal = true;
  ExpectMatchesReference(c, 1, 8);
}

TEST(Unfused, VarlenWithEmptySequences) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(4, 2, 0, 0, 32, 32);
  c.varlen_q = {5, 0, 40, 17, 9};
  c.varlen_k = {9, 3, 40, 0, 4};  // sequence 3 has no key at all
  EXPECT_EQ(ExpectMatchesReference(c, 2, 16), 4 * 17);
  c.spec.mask.causal = true;
  ExpectMatchesReference(c, 1, 16);
  c.spec.has_sinks = true;
  ExpectMatchesReference(c, 1, 16);
}

TEST(Unfused, LowPrecisionInputsAreWidened) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(4, 1, 64, 80, 128, 64);
  c.spec.mask.causal = true;
  c.dtype = DType::kBF16;
  ExpectMatchesReference(c, 2, 32);
  c.dtype = DType::kF16;
  ExpectMatchesReference(c, 1, 32);
}

TEST(Unfused, TokensMajorLayoutAndPaddedRows) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(4, 2, 70, 70, 40, 24);
  c.layout = Layout::kBNHD;
  c.row_padding = 3;  // NaN padding: any read outside a row poisons the output
  c.batch = 2;
  c.spec.mask.causal = true;
  ExpectMatchesReference(c, 2, 16);
}

TEST(Unfused, LargerCausalDefaultChunks) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(4, 1, 600, 600, 128, 128);
  c.spec.mask.causal = true;
  ExpectMatchesReference(c, 2, kDefaultChunkRows);
  c.spec.mask.window_left = 100;
  ExpectMatchesReference(c, 2, kDefaultChunkRows);
}

TEST(Unfused, ItemsCoverOnlyVisibleKeys) {
  SKIP_WITHOUT_BLAS();
  AttentionSpec s;
  s.num_q_heads = s.num_kv_heads = 1;
  s.head_dim_qk = s.head_dim_v = 16;
  s.mask.causal = true;
  AttentionShape sh;
  sh.seqlen_q = sh.seqlen_k = 1000;
  Unfused u(s, sh, 1, 256);
  ASSERT_EQ(u.items().size(), 4u);
  for (const Unfused::Item& it : u.items()) {
    EXPECT_EQ(it.key0, 0);
    EXPECT_EQ(it.keys, it.row0 + it.rows);  // causal: up to the chunk's last row
  }
  s.mask.window_left = 100;
  Unfused w(s, sh, 1, 256);
  for (const Unfused::Item& it : w.items()) {
    EXPECT_EQ(it.key0, std::max<int64_t>(0, it.row0 - 100));
    EXPECT_EQ(it.key0 + it.keys, it.row0 + it.rows);
  }
}

TEST(Unfused, RejectsBadInput) {
  SKIP_WITHOUT_BLAS();
  Case c = Make(2, 1, 8, 8, 16, 16);
  c.dtype = DType::kBF16;
  harness::Inputs in = harness::MakeInputs(c);
  Unfused u(c.spec, c.Shape(), 1);
  try {
    u.Run(in.tensors);
    FAIL() << "bf16 inputs were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("WidenToF32"), std::string::npos) << e.what();
  }

  Case f = Make(2, 1, 8, 8, 16, 16);
  harness::Inputs fin = harness::MakeInputs(f);
  AttentionTensors t = fin.tensors;
  t.q.strides[2] = 8;  // rows of 16 elements, 8 apart: overlapping
  EXPECT_THROW(Unfused(f.spec, f.Shape(), 1).Run(t), Error);
  t = fin.tensors;
  t.k.shape[2] = 7;  // wrong key count
  EXPECT_THROW(Unfused(f.spec, f.Shape(), 1).Run(t), Error);

  AttentionSpec bad = f.spec;
  bad.num_q_heads = 3;
  bad.num_kv_heads = 2;
  EXPECT_THROW(Unfused(bad, f.Shape(), 1), Error);
  EXPECT_THROW(Unfused(f.spec, f.Shape(), 1, 0), Error);
  EXPECT_THROW(Unfused(f.spec, f.Shape(), 2000), Error);
}

TEST(Blas, MissingLibraryIsReportedNotFatal) {
  const BlasInfo info = ProbeBlas({"/nonexistent/libopenblas.so.0", "libdoes-not-exist.so"});
  EXPECT_FALSE(info.available);
  EXPECT_NE(info.error.find("/nonexistent/libopenblas.so.0"), std::string::npos) << info.error;
  EXPECT_NE(info.error.find("libdoes-not-exist.so"), std::string::npos) << info.error;
  EXPECT_NE(info.Describe().find("unavailable"), std::string::npos);
}

TEST(Blas, LoadedLibraryDescribesItself) {
  SKIP_WITHOUT_BLAS();
  EXPECT_FALSE(Blas().core_name.empty());
  EXPECT_NE(Blas().config.find("OpenBLAS"), std::string::npos) << Blas().config;
  std::printf("%s\n", Blas().Describe().c_str());
  const double gflops = MeasureSgemmGflops(1, 256, 0.01);
  EXPECT_GT(gflops, 1.0);
  EXPECT_THROW(MeasureSgemmGflops(1, 0, 0.01), Error);
}

TEST(Compare, FormatMsAndMaxAbsDiff) {
  EXPECT_EQ(FormatMs(0.123456), "0.1235");
  EXPECT_EQ(FormatMs(12.3456), "12.35");
  EXPECT_EQ(FormatMs(999.94), "999.9");
  EXPECT_EQ(FormatMs(19381.7), "19382");
  float a[6] = {1, 2, 3, 4, 5, 6};
  uint16_t b[6];
  for (int i = 0; i < 6; ++i) b[i] = F32ToBF16(a[i] + (i == 4 ? 0.5f : 0.0f));
  const TensorView ta = TensorView::Contiguous(a, DType::kF32, {1, 2, 3, 1});
  const TensorView tb = TensorView::Contiguous(b, DType::kBF16, {1, 2, 3, 1});
  EXPECT_EQ(MaxAbsDiff(ta, tb), 0.5);
  EXPECT_THROW(MaxAbsDiff(ta, TensorView::Contiguous(b, DType::kBF16, {1, 3, 2, 1})), Error);
}

}  // namespace
}  // namespace attnkit::baseline
