// SPDX-License-Identifier: Apache-2.0
// AttentionState: the partial result of attention over a subset of keys, as
// (normalised output O, log-sum-exp LSE) per query row, and its associative,
// commutative Merge. Split-KV decode, cascade attention and ring attention are
// all "attend to pieces, then merge".
#ifndef ATTNKIT_STATE_H_
#define ATTNKIT_STATE_H_

#include <cstdint>
#include <vector>

namespace attnkit {

// Non-owning view of `rows` states of width `dim`:
//   o[r * o_stride + c], c < dim   normalised output of row r
//   lse[r]                         log-sum-exp of row r; -inf = "saw no key" (o must be 0)
struct StateView {
  float* o = nullptr;
  float* lse = nullptr;
  int64_t rows = 0;
  int64_t dim = 0;
  int64_t o_stride = 0;  // elements between rows; >= dim
};

// acc <- Merge(acc, other), row by row:
//   LSE = log(exp(LSE_a) + exp(LSE_b)),  O = exp(LSE_a - LSE) O_a + exp(LSE_b - LSE) O_b.
// A row with LSE = -inf contributes nothing; two such rows give O = 0, LSE = -inf.
// Throws attnkit::Error if the views disagree in rows or dim.
void Merge(const StateView& acc, const StateView& other);

// An owning state (row-major, o_stride == dim), initialised to "saw no key".
class AttentionState {
 public:
  AttentionState(int64_t rows, int64_t dim);
  StateView view();
  int64_t rows() const { return rows_; }
  int64_t dim() const { return dim_; }
  std::vector<float>& o() { return o_; }
  std::vector<float>& lse() { return lse_; }

 private:
  int64_t rows_, dim_;
  std::vector<float> o_, lse_;
};

}  // namespace attnkit

#endif  // ATTNKIT_STATE_H_
