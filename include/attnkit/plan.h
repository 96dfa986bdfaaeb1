// SPDX-License-Identifier: Apache-2.0
// Plan / Run. MakePlan validates a problem, picks a kernel from the registry,
// sizes tiles from the cache, partitions the work over threads and reports the
// workspace size. Run executes a plan on caller-owned tensors and workspace: it
// allocates nothing and decides nothing.
#ifndef ATTNKIT_PLAN_H_
#define ATTNKIT_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attnkit/spec.h"
#include "attnkit/tensor.h"
#include "attnkit/threading.h"

namespace attnkit {

// The tensors of one call. Shapes are logical; any strides are accepted as long
// as the last (dim) axis has stride 1. Varlen batches use B = 1 and pack all
// sequences along N (see AttentionShape).
struct AttentionTensors {
  TensorView q;      // [B, Hq, Nq, Dqk]
  TensorView k;      // [B, Hkv, Nk, Dqk]
  TensorView v;      // [B, Hkv, Nk, Dv]
  TensorView out;    // [B, Hq, Nq, Dv], dtype = shape.out_dtype; written
  TensorView lse;    // [B, Hq, Nq] f32; written; required iff spec.return_lse
  TensorView sinks;  // [Hq] f32; required iff spec.has_sinks
  TensorView bias;   // [B|1, Hq|1, Nq|1, Nk] f32/bf16/f16; required iff spec.has_bias
};

struct PlanOptions {
  // Registry entry to use ("" = let the planner choose), e.g. "reference_f64".
  // For bf16 inputs the planner prefers the AVX512-BF16 kernel, which rounds P
  // to bf16 like FlashAttention; "dense_fwd_f32acc_tiled" keeps every product
  // in f32 (about 1.5-2x slower).
  std::string kernel;
  // Tile overrides (0 = from the cost model). block_k must be a multiple of 16.
  int64_t block_q = 0;
  int64_t block_k = 0;
  // Time the cost model's best tilings once on synthetic inputs of this shape
  // and keep the fastest (a few kernel runs, once per shape: the winner is
  // cached in-process and in $ATTNKIT_AUTOTUNE_CACHE, default
  // ~/.cache/attnkit/autotune.tsv; "off" keeps it in-process only).
  bool autotune = false;
};

struct PlanImpl;  // defined in src/plan/

class Plan {
 public:
  Plan() = default;
  explicit Plan(std::shared_ptr<const PlanImpl> impl) : impl_(std::move(impl)) {}

  bool valid() const { return impl_ != nullptr; }
  size_t workspace_bytes() const;
  const std::string& kernel_name() const;
  int num_threads() const;
  const AttentionSpec& spec() const;    // what the plan computes
  const AttentionShape& shape() const;  // the sizes it was made for (varlen offsets included)
  // Human-readable account of the choice: kernel, ISA, tiles, partition,
  // workspace, and the alternatives considered with their estimated cost.
  std::string Explain() const;
  const PlanImpl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const PlanImpl> impl_;
};

// Throws attnkit::Error naming the offending argument on invalid input.
Plan MakePlan(const AttentionSpec& spec, const AttentionShape& shape, const ThreadingContext& ctx,
              const PlanOptions& options = {});

// Runs `plan`. The tensors must match the spec and shape the plan was made for
// (checked; throws Error). `workspace` must hold plan.workspace_bytes() bytes,
// 64-byte alignment recommended.
void Run(const Plan& plan, const AttentionTensors& tensors, std::span<std::byte> workspace);

// The shape implied by the tensors (dtype, batch, lengths) plus varlen offsets.
AttentionShape ShapeOf(const AttentionTensors& tensors, std::vector<int64_t> cu_seqlens_q = {},
                       std::vector<int64_t> cu_seqlens_k = {});

// Convenience: plan, allocate the workspace, run.
void Attention(const AttentionSpec& spec, const AttentionTensors& tensors,
               const ThreadingContext& ctx = ThreadingContext(),
               std::vector<int64_t> cu_seqlens_q = {}, std::vector<int64_t> cu_seqlens_k = {},
               const PlanOptions& options = {});

// One line per registered kernel, for tests, benchmarks and the CLI.
struct KernelInfo {
  std::string name;         // e.g. "dense_fwd_bf16_f32acc"
  std::string family;       // "dense", "reference", ...
  std::vector<DType> dtypes;  // accepted q/k/v dtypes
  std::string description;
  std::string precision;      // "f32 products" or "bf16 products (P rounded to bf16)"
};
std::vector<KernelInfo> ListKernels();

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_H_
