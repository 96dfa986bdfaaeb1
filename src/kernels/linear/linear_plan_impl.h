// SPDX-License-Identifier: Apache-2.0
// LinearPlanImpl: everything MakeLinearPlan decided, read by RunLinear. A plain
// value; copying a LinearPlan shares it. Not the softmax plan (src/plan/plan_impl.h).
#ifndef ATTNKIT_KERNELS_LINEAR_LINEAR_PLAN_IMPL_H_
#define ATTNKIT_KERNELS_LINEAR_LINEAR_PLAN_IMPL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnkit/linear.h"
#include "attnkit/plan.h"
#include "src/kernels/linear/linear.h"

namespace attnkit {

// One chunk length the planner considered, with the cost model's estimate.
struct LinearChunkCandidate {
  int64_t chunk = 0;
  double flops_per_token = 0;  // per KV head, all G query heads
  double est_ms = 0;           // whole call
};

struct LinearPlanImpl {
  LinearSpec spec;
  LinearShape shape;
  int num_threads = 1;
  CpuInfo cpu;
  LinearMode mode = LinearMode::kChunk;  // resolved
  int64_t chunk = 0;                     // chunked and parallel forms
  std::string kernel_name, isa, reason;  // reason: why this form and chunk

  // Resolved spec values.
  float scale = 1.0f;
  int64_t feature_dim = 0, f_pad = 0, state_cols = 0, dv_pad = 0;
  std::vector<float> log_decay;  // [Hkv], empty = none

  std::vector<linear::Sequence> seqs;
  std::vector<linear::WorkItem> items;  // longest sequence first
  int64_t scratch_floats = 0;           // per worker
  std::vector<LinearChunkCandidate> candidates;  // best first; [0] is the choice (chunked form)

  // Hybrid: the softmax-window part, planned through the public dense API.
  Plan window_plan;
  int64_t window_out_floats = 0;  // f32 [B, Hq, N, Dv] in the workspace

  size_t scratch_offset = 0, window_out_offset = 0, window_workspace_offset = 0;
  size_t workspace_bytes = 0;
  linear::LinearFns fns;
};

// The registry name of the kernel that runs `mode` (registry_linear.cc).
const char* LinearKernelName(LinearMode mode);

}  // namespace attnkit

#endif  // ATTNKIT_KERNELS_LINEAR_LINEAR_PLAN_IMPL_H_
