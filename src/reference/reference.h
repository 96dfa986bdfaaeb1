// SPDX-License-Identifier: Apache-2.0
// The fp64 reference oracle for exact attention: materialises every logit,
// applies every option of AttentionSpec, softmax with max subtraction, P·V.
// Small, obviously correct, never optimised. Also a "naive at precision"
// variant that rounds like a framework computing in bf16/f16, which sets the
// tolerance of low-precision kernels (FlashAttention's test rule).
#ifndef ATTNKIT_REFERENCE_REFERENCE_H_
#define ATTNKIT_REFERENCE_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "attnkit/plan.h"
#include "attnkit/spec.h"

namespace attnkit::reference {

// out: [B, Hq, Nq, Dv] row-major (varlen: B = 1, Nq = total_q); lse: [B, Hq, Nq].
struct Result {
  std::vector<double> out;
  std::vector<double> lse;
  int64_t batch = 0, heads = 0, rows = 0, dim = 0;  // out is [batch, heads, rows, dim]

  double& o(int64_t b, int64_t h, int64_t i, int64_t c) {
    return out[((b * heads + h) * rows + i) * dim + c];
  }
  double o(int64_t b, int64_t h, int64_t i, int64_t c) const {
    return out[((b * heads + h) * rows + i) * dim + c];
  }
  double& l(int64_t b, int64_t h, int64_t i) { return lse[(b * heads + h) * rows + i]; }
  double l(int64_t b, int64_t h, int64_t i) const { return lse[(b * heads + h) * rows + i]; }
};

// Exact attention in fp64. Reads q, k, v, sinks and bias from `in` (any dtype,
// any strides); ignores in.out / in.lse. Inputs must already be validated.
Result Attention(const AttentionSpec& spec, const AttentionShape& shape,
                 const AttentionTensors& in);

// The same computation done the way a framework does it in `precision`:
// logits accumulated in f32 and rounded to `precision`, softmax in f32,
// probabilities rounded to `precision`, P·V accumulated in f32, output rounded.
// For precision f32 this is a plain f32 materialised implementation.
Result NaiveAtPrecision(const AttentionSpec& spec, const AttentionShape& shape,
                        const AttentionTensors& in, DType precision);

// Writes `r` into in.out (and in.lse when given), rounding to their dtypes.
void Store(const Result& r, const AttentionTensors& in);

}  // namespace attnkit::reference

#endif  // ATTNKIT_REFERENCE_REFERENCE_H_
