// SPDX-License-Identifier: Apache-2.0
// The fp64 oracle of the linear-attention family, in two independent forms:
//   recurrent  the definition, token by token (include/attnkit/linear.h);
//   parallel   the masked N x N form: decay products D_tj = prod_{j<u<=t} a_u
//              per pair, and for the delta rule the WY form solved over the
//              whole sequence (U = (I + A)^-1 beta (V - ...)) by substitution.
// Plain loops, double accumulation, never optimised. Not a kernel: it allocates.
#ifndef ATTNKIT_KERNELS_LINEAR_LINEAR_REFERENCE_H_
#define ATTNKIT_KERNELS_LINEAR_LINEAR_REFERENCE_H_

#include <vector>

#include "attnkit/linear.h"

namespace attnkit::linear {

enum class ReferenceForm { kRecurrent, kParallel };

struct ReferenceOutput {
  std::vector<double> out;    // logical [B, Hq, N, Dv] (varlen: [1, Hq, total, Dv]), contiguous
  std::vector<double> state;  // final states [S, Hkv, F, state_cols], contiguous
};

// Computes the problem from the (validated) tensors: q, k, v (any dtype and
// strides), gate, beta, initial_state; out and final_state are not touched.
ReferenceOutput LinearReference(const LinearSpec& spec, const LinearShape& shape,
                                const LinearTensors& t, ReferenceForm form);

}  // namespace attnkit::linear

#endif  // ATTNKIT_KERNELS_LINEAR_LINEAR_REFERENCE_H_
