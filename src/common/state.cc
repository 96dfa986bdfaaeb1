// SPDX-License-Identifier: Apache-2.0
// AttentionState and its associative merge (see include/attnkit/state.h).
#include "attnkit/state.h"

#include <cmath>
#include <limits>

#include "attnkit/error.h"

namespace attnkit {

void Merge(const StateView& acc, const StateView& other) {
  ATTNKIT_CHECK(acc.rows == other.rows && acc.dim == other.dim,
                "Merge: states differ in shape: [", acc.rows, " x ", acc.dim, "] vs [", other.rows,
                " x ", other.dim, "]");
  ATTNKIT_CHECK(acc.o_stride >= acc.dim && other.o_stride >= other.dim,
                "Merge: o_stride must be >= dim");
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < acc.rows; ++r) {
    const float la = acc.lse[r], lb = other.lse[r];
    float* oa = acc.o + r * acc.o_stride;
    const float* ob = other.o + r * other.o_stride;
    if (lb == kNegInf) continue;  // other saw no key: nothing to add
    if (la == kNegInf) {          // acc saw no key: take other
      for (int64_t c = 0; c < acc.dim; ++c) oa[c] = ob[c];
      acc.lse[r] = lb;
      continue;
    }
    // Weights relative to the larger LSE, so neither exp overflows.
    const float m = la > lb ? la : lb;
    const float wa = std::exp(la - m), wb = std::exp(lb - m);
    const float sum = wa + wb;
    const float ca = wa / sum, cb = wb / sum;
    for (int64_t c = 0; c < acc.dim; ++c) oa[c] = ca * oa[c] + cb * ob[c];
    acc.lse[r] = m + std::log(sum);
  }
}

namespace {
int64_t CheckedRows(int64_t rows, int64_t dim) {
  ATTNKIT_CHECK(rows >= 0 && dim >= 1, "AttentionState: need rows >= 0 and dim >= 1, got rows=",
                rows, " dim=", dim);
  return rows;
}
}  // namespace

AttentionState::AttentionState(int64_t rows, int64_t dim)
    : rows_(CheckedRows(rows, dim)),
      dim_(dim),
      o_(static_cast<size_t>(rows * dim), 0.0f),
      lse_(static_cast<size_t>(rows), -std::numeric_limits<float>::infinity()) {}

StateView AttentionState::view() { return StateView{o_.data(), lse_.data(), rows_, dim_, dim_}; }

}  // namespace attnkit
