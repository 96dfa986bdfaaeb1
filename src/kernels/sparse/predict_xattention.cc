// SPDX-License-Identifier: Apache-2.0
// XAttention block selection (mit-han-lab/x-attention, xattn_estimate +
// find_blocks_chunked), on the CPU with batches and GQA. Per (batch, head):
//   1. reshaped rows of stride S: Q~_r = [q_{rS+S-1}, ..., q_{rS}] (reversed),
//      K~_c = [k_{cS}, ..., k_{cS+S-1}] (Q and K zero-padded to a multiple of
//      S), so A = Q~ K~^T sums one antidiagonal of every S x S block of Q K^T:
//      a GEMM of (Nq/S) x (S D) x (Nk/S), 1/S of the full product;
//   2. A * scale / S, softmax per reshaped row over the reshaped keys it can
//      see (causal: key group c is visible to row r iff c S <= Nk - Nq + r S + S - 1,
//      plus the window's right bound if any; the left bound is applied by the
//      kernel only; key groups entirely past Nk are always masked);
//   3. block scores Bs[iq][jk]: sums of the softmax over the (B/S) x (B/S)
//      cells of each block (rows past Nq contribute nothing);
//   4. per query block: forced blocks first (causal: key block 0 and the
//      diagonal block), then the others by decreasing score while the kept sum
//      is below threshold x the row total.
// Memory: the packed K~^T of one (batch, KV head), Nk x D floats, plus per
// worker one query block's [B/S x Nk/S] scores.
#include <algorithm>
#include <numeric>
#include <string>

#include "attnkit/error.h"
#include "attnkit/sparse.h"
#include "src/common/parallel.h"
#include "src/kernels/sparse/predict_common.h"

namespace attnkit {
namespace sparse {
namespace {

int64_t RoundUp16(int64_t x) { return (x + 15) / 16 * 16; }

// Step 4 on one row of block scores.
std::vector<int32_t> SelectByCumulativeScore(const std::vector<double>& scores,
                                             const KeyBlockRange& visible,
                                             const std::vector<int32_t>& forced, double threshold) {
  const double total = std::accumulate(scores.begin(), scores.end(), 0.0);
  const double required = threshold * total;
  std::vector<int32_t> kept;
  double cum = 0;
  for (int32_t f : forced) {
    if (!visible.Contains(f) || std::find(kept.begin(), kept.end(), f) != kept.end()) continue;
    kept.push_back(f);
    cum += scores[static_cast<size_t>(f)];
  }
  std::vector<int32_t> others;
  for (int64_t jk = visible.first; jk < visible.end; ++jk) {
    if (std::find(kept.begin(), kept.end(), jk) == kept.end()) others.push_back(static_cast<int32_t>(jk));
  }
  std::stable_sort(others.begin(), others.end(), [&](int32_t x, int32_t y) {
    return scores[static_cast<size_t>(x)] > scores[static_cast<size_t>(y)];
  });
  for (int32_t o : others) {
    if (!(cum < required)) break;
    kept.push_back(o);
    cum += scores[static_cast<size_t>(o)];
  }
  return kept;
}

}  // namespace

// Block scores Bs [nqb x nkb] of every (b, h), in the order b, h (see the file
// comment); exposed for the tests.
std::vector<std::vector<double>> XAttentionBlockScores(const Problem& pb, int64_t block,
                                                       int64_t stride) {
  const int64_t S = stride, R = block / stride, D = pb.dim;
  const int64_t nqb = CeilDiv(pb.nq, block), nkb = CeilDiv(pb.nk, block);
  // K~^T column-blocked (PackColBlocked); the score rows keep ld columns.
  const int64_t nrk = CeilDiv(pb.nk, S), ld = ColBlockedWidth(nrk);
  const int64_t right = pb.window.right;  // causal: 0; the left bound is left to the kernel
  std::vector<std::vector<double>> scores(static_cast<size_t>(pb.batch * pb.hq));
  std::vector<float> kt(static_cast<size_t>(S * D * ld));
  // Per worker: the reshaped query rows of one block and their scores.
  std::vector<std::vector<float>> qbuf(static_cast<size_t>(pb.threads)),
      sbuf(static_cast<size_t>(pb.threads));
  for (int64_t b = 0; b < pb.batch; ++b) {
    for (int64_t g = 0; g < pb.hkv; ++g) {
      const RowSource ks = RowSource::Of(pb.k, b, g);
      // Pack K~^T in column panels of 256 reshaped keys, in parallel (the
      // padding columns [nrk, ld) stay 0 from the allocation).
      ParallelFor(pb.threads, CeilDiv(nrk, 256), [&](int, int64_t panel) {
        const int64_t c0 = panel * 256, c1 = std::min(nrk, c0 + 256);
        PackColBlocked(pb, ks, S, c0, c1, kt.data());
      });
      for (int64_t hh = 0; hh < pb.group; ++hh) {
        scores[static_cast<size_t>(b * pb.hq + g * pb.group + hh)].assign(
            static_cast<size_t>(nqb * nkb), 0.0);
      }
      ParallelFor(pb.threads, pb.group * nqb, [&](int worker, int64_t item) {
        const int64_t h = g * pb.group + item / nqb, iq = item % nqb;
        std::vector<float>& qr = qbuf[static_cast<size_t>(worker)];
        std::vector<float>& s = sbuf[static_cast<size_t>(worker)];
        qr.resize(static_cast<size_t>(R * S * D));
        s.resize(static_cast<size_t>(R * ld));
        pb.fns.gather_rows(RowSource::Of(pb.q, b, h), iq * R, R, S, /*reverse=*/true,
                           pb.scale * kLog2E / static_cast<float>(S), qr.data(), S * D);
        int64_t limit[128], max_limit = 0, valid_rows = 0;
        for (int64_t r = 0; r < R; ++r) {
          const int64_t row = iq * R + r;  // reshaped row: queries [row S, row S + S)
          if (row * S >= pb.nq) {
            limit[r] = 0;  // padding only: contributes nothing
            continue;
          }
          valid_rows = r + 1;
          const int64_t reach = pb.nk - pb.nq + row * S + S - 1 + (right == kUnbounded ? 0 : right);
          limit[r] = right == kUnbounded ? nrk : std::clamp<int64_t>(reach < 0 ? 0 : reach / S + 1, 0, nrk);
          max_limit = std::max(max_limit, limit[r]);
        }
        const size_t width = static_cast<size_t>(RoundUp16(max_limit));
        if (valid_rows == 0 || width == 0) return;
        GemmColBlocked(pb, qr.data(), valid_rows, S * D, kt.data(), 0, static_cast<int64_t>(width),
                       s.data(), ld);
        pb.fns.softmax_rows(s.data(), static_cast<size_t>(valid_rows), static_cast<size_t>(ld),
                            width, limit);
        double* out = scores[static_cast<size_t>(b * pb.hq + h)].data() + iq * nkb;
        for (int64_t jk = 0; jk < nkb; ++jk) {
          const int64_t c0 = jk * R, c1 = std::min<int64_t>((jk + 1) * R, max_limit);
          double sum = 0;
          for (int64_t r = 0; r < valid_rows; ++r) {
            const float* row = s.data() + r * ld;
            for (int64_t c = c0; c < c1; ++c) sum += row[c];
          }
          out[jk] = sum;
        }
      });
    }
  }
  return scores;
}

}  // namespace sparse

BlockMask PredictXAttention(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                            const XAttentionParams& params, const ThreadingContext& ctx) {
  const sparse::Problem pb = sparse::MakeProblem("PredictXAttention", spec, q, k, ctx);
  sparse::CheckBlockAndStride(params.block_size, params.stride);
  sparse::CheckFraction("threshold", params.threshold);
  ATTNKIT_CHECK(params.head_thresholds.empty() ||
                    static_cast<int64_t>(params.head_thresholds.size()) == pb.hq,
                "head_thresholds must be empty or have num_q_heads (", pb.hq, ") entries, got ",
                params.head_thresholds.size());
  for (size_t i = 0; i < params.head_thresholds.size(); ++i) {
    sparse::CheckFraction(("head_thresholds[" + std::to_string(i) + "]").c_str(),
                          params.head_thresholds[i]);
  }
  const int64_t block = params.block_size, nqb = sparse::CeilDiv(pb.nq, block);
  const int64_t nkb = sparse::CeilDiv(pb.nk, block);
  const bool causal = spec.mask.causal;
  const std::vector<std::vector<double>> scores =
      sparse::XAttentionBlockScores(pb, block, params.stride);
  return sparse::BuildPerHead(pb, block, block, [&](int64_t b, int64_t h, auto& rows) {
    const double threshold =
        params.head_thresholds.empty() ? params.threshold : params.head_thresholds[static_cast<size_t>(h)];
    const std::vector<double>& bs = scores[static_cast<size_t>(b * pb.hq + h)];
    std::vector<double> row(static_cast<size_t>(nkb));
    for (int64_t iq = 0; iq < nqb; ++iq) {
      const sparse::KeyBlockRange visible =
          sparse::VisibleKeyBlocks(pb.window, pb.nq, pb.nk, block, block, iq);
      const int64_t diagonal = sparse::DiagonalKeyBlock(pb.window, pb.nq, pb.nk, block, block, iq);
      std::vector<int32_t> forced;
      if (causal || params.keep_sink) forced.push_back(0);
      if ((causal || params.keep_recent) && diagonal >= 0) forced.push_back(static_cast<int32_t>(diagonal));
      std::copy(bs.begin() + iq * nkb, bs.begin() + (iq + 1) * nkb, row.begin());
      rows[static_cast<size_t>(iq)] = sparse::SelectByCumulativeScore(row, visible, forced, threshold);
    }
  });
}

}  // namespace attnkit
