// SPDX-License-Identifier: Apache-2.0
// The predictors that look at the last query rows (causal prefill):
//   MInference 1.0 (microsoft/MInference, gather_last_q_vertical_slash_topk_v4):
//     per-head patterns vertical-slash / A-shape / block-sparse;
//   FlexPrefill (bytedance/FlexPrefill, get_active_blocks): query-aware or
//     vertical-slash blocks by cumulative attention, chosen per head by the
//     square-root Jensen-Shannon distance of pooled and true block attention.
// Both estimate from P = softmax(scale q_r K^T) of the last rows r (exact, in
// column chunks, predict_common.cc): vertical scores v[j] = sum_r P[r][j] and
// slash scores s[o] = sum_r P[r][p_r - o] (o = distance from the diagonal).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "attnkit/error.h"
#include "attnkit/sparse.h"
#include "src/kernels/sparse/predict_common.h"

namespace attnkit {
namespace sparse {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Vertical and slash sums of the last `n_last` query rows of head (b, h).
struct LastRows {
  std::vector<double> vertical;  // [Nk]
  std::vector<double> slash;     // [Nk]: offset o = p - j
};
LastRows LastRowScores(const Problem& pb, int64_t b, int64_t h, int64_t n_last) {
  LastRows out;
  out.vertical.assign(static_cast<size_t>(pb.nk), 0.0);
  out.slash.assign(static_cast<size_t>(pb.nk), 0.0);
  std::vector<int64_t> rows;
  for (int64_t i = pb.nq - n_last; i < pb.nq; ++i) rows.push_back(i);
  ForEachProbabilityChunk(pb, b, h, rows, [&](int64_t c0, int64_t c1, const float* p, size_t ld) {
    for (size_t r = 0; r < rows.size(); ++r) {
      const int64_t pos = pb.nk - pb.nq + rows[r];
      const float* row = p + r * ld;
      for (int64_t c = c0; c < c1; ++c) {
        const double v = row[c - c0];
        out.vertical[static_cast<size_t>(c)] += v;
        const int64_t o = pos - c;
        if (o >= 0 && o < pb.nk) out.slash[static_cast<size_t>(o)] += v;
      }
    }
  });
  return out;
}

// MInference vertical-slash: top columns and top diagonals, as blocks.
void VerticalSlashRows(const Problem& pb, const MInferenceParams& p, const MInferenceHead& head,
                       int64_t b, int64_t h, std::vector<std::vector<int32_t>>& rows) {
  const int64_t bs = p.block_size, nk = pb.nk;
  const int64_t last_q = std::min(p.last_q, pb.nq);
  LastRows s = LastRowScores(pb, b, h, last_q);
  const int64_t vertical_size = std::min(nk, std::max<int64_t>(head.vertical_size, 30));
  const int64_t slash_size = std::min(nk, std::max<int64_t>(head.slash_size, 50));
  for (int64_t j = 0; j < std::min<int64_t>(30, nk); ++j) s.vertical[static_cast<size_t>(j)] = kInf;
  for (int64_t o = 0; o < std::min<int64_t>(100, nk); ++o) s.slash[static_cast<size_t>(o)] = kInf;
  std::vector<int32_t> columns = TopIndices(s.vertical, vertical_size);
  std::vector<int32_t> offsets = TopIndices(s.slash, slash_size);
  std::sort(columns.begin(), columns.end());
  std::sort(offsets.begin(), offsets.end());
  // Runs of consecutive offsets [first, last] cross a query block as one key range.
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (int32_t o : offsets) {
    if (!runs.empty() && runs.back().second + 1 == o) {
      runs.back().second = o;
    } else {
      runs.push_back({o, o});
    }
  }
  BlockRow row(nk, bs);
  for (int64_t iq = 0; iq < static_cast<int64_t>(rows.size()); ++iq) {
    const QueryBlockRows q = RowsOf(pb.nq, nk, bs, iq);
    const KeyRange keys = VisibleKeys(pb.window, pb.nq, nk, bs, iq);
    for (int32_t j : columns) row.Mark(j, j, keys);
    for (const auto& [o0, o1] : runs) row.Mark(q.pmin - o1, q.pmax - o0, keys);
    rows[static_cast<size_t>(iq)] = row.Take();
  }
}

// MInference A-shape: the first n_init keys and a band of n_local diagonals.
void AShapeRows(const Problem& pb, int64_t bs, int64_t n_init, int64_t n_local,
                std::vector<std::vector<int32_t>>& rows) {
  BlockRow row(pb.nk, bs);
  for (int64_t iq = 0; iq < static_cast<int64_t>(rows.size()); ++iq) {
    const QueryBlockRows q = RowsOf(pb.nq, pb.nk, bs, iq);
    const KeyRange keys = VisibleKeys(pb.window, pb.nq, pb.nk, bs, iq);
    row.Mark(0, n_init - 1, keys);
    row.Mark(q.pmin - n_local + 1, q.pmax, keys);
    rows[static_cast<size_t>(iq)] = row.Take();
  }
}

// Number of leading entries of `values` sorted decreasingly whose cumulative
// sum stays <= score, plus one (FlexPrefill's score_cover_topk).
int64_t ScoreCoverTopK(std::vector<double> values, double score) {
  std::sort(values.begin(), values.end(), std::greater<>());
  double cum = 0;
  int64_t n = 0;
  for (double v : values) {
    cum += v;
    if (cum > score) break;
    ++n;
  }
  return n + 1;
}

double SqrtJensenShannon(const std::vector<double>& p, const std::vector<double>& q) {
  double js = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    if (p[i] > 0) js += 0.5 * p[i] * std::log(p[i] / m);
    if (q[i] > 0) js += 0.5 * q[i] * std::log(q[i] / m);
  }
  return std::sqrt(std::max(js, 0.0));
}

void Softmax(std::vector<double>& x) {
  const double m = *std::max_element(x.begin(), x.end());
  if (std::isinf(m) && m < 0) return;
  double sum = 0;
  for (double& v : x) sum += (v = std::exp(v - m));
  for (double& v : x) v /= sum;
}

}  // namespace

}  // namespace sparse

BlockMask PredictMInference(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                            const MInferenceParams& params, const ThreadingContext& ctx) {
  const sparse::Problem pb = sparse::MakeProblem("PredictMInference", spec, q, k, ctx);
  sparse::CheckBlockSize("block_size", params.block_size);
  ATTNKIT_CHECK(params.last_q >= 1, "last_q must be >= 1, got ", params.last_q);
  ATTNKIT_CHECK(params.heads.empty() || static_cast<int64_t>(params.heads.size()) == pb.hq,
                "heads must be empty or have num_q_heads (", pb.hq, ") entries, got ",
                params.heads.size());
  ATTNKIT_CHECK(spec.mask.causal, "PredictMInference needs a causal mask (spec.mask.causal)");
  const auto head_of = [&](int64_t h) -> const MInferenceHead& {
    return params.heads.empty() ? params.default_head : params.heads[static_cast<size_t>(h)];
  };
  for (int64_t h = 0; h < pb.hq; ++h) {
    const MInferenceHead& c = head_of(h);
    ATTNKIT_CHECK(c.vertical_size >= 0 && c.slash_size >= 0, "heads[", h,
                  "]: vertical_size and slash_size must be >= 0, got ", c.vertical_size, " and ",
                  c.slash_size);
  }
  const int64_t bs = params.block_size;
  return sparse::BuildPerHead(pb, bs, bs, [&](int64_t b, int64_t h, auto& rows) {
    const MInferenceHead& c = head_of(h);
    switch (c.pattern) {
      case MInferencePattern::kVerticalSlash:
        return sparse::VerticalSlashRows(pb, params, c, b, h, rows);
      case MInferencePattern::kAShape:
        return sparse::AShapeRows(pb, bs, c.vertical_size, c.slash_size, rows);
      case MInferencePattern::kBlockSparse:
        return sparse::TopKPooledRows(pb, bs, c.vertical_size, false, false, b, h, rows);
    }
  });
}

BlockMask PredictFlexPrefill(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                             const FlexPrefillParams& params, const ThreadingContext& ctx) {
  const sparse::Problem pb = sparse::MakeProblem("PredictFlexPrefill", spec, q, k, ctx);
  sparse::CheckBlockSize("block_size", params.block_size);
  sparse::CheckFraction("gamma", params.gamma);
  ATTNKIT_CHECK(params.tau >= 0.0 && params.tau <= 1.0, "tau must be in [0, 1], got ", params.tau);
  ATTNKIT_CHECK(params.min_budget >= 0, "min_budget must be >= 0 tokens, got ", params.min_budget);
  ATTNKIT_CHECK(params.max_budget >= 0, "max_budget must be >= 0 tokens (0 = unbounded), got ",
                params.max_budget);
  ATTNKIT_CHECK(spec.mask.causal, "PredictFlexPrefill needs a causal mask (spec.mask.causal)");
  const int64_t bs = params.block_size, nk = pb.nk;
  const int64_t nqb = sparse::CeilDiv(pb.nq, bs), nkb = sparse::CeilDiv(nk, bs);
  const int64_t min_blocks = sparse::CeilDiv(params.min_budget, bs);
  const int64_t max_blocks =
      params.max_budget == 0 ? nkb : std::min(nkb, sparse::CeilDiv(params.max_budget, bs));
  // Short prompts are computed densely (FlexPrefill falls back to flash attention).
  const bool dense = pb.nq <= std::max(2 * bs, min_blocks * bs);
  return sparse::BuildPerHead(pb, bs, bs, [&](int64_t b, int64_t h, auto& rows) {
    if (dense) {
      for (int64_t iq = 0; iq < nqb; ++iq) {
        const sparse::KeyBlockRange r = sparse::VisibleKeyBlocks(pb.window, pb.nq, nk, bs, bs, iq);
        for (int64_t jk = r.first; jk < r.end; ++jk) rows[iq].push_back(static_cast<int32_t>(jk));
      }
      return;
    }
    const int64_t n_last = std::min(bs, pb.nq);
    sparse::LastRows s = sparse::LastRowScores(pb, b, h, n_last);
    for (double& v : s.vertical) v /= static_cast<double>(n_last);
    for (double& v : s.slash) v /= static_cast<double>(n_last);
    int64_t num_v = sparse::ScoreCoverTopK(s.vertical, params.gamma) / bs + 1;
    int64_t num_s = sparse::ScoreCoverTopK(s.slash, params.gamma) / bs + 1;
    // Block sums of the vertical and slash distributions.
    std::vector<double> vb(static_cast<size_t>(nkb), 0.0), sb(static_cast<size_t>(nkb), 0.0);
    for (int64_t j = 0; j < nk; ++j) {
      vb[static_cast<size_t>(j / bs)] += s.vertical[static_cast<size_t>(j)];
      sb[static_cast<size_t>(j / bs)] += s.slash[static_cast<size_t>(j)];
    }
    // Pooled estimate of the last block's block distribution: one mean query
    // against the mean key of every block.
    const sparse::RowSource qs = sparse::RowSource::Of(pb.q, b, h);
    const sparse::RowSource ks = sparse::RowSource::Of(pb.k, b, pb.KvHead(h));
    std::vector<float> last(static_cast<size_t>(n_last * pb.dim));
    pb.fns.gather_rows(qs, pb.nq - n_last, n_last, 1, false, 1.0f / static_cast<float>(n_last),
                       last.data(), pb.dim);
    std::vector<float> mean_q(static_cast<size_t>(pb.dim), 0.0f);
    for (int64_t r = 0; r < n_last; ++r) {
      for (int64_t d = 0; d < pb.dim; ++d) mean_q[d] += last[static_cast<size_t>(r * pb.dim + d)];
    }
    const std::vector<float> pooled_k = sparse::PooledRows(pb.fns, ks, bs, 1.0f);
    const std::vector<float> est_logits = sparse::PooledLogits(pb, mean_q, pooled_k, 1, nkb);
    std::vector<double> est(est_logits.begin(), est_logits.end());
    sparse::Softmax(est);
    const bool query_aware = sparse::SqrtJensenShannon(est, vb) < params.tau;
    if (query_aware) num_v = num_s = min_blocks;
    num_v = std::clamp(num_v, min_blocks, max_blocks);
    num_s = std::clamp(num_s, min_blocks, max_blocks);
    vb[0] = sparse::kInf;  // the first key block and the main block diagonal
    sb[0] = sparse::kInf;
    const std::vector<int32_t> vertical = sparse::TopIndices(vb, num_v);
    const std::vector<int32_t> slash = sparse::TopIndices(sb, num_s);
    std::vector<uint8_t> aware;  // [nqb x nkb] query-aware blocks
    if (query_aware) {
      // Block attention of pooled queries, softmax per row over the visible
      // blocks, then the highest entries of the whole matrix whose cumulative
      // sum stays within gamma x nqb.
      const std::vector<float> pooled_q = sparse::PooledRows(pb.fns, qs, bs, 1.0f);
      const std::vector<float> logits = sparse::PooledLogits(pb, pooled_q, pooled_k, nqb, nkb);
      std::vector<double> attn(static_cast<size_t>(nqb * nkb), 0.0);
      for (int64_t iq = 0; iq < nqb; ++iq) {
        const sparse::KeyBlockRange r = sparse::VisibleKeyBlocks(pb.window, pb.nq, nk, bs, bs, iq);
        std::vector<double> x(static_cast<size_t>(r.end - r.first));
        for (int64_t jk = r.first; jk < r.end; ++jk) x[jk - r.first] = logits[iq * nkb + jk];
        if (x.empty()) continue;
        sparse::Softmax(x);
        for (int64_t jk = r.first; jk < r.end; ++jk) attn[iq * nkb + jk] = x[jk - r.first];
      }
      std::vector<int32_t> order(attn.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int32_t x, int32_t y) { return attn[x] > attn[y]; });
      aware.assign(attn.size(), 0);
      double cum = 0;
      for (int32_t i : order) {
        cum += attn[static_cast<size_t>(i)];
        // The slack keeps gamma = 1 exact (rows sum to 1 only up to rounding).
        if (cum > params.gamma * static_cast<double>(nqb) * (1 + 1e-9)) break;
        aware[static_cast<size_t>(i)] = 1;
      }
    }
    sparse::BlockRow row(nk, bs);
    for (int64_t iq = 0; iq < nqb; ++iq) {
      const sparse::KeyBlockRange r = sparse::VisibleKeyBlocks(pb.window, pb.nq, nk, bs, bs, iq);
      const int64_t diagonal = sparse::DiagonalKeyBlock(pb.window, pb.nq, nk, bs, bs, iq);
      for (int32_t v : vertical) {
        if (r.Contains(v)) row.MarkBlock(v);
      }
      for (int32_t d : slash) {
        if (diagonal >= 0 && r.Contains(diagonal - d)) row.MarkBlock(diagonal - d);
      }
      for (int64_t jk = r.first; !aware.empty() && jk < r.end; ++jk) {
        if (aware[static_cast<size_t>(iq * nkb + jk)] != 0) row.MarkBlock(jk);
      }
      rows[static_cast<size_t>(iq)] = row.Take();
    }
  });
}

}  // namespace attnkit
