// SPDX-License-Identifier: Apache-2.0
// Planning and running the block-sparse kernel (attnkit/sparse.h): validation,
// the visible kept blocks of every work item, GQA grouping, the workspace
// (packed K^T / V tiles as for dense, then one scratch block per worker) and
// the two parallel phases (pack the used key tiles, then compute).
#include <algorithm>
#include <cstring>

#include "attnkit/error.h"
#include "attnkit/sparse.h"
#include "src/common/parallel.h"
#include "src/kernels/dense/dense_run.h"
#include "src/kernels/sparse/block_sparse.h"
#include "src/kernels/sparse/mask_util.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace {

void CheckSupported(const AttentionSpec& spec, const AttentionShape& shape, const BlockMask& m) {
  ATTNKIT_CHECK(!spec.alibi, "block-sparse attention does not support ALiBi");
  ATTNKIT_CHECK(!spec.has_bias, "block-sparse attention does not support an additive bias");
  ATTNKIT_CHECK(!shape.is_varlen(),
                "block-sparse attention takes a fixed-length batch (no cu_seqlens)");
  ValidateBlockMask(m);
  ATTNKIT_CHECK(m.batch == shape.batch && m.heads == spec.num_q_heads,
                "block_mask is for batch ", m.batch, " x ", m.heads, " heads, but the problem has batch ",
                shape.batch, " x num_q_heads ", spec.num_q_heads);
  ATTNKIT_CHECK(m.seqlen_q == shape.seqlen_q && m.seqlen_k == shape.seqlen_k,
                "block_mask is for seqlen_q ", m.seqlen_q, ", seqlen_k ", m.seqlen_k,
                ", but the problem has ", shape.seqlen_q, " and ", shape.seqlen_k);
}

// A view whose `axis` starts `by` entries later (a size-1 axis broadcasts: unchanged).
TensorView Shifted(TensorView t, int axis, int64_t by) {
  if (t.data != nullptr && t.shape[axis] > 1) {
    t.data = static_cast<char*>(t.data) + by * t.strides[axis] * static_cast<int64_t>(SizeOf(t.dtype));
  }
  return t;
}

}  // namespace

BlockSparsePlan MakeBlockSparsePlan(const AttentionSpec& spec, const AttentionShape& shape,
                                    const BlockMask& mask, const ThreadingContext& ctx) {
  ValidateSpec(spec);
  ValidateShape(spec, shape);
  CheckSupported(spec, shape, mask);

  auto p = std::make_shared<BlockSparsePlanImpl>();
  p->spec = spec;
  p->shape = shape;
  p->num_threads = ctx.num_threads();
  p->cpu = ctx.cpu();
  p->scale = spec.resolved_scale();
  const sparse::WindowBounds w = sparse::WindowBounds::Of(spec.mask);
  p->window_left = w.left;
  p->window_right = w.right;
  p->block_q = mask.block_q;
  p->block_k = mask.block_k;
  p->dv_pad = dense::RoundUp(spec.head_dim_v, dense::kPad);
  p->pack_v = !(shape.dtype == DType::kF32 && spec.head_dim_v == p->dv_pad);
  p->dense_fns = dense::GetDenseFns(dense::Products::kF32);
  p->fns = sparse::GetBlockSparseFns();

  const int64_t hq = spec.num_q_heads, hkv = spec.num_kv_heads, group = hq / hkv;
  const int64_t nq = shape.seqlen_q, nk = shape.seqlen_k, nqb = mask.num_q_blocks();
  const int64_t num_tiles = mask.num_k_blocks();
  p->k_tile_words = dense::KTileWords(dense::Products::kF32, spec.head_dim_qk, p->block_k);
  p->v_tile_words = p->pack_v ? dense::VTileWords(dense::Products::kF32, p->dv_pad, p->block_k) : 0;
  int64_t k_floats = 0, v_floats = 0;
  for (int64_t b = 0; b < shape.batch; ++b) {
    dense::Sequence s{};
    s.batch_index = b;
    s.nq = nq;
    s.nk = nk;
    s.packed_k_offset = k_floats;
    s.packed_v_offset = v_floats;
    k_floats += hkv * num_tiles * p->k_tile_words;
    v_floats += hkv * num_tiles * p->v_tile_words;
    p->seqs.push_back(s);
  }
  p->packed_k_floats = k_floats;
  p->packed_v_floats = v_floats;
  p->scratch_floats =
      dense::ScratchFloats(p->block_q * group, p->block_k, spec.head_dim_qk, p->dv_pad);
  p->workspace_bytes = AlignUp(4 * k_floats) + AlignUp(4 * v_floats) +
                       static_cast<size_t>(p->num_threads) * AlignUp(4 * p->scratch_floats);

  // Work items: the visible kept blocks of each (b, g, iq), shared by the group
  // when every head keeps the same ones.
  std::vector<std::pair<int64_t, sparse::SparseItem>> weighted;
  std::vector<uint8_t> used(static_cast<size_t>(shape.batch * hkv * num_tiles), 0);
  std::vector<int32_t> visible_blocks;
  std::vector<std::vector<int32_t>> per_head(static_cast<size_t>(group));
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t iq = 0; iq < nqb; ++iq) {
      const sparse::KeyBlockRange range =
          sparse::VisibleKeyBlocks(w, nq, nk, p->block_q, p->block_k, iq);
      const int64_t rows = std::min(p->block_q, nq - iq * p->block_q);
      p->visible += (range.end - range.first) * hq;
      for (int64_t g = 0; g < hkv; ++g) {
        bool same = true;
        for (int64_t hh = 0; hh < group; ++hh) {
          std::vector<int32_t>& blocks = per_head[static_cast<size_t>(hh)];
          blocks.clear();
          for (int32_t jk : mask.KeyBlocks(mask.Row(b, g * group + hh, iq))) {
            if (range.Contains(jk)) blocks.push_back(jk);
          }
          same = same && blocks == per_head[0];
        }
        const auto add = [&](int64_t head, const std::vector<int32_t>& blocks, int64_t nrows) {
          sparse::SparseItem it{static_cast<int32_t>(b), static_cast<int32_t>(g),
                                static_cast<int32_t>(iq), static_cast<int32_t>(head),
                                static_cast<int64_t>(p->key_blocks.size()), 0};
          for (int32_t jk : blocks) {
            p->key_blocks.push_back(jk);
            used[static_cast<size_t>((b * hkv + g) * num_tiles + jk)] = 1;
          }
          it.end = static_cast<int64_t>(p->key_blocks.size());
          // Even an item with no block runs: it writes O = 0, LSE = -inf.
          weighted.push_back({static_cast<int64_t>(blocks.size() + 1) * nrows, it});
        };
        if (same) {
          add(-1, per_head[0], rows * group);
          p->kept += static_cast<int64_t>(per_head[0].size()) * group;
        } else {
          for (int64_t hh = 0; hh < group; ++hh) {
            add(g * group + hh, per_head[static_cast<size_t>(hh)], rows);
            p->kept += static_cast<int64_t>(per_head[static_cast<size_t>(hh)].size());
          }
        }
      }
    }
  }
  std::stable_sort(weighted.begin(), weighted.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  p->items.reserve(weighted.size());
  for (const auto& wi : weighted) p->items.push_back(wi.second);
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t g = 0; g < hkv; ++g) {
      for (int64_t t = 0; t < num_tiles; ++t) {
        if (used[static_cast<size_t>((b * hkv + g) * num_tiles + t)] == 0) continue;
        p->pack_items.push_back(dense::PackItem{static_cast<int32_t>(b), static_cast<int32_t>(g),
                                                static_cast<int32_t>(t)});
      }
    }
  }
  return BlockSparsePlan(std::move(p));
}

size_t BlockSparsePlan::workspace_bytes() const { return impl_ ? impl_->workspace_bytes : 0; }
int64_t BlockSparsePlan::kept_blocks() const { return impl_ ? impl_->kept : 0; }
int64_t BlockSparsePlan::visible_blocks() const { return impl_ ? impl_->visible : 0; }

void RunBlockSparse(const BlockSparsePlan& plan, const AttentionTensors& t,
                    std::span<std::byte> workspace) {
  ATTNKIT_CHECK(plan.valid(), "RunBlockSparse: the plan is empty (make it with MakeBlockSparsePlan)");
  const BlockSparsePlanImpl& p = plan.impl();
  ValidateTensors(p.spec, p.shape, t);
  ATTNKIT_CHECK(workspace.size() >= p.workspace_bytes, "RunBlockSparse: workspace has ",
                workspace.size(), " bytes, the plan needs ", p.workspace_bytes);
  ATTNKIT_CHECK(p.workspace_bytes == 0 || workspace.data() != nullptr,
                "RunBlockSparse: workspace pointer is null");

  const dense::DenseRun r = dense::MakeDenseRun(p, t, workspace.data());
  const dense::DenseArgs& a = r.args;

  // Per-head views: "query head kv_head" of view h is query head h, so the
  // dense tile steps (which read heads kv_head * group + i) serve one head.
  std::vector<dense::DenseArgs> heads(static_cast<size_t>(a.hq), a);
  for (int64_t h = 0; h < a.hq; ++h) {
    dense::DenseArgs& d = heads[static_cast<size_t>(h)];
    const int64_t shift = h - h / a.group;  // from head (kv_head = h / group) to head h
    d.hq = d.hkv = a.hkv;
    d.group = 1;
    d.q = Shifted(a.q, 1, shift);
    d.out = Shifted(a.out, 1, shift);
    d.lse = Shifted(a.lse, 1, shift);
    d.sinks = Shifted(a.sinks, 0, shift);
  }
  sparse::BlockSparseArgs sa{a, heads.data(), p.key_blocks.data()};

  const dense::DenseFns& df = p.dense_fns;
  ParallelFor(p.num_threads, static_cast<int64_t>(p.pack_items.size()), [&](int, int64_t i) {
    df.pack_k(a, p.pack_items[i]);
    if (a.packed_v != nullptr) df.pack_v(a, p.pack_items[i]);
  });
  ParallelFor(p.num_threads, static_cast<int64_t>(p.items.size()), [&](int worker, int64_t i) {
    p.fns.tile(sa, p.items[i], r.scratch + static_cast<size_t>(worker) * r.scratch_stride);
  });
}

void BlockSparseAttention(const AttentionSpec& spec, const AttentionTensors& tensors,
                          const BlockMask& block_mask, const ThreadingContext& ctx) {
  const BlockSparsePlan plan = MakeBlockSparsePlan(spec, ShapeOf(tensors), block_mask, ctx);
  AlignedWorkspace workspace(plan.workspace_bytes());
  RunBlockSparse(plan, tensors, workspace.span());
}

}  // namespace attnkit
