// SPDX-License-Identifier: Apache-2.0
// The kernel registry: one entry per kernel. The planner, the tests, the
// benchmarks and `attnkit check` all iterate it, so adding a kernel is its body
// plus one entry in registry.cc.
#ifndef ATTNKIT_PLAN_REGISTRY_H_
#define ATTNKIT_PLAN_REGISTRY_H_

#include <span>
#include <string>
#include <vector>

#include "attnkit/plan.h"
#include "src/plan/plan_impl.h"

namespace attnkit {

// What a kernel's results are guaranteed to match (docs/conventions.md).
enum class Accuracy : uint8_t {
  kF32Products,   // every product in f32 from exactly converted inputs: ~1e-6 relative
  kBf16Products,  // P rounded to bf16 before P V: FlashAttention's "2x a naive bf16" rule
};

struct KernelEntry {
  const char* name;         // family_direction_dtypes_accumulator[_isa]
  const char* family;
  std::vector<DType> dtypes;  // accepted q/k/v dtypes
  const char* description;
  bool is_reference;        // the fp64 oracle: never chosen automatically
  Accuracy accuracy;
  // "" if the entry can run this problem, else why not.
  std::string (*why_unsupported)(const AttentionSpec&, const AttentionShape&);
  // Fills the kernel-specific part of `plan` (tiles, partition, workspace).
  void (*plan)(PlanImpl& plan, const PlanOptions& options);
  void (*run)(const PlanImpl& plan, const AttentionTensors& t, std::span<std::byte> workspace);
};

const std::vector<KernelEntry>& Registry();

// Kernels of the other families, for ListKernels(); each is defined in its
// family folder (src/kernels/<family>/).
std::vector<KernelInfo> DecodeKernelInfos();
std::vector<KernelInfo> SparseKernelInfos();
std::vector<KernelInfo> LinearKernelInfos();
const KernelEntry* FindKernel(const std::string& name);  // nullptr if unknown

// Family entry points (src/plan/dense_plan.cc, src/plan/reference_kernel.cc).
void PlanDense(PlanImpl& plan, const PlanOptions& options);
void PlanDenseBf16(PlanImpl& plan, const PlanOptions& options);
std::string DenseBf16Unsupported(const AttentionSpec& spec, const AttentionShape& shape);
void RunDense(const PlanImpl& plan, const AttentionTensors& t, std::span<std::byte> workspace);
void PlanReference(PlanImpl& plan, const PlanOptions& options);
void RunReference(const PlanImpl& plan, const AttentionTensors& t, std::span<std::byte> workspace);

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_REGISTRY_H_
