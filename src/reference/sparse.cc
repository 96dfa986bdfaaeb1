// SPDX-License-Identifier: Apache-2.0
// fp64 block-sparse oracle (see sparse.h): materialise, then the exact reference.
#include "src/reference/sparse.h"

#include <algorithm>
#include <limits>

namespace attnkit::reference {

std::vector<float> BlockMaskBias(const BlockMask& m) {
  const int64_t nq = m.seqlen_q, nk = m.seqlen_k, nqb = m.num_q_blocks();
  std::vector<float> bias(static_cast<size_t>(m.batch * m.heads * nq * nk),
                          -std::numeric_limits<float>::infinity());
  for (int64_t bh = 0; bh < m.batch * m.heads; ++bh) {
    for (int64_t iq = 0; iq < nqb; ++iq) {
      for (int32_t jk : m.KeyBlocks(bh * nqb + iq)) {
        for (int64_t i = iq * m.block_q; i < std::min(nq, (iq + 1) * m.block_q); ++i) {
          for (int64_t j = jk * m.block_k; j < std::min(nk, (jk + 1) * m.block_k); ++j) {
            bias[static_cast<size_t>((bh * nq + i) * nk + j)] = 0.0f;
          }
        }
      }
    }
  }
  return bias;
}

Result BlockSparseAttention(const AttentionSpec& spec, const AttentionShape& shape,
                            const AttentionTensors& in, const BlockMask& mask) {
  std::vector<float> bias = BlockMaskBias(mask);
  AttentionSpec s = spec;
  s.has_bias = true;
  AttentionTensors t = in;
  t.bias = TensorView::Contiguous(bias.data(), DType::kF32,
                                  {mask.batch, mask.heads, mask.seqlen_q, mask.seqlen_k});
  return Attention(s, shape, t);
}

}  // namespace attnkit::reference
