// SPDX-License-Identifier: Apache-2.0
// Registry lines of the linear family (listed by attnkit::ListKernels()): one
// per form. The linear planner (linear_plan.cc) picks among them by mode.
#include "src/kernels/linear/linear_plan_impl.h"
#include "src/plan/registry.h"

namespace attnkit {
namespace {

struct LinearKernel {
  LinearMode mode;
  const char* name;
  const char* description;
};

constexpr LinearKernel kLinearKernels[] = {
    {LinearMode::kChunk, "linear_chunk_f32acc_tilegemm",
     "causal linear attention, chunked (prefill): intra-chunk TileGemm products + state passing; "
     "decay, scalar / per-channel gates, delta rule (WY form), feature maps (Highway)"},
    {LinearMode::kRecurrent, "linear_recurrent_f32acc",
     "causal linear attention, token by token (decode): one fused update + output pass over the "
     "state per token (Highway)"},
    {LinearMode::kParallel, "linear_parallel_f32acc",
     "causal linear attention, parallel form: one chunk per sequence, the masked O(N^2) product "
     "(tests; N <= 8192)"},
    {LinearMode::kReference, "linear_reference_f64",
     "fp64 oracle of linear attention, recurrent definition (slow; for tests)"},
};

}  // namespace

const char* LinearKernelName(LinearMode mode) {
  for (const LinearKernel& k : kLinearKernels) {
    if (k.mode == mode) return k.name;
  }
  return "?";
}

std::vector<KernelInfo> LinearKernelInfos() {
  std::vector<KernelInfo> out;
  for (const LinearKernel& k : kLinearKernels) {
    out.push_back(
        {k.name, "linear", {DType::kF32, DType::kBF16, DType::kF16}, k.description, "f32 products"});
  }
  return out;
}

}  // namespace attnkit
