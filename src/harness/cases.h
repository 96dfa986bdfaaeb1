// SPDX-License-Identifier: Apache-2.0
// The case-driven harness: one Case describes one attention call (spec, sizes,
// dtype, layout, input distribution, threads, kernel); the same list of cases
// feeds the GoogleTest grid, `attnkit check`, `attnkit bench` and the tour.
#ifndef ATTNKIT_HARNESS_CASES_H_
#define ATTNKIT_HARNESS_CASES_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"

namespace attnkit::harness {

// Distribution of the generated inputs. Gaussian data gives near-uniform
// attention and hides bugs, so the grid also uses adversarial kinds.
enum class InputKind : uint8_t {
  kGaussian,     // q, k, v ~ N(0, 1)
  kOffsetK,      // k gets a large common offset (mean bias of 20 per channel)
  kSpikes,       // sparse 100x spikes in k and v, and keys equal to scaled queries (needles)
  kLargeLogits,  // q and k scaled by 100: logits around 1e4, softmax near one-hot
  kZeroQuery,    // q = 0: every visible key gets weight exactly 1 (exact in any precision),
                 // so kernels that round P must still be exact: tests their V indexing
};
const char* Name(InputKind kind);

struct Case {
  AttentionSpec spec;
  DType dtype = DType::kF32;
  DType out_dtype = DType::kF32;
  Layout layout = Layout::kBHND;
  int64_t batch = 1, seqlen_q = 1, seqlen_k = 1;
  std::vector<int64_t> varlen_q, varlen_k;  // per-sequence lengths; varlen when non-empty
  InputKind inputs = InputKind::kGaussian;
  int64_t row_padding = 0;  // extra elements after each D-row of q/k/v (tests strides)
  // Bias broadcast: which axes the bias tensor spans (false = size 1).
  bool bias_batch = true, bias_heads = true, bias_rows = true;
  uint64_t seed = 1;
  int threads = 1;
  std::string kernel;  // registry name, "" = planner's choice
  int64_t block_q = 0, block_k = 0;
  bool autotune = false;  // PlanOptions::autotune

  bool is_varlen() const { return !varlen_q.empty(); }
  AttentionShape Shape() const;
  PlanOptions Options() const;  // kernel, tiles and autotune as PlanOptions
  // GoogleTest prints parameters with this.
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.ToString(); }
  std::string ToString() const;  // one line, all parameters that differ from defaults
  double DenseFlops() const;      // 2 B Hq Nq Nk (Dqk + Dv): full KV, as FlashAttention counts
  double EffectiveFlops() const;  // the same over visible (query, key) pairs only
  double Bytes() const;           // q, k, v read once + out written once
};

// Deterministic inputs of a case, owning their memory.
struct Inputs {
  std::vector<uint8_t> q, k, v, out, lse, sinks, bias;
  AttentionTensors tensors;
  std::vector<int64_t> cu_seqlens_q, cu_seqlens_k;
};
Inputs MakeInputs(const Case& c);

struct CheckResult {
  double max_abs = 0;      // max |O - O_ref|
  double rel_l2 = 0;       // ||O - O_ref|| / ||O_ref||
  double lse_max_abs = 0;  // max |LSE - LSE_ref| over finite rows, relative to max(1, |LSE_ref|)
  double out_scale = 0;    // max |O_ref| (1 if all zero)
  double tolerance = 0;    // bound on max_abs
  double naive_err = -1;   // max_abs of a same-precision naive computation, when computed
  bool pass = false;
  std::string failure;     // why it failed (empty on pass)
};

// Runs the case through Plan/Run and compares with the fp64 reference.
// Tolerance: max_abs <= 1e-5 * out_scale (plus half an ulp of a bf16/f16
// output); for adversarial inputs, or at least 2x the error of a naive f32
// implementation (FlashAttention's rule). Fully masked rows must be exactly
// O = 0, LSE = -inf; any NaN fails.
CheckResult Check(const Case& c);

// The default correctness grid (`attnkit check`): several hundred cases over
// sizes, dims, GQA ratios, masks, modifiers, dtypes, layouts, varlen,
// adversarial inputs and thread counts.
std::vector<Case> DefaultGrid();

}  // namespace attnkit::harness

#endif  // ATTNKIT_HARNESS_CASES_H_
