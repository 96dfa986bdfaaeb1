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

// How much of a structured head's mass the flat background keeps at long N.
//   kHard        the amplitudes above as they are: the background's mass grows
//                like the number of keys while only the sink grows like N, so at
//                64k up to ~16 % of the last row's mass of a local head (and a
//                few % of the others) is spread over all keys.
//   kCalibrated  each structured head's sink amplitude is raised (never lowered)
//                just enough that the background carries at most
//                kCalibratedBackgroundShare of the last query row's mass at every
//                N (earlier rows: less), i.e. the structured part carries >= 97 %,
//                in line with the sparsity reported for real long-context heads
//                (docs/sparse.md). The noise head stays flat.
enum class StructuredSuite : uint8_t { kHard, kCalibrated };
const char* Name(StructuredSuite suite);
// Parses "hard" | "calibrated" (attnkit::Error otherwise).
StructuredSuite ParseStructuredSuite(const std::string& name);
inline constexpr double kCalibratedBackgroundShare = 0.03;

struct StructuredSpec {
  int64_t batch = 1, heads_q = 8, heads_kv = 2, seqlen = 4096, head_dim = 64;  // head_dim >= 16
  // Kind of query head h: kinds[h % kinds.size()]; empty = kDefaultMix.
  std::vector<HeadKind> kinds;
  DType dtype = DType::kF32;
  uint64_t seed = 1;
  StructuredSuite suite = StructuredSuite::kHard;
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

// The logit amplitudes of a head kind under `suite` for sequence length n and
// head dim d (what MakeStructuredInputs plants; exposed for tests and docs).
struct StructuredAmplitudes {
  double sink = 0, vertical = 0, local = 0, needle = 0;
};
StructuredAmplitudes AmplitudesOf(HeadKind kind, StructuredSuite suite, int64_t n, int64_t d);
// Expected mass exp(sigma^2 / 2) of one background key of a head with local
// amplitude `local` (background logits plus the band's far field, of variance
// 1 + local^2 / (2 F) with F frequency pairs for head dim d).
double BackgroundKeyMass(double local, int64_t d);

}  // namespace attnkit::harness

#endif  // ATTNKIT_HARNESS_STRUCTURED_INPUTS_H_
