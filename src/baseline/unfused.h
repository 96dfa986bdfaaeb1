// SPDX-License-Identifier: Apache-2.0
// The "unfused" peer of attnkit: what a user would otherwise write with a BLAS,
// S = scale Q K^T (sgemm), modifiers + mask + row softmax, O = P V (sgemm).
#ifndef ATTNKIT_BASELINE_UNFUSED_H_
#define ATTNKIT_BASELINE_UNFUSED_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnkit/plan.h"
#include "attnkit/spec.h"

namespace attnkit::baseline {

// ---------------------------------------------------------------- OpenBLAS

// OpenBLAS is loaded with dlopen at first use, so attnkit has no link-time
// dependency on it. Candidates, in order:
//   /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0   (libopenblas0-openmp)
//   /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0  (libopenblas0-pthread)
//   libopenblas.so.0                                              (the loader's search path)
// or only $ATTNKIT_OPENBLAS when that is set (a path or a soname).
// Before loading, if the CPU has AVX-512 (F/BW/DQ/VL) and OPENBLAS_CORETYPE is
// unset, OPENBLAS_CORETYPE=SkylakeX is set: Debian's OpenBLAS 0.3.21 does not
// recognise recent CPUs (e.g. Zen 5) and falls back to its Haswell (AVX2)
// kernels, half the real sgemm roof, which would make the baseline look weak.
struct BlasInfo {
  bool available = false;
  std::string library;    // the path that was loaded
  std::string core_name;  // openblas_get_corename(), e.g. "SkylakeX"
  std::string config;     // openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
  bool coretype_set_by_us = false;  // we exported OPENBLAS_CORETYPE=SkylakeX
  std::string error;                // why it is unavailable (every candidate and its dlerror)

  // One line for report headers: "OpenBLAS core SkylakeX (OpenBLAS 0.3.21 ...)"
  // or "OpenBLAS unavailable: ...".
  std::string Describe() const;
};

// The process-wide OpenBLAS, loaded once (thread-safe). Never throws.
const BlasInfo& Blas();

// Tries `candidates` in order, without caching and without touching the
// process-wide instance (for tests of the failure path). Never throws.
BlasInfo ProbeBlas(const std::vector<std::string>& candidates);

// GFLOP/s of a square sgemm (n x n x n, 2 n^3 flops) on `num_threads` threads:
// the best of a few repetitions after one warm-up, at least `min_seconds` in
// all. The roof the baseline's two GEMMs run against. Throws Error if OpenBLAS
// is unavailable.
double MeasureSgemmGflops(int num_threads, int64_t n = 2048, double min_seconds = 0.3);

// ---------------------------------------------------------------- inputs

// f32 copies of q, k, v (and bias) as densely packed [B, H, N, D] tensors
// (bias keeps its broadcast shape); sinks are shared with the source (always
// f32). `tensors.out` and `tensors.lse` are left empty for the caller.
// The vectors own the memory `tensors` points into: moving an F32Inputs keeps
// the views valid, copying is disabled.
struct F32Inputs {
  std::vector<float> q, k, v, bias;
  AttentionTensors tensors;

  F32Inputs() = default;
  F32Inputs(F32Inputs&&) = default;
  F32Inputs& operator=(F32Inputs&&) = default;
  F32Inputs(const F32Inputs&) = delete;
  F32Inputs& operator=(const F32Inputs&) = delete;
};

// Widens any-dtype, any-stride inputs to f32. The bench and the tour call this
// before timing: the baseline stands for a framework that keeps f32
// activations, so it is never charged for the conversion (this favours it).
F32Inputs WidenToF32(const AttentionTensors& in);

// ---------------------------------------------------------------- baseline

// Default query rows per chunk. The score block S of one chunk is at most
// kDefaultChunkRows x Nk floats per thread (16 MiB at Nk = 16384).
inline constexpr int64_t kDefaultChunkRows = 256;

// The unfused attention of one (spec, shape). Work items are (sequence, query
// head, chunk of query rows), scheduled dynamically over `num_threads` OpenMP
// threads, each calling single-threaded sgemm:
//
//   S[rows, keys]  = scale * Q[chunk rows, :] . K[keys, :]^T        (sgemm 1)
//   S              = softcap, ALiBi, bias, mask; P = exp(S - max)   (vectorised, per row)
//   O[rows, Dv]    = P . V[keys, :]                                 (sgemm 2)
//   O[row, :]     /= sum of the row (incl. the sink term); LSE = max + log(sum)
//
// `keys` is the union of the keys any row of the chunk can see: for causal
// attention the chunk of rows [r0, r1) multiplies only keys [0, p(r1 - 1)], for
// a sliding window only [p(r0) - L, p(r1 - 1) + R]. So a causal or windowed
// baseline does not pay for the masked part beyond the chunk's diagonal block:
// it is a strong peer, not a strawman that computes the full N x N product.
// Fully masked rows give O = 0 and LSE = -inf (LSE = sink with learned sinks),
// as documented in include/attnkit/spec.h.
class Unfused {
 public:
  // Validates spec and shape (throws attnkit::Error) and loads OpenBLAS
  // (throws attnkit::Error naming the candidates tried if it cannot).
  // Allocates num_threads x chunk_rows x (widest key range) floats of scratch.
  Unfused(const AttentionSpec& spec, const AttentionShape& shape, int num_threads,
          int64_t chunk_rows = kDefaultChunkRows);

  // Computes attention. q, k, v, out (and bias, lse) must be f32 (use
  // WidenToF32 for bf16/f16 inputs), contiguous along D, with row strides >= D;
  // any other strides are fine. Throws attnkit::Error on bad tensors.
  void Run(const AttentionTensors& t);

  size_t scratch_bytes() const { return scratch_.size() * sizeof(float); }
  int num_threads() const { return num_threads_; }

  // One work item: `rows` query rows starting at local row `row0` of sequence
  // `seq`, for query head `head`, multiplying keys [key0, key0 + keys).
  struct Item {
    int64_t seq, head, row0, rows, key0, keys;
  };
  const std::vector<Item>& items() const { return items_; }

 private:
  void RunItem(const AttentionTensors& t, const Item& it, float* scores) const;

  AttentionSpec spec_;
  AttentionShape shape_;
  int num_threads_;
  int64_t chunk_rows_;
  float scale_;
  std::vector<float> slopes_;  // ALiBi slopes per query head, empty = off
  std::vector<Item> items_;
  int64_t max_keys_ = 0;        // widest key range of any item
  std::vector<float> scratch_;  // num_threads x chunk_rows x max_keys
};

}  // namespace attnkit::baseline

#endif  // ATTNKIT_BASELINE_UNFUSED_H_
