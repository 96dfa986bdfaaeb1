// SPDX-License-Identifier: Apache-2.0
// Structured attention inputs for evaluating sparse attention: q / k / v whose
// attention has sink columns, local bands, vertical lines and planted needles,
// with a different mix per head (i.i.d. Gaussian inputs give flat attention and
// hide selection bugs). Not real-model activations (a later issue adds those).
#ifndef ATTNKIT_HARNESS_STRUCTURED_INPUTS_H_
#define ATTNKIT_HARNESS_STRUCTURED_INPUTS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "attnkit/plan.h"

namespace attnkit::harness {

// What one query head attends to (amplitudes in logit units, L = ln N; the
// Gaussian background has logits of standard deviation 1):
//   kSink       the first 4 keys (L + 4) and a weak local band (3)
//   kVertical   the sink (L + 2) and the KV head's vertical lines (L + 2)
//   kLocal      a local band of width ~128 (5) and a weaker sink (L + 1)
//   kRetrieval  the sink (L + 2) and planted needles: query spans of 64
//               tokens that attend to one 16-token key span each (L + 5)
//   kMixed      sink (L + 2), lines (L + 1), band (4) and needles (L + 3)
//   kNoise      nothing: the Gaussian background only (flat attention)
enum class HeadKind : uint8_t { kSink, kVertical, kLocal, kRetrieval, kMixed, kNoise };
const char* Name(HeadKind kind);

struct StructuredSpec {
  int64_t batch = 1, heads_q = 8, heads_kv = 2, seqlen = 4096, head_dim = 64;  // head_dim >= 16
  // Kind of query head h: kinds[h % kinds.size()]; empty = kDefaultMix.
  std::vector<HeadKind> kinds;
  DType dtype = DType::kF32;
  uint64_t seed = 1;
};

// The default cycle over query heads: mostly structured, one flat head in 8.
inline const std::vector<HeadKind> kDefaultMix = {
    HeadKind::kSink, HeadKind::kVertical, HeadKind::kLocal, HeadKind::kRetrieval,
    HeadKind::kMixed, HeadKind::kSink, HeadKind::kVertical, HeadKind::kNoise};

struct StructuredInputs {
  std::vector<uint8_t> q, k, v, out;  // BHND, densely packed; out is f32
  AttentionTensors tensors;           // q, k, v and out views
  // Planted structure, per KV head (shared by its query heads): key positions
  // of the vertical lines, and needles (first query, first key) of the spans.
  std::vector<std::vector<int64_t>> vertical_keys;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> needles;
};

// Deterministic in `spec` (splitmix64 + Box-Muller). Throws attnkit::Error for
// sizes below 1 or head_dim < 16.
StructuredInputs MakeStructuredInputs(const StructuredSpec& spec);

}  // namespace attnkit::harness

#endif  // ATTNKIT_HARNESS_STRUCTURED_INPUTS_H_
