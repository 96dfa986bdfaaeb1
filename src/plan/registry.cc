// SPDX-License-Identifier: Apache-2.0
// The registry list. One entry per kernel; see registry.h.
#include "src/plan/registry.h"

namespace attnkit {
namespace {

std::string AnyExactProblem(const AttentionSpec&, const AttentionShape&) { return ""; }

}  // namespace

const std::vector<KernelEntry>& Registry() {
  // Listed fastest first: the planner takes the first entry that accepts a problem.
  static const std::vector<KernelEntry> kEntries = {
      {"dense_fwd_bf16_f32acc_avx512bf16", "dense",
       {DType::kBF16},
       "FlashAttention-2 forward on bf16 inputs with AVX512-BF16 dot products (vdpbf16ps): "
       "exact logits, P rounded to bf16 for P V (FlashAttention's precision), f32 accumulation",
       false, Accuracy::kBf16Products, DenseBf16Unsupported, PlanDenseBf16, RunDense},
      {"dense_fwd_f32acc_tiled", "dense",
       {DType::kF32, DType::kBF16, DType::kF16},
       "FlashAttention-2 forward: packed K^T/V tiles, register-blocked f32 micro-kernels, "
       "online softmax, causal/window tile skipping (Highway, dynamic dispatch)",
       false, Accuracy::kF32Products, AnyExactProblem, PlanDense, RunDense},
      {"reference_f64", "reference",
       {DType::kF32, DType::kBF16, DType::kF16},
       "fp64 oracle: materialised scores, one loop nest (slow; for tests and --kernel)",
       true, Accuracy::kF32Products, AnyExactProblem, PlanReference, RunReference},
  };
  return kEntries;
}

const KernelEntry* FindKernel(const std::string& name) {
  for (const KernelEntry& e : Registry()) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

std::vector<KernelInfo> ListKernels() {
  std::vector<KernelInfo> out;
  for (const KernelEntry& e : Registry()) {
    out.push_back({e.name, e.family, e.dtypes, e.description,
                   e.accuracy == Accuracy::kF32Products ? "f32 products"
                                                        : "bf16 products (P rounded to bf16)"});
  }
  for (auto* family : {&DecodeKernelInfos, &SparseKernelInfos, &LinearKernelInfos}) {
    for (KernelInfo& k : family()) out.push_back(std::move(k));
  }
  return out;
}

}  // namespace attnkit
