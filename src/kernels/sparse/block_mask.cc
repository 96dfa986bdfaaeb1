// SPDX-License-Identifier: Apache-2.0
// BlockMask: dense conversion, validation and density (attnkit/sparse.h), and
// the block geometry helpers of mask_util.h. Plain scalar code.
#include <algorithm>
#include <limits>

#include "attnkit/error.h"
#include "attnkit/sparse.h"
#include "src/kernels/sparse/mask_util.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace sparse {

WindowBounds WindowBounds::Of(const MaskSpec& mask) {
  const auto bound = [](int64_t v) { return v >= kWindowUnboundedAbove ? kUnbounded : v; };
  return {bound(mask.window_left), bound(mask.effective_right())};
}

KeyBlockRange VisibleKeyBlocks(const WindowBounds& w, int64_t nq, int64_t nk, int64_t block_q,
                               int64_t block_k, int64_t iq) {
  const QueryBlockRows r = RowsOf(nq, nk, block_q, iq);
  const int64_t lo = w.left == kUnbounded ? 0 : std::max<int64_t>(0, r.pmin - w.left);
  const int64_t hi = w.right == kUnbounded ? nk : std::min<int64_t>(nk, r.pmax + w.right + 1);
  if (lo >= hi) return {};
  return {lo / block_k, CeilDiv(hi, block_k)};
}

int64_t DiagonalKeyBlock(const WindowBounds& w, int64_t nq, int64_t nk, int64_t block_q,
                         int64_t block_k, int64_t iq) {
  const QueryBlockRows r = RowsOf(nq, nk, block_q, iq);
  // The last row sees [p - left, p + right] within [0, nk): empty if it ends before 0.
  const int64_t hi = w.right == kUnbounded ? nk - 1 : std::min<int64_t>(nk - 1, r.pmax + w.right);
  const int64_t lo = w.left == kUnbounded ? 0 : std::max<int64_t>(0, r.pmax - w.left);
  if (hi < lo) return -1;
  return std::clamp<int64_t>(r.pmax, lo, hi) / block_k;
}

BlockMaskBuilder::BlockMaskBuilder(int64_t batch, int64_t heads, int64_t nq, int64_t nk,
                                   int64_t block_q, int64_t block_k) {
  m_.batch = batch;
  m_.heads = heads;
  m_.seqlen_q = nq;
  m_.seqlen_k = nk;
  m_.block_q = block_q;
  m_.block_k = block_k;
  m_.row_begin.reserve(static_cast<size_t>(m_.num_rows() + 1));
  m_.row_begin.push_back(0);
}

void BlockMaskBuilder::AddRow(std::vector<int32_t>& blocks) {
  const int64_t nkb = m_.num_k_blocks();
  std::sort(blocks.begin(), blocks.end());
  int32_t last = -1;
  for (int32_t jk : blocks) {
    if (jk < 0 || jk >= nkb || jk == last) continue;
    m_.key_blocks.push_back(jk);
    last = jk;
  }
  m_.row_begin.push_back(static_cast<int64_t>(m_.key_blocks.size()));
}

BlockMask BlockMaskBuilder::Finish() {
  ATTNKIT_CHECK(static_cast<int64_t>(m_.row_begin.size()) == m_.num_rows() + 1,
                "BlockMaskBuilder: ", m_.row_begin.size() - 1, " rows added, expected ",
                m_.num_rows());
  return std::move(m_);
}

void CheckBlockSize(const char* name, int64_t block_size) {
  ATTNKIT_CHECK(block_size == 32 || block_size == 64 || block_size == 128, name,
                " must be 32, 64 or 128, got ", block_size);
}

}  // namespace sparse

BlockMask BlockMask::FromDense(int64_t batch, int64_t heads, int64_t seqlen_q, int64_t seqlen_k,
                               int64_t block_q, int64_t block_k, std::span<const uint8_t> dense) {
  ATTNKIT_CHECK(batch >= 1 && heads >= 1, "BlockMask::FromDense: batch and heads must be >= 1, got ",
                batch, " and ", heads);
  ATTNKIT_CHECK(seqlen_q >= 1 && seqlen_k >= 1,
                "BlockMask::FromDense: seqlen_q and seqlen_k must be >= 1, got ", seqlen_q, " and ",
                seqlen_k);
  sparse::CheckBlockSize("block_q", block_q);
  sparse::CheckBlockSize("block_k", block_k);
  const int64_t nqb = sparse::CeilDiv(seqlen_q, block_q), nkb = sparse::CeilDiv(seqlen_k, block_k);
  ATTNKIT_CHECK(static_cast<int64_t>(dense.size()) == batch * heads * nqb * nkb,
                "block_mask has ", dense.size(), " entries, expected batch x heads x ceil(Nq/",
                block_q, ") x ceil(Nk/", block_k, ") = ", batch, " x ", heads, " x ", nqb, " x ",
                nkb);
  sparse::BlockMaskBuilder builder(batch, heads, seqlen_q, seqlen_k, block_q, block_k);
  std::vector<int32_t> row;
  for (int64_t r = 0; r < batch * heads * nqb; ++r) {
    row.clear();
    for (int64_t jk = 0; jk < nkb; ++jk) {
      if (dense[static_cast<size_t>(r * nkb + jk)] != 0) row.push_back(static_cast<int32_t>(jk));
    }
    builder.AddRow(row);
  }
  return builder.Finish();
}

std::vector<uint8_t> BlockMask::ToDense() const {
  const int64_t nkb = num_k_blocks();
  std::vector<uint8_t> dense(static_cast<size_t>(num_rows() * nkb), 0);
  for (int64_t r = 0; r < num_rows(); ++r) {
    for (int32_t jk : KeyBlocks(r)) dense[static_cast<size_t>(r * nkb + jk)] = 1;
  }
  return dense;
}

void ValidateBlockMask(const BlockMask& m) {
  ATTNKIT_CHECK(m.batch >= 1, "block_mask.batch must be >= 1, got ", m.batch);
  ATTNKIT_CHECK(m.heads >= 1, "block_mask.heads must be >= 1, got ", m.heads);
  ATTNKIT_CHECK(m.seqlen_q >= 1 && m.seqlen_k >= 1,
                "block_mask.seqlen_q and seqlen_k must be >= 1, got ", m.seqlen_q, " and ",
                m.seqlen_k);
  sparse::CheckBlockSize("block_mask.block_q", m.block_q);
  sparse::CheckBlockSize("block_mask.block_k", m.block_k);
  const int64_t rows = m.num_rows(), nkb = m.num_k_blocks();
  ATTNKIT_CHECK(static_cast<int64_t>(m.row_begin.size()) == rows + 1, "block_mask.row_begin has ",
                m.row_begin.size(), " entries, expected batch x heads x num_q_blocks + 1 = ",
                rows + 1);
  ATTNKIT_CHECK(m.row_begin[0] == 0, "block_mask.row_begin[0] must be 0, got ", m.row_begin[0]);
  ATTNKIT_CHECK(m.row_begin.back() == static_cast<int64_t>(m.key_blocks.size()),
                "block_mask.row_begin ends at ", m.row_begin.back(), " but key_blocks has ",
                m.key_blocks.size(), " entries");
  for (int64_t r = 0; r < rows; ++r) {
    ATTNKIT_CHECK(m.row_begin[r + 1] >= m.row_begin[r], "block_mask.row_begin must be non-decreasing: [",
                  r + 1, "] = ", m.row_begin[r + 1], " < [", r, "] = ", m.row_begin[r]);
  }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t last = -1;
    for (int32_t jk : m.KeyBlocks(r)) {
      ATTNKIT_CHECK(jk >= 0 && jk < nkb, "block_mask.key_blocks: block ", jk, " of row ", r,
                    " is outside [0, ", nkb, ")");
      ATTNKIT_CHECK(jk > last, "block_mask.key_blocks of row ", r,
                    " must be strictly ascending (no repeats), got ", last, " then ", jk);
      last = jk;
    }
  }
}

int64_t VisibleBlocks(const MaskSpec& mask, int64_t seqlen_q, int64_t seqlen_k, int64_t block_q,
                      int64_t block_k) {
  const sparse::WindowBounds w = sparse::WindowBounds::Of(mask);
  int64_t total = 0;
  for (int64_t iq = 0; iq < sparse::CeilDiv(seqlen_q, block_q); ++iq) {
    const sparse::KeyBlockRange r =
        sparse::VisibleKeyBlocks(w, seqlen_q, seqlen_k, block_q, block_k, iq);
    total += r.end - r.first;
  }
  return total;
}

double KeptDensity(const BlockMask& m, const MaskSpec& mask) {
  const sparse::WindowBounds w = sparse::WindowBounds::Of(mask);
  int64_t kept = 0;
  const int64_t nqb = m.num_q_blocks();
  for (int64_t r = 0; r < m.num_rows(); ++r) {
    const sparse::KeyBlockRange range =
        sparse::VisibleKeyBlocks(w, m.seqlen_q, m.seqlen_k, m.block_q, m.block_k, r % nqb);
    for (int32_t jk : m.KeyBlocks(r)) kept += range.Contains(jk) ? 1 : 0;
  }
  const int64_t visible =
      VisibleBlocks(mask, m.seqlen_q, m.seqlen_k, m.block_q, m.block_k) * m.batch * m.heads;
  return visible == 0 ? 0.0 : static_cast<double>(kept) / static_cast<double>(visible);
}

}  // namespace attnkit
