// SPDX-License-Identifier: Apache-2.0
// fp64 oracles of local attention: neighbourhood attention and Swin window
// attention as global attention with an explicit [N x N] mask (and Swin's
// relative position bias), through the exact reference. Slow; tests only.
#ifndef ATTNKIT_REFERENCE_LOCAL_H_
#define ATTNKIT_REFERENCE_LOCAL_H_

#include <vector>

#include "attnkit/local.h"
#include "src/reference/reference.h"

namespace attnkit::reference {

// visible[i * N + j]: key token j is in the neighbourhood of query token i,
// built per axis from NATTEN's reference mask rules (window start / end of
// the query's sub-grid, keys of the same residue only).
std::vector<uint8_t> NeighborhoodMask(const NeighborhoodParams& params);

Result NeighborhoodAttention(const NeighborhoodParams& params, const AttentionSpec& spec,
                             const AttentionTensors& in);

// Swin: the rolled map's window and region label of every token, the mask
// "same window and same label", and the table bias; global attention on the
// original token order (which is the roll, window attention, roll back).
Result WindowAttention(const WindowParams& params, const AttentionSpec& spec,
                       const AttentionTensors& in, const std::vector<float>& rel_pos_bias);

}  // namespace attnkit::reference

#endif  // ATTNKIT_REFERENCE_LOCAL_H_
