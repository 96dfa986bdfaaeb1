// SPDX-License-Identifier: Apache-2.0
// Block-level geometry shared by the block-sparse planner and the predictors:
// which key blocks a query block can see under a causal mask / window
// (bottom-right aligned), its diagonal block, and a row-by-row BlockMask builder.
// Not SIMD code and not part of the public API.
#ifndef ATTNKIT_KERNELS_SPARSE_MASK_UTIL_H_
#define ATTNKIT_KERNELS_SPARSE_MASK_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "attnkit/sparse.h"
#include "attnkit/spec.h"

namespace attnkit::sparse {

inline int64_t CeilDiv(int64_t x, int64_t m) { return (x + m - 1) / m; }

// Window bounds with causality folded in (kUnbounded = no bound), as the
// planner resolves them: key j is visible to position p iff
// p - left <= j <= p + right.
struct WindowBounds {
  int64_t left = kUnbounded, right = kUnbounded;
  static WindowBounds Of(const MaskSpec& mask);
};

// The rows of query block iq and their absolute positions p = Nk - Nq + i.
struct QueryBlockRows {
  int64_t i0, rows;  // first row, number of rows
  int64_t pmin, pmax;
};
inline QueryBlockRows RowsOf(int64_t nq, int64_t nk, int64_t block_q, int64_t iq) {
  QueryBlockRows r;
  r.i0 = iq * block_q;
  r.rows = std::min(block_q, nq - r.i0);
  r.pmin = nk - nq + r.i0;
  r.pmax = r.pmin + r.rows - 1;
  return r;
}

// Key blocks [first, end) containing a key that some row of query block iq can
// see (the dense kernel's tile range); first == end when there is none.
struct KeyBlockRange {
  int64_t first = 0, end = 0;
  bool Contains(int64_t jk) const { return jk >= first && jk < end; }
};
KeyBlockRange VisibleKeyBlocks(const WindowBounds& w, int64_t nq, int64_t nk, int64_t block_q,
                               int64_t block_k, int64_t iq);

// The key block holding the last row's own position (clamped to [0, Nk)): the
// "diagonal" block of query block iq; -1 if that row sees no key at all.
int64_t DiagonalKeyBlock(const WindowBounds& w, int64_t nq, int64_t nk, int64_t block_q,
                         int64_t block_k, int64_t iq);

// Appends rows in order (b, h, iq); each row is sorted and deduplicated, and
// blocks outside [0, num_k_blocks) are dropped.
class BlockMaskBuilder {
 public:
  BlockMaskBuilder(int64_t batch, int64_t heads, int64_t nq, int64_t nk, int64_t block_q,
                   int64_t block_k);
  // Adds the next row; `blocks` is reordered in place.
  void AddRow(std::vector<int32_t>& blocks);
  BlockMask Finish();

 private:
  BlockMask m_;
};

// Throws attnkit::Error unless block_size is 32, 64 or 128; `name` is the
// parameter's name in the message.
void CheckBlockSize(const char* name, int64_t block_size);

}  // namespace attnkit::sparse

#endif  // ATTNKIT_KERNELS_SPARSE_MASK_UTIL_H_
