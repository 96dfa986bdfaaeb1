// SPDX-License-Identifier: Apache-2.0
// What the dense run and the block-sparse run (which reuses the dense tile
// steps) share: the DenseArgs of a plan on given tensors, and the workspace
// carved as the planners size it:
//   [packed K^T tiles | packed V tiles (when pack_v) | num_threads x scratch],
// each region starting on a cache line.
#ifndef ATTNKIT_KERNELS_DENSE_DENSE_RUN_H_
#define ATTNKIT_KERNELS_DENSE_DENSE_RUN_H_

#include <cstddef>

#include "attnkit/plan.h"
#include "src/common/workspace.h"
#include "src/kernels/dense/dense.h"

namespace attnkit::dense {

struct DenseRun {
  DenseArgs args;
  float* scratch = nullptr;   // worker w's scratch: scratch + w * scratch_stride
  size_t scratch_stride = 0;  // floats
};

// `DensePlan` is PlanImpl (src/plan/plan_impl.h) or BlockSparsePlanImpl
// (src/kernels/sparse/block_sparse.h): both carry the fields read here.
template <class DensePlan>
DenseRun MakeDenseRun(const DensePlan& p, const AttentionTensors& t, std::byte* workspace) {
  DenseRun r;
  DenseArgs& a = r.args;
  a.seqs = p.seqs.data();
  a.hq = p.spec.num_q_heads;
  a.hkv = p.spec.num_kv_heads;
  a.group = a.hq / a.hkv;
  a.dqk = p.spec.head_dim_qk;
  a.dv = p.spec.head_dim_v;
  a.dv_pad = p.dv_pad;
  a.scale = p.scale;
  a.softcap = p.spec.softcap;
  if constexpr (requires { p.alibi_slopes; }) {
    a.alibi_slopes = p.alibi_slopes.empty() ? nullptr : p.alibi_slopes.data();
  }
  a.window_left = p.window_left;
  a.window_right = p.window_right;
  a.q = t.q;
  a.k = t.k;
  a.v = t.v;
  a.out = t.out;
  a.lse = p.spec.return_lse ? t.lse : TensorView{};
  a.sinks = p.spec.has_sinks ? t.sinks : TensorView{};
  a.bias = p.spec.has_bias ? t.bias : TensorView{};
  a.block_q = p.block_q;
  a.block_k = p.block_k;
  a.l1_floats = static_cast<size_t>(p.cpu.l1d_bytes) * 3 / 4 / sizeof(float);
  std::byte* base = workspace;
  a.packed_k = reinterpret_cast<float*>(base);
  base += AlignUp(4 * static_cast<size_t>(p.packed_k_floats));
  a.packed_v = p.pack_v ? reinterpret_cast<float*>(base) : nullptr;
  base += AlignUp(4 * static_cast<size_t>(p.packed_v_floats));
  a.k_tile_words = p.k_tile_words;
  a.v_tile_words = p.v_tile_words;
  r.scratch = reinterpret_cast<float*>(base);
  r.scratch_stride = AlignUp(4 * static_cast<size_t>(p.scratch_floats)) / 4;
  return r;
}

}  // namespace attnkit::dense

#endif  // ATTNKIT_KERNELS_DENSE_DENSE_RUN_H_
