// SPDX-License-Identifier: Apache-2.0
// Sampled-mass block selection (PredictSampledMass, attnkit/sparse.h): block
// masses estimated from 1/S of the logits, each kept as an exact logit rather
// than summed into XAttention's antidiagonal average. Per (batch, head):
//   1. lattice: row i samples the keys j with (i + j) mod S == S - 1 (the
//      entries of XAttention's antidiagonals, one per row and column of every
//      S x S cell). With i = rS + S - 1 - t they are the keys j = cS + t, so the
//      lattice is S GEMMs Q[S-1-t :: S] K[t :: S]^T of (Nq/S) x D x (Nk/S): 1/S
//      of the full Q K^T. A key column (sink, vertical line) is sampled by 1/S
//      of the rows, a diagonal band by every row, a 16-key needle span by every
//      row of its query span when S <= 16;
//   2. forced blocks (the first sink_blocks and the local_blocks ending at the
//      diagonal) are computed exactly for every row: E_i = sum of exp(logit)
//      over their visible keys;
//   3. the row's mass estimate Z_i = E_i + S * sum of exp(logit) over its
//      visible lattice keys outside the forced blocks; per key block J
//      R[J] = mean over rows of S * sum_{lattice keys in J} exp(logit) / Z_i
//      (the estimated share of the block's mass) and X[J] = the largest
//      exp(logit) / (Z_i T_i) of one sampled key in J, with the row's entry
//      threshold T_i = min(entry_threshold, entry_ratio / n_i) (n_i: keys the
//      row sees; the ratio keeps flat heads, whose heaviest of ~B^2/S samples
//      is ~50-100x uniform, from firing at long N);
//   4. kept: the forced blocks, every J with X[J] >= 1 (a single heavy key:
//      needle, line), then the others by decreasing R while
//      mean(E_i / Z_i) + the kept R is below threshold, at most max_fraction of
//      the visible blocks in this last step.
// Cost: the 1/S lattice GEMM and its exponentials plus (sink_blocks +
// local_blocks) x block exact logits per row. Memory: K^T and the S lattice
// panels of one (batch, KV head), 2 x Nk x D floats, plus per worker the
// lattice logits of one panel of kChunk query blocks, (kChunk block / S) x Nk / S
// floats (1 MiB at block 128, S 16, Nk 64k).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attnkit/error.h"
#include "attnkit/sparse.h"
#include "src/common/parallel.h"
#include "src/kernels/sparse/predict_common.h"

namespace attnkit {
namespace sparse {
namespace {

int64_t RoundUp16(int64_t x) { return (x + 15) / 16 * 16; }
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kChunk = 8;    // query blocks per work item

// Rows [0, n) of `src` starting at row `offset` with step `step` (a strided view).
RowSource Strided(const RowSource& src, int64_t offset, int64_t step) {
  RowSource s = src;
  s.data = static_cast<const char*>(src.data) +
           offset * src.row_stride * static_cast<int64_t>(SizeOf(src.dtype));
  s.rows = src.rows > offset ? CeilDiv(src.rows - offset, step) : 0;
  s.row_stride = src.row_stride * step;
  return s;
}

// The forced key blocks of query block iq (visible ones, ascending).
std::vector<int32_t> ForcedBlocks(const Problem& pb, const SampledMassParams& p, int64_t iq) {
  const int64_t bs = p.block_size;
  const KeyBlockRange vis = VisibleKeyBlocks(pb.window, pb.nq, pb.nk, bs, bs, iq);
  const int64_t diag = DiagonalKeyBlock(pb.window, pb.nq, pb.nk, bs, bs, iq);
  std::vector<int32_t> f;
  for (int64_t jk = 0; jk < p.sink_blocks; ++jk) {
    if (vis.Contains(jk)) f.push_back(static_cast<int32_t>(jk));
  }
  for (int64_t jk = diag - p.local_blocks + 1; diag >= 0 && jk <= diag; ++jk) {
    if (vis.Contains(jk)) f.push_back(static_cast<int32_t>(jk));
  }
  std::sort(f.begin(), f.end());
  f.erase(std::unique(f.begin(), f.end()), f.end());
  return f;
}

}  // namespace

std::vector<SampledMassScores> SampledMassBlockScores(const Problem& pb,
                                                      const SampledMassParams& p) {
  const int64_t bs = p.block_size, S = p.stride, R = bs / S, D = pb.dim;
  const int64_t nqb = CeilDiv(pb.nq, bs), nkb = CeilDiv(pb.nk, bs);
  // K^T and the lattice panels column-blocked (PackColBlocked, predict_common.h).
  const int64_t ldk = ColBlockedWidth(nkb * bs), nlat = CeilDiv(pb.nk, S);
  const int64_t ldl = ColBlockedWidth(nlat);
  const WindowBounds w = pb.window;
  std::vector<SampledMassScores> out(static_cast<size_t>(pb.batch * pb.hq));
  std::vector<float> kt(static_cast<size_t>(D * ldk)), kl(static_cast<size_t>(S * D * ldl));
  struct Scratch {
    std::vector<float> qa, sf, ql, sl, ef, cols;
  };
  std::vector<Scratch> scratch(static_cast<size_t>(pb.threads));
  for (int64_t b = 0; b < pb.batch; ++b) {
    for (int64_t g = 0; g < pb.hkv; ++g) {
      const RowSource ks = RowSource::Of(pb.k, b, g);
      // K^T (for the forced blocks) and the S lattice panels K[t :: S]^T, in
      // column panels of 256 keys (padding columns stay 0).
      const int64_t kpanels = CeilDiv(pb.nk, 256), lpanels = CeilDiv(nlat, 256);
      ParallelFor(pb.threads, kpanels + S * lpanels, [&](int, int64_t item) {
        if (item < kpanels) {
          const int64_t c0 = item * 256, c1 = std::min(pb.nk, c0 + 256);
          PackColBlocked(pb, ks, 1, c0, c1, kt.data());
          return;
        }
        const int64_t t = (item - kpanels) / lpanels, panel = (item - kpanels) % lpanels;
        const RowSource kst = Strided(ks, t, S);
        const int64_t c0 = panel * 256, c1 = std::min(kst.rows, c0 + 256);
        if (c0 < c1) PackColBlocked(pb, kst, 1, c0, c1, kl.data() + t * D * ldl);
      });
      for (int64_t hh = 0; hh < pb.group; ++hh) {
        SampledMassScores& sc = out[static_cast<size_t>(b * pb.hq + g * pb.group + hh)];
        sc.share.assign(static_cast<size_t>(nqb * nkb), 0.0);
        sc.entry.assign(static_cast<size_t>(nqb * nkb), 0.0);
        sc.forced.assign(static_cast<size_t>(nqb), 0.0);
      }
      // Work items: kChunk consecutive query blocks of one query head, so each
      // lattice GEMM has kChunk x R rows (B reused by all of them).
      const int64_t chunks = CeilDiv(nqb, kChunk);
      ParallelFor(pb.threads, pb.group * chunks, [&](int worker, int64_t item) {
        const int64_t h = g * pb.group + item / chunks, q0 = (item % chunks) * kChunk;
        const int64_t q1 = std::min(nqb, q0 + kChunk), nb = q1 - q0, Rc = nb * R;
        SampledMassScores& sc = out[static_cast<size_t>(b * pb.hq + h)];
        Scratch& x = scratch[static_cast<size_t>(worker)];
        const RowSource qs = RowSource::Of(pb.q, b, h);
        const auto lo_of = [&](int64_t pos) { return w.left == kUnbounded ? int64_t{0} : pos - w.left; };
        const auto hi_of = [&](int64_t pos) {  // last visible key + 1
          return w.right == kUnbounded ? pb.nk : std::min(pb.nk, pos + w.right + 1);
        };
        // 2. Exact base-2 logits of the forced blocks: E_i = 2^mf[i] lf[i] for
        // the chunk's rows i0 + [0, nb bs).
        const size_t rows_pad = static_cast<size_t>(RoundUp16(std::max(bs, Rc)));
        x.qa.resize(static_cast<size_t>(bs * D));
        x.sf.resize(static_cast<size_t>(bs * bs));
        x.ef.resize(static_cast<size_t>(2 * nb * bs) + 3 * rows_pad);
        float* mf = x.ef.data();
        float* lf = mf + nb * bs;
        float* alpha = lf + nb * bs;
        float* ml = alpha + rows_pad;
        float* ll = ml + rows_pad;
        std::fill(mf, mf + nb * bs, kNegInf);
        std::fill(lf, lf + nb * bs, 0.0f);
        std::vector<std::vector<int32_t>> forced(static_cast<size_t>(nb));
        for (int64_t iq = q0; iq < q1; ++iq) {
          const QueryBlockRows rows = RowsOf(pb.nq, pb.nk, bs, iq);
          forced[static_cast<size_t>(iq - q0)] = ForcedBlocks(pb, p, iq);
          float* m_blk = mf + (iq - q0) * bs;
          float* l_blk = lf + (iq - q0) * bs;
          pb.fns.gather_rows(qs, rows.i0, rows.rows, 1, false, pb.scale * kLog2E, x.qa.data(), D);
          for (int32_t f : forced[static_cast<size_t>(iq - q0)]) {
            float* sf = x.sf.data();
            GemmColBlocked(pb, x.qa.data(), rows.rows, D, kt.data(), f * bs, bs, sf, bs);
            for (int64_t r = 0; r < rows.rows; ++r) {  // keys of the block the row cannot see
              const int64_t pos = rows.pmin + r;
              const int64_t from = std::clamp<int64_t>(lo_of(pos) - f * bs, 0, bs);
              const int64_t to = std::clamp<int64_t>(hi_of(pos) - f * bs, from, bs);
              std::fill(sf + r * bs, sf + r * bs + from, kNegInf);
              std::fill(sf + r * bs + to, sf + (r + 1) * bs, kNegInf);
            }
            pb.fns.online_stats(sf, static_cast<size_t>(rows.rows), static_cast<size_t>(bs),
                                static_cast<size_t>(bs), m_blk, l_blk, alpha);
          }
        }
        // 1. Lattice logits: row r of panel t is query row q0 bs + r S + S - 1 - t.
        // 3. Per panel: mask the keys a row cannot see and its forced blocks,
        // exponentiate (online_stats: 2^(logit - ml), sum ll), then the row's
        // Z_i = 2^mf lf + S 2^ml ll and its entries' probabilities 2^logit / Z_i.
        x.ql.resize(static_cast<size_t>(Rc * D));
        x.sl.resize(static_cast<size_t>(Rc * ldl));
        const int64_t key_end = hi_of(RowsOf(pb.nq, pb.nk, bs, q1 - 1).pmax);
        std::vector<double> forced_share(static_cast<size_t>(nb), 0.0);
        std::vector<int64_t> counted(static_cast<size_t>(nb), 0), c0s(static_cast<size_t>(Rc)),
            c1s(static_cast<size_t>(Rc));
        // Row weights, and per query block its lattice-column sums / maxima over
        // [cbeg, cend) (nb x ldl each).
        x.cols.assign(static_cast<size_t>(2 * Rc + 2 * nb * ldl), 0.0f);
        float* ws = x.cols.data();
        float* wm = ws + Rc;
        float* colsum = wm + Rc;
        float* colmax = colsum + nb * ldl;
        std::vector<int64_t> cbeg(static_cast<size_t>(nb), ldl), cend(static_cast<size_t>(nb), 0);
        for (int64_t t = 0; t < S; ++t) {
          const int64_t cols = std::clamp<int64_t>(key_end > t ? CeilDiv(key_end - t, S) : 0, 0, nlat);
          const int64_t width = RoundUp16(cols);
          float* sl = x.sl.data();
          if (cols > 0) {
            pb.fns.gather_rows(Strided(qs, S - 1 - t, S), q0 * R, Rc, 1, false, pb.scale * kLog2E,
                               x.ql.data(), D);
            GemmColBlocked(pb, x.ql.data(), Rc, D, kl.data() + t * D * ldl, 0, width, sl, ldl);
          }
          for (int64_t r = 0; r < Rc; ++r) {
            const int64_t rr = r * S + S - 1 - t;  // row within the chunk
            const int64_t iq = q0 + rr / bs;
            const QueryBlockRows rows = RowsOf(pb.nq, pb.nk, bs, std::min(iq, q1 - 1));
            float* row = sl + r * ldl;
            c0s[r] = c1s[r] = 0;
            if (iq < q1 && rr % bs < rows.rows && cols > 0) {
              // Visible lattice keys j = c S + t in [lo, hi).
              const int64_t pos = rows.pmin + rr % bs, lo = lo_of(pos), hi = hi_of(pos);
              c0s[r] = std::min<int64_t>(width, lo <= t ? 0 : CeilDiv(lo - t, S));
              c1s[r] = std::clamp<int64_t>(hi <= t ? 0 : CeilDiv(hi - t, S), c0s[r], width);
              for (int32_t f : forced[static_cast<size_t>(iq - q0)]) {  // lattice columns [f R, (f + 1) R)
                std::fill(row + std::min(width, f * R), row + std::min(width, (f + 1) * R), kNegInf);
              }
            }
            std::fill(row, row + c0s[r], kNegInf);
            std::fill(row + c1s[r], row + width, kNegInf);
          }
          std::fill(ml, ml + rows_pad, kNegInf);
          std::fill(ll, ll + rows_pad, 0.0f);
          if (width > 0) {
            pb.fns.online_stats(sl, static_cast<size_t>(Rc), static_cast<size_t>(ldl),
                                static_cast<size_t>(width), ml, ll, alpha);
          }
          // Per row: its weights ws = S / Z_i (block share) and wm = 1 / (Z_i T_i)
          // (entry), 0 for rows that sample nothing (their probabilities are 0).
          for (int64_t r = 0; r < Rc; ++r) {
            ws[r] = wm[r] = 0.0f;
            const int64_t rr = r * S + S - 1 - t, blk = rr / bs;
            if (q0 + blk >= q1 || rr % bs >= RowsOf(pb.nq, pb.nk, bs, q0 + blk).rows) continue;
            // Z_i / 2^ml (or / 2^mf when the row samples no key).
            const bool has_lattice = ml[r] != kNegInf;
            const double ref = has_lattice ? ml[r] : mf[rr];
            if (ref == static_cast<double>(kNegInf)) continue;  // the row sees no key
            const double exact = mf[rr] == kNegInf ? 0.0 : lf[rr] * std::exp2(mf[rr] - ref);
            const double z = exact + (has_lattice ? static_cast<double>(S) * ll[r] : 0.0);
            ++counted[static_cast<size_t>(blk)];
            forced_share[static_cast<size_t>(blk)] += exact / z;
            if (!has_lattice) continue;
            // The row's entry threshold min(entry_threshold, entry_ratio / keys it sees).
            const int64_t pos = RowsOf(pb.nq, pb.nk, bs, q0 + blk).pmin + rr % bs;
            const int64_t seen = hi_of(pos) - std::max<int64_t>(0, lo_of(pos));
            const double thr = std::min(p.entry_threshold, p.entry_ratio / static_cast<double>(std::max<int64_t>(1, seen)));
            ws[r] = static_cast<float>(static_cast<double>(S) / z);
            wm[r] = static_cast<float>(1.0 / (z * thr));
          }
          // The rows of one query block are consecutive: accumulate them into its
          // lattice-column sums and maxima (columns outside [c0s, c1s) hold 0).
          for (int64_t r0 = 0; r0 < Rc && width > 0;) {
            const int64_t blk = (r0 * S + S - 1 - t) / bs;
            int64_t r1 = r0, c0 = width, c1 = 0;
            for (; r1 < Rc && (r1 * S + S - 1 - t) / bs == blk; ++r1) {
              if (ws[r1] == 0.0f) continue;  // samples nothing (then wm is 0 too)
              c0 = std::min(c0, c0s[r1]);
              c1 = std::max(c1, c1s[r1]);
            }
            if (c0 < c1) {
              c0 = c0 / 16 * 16;
              c1 = std::min(width, RoundUp16(c1));
              pb.fns.weighted_column_stats(sl + r0 * ldl, static_cast<size_t>(r1 - r0), static_cast<size_t>(ldl),
                                           static_cast<size_t>(c0), static_cast<size_t>(c1), ws + r0, wm + r0,
                                           colsum + blk * ldl, colmax + blk * ldl);
              cbeg[static_cast<size_t>(blk)] = std::min(cbeg[static_cast<size_t>(blk)], c0);
              cend[static_cast<size_t>(blk)] = std::max(cend[static_cast<size_t>(blk)], c1);
            }
            r0 = r1;
          }
        }
        // Per key block J: R[J] = mean over the block's rows of its lattice
        // columns' shares, X[J] = their largest entry (rows: counted).
        for (int64_t blk = 0; blk < nb; ++blk) {
          const double n_rows = static_cast<double>(counted[static_cast<size_t>(blk)]);
          if (n_rows == 0) continue;
          double* share = sc.share.data() + (q0 + blk) * nkb;
          double* entry = sc.entry.data() + (q0 + blk) * nkb;
          const float* cs = colsum + blk * ldl;
          const float* cm = colmax + blk * ldl;
          const int64_t c_beg = cbeg[static_cast<size_t>(blk)], c_end = cend[static_cast<size_t>(blk)];
          for (int64_t jk = c_beg / R; jk < nkb && jk * R < c_end; ++jk) {
            double sum = 0;
            float mx = 0;
            for (int64_t c = std::max(c_beg, jk * R); c < std::min(c_end, (jk + 1) * R); ++c) {
              sum += cs[c];
              mx = std::max(mx, cm[c]);
            }
            share[jk] = sum / n_rows;
            entry[jk] = mx;
          }
          sc.forced[static_cast<size_t>(q0 + blk)] = forced_share[static_cast<size_t>(blk)] / n_rows;
        }
      });
    }
  }
  return out;
}

std::vector<int32_t> SelectSampledMass(const Problem& pb, const SampledMassParams& p,
                                       const SampledMassScores& sc, int64_t iq) {
  const int64_t bs = p.block_size, nkb = CeilDiv(pb.nk, bs);
  const KeyBlockRange vis = VisibleKeyBlocks(pb.window, pb.nq, pb.nk, bs, bs, iq);
  std::vector<int32_t> kept = ForcedBlocks(pb, p, iq);
  std::vector<uint8_t> in(static_cast<size_t>(nkb), 0);
  for (int32_t f : kept) in[static_cast<size_t>(f)] = 1;
  const double* share = sc.share.data() + iq * nkb;
  const double* entry = sc.entry.data() + iq * nkb;
  double cum = sc.forced[static_cast<size_t>(iq)];
  std::vector<int32_t> others;
  for (int64_t jk = vis.first; jk < vis.end; ++jk) {
    if (in[static_cast<size_t>(jk)]) continue;
    if (entry[jk] >= 1.0) {
      kept.push_back(static_cast<int32_t>(jk));
      cum += share[jk];
    } else {
      others.push_back(static_cast<int32_t>(jk));
    }
  }
  std::stable_sort(others.begin(), others.end(),
                   [&](int32_t x, int32_t y) { return share[x] > share[y]; });
  const int64_t cap = static_cast<int64_t>(std::floor(p.max_fraction * static_cast<double>(vis.end - vis.first)));
  int64_t added = 0;
  for (int32_t o : others) {
    if (!(cum < p.threshold) || added >= cap) break;
    kept.push_back(o);
    cum += share[o];
    ++added;
  }
  return kept;
}

}  // namespace sparse

BlockMask PredictSampledMass(const AttentionSpec& spec, const TensorView& q, const TensorView& k,
                             const SampledMassParams& params, const ThreadingContext& ctx) {
  const sparse::Problem pb = sparse::MakeProblem("PredictSampledMass", spec, q, k, ctx);
  sparse::CheckBlockAndStride(params.block_size, params.stride);
  sparse::CheckFraction("threshold", params.threshold);
  sparse::CheckFraction("entry_threshold", params.entry_threshold);
  sparse::CheckFraction("max_fraction", params.max_fraction);
  ATTNKIT_CHECK(params.entry_ratio > 0, "entry_ratio must be > 0, got ", params.entry_ratio);
  ATTNKIT_CHECK(params.sink_blocks >= 0, "sink_blocks must be >= 0, got ", params.sink_blocks);
  ATTNKIT_CHECK(params.local_blocks >= 0, "local_blocks must be >= 0, got ", params.local_blocks);
  const std::vector<sparse::SampledMassScores> scores = sparse::SampledMassBlockScores(pb, params);
  const int64_t nqb = sparse::CeilDiv(pb.nq, params.block_size);
  return sparse::BuildPerHead(pb, params.block_size, params.block_size,
                              [&](int64_t b, int64_t h, auto& rows) {
                                const auto& sc = scores[static_cast<size_t>(b * pb.hq + h)];
                                for (int64_t iq = 0; iq < nqb; ++iq) {
                                  rows[static_cast<size_t>(iq)] = sparse::SelectSampledMass(pb, params, sc, iq);
                                }
                              });
}

}  // namespace attnkit
