// SPDX-License-Identifier: Apache-2.0
// Static and pooled predictors: PowerAttention's power-of-two dilated pattern,
// sliding window + sink blocks (both independent of the input), and the top-k
// by mean-pooled logit baseline (also MInference's block-sparse pattern).
#include <algorithm>
#include <cstdint>

#include "attnkit/error.h"
#include "attnkit/sparse.h"
#include "src/kernels/sparse/predict_common.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace sparse {
namespace {

void CheckStaticProblem(const char* who, const AttentionSpec& spec, int64_t batch, int64_t nq,
                        int64_t nk) {
  ATTNKIT_CHECK(spec.num_q_heads >= 1, who, ": num_q_heads must be >= 1, got ", spec.num_q_heads);
  ATTNKIT_CHECK(batch >= 1, who, ": batch must be >= 1, got ", batch);
  ATTNKIT_CHECK(nq >= 1 && nk >= 1, who, ": seqlen_q and seqlen_k must be >= 1, got ", nq, " and ",
                nk);
}

// The same rows for every (batch, head): row(iq, diagonal, visible, out).
template <class RowFn>
BlockMask SameForAllHeads(const AttentionSpec& spec, int64_t batch, int64_t nq, int64_t nk,
                          int64_t bs, RowFn&& row_fn) {
  const WindowBounds w = WindowBounds::Of(spec.mask);
  const int64_t nqb = CeilDiv(nq, bs);
  std::vector<std::vector<int32_t>> rows(static_cast<size_t>(nqb));
  for (int64_t iq = 0; iq < nqb; ++iq) {
    const KeyBlockRange visible = VisibleKeyBlocks(w, nq, nk, bs, bs, iq);
    const int64_t diagonal = DiagonalKeyBlock(w, nq, nk, bs, bs, iq);
    std::vector<int32_t> candidates;
    if (diagonal >= 0) row_fn(diagonal, candidates);
    for (int32_t jk : candidates) {
      if (visible.Contains(jk)) rows[static_cast<size_t>(iq)].push_back(jk);
    }
  }
  BlockMaskBuilder builder(batch, spec.num_q_heads, nq, nk, bs, bs);
  for (int64_t bh = 0; bh < batch * spec.num_q_heads; ++bh) {
    for (auto& r : rows) {
      std::vector<int32_t> copy = r;
      builder.AddRow(copy);
    }
  }
  return builder.Finish();
}

}  // namespace

void TopKPooledRows(const Problem& pb, int64_t bs, int64_t top_k, bool keep_sink,
                    bool keep_diagonal, int64_t b, int64_t h,
                    std::vector<std::vector<int32_t>>& rows) {
  const int64_t nqb = CeilDiv(pb.nq, bs), nkb = CeilDiv(pb.nk, bs);
  const std::vector<float> pooled_q = PooledRows(pb.fns, RowSource::Of(pb.q, b, h), bs, 1.0f);
  const std::vector<float> pooled_k =
      PooledRows(pb.fns, RowSource::Of(pb.k, b, pb.KvHead(h)), bs, 1.0f);
  const std::vector<float> logits = PooledLogits(pb, pooled_q, pooled_k, nqb, nkb);
  std::vector<double> values;
  for (int64_t iq = 0; iq < nqb; ++iq) {
    const KeyBlockRange visible = VisibleKeyBlocks(pb.window, pb.nq, pb.nk, bs, bs, iq);
    values.assign(logits.begin() + iq * nkb + visible.first, logits.begin() + iq * nkb + visible.end);
    std::vector<int32_t>& out = rows[static_cast<size_t>(iq)];
    for (int32_t i : TopIndices(values, top_k)) out.push_back(static_cast<int32_t>(visible.first + i));
    const int64_t diagonal = DiagonalKeyBlock(pb.window, pb.nq, pb.nk, bs, bs, iq);
    if (keep_sink && visible.Contains(0)) out.push_back(0);
    if (keep_diagonal && diagonal >= 0 && visible.Contains(diagonal)) {
      out.push_back(static_cast<int32_t>(diagonal));
    }
  }
}

}  // namespace sparse

BlockMask PredictPowerAttention(const AttentionSpec& spec, int64_t batch, int64_t seqlen_q,
                                int64_t seqlen_k, const PowerAttentionParams& params) {
  sparse::CheckStaticProblem("PredictPowerAttention", spec, batch, seqlen_q, seqlen_k);
  sparse::CheckBlockSize("block_size", params.block_size);
  ATTNKIT_CHECK(params.sink_blocks >= 0, "sink_blocks must be >= 0, got ", params.sink_blocks);
  ATTNKIT_CHECK(params.local_blocks >= 1, "local_blocks must be >= 1, got ", params.local_blocks);
  ATTNKIT_CHECK(spec.mask.causal, "PredictPowerAttention needs a causal mask (spec.mask.causal)");
  return sparse::SameForAllHeads(
      spec, batch, seqlen_q, seqlen_k, params.block_size,
      [&](int64_t diagonal, std::vector<int32_t>& out) {
        for (int64_t s = 0; s < params.sink_blocks; ++s) out.push_back(static_cast<int32_t>(s));
        for (int64_t d = 0; d < params.local_blocks && d <= diagonal; ++d) {
          out.push_back(static_cast<int32_t>(diagonal - d));
        }
        for (int64_t d = 1; d <= diagonal; d *= 2) out.push_back(static_cast<int32_t>(diagonal - d));
      });
}

BlockMask PredictSlidingWindow(const AttentionSpec& spec, int64_t batch, int64_t seqlen_q,
                               int64_t seqlen_k, const SlidingWindowParams& params) {
  sparse::CheckStaticProblem("PredictSlidingWindow", spec, batch, seqlen_q, seqlen_k);
  sparse::CheckBlockSize("block_size", params.block_size);
  ATTNKIT_CHECK(params.sink_blocks >= 0, "sink_blocks must be >= 0, got ", params.sink_blocks);
  ATTNKIT_CHECK(params.window_blocks >= 1, "window_blocks must be >= 1, got ",
                params.window_blocks);
  const bool causal = spec.mask.causal;
  return sparse::SameForAllHeads(
      spec, batch, seqlen_q, seqlen_k, params.block_size,
      [&](int64_t diagonal, std::vector<int32_t>& out) {
        for (int64_t s = 0; s < params.sink_blocks; ++s) out.push_back(static_cast<int32_t>(s));
        const int64_t first = causal ? diagonal - params.window_blocks + 1
                                     : diagonal - params.window_blocks / 2;
        for (int64_t jk = std::max<int64_t>(first, 0); jk < first + params.window_blocks; ++jk) {
          out.push_back(static_cast<int32_t>(jk));
        }
      });
}

BlockMask PredictTopK(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                      const TopKParams& params, const ThreadingContext& ctx) {
  const sparse::Problem pb = sparse::MakeProblem("PredictTopK", spec, q, k, ctx);
  sparse::CheckBlockSize("block_size", params.block_size);
  ATTNKIT_CHECK(params.top_k >= 0, "top_k must be >= 0, got ", params.top_k);
  const int64_t bs = params.block_size;
  return sparse::BuildPerHead(pb, bs, bs, [&](int64_t b, int64_t h, auto& rows) {
    sparse::TopKPooledRows(pb, bs, params.top_k, params.keep_sink, params.keep_diagonal, b, h, rows);
  });
}

}  // namespace attnkit
