// SPDX-License-Identifier: Apache-2.0
// Tests of `attnkit run`, driven in-process through CLI11 on .npy files in a
// temp dir; outputs are compared with the fp64 reference. Then every error path.
#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "src/io/npy.h"
#include "src/reference/reference.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr const char* kExactKernel = "dense_fwd_f32acc_tiled";
constexpr const char* kBf16Kernel = "dense_fwd_bf16_f32acc_avx512bf16";
// P rounded to bf16 (8 significant bits): |error| <= 2^-8 of max |v| per row, with margin.
constexpr double kBf16ProductsTolerance = 1e-2;

// A fresh directory under the gtest temp dir, one per call.
std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "attnkit_run_XXXXXX";
  const char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return std::string(dir) + "/";
}

// Parses `args` (after the program name) on a fresh app with `run` added.
void RunCli(const std::vector<std::string>& args) {
  CLI::App app{"attnkit"};
  app.require_subcommand(1);
  AddRunCommand(app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  app.parse(reversed);
}

// Element `x` as the file stores it in `type`, then widened back to f32 the
// way the CLI reads it.
float AsStored(io::NpyType type, double x) {
  switch (type) {
    case io::NpyType::kF16:
      return F16ToF32(F32ToF16(static_cast<float>(x)));
    default:
      return static_cast<float>(x);
  }
}

io::NpyArray MakeArray(io::NpyType type, std::vector<int64_t> shape, const std::vector<double>& x) {
  io::NpyArray a;
  a.type = type;
  a.shape = std::move(shape);
  EXPECT_EQ(a.numel(), static_cast<int64_t>(x.size()));
  a.data.resize(x.size() * io::SizeOf(type));
  for (size_t i = 0; i < x.size(); ++i) {
    uint8_t* p = a.data.data() + i * io::SizeOf(type);
    switch (type) {
      case io::NpyType::kF32: {
        const float f = static_cast<float>(x[i]);
        std::memcpy(p, &f, 4);
        break;
      }
      case io::NpyType::kF16: {
        const uint16_t h = F32ToF16(static_cast<float>(x[i]));
        std::memcpy(p, &h, 2);
        break;
      }
      case io::NpyType::kF64:
        std::memcpy(p, &x[i], 8);
        break;
      case io::NpyType::kI32: {
        const int32_t v = static_cast<int32_t>(x[i]);
        std::memcpy(p, &v, 4);
        break;
      }
      case io::NpyType::kI64: {
        const int64_t v = static_cast<int64_t>(x[i]);
        std::memcpy(p, &v, 8);
        break;
      }
    }
  }
  return a;
}

// One `attnkit run` problem. Tensors are generated in file (memory) order.
struct Problem {
  int64_t batch = 2, hq = 4, hkv = 2, nq = 5, nk = 7, dqk = 8, dv = 6;
  std::vector<int64_t> varlen_q, varlen_k;  // per-sequence lengths; varlen when non-empty
  Layout layout = Layout::kBHND;
  DType dtype = DType::kF32;                  // --dtype
  io::NpyType file_type = io::NpyType::kF32;  // dtype of the q/k/v files
  io::NpyType cu_type = io::NpyType::kI32;
  bool causal = false;
  std::string window;  // --window text, "" = none
  int64_t window_left = kUnbounded, window_right = kUnbounded;
  float softcap = 0.0f;
  float scale = 0.0f;  // 0 = default
  bool alibi = false, sinks = false, lse = true;
  std::vector<int64_t> bias_shape;  // empty = no bias
  bool bias_masks_row = false;      // set a whole bias row to -inf
  int threads = 1;
  uint64_t seed = 1;
  // --kernel: the f32-products kernel by default, so that the bound below holds
  // on every CPU ("" = the planner's choice, which for bf16 inputs on a CPU with
  // fast AVX512-BF16 rounds P to bf16).
  std::string kernel = kExactKernel;
  double out_tolerance = 1e-5;  // bound on max |out - ref| / max(1, max |ref|)

  bool varlen() const { return !varlen_q.empty(); }
  int64_t total_q() const { return Sum(varlen_q); }
  int64_t total_k() const { return Sum(varlen_k); }
  static int64_t Sum(const std::vector<int64_t>& v) {
    int64_t s = 0;
    for (int64_t x : v) s += x;
    return s;
  }
  // File shape of an operand with `h` heads, `n` tokens per sequence (or `t`
  // packed tokens) and dim `d`.
  std::vector<int64_t> FileShape(int64_t h, int64_t n, int64_t t, int64_t d) const {
    if (varlen())
      return layout == Layout::kBHND ? std::vector<int64_t>{h, t, d}
                                     : std::vector<int64_t>{t, h, d};
    return layout == Layout::kBHND ? std::vector<int64_t>{batch, h, n, d}
                                   : std::vector<int64_t>{batch, n, h, d};
  }
};

// What a case produced and what the reference says.
struct Outcome {
  io::NpyArray out, lse;
  reference::Result ref;
  double max_out_err = 0, max_lse_err = 0;
  double out_scale = 1;  // max(1, max |ref|)
};

Outcome RunAndCompare(const Problem& p, std::vector<std::string> extra = {}) {
  const std::string dir = MakeTempDir();
  std::mt19937_64 rng(p.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const int64_t bt = p.varlen() ? 1 : p.batch;  // batch axis of the tensors
  const int64_t nq = p.varlen() ? p.total_q() : p.nq, nk = p.varlen() ? p.total_k() : p.nk;

  // q, k, v: written as file_type; the CLI converts them to --dtype.
  std::vector<std::vector<float>> seen(3);
  const struct {
    const char* name;
    int64_t h, n, d;
  } ops[3] = {{"q", p.hq, nq, p.dqk}, {"k", p.hkv, nk, p.dqk}, {"v", p.hkv, nk, p.dv}};
  std::vector<std::string> args = {"run"};
  for (int o = 0; o < 3; ++o) {
    std::vector<double> x(static_cast<size_t>(bt * ops[o].h * ops[o].n * ops[o].d));
    for (double& e : x) e = normal(rng);
    for (double e : x) seen[o].push_back(RoundTo(p.dtype, AsStored(p.file_type, e)));
    const std::string path = dir + ops[o].name + ".npy";
    io::WriteNpy(path,
                 MakeArray(p.file_type, p.FileShape(ops[o].h, ops[o].n, ops[o].n, ops[o].d), x));
    args.insert(args.end(), {std::string("--") + ops[o].name, path});
  }
  AttentionSpec spec;
  spec.num_q_heads = p.hq;
  spec.num_kv_heads = p.hkv;
  spec.head_dim_qk = p.dqk;
  spec.head_dim_v = p.dv;
  spec.mask.causal = p.causal;
  spec.mask.window_left = p.window_left;
  spec.mask.window_right = p.window_right;
  spec.softcap = p.softcap;
  spec.alibi = p.alibi;
  spec.return_lse = p.lse;
  if (p.scale != 0.0f) spec.scale = p.scale;
  AttentionTensors in;
  in.q = TensorView::Attention(seen[0].data(), DType::kF32, p.layout, bt, p.hq, nq, p.dqk);
  in.k = TensorView::Attention(seen[1].data(), DType::kF32, p.layout, bt, p.hkv, nk, p.dqk);
  in.v = TensorView::Attention(seen[2].data(), DType::kF32, p.layout, bt, p.hkv, nk, p.dv);

  std::vector<float> sinks, bias;
  if (p.sinks) {
    for (int64_t h = 0; h < p.hq; ++h) sinks.push_back(static_cast<float>(normal(rng)));
    io::WriteNpy(dir + "sinks.npy", {p.hq}, sinks.data());
    args.insert(args.end(), {"--sinks", dir + "sinks.npy"});
    spec.has_sinks = true;
    in.sinks = TensorView::Contiguous(sinks.data(), DType::kF32, {p.hq});
  }
  if (!p.bias_shape.empty()) {
    const auto& s = p.bias_shape;
    bias.resize(static_cast<size_t>(s[0] * s[1] * s[2] * s[3]));
    for (size_t i = 0; i < bias.size(); ++i) {
      bias[i] = static_cast<float>(normal(rng));
      if (i % 5 == 3) bias[i] = -kInf;  // a masked pair
    }
    if (p.bias_masks_row) std::fill(bias.begin(), bias.begin() + s[3], -kInf);
    io::WriteNpy(dir + "bias.npy", s, bias.data());
    args.insert(args.end(), {"--bias", dir + "bias.npy"});
    spec.has_bias = true;
    in.bias = TensorView::Contiguous(bias.data(), DType::kF32, {s[0], s[1], s[2], s[3]});
  }
  AttentionShape shape;
  if (p.varlen()) {
    std::vector<double> cq = {0}, ck = {0};  // offsets: running sums of the lengths
    for (size_t i = 0; i < p.varlen_q.size(); ++i) {
      cq.push_back(cq.back() + static_cast<double>(p.varlen_q[i]));
      ck.push_back(ck.back() + static_cast<double>(p.varlen_k[i]));
    }
    for (double x : cq) shape.cu_seqlens_q.push_back(static_cast<int64_t>(x));
    for (double x : ck) shape.cu_seqlens_k.push_back(static_cast<int64_t>(x));
    shape.batch = static_cast<int64_t>(p.varlen_q.size());
    const int64_t n = shape.batch + 1;
    io::WriteNpy(dir + "cu_q.npy", MakeArray(p.cu_type, {n}, cq));
    io::WriteNpy(dir + "cu_k.npy", MakeArray(p.cu_type, {n}, ck));
    args.insert(args.end(),
                {"--cu-seqlens-q", dir + "cu_q.npy", "--cu-seqlens-k", dir + "cu_k.npy"});
  } else {
    shape.batch = p.batch;
    shape.seqlen_q = p.nq;
    shape.seqlen_k = p.nk;
  }
  if (p.causal) args.push_back("--causal");
  if (!p.window.empty()) args.insert(args.end(), {"--window", p.window});
  if (p.softcap != 0.0f) args.insert(args.end(), {"--softcap", std::to_string(p.softcap)});
  if (p.scale != 0.0f) args.insert(args.end(), {"--scale", std::to_string(p.scale)});
  if (p.alibi) args.push_back("--alibi");
  args.insert(args.end(), {"--dtype", std::string(Name(p.dtype)), "--layout", Name(p.layout),
                           "--threads", std::to_string(p.threads), "--out", dir + "out.npy"});
  if (p.lse) args.insert(args.end(), {"--lse", dir + "lse.npy"});
  if (!p.kernel.empty()) args.insert(args.end(), {"--kernel", p.kernel});
  args.insert(args.end(), extra.begin(), extra.end());
  // Parsed the way the CLI does: std::to_string gives 6 decimals.
  if (p.softcap != 0.0f) spec.softcap = std::stof(std::to_string(p.softcap));
  if (p.scale != 0.0f) spec.scale = std::stof(std::to_string(p.scale));

  RunCli(args);

  Outcome r;
  r.ref = reference::Attention(spec, shape, in);
  r.out = io::ReadNpy(dir + "out.npy");
  EXPECT_EQ(r.out.type, io::NpyType::kF32);
  EXPECT_EQ(r.out.shape, p.FileShape(p.hq, nq, nq, p.dv));
  const std::vector<float> out = r.out.ToF32();
  double scale = 1.0;
  for (double x : r.ref.out) scale = std::max(scale, std::abs(x));
  for (int64_t b = 0; b < bt; ++b) {
    for (int64_t h = 0; h < p.hq; ++h) {
      for (int64_t i = 0; i < nq; ++i) {
        for (int64_t c = 0; c < p.dv; ++c) {
          const int64_t at = p.layout == Layout::kBHND ? ((b * p.hq + h) * nq + i) * p.dv + c
                                                       : ((b * nq + i) * p.hq + h) * p.dv + c;
          const double err = std::abs(out[at] - r.ref.o(b, h, i, c));
          EXPECT_FALSE(std::isnan(out[at]));
          r.max_out_err = std::max(r.max_out_err, std::isnan(err) ? kInf : err);
        }
      }
    }
  }
  EXPECT_LE(r.max_out_err, p.out_tolerance * scale);
  r.out_scale = scale;
  if (p.lse) {
    r.lse = io::ReadNpy(dir + "lse.npy");
    const std::vector<int64_t> lse_shape =
        p.varlen() ? std::vector<int64_t>{p.hq, nq} : std::vector<int64_t>{p.batch, p.hq, nq};
    EXPECT_EQ(r.lse.shape, lse_shape);
    const std::vector<float> lse = r.lse.ToF32();
    EXPECT_EQ(lse.size(), r.ref.lse.size());
    for (size_t i = 0; i < lse.size() && i < r.ref.lse.size(); ++i) {
      const double ref = r.ref.lse[i];
      if (std::isinf(ref)) {
        EXPECT_EQ(lse[i], static_cast<float>(ref)) << "row " << i;
        continue;
      }
      const double err = std::abs(lse[i] - ref) / std::max(1.0, std::abs(ref));
      r.max_lse_err = std::max(r.max_lse_err, std::isnan(err) ? kInf : err);
    }
    EXPECT_LE(r.max_lse_err, 1e-5);
  }
  std::filesystem::remove_all(dir);
  return r;
}

// ---------------------------------------------------------------- results vs the reference

TEST(RunTest, DenseBhnd) { RunAndCompare(Problem{}); }

TEST(RunTest, DenseBnhd) {
  Problem p;
  p.layout = Layout::kBNHD;
  RunAndCompare(p);
}

TEST(RunTest, BnhdIsTheTransposeOfBhnd) {
  // The same logical problem in both layouts: outputs must be transposes.
  // Generated bnhd-in-memory vs bhnd-in-memory from one logical tensor.
  const std::string dir = MakeTempDir();
  const int64_t b = 2, h = 3, n = 4, d = 5;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> bhnd[3], bnhd[3];
  const char* names[3] = {"q", "k", "v"};
  for (int o = 0; o < 3; ++o) {
    bhnd[o].resize(b * h * n * d);
    bnhd[o].resize(b * h * n * d);
    for (float& x : bhnd[o]) x = normal(rng);
    for (int64_t i0 = 0; i0 < b; ++i0)
      for (int64_t i1 = 0; i1 < h; ++i1)
        for (int64_t i2 = 0; i2 < n; ++i2)
          for (int64_t i3 = 0; i3 < d; ++i3)
            bnhd[o][((i0 * n + i2) * h + i1) * d + i3] = bhnd[o][((i0 * h + i1) * n + i2) * d + i3];
    io::WriteNpy(dir + names[o] + "_bhnd.npy", {b, h, n, d}, bhnd[o].data());
    io::WriteNpy(dir + names[o] + "_bnhd.npy", {b, n, h, d}, bnhd[o].data());
  }
  for (const std::string layout : {"bhnd", "bnhd"}) {
    RunCli({"run", "--q", dir + "q_" + layout + ".npy", "--k", dir + "k_" + layout + ".npy", "--v",
            dir + "v_" + layout + ".npy", "--layout", layout, "--causal", "--out",
            dir + "o_" + layout + ".npy", "--lse", dir + "lse_" + layout + ".npy"});
  }
  const std::vector<float> o1 = io::ReadNpy(dir + "o_bhnd.npy").ToF32();
  const std::vector<float> o2 = io::ReadNpy(dir + "o_bnhd.npy").ToF32();
  EXPECT_EQ(io::ReadNpy(dir + "o_bnhd.npy").shape, (std::vector<int64_t>{b, n, h, d}));
  for (int64_t i0 = 0; i0 < b; ++i0)
    for (int64_t i1 = 0; i1 < h; ++i1)
      for (int64_t i2 = 0; i2 < n; ++i2)
        for (int64_t i3 = 0; i3 < d; ++i3)
          EXPECT_NEAR(o2[((i0 * n + i2) * h + i1) * d + i3], o1[((i0 * h + i1) * n + i2) * d + i3],
                      1e-6);
  EXPECT_EQ(io::ReadNpy(dir + "lse_bhnd.npy").ToF32(), io::ReadNpy(dir + "lse_bnhd.npy").ToF32());
  std::filesystem::remove_all(dir);
}

TEST(RunTest, CausalAndWindow) {
  for (Layout layout : {Layout::kBHND, Layout::kBNHD}) {
    Problem p;
    p.layout = layout;
    p.nq = 6;
    p.nk = 11;
    p.causal = true;
    p.window = "3,1";
    p.window_left = 3;
    p.window_right = 1;
    RunAndCompare(p);
  }
  Problem w;  // a two-sided window, no causality, "inf" side
  w.window = "2,inf";
  w.window_left = 2;
  RunAndCompare(w);
}

TEST(RunTest, SoftcapAndScale) {
  Problem p;
  p.softcap = 2.5f;
  p.scale = 0.75f;
  RunAndCompare(p);
}

TEST(RunTest, Alibi) {
  Problem p;
  p.alibi = true;
  p.hq = 6;
  p.hkv = 3;
  p.causal = true;
  RunAndCompare(p);
}

TEST(RunTest, Sinks) {
  Problem p;
  p.sinks = true;
  RunAndCompare(p);
}

TEST(RunTest, BiasFullAndBroadcast) {
  Problem p;
  p.bias_shape = {p.batch, p.hq, p.nq, p.nk};
  RunAndCompare(p);
  p.bias_shape = {1, p.hq, 1, p.nk};
  p.layout = Layout::kBNHD;
  RunAndCompare(p);
  p.bias_shape = {p.batch, 1, p.nq, p.nk};
  RunAndCompare(p);
}

TEST(RunTest, BiasMasksAWholeRow) {
  // Row 0 of batch 0, head 0 sees only -inf: O = 0 and LSE = -inf exactly.
  Problem p;
  p.bias_shape = {p.batch, p.hq, p.nq, p.nk};
  p.bias_masks_row = true;
  const Outcome r = RunAndCompare(p);
  EXPECT_EQ(r.lse.ToF32()[0], -kInf);
}

TEST(RunTest, AllModifiersTogether) {
  Problem p;
  p.causal = true;
  p.window = "4,0";
  p.window_left = 4;
  p.softcap = 5.0f;
  p.alibi = true;
  p.sinks = true;
  p.bias_shape = {1, 1, p.nq, p.nk};
  p.layout = Layout::kBNHD;
  RunAndCompare(p);
}

TEST(RunTest, Bf16AndF16ComputeDtypes) {
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (Layout layout : {Layout::kBHND, Layout::kBNHD}) {
      Problem p;
      p.dtype = dtype;
      p.layout = layout;
      p.causal = true;
      RunAndCompare(p);
    }
  }
}

TEST(RunTest, F16AndF64InputFiles) {
  for (io::NpyType t : {io::NpyType::kF16, io::NpyType::kF64}) {
    Problem p;
    p.file_type = t;
    RunAndCompare(p);
    p.dtype = DType::kBF16;
    RunAndCompare(p);
  }
}

// Whether this CPU runs the AVX512-BF16 kernel at all.
bool HaveBf16Kernel() {
  AttentionSpec spec;
  spec.num_q_heads = spec.num_kv_heads = 1;
  spec.head_dim_qk = spec.head_dim_v = 16;
  AttentionShape shape;
  shape.batch = 1;
  shape.seqlen_q = shape.seqlen_k = 16;
  shape.dtype = DType::kBF16;
  PlanOptions o;
  o.kernel = kBf16Kernel;
  try {
    MakePlan(spec, shape, ThreadingContext(1), o);
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(RunTest, ForcedBf16ProductsKernelRoundsP) {
  if (!HaveBf16Kernel()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  Problem p;
  p.dtype = DType::kBF16;
  p.causal = true;
  p.nq = p.nk = 40;
  p.kernel = kBf16Kernel;
  p.out_tolerance = kBf16ProductsTolerance;
  const Outcome r = RunAndCompare(p);
  // P rounded to bf16 leaves an error far above f32 rounding: proof --kernel was obeyed.
  EXPECT_GT(r.max_out_err, 1e-5 * r.out_scale);
}

TEST(RunTest, PlannersChoiceOnBf16StaysWithinItsPrecision) {
  Problem p;
  p.dtype = DType::kBF16;
  p.causal = true;
  p.kernel = "";
  // The planner's choice depends on this CPU's measured bf16 dot-product rate.
  AttentionSpec spec;
  spec.num_q_heads = p.hq;
  spec.num_kv_heads = p.hkv;
  spec.head_dim_qk = p.dqk;
  spec.head_dim_v = p.dv;
  spec.mask.causal = true;
  AttentionShape shape;
  shape.batch = p.batch;
  shape.seqlen_q = p.nq;
  shape.seqlen_k = p.nk;
  shape.dtype = DType::kBF16;
  const std::string chosen = MakePlan(spec, shape, ThreadingContext(p.threads)).kernel_name();
  p.out_tolerance = chosen == kBf16Kernel ? kBf16ProductsTolerance : 1e-5;
  RunAndCompare(p);
}

TEST(RunTest, GqaAndUnequalHeadDims) {
  Problem p;
  p.hq = 8;
  p.hkv = 1;
  p.dqk = 16;
  p.dv = 3;
  p.nq = 1;  // decode
  p.nk = 33;
  RunAndCompare(p);
}

TEST(RunTest, VarlenBothLayoutsAndOffsetTypes) {
  for (Layout layout : {Layout::kBHND, Layout::kBNHD}) {
    for (io::NpyType cu : {io::NpyType::kI32, io::NpyType::kI64}) {
      Problem p;
      p.layout = layout;
      p.cu_type = cu;
      p.varlen_q = {3, 0, 5, 4};
      p.varlen_k = {4, 2, 6, 2};  // the last sequence has more queries than keys
      p.causal = true;
      RunAndCompare(p);
    }
  }
  Problem p;  // varlen with a window, sinks, softcap and bf16
  p.layout = Layout::kBNHD;
  p.varlen_q = {1, 7};
  p.varlen_k = {9, 7};
  p.window = "2,2";
  p.window_left = p.window_right = 2;
  p.sinks = true;
  p.softcap = 3.0f;
  p.dtype = DType::kBF16;
  RunAndCompare(p);
}

TEST(RunTest, VarlenWithNoQueriesOrNoKeys) {
  for (Layout layout : {Layout::kBHND, Layout::kBNHD}) {
    Problem p;  // no query rows at all: empty outputs
    p.layout = layout;
    p.varlen_q = {0, 0};
    p.varlen_k = {3, 0};
    const Outcome r = RunAndCompare(p);
    EXPECT_EQ(r.out.numel(), 0);
    Problem k;  // no keys at all: every row is O = 0, LSE = -inf
    k.layout = layout;
    k.varlen_q = {2, 3};
    k.varlen_k = {0, 0};
    const Outcome rk = RunAndCompare(k);
    for (float x : rk.lse.ToF32()) EXPECT_EQ(x, -kInf);
    for (float x : rk.out.ToF32()) EXPECT_EQ(x, 0.0f);
  }
}

TEST(RunTest, ThreadCounts) {
  for (int threads : {0, 1, 3}) {
    Problem p;
    p.threads = threads;
    p.nq = 40;
    p.nk = 40;
    p.causal = true;
    RunAndCompare(p);
  }
}

TEST(RunTest, WithoutLse) {
  Problem p;
  p.lse = false;
  RunAndCompare(p);
}

TEST(RunTest, SilentUnlessVerbose) {
  Problem p;
  ::testing::internal::CaptureStdout();
  RunAndCompare(p);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  ::testing::internal::CaptureStdout();
  RunAndCompare(p, {"--verbose"});
  const std::string text = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(text.find("ms on"), std::string::npos) << text;
  EXPECT_GT(text.size(), 40u) << text;
}

// ---------------------------------------------------------------- errors

// Inputs for error tests: valid files q [2,4,5,8], k/v [2,2,7,8] (bhnd), plus
// a few broken ones.
class RunErrorTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void SetUp() override {
    dir_ = MakeTempDir();
    Write("q.npy", {2, 4, 5, 8});
    Write("k.npy", {2, 2, 7, 8});
    Write("v.npy", {2, 2, 7, 8});
  }
  std::string Write(const std::string& name, std::vector<int64_t> shape, float fill = 0.5f) {
    io::NpyArray a;
    a.shape = std::move(shape);
    std::vector<float> x(static_cast<size_t>(a.numel()), fill);
    io::WriteNpy(dir_ + name, io::NpyArray::FromF32(a.shape, x.data()));
    return dir_ + name;
  }
  std::string WriteCu(const std::string& name, std::vector<double> values,
                      io::NpyType type = io::NpyType::kI32) {
    io::WriteNpy(dir_ + name, MakeArray(type, {static_cast<int64_t>(values.size())}, values));
    return dir_ + name;
  }
  std::vector<std::string> Base() const {
    return {"run", "--q",          dir_ + "q.npy", "--k",         dir_ + "k.npy",
            "--v", dir_ + "v.npy", "--out",        dir_ + "o.npy"};
  }
  // Expects `args` to fail with attnkit::Error whose message contains every part.
  void ExpectError(std::vector<std::string> args, const std::vector<std::string>& parts) {
    try {
      RunCli(args);
      ADD_FAILURE() << "expected attnkit::Error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      for (const std::string& part : parts) {
        EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in: " << msg;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected attnkit::Error, got another exception: " << e.what();
    }
  }
  std::vector<std::string> With(std::vector<std::string> extra) const {
    std::vector<std::string> a = Base();
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Base() with the value of `flag` replaced by `value`.
  std::vector<std::string> Replace(const std::string& flag, const std::string& value) const {
    std::vector<std::string> a = Base();
    for (size_t i = 0; i + 1 < a.size(); ++i) {
      if (a[i] == flag) a[i + 1] = value;
    }
    return a;
  }
  std::string dir_;
};

TEST_F(RunErrorTest, ValidBaseRuns) {
  RunCli(Base());
  EXPECT_EQ(io::ReadNpy(dir_ + "o.npy").shape, (std::vector<int64_t>{2, 4, 5, 8}));
}

TEST_F(RunErrorTest, UnknownKernel) {
  ExpectError(With({"--kernel", "dense_fwd_nope"}),
              {"unknown kernel 'dense_fwd_nope'", kExactKernel});
}

TEST_F(RunErrorTest, MismatchedHeadDimBetweenQAndK) {
  const std::string k = Write("k16.npy", {2, 2, 7, 16});
  ExpectError(Replace("--k", k), {"--q " + dir_ + "q.npy", "--k " + k, "Dqk", "8", "16"});
}

TEST_F(RunErrorTest, MismatchedBatchBetweenQAndK) {
  const std::string k = Write("k3.npy", {3, 2, 7, 8});
  ExpectError(Replace("--k", k), {"--q ", "--k " + k, "batch size"});
}

TEST_F(RunErrorTest, MismatchedKeysBetweenKAndV) {
  const std::string v = Write("v9.npy", {2, 2, 9, 8});
  ExpectError(Replace("--v", v), {"--k " + dir_ + "k.npy", "--v " + v, "Nk", "7", "9"});
  const std::string v3 = Write("v3h.npy", {2, 3, 7, 8});
  ExpectError(Replace("--v", v3), {"--k ", "--v " + v3, "Hkv"});
}

TEST_F(RunErrorTest, HqNotAMultipleOfHkv) {
  const std::string k = Write("k3.npy", {2, 3, 7, 8});
  const std::string v = Write("v3.npy", {2, 3, 7, 8});
  auto args = Replace("--k", k);
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--v") args[i + 1] = v;
  }
  ExpectError(args, {"--q " + dir_ + "q.npy", "--k " + k, "Hq = 4", "Hkv = 3", "multiple"});
}

TEST_F(RunErrorTest, WrongRank) {
  const std::string k = Write("k2d.npy", {2, 3});
  ExpectError(Replace("--k", k),
              {"--k " + k + ": expected rank 4 [B, Hkv, Nk, Dqk]", "got shape [2, 3]"});
  // In bnhd the expected axes are listed in that order.
  auto args = Replace("--k", k);
  args.insert(args.end(), {"--layout", "bnhd"});
  ExpectError(args, {"--k " + k, "[B, Nk, Hkv, Dqk]"});
}

TEST_F(RunErrorTest, EmptyAxis) {
  const std::string q = Write("q0.npy", {2, 4, 5, 0});
  ExpectError(Replace("--q", q), {"--q " + q, "empty axis", "Dqk = 0"});
}

TEST_F(RunErrorTest, IntegerQ) {
  io::WriteNpy(dir_ + "qi.npy",
               MakeArray(io::NpyType::kI32, {2, 4, 5, 8}, std::vector<double>(320, 1.0)));
  ExpectError(Replace("--q", dir_ + "qi.npy"),
              {"--q " + dir_ + "qi.npy: dtype int32 is not supported for q",
               "allowed: float32, float16, float64"});
}

TEST_F(RunErrorTest, TruncatedNpy) {
  std::string bytes = io::SerializeNpy(io::ReadNpy(dir_ + "k.npy"));
  bytes.resize(bytes.size() - 10);
  const std::string path = dir_ + "k_trunc.npy";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  ExpectError(Replace("--k", path),
              {"--k " + path, "truncated: expected 896 bytes of data, found 886"});
}

TEST_F(RunErrorTest, MissingFile) {
  const std::string path = dir_ + "nope.npy";
  ExpectError(Replace("--v", path), {"--v " + path, "cannot open"});
}

TEST_F(RunErrorTest, MissingRequiredFlag) {
  ExpectError({"run", "--k", dir_ + "k.npy", "--v", dir_ + "v.npy", "--out", dir_ + "o.npy"},
              {"--q is required"});
  ExpectError({"run", "--q", dir_ + "q.npy", "--k", dir_ + "k.npy", "--v", dir_ + "v.npy"},
              {"--out is required"});
}

TEST_F(RunErrorTest, BadWindow) {
  ExpectError(With({"--window", "-3,0"}), {"--window", "-3"});
  ExpectError(With({"--window=-3,0"}), {"--window", ">= 0"});
  ExpectError(With({"--window", "a,b"}), {"--window", "'a' is not an integer"});
  ExpectError(With({"--window", "5"}), {"--window", "expected L,R"});
}

TEST_F(RunErrorTest, BadDtypeAndLayout) {
  ExpectError(With({"--dtype", "f64"}), {"--dtype", "unknown dtype 'f64'", "f32, bf16, f16"});
  ExpectError(With({"--layout", "nhd"}), {"--layout", "unknown layout 'nhd'", "bhnd, bnhd"});
}

TEST_F(RunErrorTest, BadNumbers) {
  ExpectError(With({"--softcap", "abc"}), {"--softcap", "not a number"});
  ExpectError(With({"--softcap", "-1"}), {"--softcap", ">= 0"});
  ExpectError(With({"--scale", "nan"}), {"--scale", "finite"});
  ExpectError(With({"--scale", "1e99"}), {"--scale", "finite"});
  ExpectError(With({"--threads", "x"}), {"--threads", "not an integer"});
  ExpectError(With({"--threads", "-2"}), {"--threads", "[0, 1024]"});
  ExpectError(With({"--threads", "5000"}), {"--threads", "[0, 1024]"});
}

TEST_F(RunErrorTest, NonFiniteAndOverflowingInputs) {
  const std::string q = Write("qnan.npy", {2, 4, 5, 8}, std::nanf(""));
  ExpectError(Replace("--q", q), {"--q " + q, "element [0, 0, 0, 0] is NaN"});
  const std::string k = Write("kbig.npy", {2, 2, 7, 8}, 1e6f);
  auto args = Replace("--k", k);
  args.insert(args.end(), {"--dtype", "f16"});
  ExpectError(args, {"--k " + k, "overflows --dtype f16"});
  io::WriteNpy(dir_ + "v64.npy",
               MakeArray(io::NpyType::kF64, {2, 2, 7, 8}, std::vector<double>(224, 1e300)));
  ExpectError(Replace("--v", dir_ + "v64.npy"), {"--v " + dir_ + "v64.npy", "overflows float32"});
}

TEST_F(RunErrorTest, BadSinks) {
  const std::string s = Write("s.npy", {3});
  ExpectError(With({"--sinks", s}), {"--sinks " + s, "expected shape [Hq] = [4]", "got [3]"});
  ExpectError(With({"--sinks", dir_ + "none.npy"}),
              {"--sinks " + dir_ + "none.npy", "cannot open"});
}

TEST_F(RunErrorTest, BadBias) {
  const std::string b = Write("b.npy", {2, 4, 5, 6});
  ExpectError(With({"--bias", b}), {"--bias " + b, "[2|1, 4|1, 5|1, 7]", "got [2, 4, 5, 6]"});
  const std::string b3 = Write("b3.npy", {4, 5, 7});
  ExpectError(With({"--bias", b3}), {"--bias " + b3, "got [4, 5, 7]"});
}

TEST_F(RunErrorTest, BadVarlenOffsets) {
  // Packed varlen inputs: q [Hq, Tq, D], k/v [Hkv, Tk, D] (bhnd), Tq = 6, Tk = 9.
  const std::string q = Write("vq.npy", {4, 6, 8});
  const std::string k = Write("vk.npy", {2, 9, 8});
  const std::string v = Write("vv.npy", {2, 9, 8});
  const std::vector<std::string> base = {"run", "--q", q,       "--k",         k,
                                         "--v", v,     "--out", dir_ + "o.npy"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::string cq = WriteCu("cq.npy", {0, 2, 6});
  const std::string ck = WriteCu("ck.npy", {0, 4, 9}, io::NpyType::kI64);
  RunCli(with({"--cu-seqlens-q", cq, "--cu-seqlens-k", ck}));  // valid
  EXPECT_EQ(io::ReadNpy(dir_ + "o.npy").shape, (std::vector<int64_t>{4, 6, 8}));

  ExpectError(with({"--cu-seqlens-q", cq}), {"--cu-seqlens-k", "together"});
  const std::string cf = Write("cf.npy", {3});
  ExpectError(with({"--cu-seqlens-q", cf, "--cu-seqlens-k", ck}),
              {"--cu-seqlens-q " + cf, "dtype float32", "int32, int64"});
  const std::string c1 = WriteCu("c1.npy", {1, 2, 6});
  ExpectError(with({"--cu-seqlens-q", c1, "--cu-seqlens-k", ck}),
              {"--cu-seqlens-q " + c1, "first offset must be 0"});
  const std::string cd = WriteCu("cd.npy", {0, 7, 6});
  ExpectError(with({"--cu-seqlens-q", cd, "--cu-seqlens-k", ck}),
              {"--cu-seqlens-q " + cd, "non-decreasing"});
  const std::string cl = WriteCu("cl.npy", {0, 2, 5});
  ExpectError(with({"--cu-seqlens-q", cl, "--cu-seqlens-k", ck}),
              {"--cu-seqlens-q " + cl, "last offset (5)", "--q " + q, "(6"});
  const std::string c4 = WriteCu("c4.npy", {0, 1, 2, 6});
  ExpectError(with({"--cu-seqlens-q", c4, "--cu-seqlens-k", ck}),
              {"--cu-seqlens-q " + c4, "--cu-seqlens-k " + ck, "3 sequences", "2 sequences"});
  const std::string c0 = WriteCu("c0.npy", {0});
  ExpectError(with({"--cu-seqlens-q", c0, "--cu-seqlens-k", ck}),
              {"--cu-seqlens-q " + c0, "at least 2 entries"});
  // Rank-4 inputs in varlen mode, and a bias with varlen.
  ExpectError(With({"--cu-seqlens-q", cq, "--cu-seqlens-k", ck}),
              {"--q " + dir_ + "q.npy", "expected rank 3", "packed varlen"});
  const std::string bias = Write("vb.npy", {1, 4, 6, 9});
  ExpectError(with({"--cu-seqlens-q", cq, "--cu-seqlens-k", ck, "--bias", bias}),
              {"--bias", "varlen"});
}

TEST_F(RunErrorTest, LibraryErrorsCarryContext) {
  // Dqk = 2000 passes the CLI's own checks; the library rejects it.
  const std::string q = Write("qd.npy", {1, 1, 1, 2000});
  const std::string k = Write("kd.npy", {1, 1, 1, 2000});
  const std::string v = Write("vd.npy", {1, 1, 1, 4});
  ExpectError({"run", "--q", q, "--k", k, "--v", v, "--out", dir_ + "o.npy"},
              {"attnkit run (--q " + q, "head_dim_qk"});
}

TEST_F(RunErrorTest, BadOutputs) {
  const std::string out = dir_ + "missing_dir/o.npy";
  ExpectError(Replace("--out", out), {"--out " + out, "cannot open for writing"});
  ExpectError(With({"--lse", dir_ + "o.npy"}), {"--out and --lse name the same file"});
}

}  // namespace
}  // namespace attnkit::cli
