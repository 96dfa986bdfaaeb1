// SPDX-License-Identifier: Apache-2.0
// Oracle block masks (see oracle.h): exact block masses from
// ForEachProbabilityChunk, one query block at a time, then a joint top-k.
#include "src/kernels/sparse/oracle.h"

#include <algorithm>
#include <string>

#include "attnkit/error.h"
#include "src/common/parallel.h"
#include "src/kernels/sparse/predict_common.h"

namespace attnkit::sparse {

std::vector<BlockMask> OracleBlockMasks(const AttentionSpec& spec, const TensorView& q,
                                        const TensorView& k, int64_t block_size,
                                        const std::vector<double>& densities,
                                        const ThreadingContext& ctx) {
  const Problem pb = MakeProblem("OracleBlockMasks", spec, q, k, ctx);
  CheckBlockSize("block_size", block_size);
  for (size_t i = 0; i < densities.size(); ++i) {
    CheckFraction(("densities[" + std::to_string(i) + "]").c_str(), densities[i]);
  }
  const int64_t bs = block_size, nqb = CeilDiv(pb.nq, bs), nkb = CeilDiv(pb.nk, bs);
  const int64_t heads = pb.batch * pb.hq;
  // mass[(bh * nqb + iq) * nkb + jk]: sum over the block's rows of their exact
  // probability inside key block jk (-1 for blocks the rows cannot see).
  std::vector<double> mass(static_cast<size_t>(heads * nqb * nkb), -1.0);
  ParallelFor(pb.threads, heads * nqb, [&](int, int64_t item) {
    const int64_t bh = item / nqb, iq = item % nqb;
    const QueryBlockRows r = RowsOf(pb.nq, pb.nk, bs, iq);
    std::vector<int64_t> rows(static_cast<size_t>(r.rows));
    for (int64_t i = 0; i < r.rows; ++i) rows[static_cast<size_t>(i)] = r.i0 + i;
    double* out = mass.data() + item * nkb;
    const KeyBlockRange vis = VisibleKeyBlocks(pb.window, pb.nq, pb.nk, bs, bs, iq);
    for (int64_t jk = vis.first; jk < vis.end; ++jk) out[jk] = 0.0;
    ForEachProbabilityChunk(pb, bh / pb.hq, bh % pb.hq, rows,
                            [&](int64_t c0, int64_t c1, const float* p, size_t ld) {
                              for (int64_t i = 0; i < r.rows; ++i) {
                                for (int64_t c = c0; c < c1; ++c) {
                                  out[c / bs] += p[static_cast<size_t>(i) * ld + static_cast<size_t>(c - c0)];
                                }
                              }
                            });
  });
  // Visible blocks by decreasing mass (diagonal blocks first, so no row is empty).
  struct Entry {
    double mass;
    int64_t index;
  };
  std::vector<Entry> order;
  std::vector<uint8_t> diagonal(mass.size(), 0);
  for (int64_t bh = 0; bh < heads; ++bh) {
    for (int64_t iq = 0; iq < nqb; ++iq) {
      const int64_t d = DiagonalKeyBlock(pb.window, pb.nq, pb.nk, bs, bs, iq);
      if (d >= 0) diagonal[static_cast<size_t>((bh * nqb + iq) * nkb + d)] = 1;
    }
  }
  for (size_t i = 0; i < mass.size(); ++i) {
    if (mass[i] >= 0) order.push_back({diagonal[i] ? 1e300 : mass[i], static_cast<int64_t>(i)});
  }
  std::stable_sort(order.begin(), order.end(), [](const Entry& a, const Entry& b) { return a.mass > b.mass; });
  std::vector<BlockMask> masks;
  for (double density : densities) {
    const size_t keep = std::min(order.size(), static_cast<size_t>(density * static_cast<double>(order.size()) + 0.5));
    std::vector<uint8_t> dense(mass.size(), 0);
    for (size_t i = 0; i < keep; ++i) dense[static_cast<size_t>(order[i].index)] = 1;
    masks.push_back(BlockMask::FromDense(pb.batch, pb.hq, pb.nq, pb.nk, bs, bs, dense));
  }
  return masks;
}

}  // namespace attnkit::sparse
