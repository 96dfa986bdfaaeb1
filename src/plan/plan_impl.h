// SPDX-License-Identifier: Apache-2.0
// PlanImpl: everything MakePlan decided, read by Run. A plain value; copying
// a Plan shares it.
#ifndef ATTNKIT_PLAN_PLAN_IMPL_H_
#define ATTNKIT_PLAN_PLAN_IMPL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "attnkit/plan.h"
#include "src/kernels/dense/dense.h"

namespace attnkit {

struct KernelEntry;

// One candidate tiling with its estimated cost (for Explain and tests).
struct TileCandidate {
  int64_t block_q = 0, block_k = 0;
  double est_ms = 0;        // cost-model estimate for the whole call
  int64_t working_set = 0;  // bytes touched per work item
  bool fits_l2 = false;
};

struct PlanImpl {
  AttentionSpec spec;
  AttentionShape shape;
  int num_threads = 1;
  CpuInfo cpu;
  const KernelEntry* kernel = nullptr;
  std::string kernel_name;
  std::string isa;  // Highway target of the kernel, or "scalar"
  std::vector<std::string> rejected;  // "name: reason" of entries that could not run this problem
  // Entries that could run it, with their estimated time (the chosen one first).
  std::vector<std::pair<std::string, double>> considered;
  double est_ms = 0;  // the cost model's estimate for the chosen kernel and tiles

  // Resolved options.
  float scale = 1.0f;
  std::vector<float> alibi_slopes;  // empty = off
  int64_t window_left = kUnbounded, window_right = kUnbounded;  // causal folded into right

  // Dense family.
  dense::Products products = dense::Products::kF32;
  int64_t block_q = 0, block_k = 0, dv_pad = 0;
  bool pack_v = false;
  int64_t k_tile_words = 0, v_tile_words = 0;
  std::vector<dense::Sequence> seqs;
  std::vector<dense::WorkItem> items;      // longest first
  std::vector<dense::PackItem> pack_items;
  int64_t packed_k_floats = 0, packed_v_floats = 0, scratch_floats = 0;
  std::vector<TileCandidate> candidates;   // sorted by est_ms; [0] is the choice
  // PlanOptions::autotune: the measured tilings ({block_q, block_k, ms}), and
  // whether the choice came from the cache instead.
  struct Timed {
    int64_t block_q, block_k;
    double ms;
  };
  std::vector<Timed> tuning;
  bool tuned_from_cache = false;
  dense::DenseFns fns;

  size_t workspace_bytes = 0;
};

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_PLAN_IMPL_H_
