// SPDX-License-Identifier: Apache-2.0
// `attnkit bench --sparse`: every mask predictor on the structured inputs
// (src/harness/structured_inputs.h: sink columns, local bands, vertical lines,
// needles, a different mix per head) of each case of a shape file (default
// bench/shapes/sparse.txt). Per (case, predictor), against attnkit's dense
// kernel on the same input in the same run:
//   density      kept visible blocks / visible blocks (KeptDensity)
//   recall       attention-mass recall: the mean over rows of the exact softmax
//                mass inside the kept blocks, exp(LSE_sparse - LSE_dense)
//                (exact: both LSEs are over the same logits)
//   rel_l2       ||O_sparse - O_dense|| / ||O_dense|| over the whole output
//   cosine       O_sparse . O_dense / (||O_sparse|| ||O_dense||), whole output
//   predict_ms   median time of the predictor; sparse_ms of the block-sparse run
//   speedup      dense_ms / (predict_ms + sparse_ms); kernel_x = dense_ms / sparse_ms
// "random-10%" is not a predictor: a uniformly random 10% of the visible blocks,
// to measure that the kernel's time follows the kept blocks. "oracle-X%"
// (--oracle X): the visible blocks of highest exact mass at density X (from the
// exact probabilities, as costly as dense attention; src/kernels/sparse/oracle.h).
// A second table splits recall and rel_l2 by the generator's head kind.
// --suite picks the generator's calibration (structured_inputs.h): calibrated
// (default) or hard; --predictors a regex over the predictor names.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "attnkit/sparse.h"
#include "src/harness/report.h"
#include "src/harness/shape_file.h"
#include "src/harness/structured_inputs.h"
#include "src/kernels/sparse/oracle.h"
#include "tools/cli/bench_modes.h"

namespace attnkit::cli {
namespace {

// Median and count of timed calls: `reps` of them, or (reps = 0) enough to
// fill min_seconds (at least 3, at most 1000; 1 when a call takes over
// 2 x min_seconds). One untimed warm-up call first unless it is that slow.
struct Timed {
  double median_ms = 0;
  int reps = 0;
};
Timed TimeMs(const std::function<void()>& fn, int reps, double min_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto once = [&] {
    const auto t0 = Clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  const double first = once();
  std::vector<double> ms;
  int n = reps;
  if (n == 0) {
    n = first > 2000.0 * min_seconds ? 1 : std::clamp(static_cast<int>(1000.0 * min_seconds / std::max(first, 1e-3)), 3, 1000);
  }
  if ((reps == 0 || reps == 1) && first > 2000.0 * min_seconds) {
    ms.push_back(first);  // too slow to repeat: the first call is the measurement
  } else {
    for (int i = 0; i < n; ++i) ms.push_back(once());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], static_cast<int>(ms.size())};
}

// A uniformly random `fraction` of the visible blocks of every (batch, head) row.
BlockMask RandomMask(const AttentionSpec& spec, int64_t batch, int64_t n, int64_t bs,
                     double fraction, uint64_t seed) {
  const int64_t nb = (n + bs - 1) / bs;
  std::vector<uint8_t> dense(static_cast<size_t>(batch * spec.num_q_heads * nb * nb), 0);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t r = 0; r < batch * spec.num_q_heads * nb; ++r) {
    const int64_t iq = r % nb;
    for (int64_t jk = 0; jk < nb; ++jk) {
      const bool visible = !spec.mask.causal || jk <= iq;  // square causal: blocks at or below the diagonal
      dense[static_cast<size_t>(r * nb + jk)] = visible && u(rng) < fraction;
    }
  }
  return BlockMask::FromDense(batch, spec.num_q_heads, n, n, bs, bs, dense);
}

struct Predictor {
  std::string name;
  bool causal_only;
  std::function<BlockMask(const AttentionSpec&, const AttentionTensors&, const ThreadingContext&)> fn;
  double time_ms = -1;  // >= 0: timed elsewhere (the oracle's one exact pass); fn only hands the mask over
};

std::vector<Predictor> Predictors(int64_t batch, int64_t n) {
  std::vector<Predictor> p;
  p.push_back({"xattention", false, [](const auto& s, const auto& t, const auto& ctx) {
                 return PredictXAttention(s, t.q, t.k, XAttentionParams{}, ctx);
               }});
  p.push_back({"xattention-s16", false, [](const auto& s, const auto& t, const auto& ctx) {
                 XAttentionParams xp;
                 xp.stride = 16;
                 return PredictXAttention(s, t.q, t.k, xp, ctx);
               }});
  p.push_back({"sampled", false, [](const auto& s, const auto& t, const auto& ctx) {
                 return PredictSampledMass(s, t.q, t.k, SampledMassParams{}, ctx);
               }});
  // 64-blocks, the cumulative step capped (flat heads); "-rR": entry_ratio R
  // instead of 64 (a 64-block has 256 samples, not 1024: a flat head's heaviest
  // is ~10-15x uniform, not 50-100x, so weaker single keys - lines - can enter).
  struct Variant {
    double cap, ratio;
  };
  for (const Variant v : {Variant{0.6, 64}, Variant{0.5, 64}, Variant{0.25, 64}, Variant{0.1, 64},
                          Variant{0.2, 12}, Variant{0.25, 16}}) {
    const std::string r = v.ratio == 64 ? "" : "-r" + std::to_string(static_cast<int>(v.ratio));
    p.push_back({"sampled-b64" + r + "-cap" + std::to_string(static_cast<int>(100 * v.cap)), false,
                 [v](const auto& s, const auto& t, const auto& ctx) {
                   SampledMassParams sp;
                   sp.block_size = 64;
                   sp.max_fraction = v.cap;
                   sp.entry_ratio = v.ratio;
                   return PredictSampledMass(s, t.q, t.k, sp, ctx);
                 }});
  }
  p.push_back({"minference-vs", true, [](const auto& s, const auto& t, const auto& ctx) {
                 return PredictMInference(s, t.q, t.k, MInferenceParams{}, ctx);
               }});
  p.push_back({"flexprefill", true, [](const auto& s, const auto& t, const auto& ctx) {
                 return PredictFlexPrefill(s, t.q, t.k, FlexPrefillParams{}, ctx);
               }});
  p.push_back({"power", true, [batch, n](const auto& s, const auto&, const auto&) {
                 return PredictPowerAttention(s, batch, n, n, PowerAttentionParams{});
               }});
  p.push_back({"sliding+sink", false, [batch, n](const auto& s, const auto&, const auto&) {
                 return PredictSlidingWindow(s, batch, n, n, SlidingWindowParams{});
               }});
  p.push_back({"topk-pooled", false, [](const auto& s, const auto& t, const auto& ctx) {
                 TopKParams tp;
                 tp.keep_sink = tp.keep_diagonal = true;
                 return PredictTopK(s, t.q, t.k, tp, ctx);
               }});
  p.push_back({"random-10%", false, [batch, n](const auto& s, const auto&, const auto&) {
                 return RandomMask(s, batch, n, 64, 0.1, 7);
               }});
  return p;
}

}  // namespace

void RunSparseBench(const BenchFlags& f) {
  const harness::Format fmt = harness::ParseFormat(f.format);
  ATTNKIT_CHECK(!f.roof && !f.autotune, "--roof and --autotune do not apply to --sparse");
  const std::regex re = CheckCommonBenchFlags(f);
  const harness::StructuredSuite suite = harness::ParseStructuredSuite(f.suite);
  const std::regex pred_re = FilterRegex(f.predictors);
  const ThreadingContext ctx(f.threads);
  std::vector<std::string> files;
  if (f.shapes.empty()) files.push_back(harness::ResolveShapeFile("sparse.txt"));
  for (const std::string& s : f.shapes) files.push_back(harness::ResolveShapeFile(s));
  std::vector<harness::NamedCase> cases;
  for (const std::string& file : files) {
    for (harness::NamedCase nc : harness::ReadShapeFile(file)) {
      if (!std::regex_search(nc.name, re) && !std::regex_search(nc.c.ToString(), re)) continue;
      ATTNKIT_CHECK(!nc.c.is_varlen() && nc.c.seqlen_q == nc.c.seqlen_k &&
                        nc.c.spec.head_dim_qk == nc.c.spec.head_dim_v,
                    nc.origin, ": --sparse needs nq = nk, no varlen and dqk = dv");
      cases.push_back(std::move(nc));
    }
  }
  ATTNKIT_CHECK(!cases.empty(), "--filter '", f.filter, "' matches no case");
  if (f.list) {
    for (const harness::NamedCase& nc : cases) {
      std::printf("%-34s %s\n", nc.name.c_str(), nc.c.ToString().c_str());
    }
    return;
  }
  const std::string header = std::string("attnkit bench --sparse: structured inputs (sinks, bands, lines, "
                             "needles), suite ") + harness::Name(suite) + ", threads " + std::to_string(ctx.num_threads()) + " | CPU: " +
                             CpuInfo::Detect().ToString() + "\n";
  if (fmt == harness::Format::kTable) std::printf("%s\n", header.c_str());
  if (fmt == harness::Format::kCsv) std::fprintf(stderr, "%s", header.c_str());
  std::fflush(stdout);

  harness::Table table({"case", "predictor", "density", "recall", "rel_l2", "cosine", "predict_ms",
                        "sparse_ms", "dense_ms", "speedup", "kernel_x"});
  // Per head kind (kDefaultMix): recall and rel_l2 of each predictor.
  const std::vector<harness::HeadKind>& kinds = harness::kDefaultMix;
  std::vector<std::string> kind_names;
  std::vector<std::string> kind_header = {"case", "predictor"};
  for (harness::HeadKind hk : kinds) {
    const std::string name = harness::Name(hk);
    if (std::find(kind_names.begin(), kind_names.end(), name) != kind_names.end()) continue;
    kind_names.push_back(name);
    kind_header.push_back(name + " density");
    kind_header.push_back(name + " recall");
    kind_header.push_back(name + " rel_l2");
  }
  harness::Table by_kind(kind_header);
  // Index into kind_names of query head h (the generator's kind of h).
  auto KindsOfHeads = [&](int64_t heads) {
    std::vector<size_t> out(static_cast<size_t>(heads));
    for (size_t h = 0; h < out.size(); ++h) {
      const std::string name = harness::Name(kinds[h % kinds.size()]);
      out[h] = static_cast<size_t>(std::find(kind_names.begin(), kind_names.end(), name) - kind_names.begin());
    }
    return out;
  };
  for (const harness::NamedCase& nc : cases) {
    const harness::Case& c = nc.c;
    harness::StructuredSpec ss;
    ss.batch = c.batch;
    ss.heads_q = c.spec.num_q_heads;
    ss.heads_kv = c.spec.num_kv_heads;
    ss.seqlen = c.seqlen_q;
    ss.head_dim = c.spec.head_dim_qk;
    ss.dtype = f.dtype.empty() ? c.dtype : ParseDType(f.dtype);
    ss.suite = suite;
    harness::StructuredInputs in = harness::MakeStructuredInputs(ss);
    AttentionSpec spec = c.spec;
    spec.return_lse = true;
    const int64_t b = c.batch, hq = spec.num_q_heads, n = c.seqlen_q, dv = spec.head_dim_v;
    const std::vector<size_t> kind_of_head = KindsOfHeads(hq);
    const size_t rows = static_cast<size_t>(b * hq * n), outs = rows * static_cast<size_t>(dv);
    std::vector<float> lse_dense(rows), out_sparse(outs), lse_sparse(rows);
    AttentionTensors dense_t = in.tensors;
    dense_t.lse = TensorView::Contiguous(lse_dense.data(), DType::kF32, {b, hq, n});
    const AttentionShape shape = ShapeOf(dense_t);
    const Plan plan = MakePlan(spec, shape, ctx);
    std::vector<std::byte> ws(plan.workspace_bytes());
    const Timed dense = TimeMs([&] { Run(plan, dense_t, ws); }, f.reps, f.min_time);
    const float* od = reinterpret_cast<const float*>(in.out.data());
    double dd = 0;
    for (size_t i = 0; i < outs; ++i) dd += static_cast<double>(od[i]) * od[i];

    AttentionTensors sparse_t = in.tensors;
    sparse_t.out = TensorView::Attention(out_sparse.data(), DType::kF32, Layout::kBHND, b, hq, n, dv);
    sparse_t.lse = TensorView::Contiguous(lse_sparse.data(), DType::kF32, {b, hq, n});
    std::vector<Predictor> predictors;
    for (Predictor& p : Predictors(b, n)) {
      if (std::regex_search(p.name, pred_re)) predictors.push_back(std::move(p));
    }
    if (!f.oracle.empty()) {  // one exact pass for every density; its time is reported per row
      std::vector<BlockMask> masks;
      const Timed t = TimeMs([&] {
        masks = sparse::OracleBlockMasks(spec, in.tensors.q, in.tensors.k, 128, f.oracle, ctx);
      }, 1, 1e9);
      for (size_t i = 0; i < masks.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof(name), "oracle-%g%%", 100 * f.oracle[i]);
        predictors.push_back({name, false,
                              [m = masks[i]](const auto&, const auto&, const auto&) { return m; },
                              t.median_ms});
      }
    }
    for (const Predictor& p : predictors) {
      std::vector<std::string> row = {nc.name, p.name};
      if (p.causal_only && !spec.mask.causal) continue;
      BlockMask mask;
      const bool pretimed = p.time_ms >= 0;
      Timed pred = TimeMs([&] { mask = p.fn(spec, in.tensors, ctx); }, pretimed ? 1 : f.reps, f.min_time);
      if (pretimed) pred.median_ms = p.time_ms;
      const BlockSparsePlan sp = MakeBlockSparsePlan(spec, shape, mask, ctx);
      std::vector<std::byte> sws(sp.workspace_bytes());
      const Timed run = TimeMs([&] { RunBlockSparse(sp, sparse_t, sws); }, f.reps, f.min_time);
      double recall = 0, ss_ = 0, sd = 0, dot = 0;
      int64_t counted = 0;
      // Per kind: recall sum, rows, squared error, squared dense norm.
      std::vector<double> k_recall(kind_names.size()), k_rows(kind_names.size()),
          k_err(kind_names.size()), k_norm(kind_names.size());
      for (size_t r = 0; r < rows; ++r) {
        const int64_t h = static_cast<int64_t>(r / static_cast<size_t>(n)) % hq;
        const size_t kind = kind_of_head[static_cast<size_t>(h)];
        for (size_t i = r * static_cast<size_t>(dv); i < (r + 1) * static_cast<size_t>(dv); ++i) {
          const double x = out_sparse[i], y = od[i];
          ss_ += x * x;
          sd += (x - y) * (x - y);
          dot += x * y;
          k_err[kind] += (x - y) * (x - y);
          k_norm[kind] += y * y;
        }
        if (!std::isfinite(lse_dense[r])) continue;
        ++counted;
        k_rows[kind] += 1;
        if (std::isfinite(lse_sparse[r])) {
          const double kept = std::exp(static_cast<double>(lse_sparse[r]) - lse_dense[r]);
          recall += kept;
          k_recall[kind] += kept;
        }
      }
      // Kept / visible blocks per kind (square: causal query block iq sees iq + 1).
      std::vector<double> k_kept(kind_names.size()), k_visible(kind_names.size());
      const int64_t nqb = mask.num_rows() / (b * hq);
      for (int64_t r = 0; r < mask.num_rows(); ++r) {
        const int64_t h = (r / nqb) % hq, iq = r % nqb;
        const size_t kind = kind_of_head[static_cast<size_t>(h)];
        int64_t kept = 0;
        for (int32_t jk : mask.KeyBlocks(r)) kept += !spec.mask.causal || jk <= iq;
        k_kept[kind] += static_cast<double>(kept);
        k_visible[kind] += static_cast<double>(spec.mask.causal ? iq + 1 : nqb);
      }
      std::vector<std::string> krow = {nc.name, p.name};
      for (size_t kd = 0; kd < kind_names.size(); ++kd) {
        krow.push_back(harness::Fixed(k_visible[kd] == 0 ? 0.0 : k_kept[kd] / k_visible[kd], 3));
        krow.push_back(harness::Fixed(k_rows[kd] == 0 ? 1.0 : k_recall[kd] / k_rows[kd], 4));
        krow.push_back(harness::Sig(k_norm[kd] == 0 ? 0.0 : std::sqrt(k_err[kd] / k_norm[kd]), 3));
      }
      by_kind.AddRow(krow);
      row.push_back(harness::Fixed(KeptDensity(mask, spec.mask), 3));
      row.push_back(harness::Fixed(counted == 0 ? 1.0 : recall / static_cast<double>(counted), 4));
      row.push_back(harness::Sig(dd == 0 ? 0.0 : std::sqrt(sd / dd), 4));  // 4 digits: the 2 % target
      row.push_back(harness::Fixed(ss_ == 0 || dd == 0 ? 0.0 : dot / std::sqrt(ss_ * dd), 5));
      row.push_back(harness::Fixed(pred.median_ms, 2));
      row.push_back(harness::Fixed(run.median_ms, 2));
      row.push_back(harness::Fixed(dense.median_ms, 2));
      row.push_back(harness::Fixed(dense.median_ms / (pred.median_ms + run.median_ms), 2));
      row.push_back(harness::Fixed(dense.median_ms / run.median_ms, 2));
      table.AddRow(row);
      if (fmt == harness::Format::kTable) {
        std::fprintf(stderr, "  %s %s done\n", nc.name.c_str(), p.name.c_str());
      }
    }
  }
  std::printf("%s", table.Render(fmt).c_str());
  if (fmt == harness::Format::kTable) std::printf("\nBy head kind (recall: mean kept mass of its rows; rel_l2 over its heads):\n");
  if (fmt != harness::Format::kJson) std::printf("%s", by_kind.Render(fmt).c_str());
  if (fmt == harness::Format::kTable) {
    std::printf(
        "\ndensity: kept / visible blocks; recall: mean exact softmax mass inside the kept blocks;\n"
        "rel_l2, cosine: sparse output vs attnkit dense on the same input; speedup = dense_ms /\n"
        "(predict_ms + sparse_ms); kernel_x = dense_ms / sparse_ms. Medians of timed calls.\n");
  }
  std::fflush(stdout);
}

}  // namespace attnkit::cli
