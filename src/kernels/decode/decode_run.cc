// SPDX-License-Identifier: Apache-2.0
// RunDecode: checks the tensors and the cache version, then four phases:
//   0. prepare: queries (RoPE, Hadamard, scale) and the sink tokens of
//      StreamingLLM caches (RoPE at their cache-slot positions);
//   1. pieces: stream-K workers (each a run of pieces) or split-KV chunks;
//   2. merges: a problem's partial states, folded by the worker that owns its
//      first block (attnkit::Merge), then written;
//   3. cascade: each row's prefix state merged with its own suffix state.
// Output rows are written once, by EmitRow: sink logit, rotation back from
// the Hadamard basis, rounding to the output dtype.
#include <algorithm>
#include <cmath>
#include <limits>

#include "attnkit/error.h"
#include "attnkit/state.h"
#include "src/common/parallel.h"
#include "src/kernels/decode/decode_plan.h"
#include "src/kernels/decode/kv_quant.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace decode {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kLog2e = 1.4426950408889634f;

struct EmitCtx {
  const PlanState* plan;
  const DecodeTensors* t;
};

void EmitRow(const DecodeArgs& a, int64_t row_index, float* o, float lse) {
  const EmitCtx& e = *static_cast<const EmitCtx*>(a.emit_ctx);
  const PlanState& p = *e.plan;
  const Row& row = a.rows[row_index];
  const int64_t dv = p.spec.head_dim_v;
  HadamardInPlace(o, dv, p.hb_v);
  if (p.spec.has_sinks) {  // one more logit with a zero value row (docs/conventions.md)
    const TensorView& s = e.t->sinks;
    const float z = LoadAsF32(s.data, s.dtype, row.head * s.strides[0]);
    if (lse == kNegInf) {
      lse = z;
      std::fill(o, o + dv, 0.0f);
    } else {
      const float m = std::max(lse, z);
      const float wo = std::exp(lse - m), wz = std::exp(z - m);
      const float keep = wo / (wo + wz);
      for (int64_t c = 0; c < dv; ++c) o[c] *= keep;
      lse = m + std::log(wo + wz);
    }
  }
  const TensorView& out = e.t->out;
  const int64_t base = row.head * out.strides[1] + row.q_index * out.strides[2];
  for (int64_t c = 0; c < dv; ++c) StoreFromF32(out.data, out.dtype, base + c, o[c]);
  if (p.spec.return_lse) {
    const TensorView& l = e.t->lse;
    static_cast<float*>(l.data)[row.head * l.strides[1] + row.q_index * l.strides[2]] = lse;
  }
}

// Rank, shape, strides (CheckTensor) and dtype of one tensor argument.
void CheckView(const char* name, const TensorView& t, std::initializer_list<int64_t> shape,
               const char* axes, DType dtype, bool output) {
  CheckTensor(name, t, shape, axes);
  ATTNKIT_CHECK(t.dtype == dtype, "tensor '", name, "' must have dtype ", Name(dtype), ", got ",
                Name(t.dtype));
  if (output) CheckWritable(name, t);
}

void CheckTensors(const PlanState& p, const DecodeTensors& t) {
  const int64_t hq = p.spec.num_q_heads, total = p.batch.cu_seqlens_q.back();
  CheckView("q", t.q, {1, hq, total, p.spec.head_dim_qk}, "[1, Hq, total_q, Dqk]", p.q_dtype, false);
  CheckView("out", t.out, {1, hq, total, p.spec.head_dim_v}, "[1, Hq, total_q, Dv]", p.out_dtype, true);
  if (p.spec.return_lse) {
    CheckView("lse", t.lse, {1, hq, total}, "[1, Hq, total_q]", DType::kF32, true);
  } else {
    ATTNKIT_CHECK(t.lse.data == nullptr, "an lse tensor was given but spec.return_lse is false");
  }
  if (p.spec.has_sinks) {
    CheckView("sinks", t.sinks, {hq}, "[Hq]", DType::kF32, false);
  } else {
    ATTNKIT_CHECK(t.sinks.data == nullptr, "a sinks tensor was given but spec.has_sinks is false");
  }
}

// Phase 0: queries of every row, prepared for the tile products.
void PrepareQueries(const PlanState& p, const DecodeTensors& t, float* qs) {
  const CacheImpl& c = p.cache->impl();
  const int64_t dqk = p.spec.head_dim_qk, ld = p.dqk_pad;
  const float mul = p.scale * kLog2e;
  ParallelFor(p.num_threads, static_cast<int64_t>(p.rows.size()), [&](int, int64_t r) {
    const Row& row = p.rows[r];
    float* dst = qs + r * ld;
    const int64_t base = row.head * t.q.strides[1] + row.q_index * t.q.strides[2];
    for (int64_t d = 0; d < dqk; ++d) dst[d] = LoadAsF32(t.q.data, t.q.dtype, base + d);
    RopeInPlace(c.cfg.rope, dqk, row.rope_pos, dst);
    HadamardInPlace(dst, dqk, p.hb_k);
    for (int64_t d = 0; d < dqk; ++d) dst[d] *= mul;
    std::fill(dst + dqk, dst + ld, 0.0f);
  });
}

// Phase 0: sink tokens rotated at their cache-slot positions, as an f32 page.
void PrepareSinks(const PlanState& p, uint8_t* sink_base) {
  const CacheImpl& c = p.cache->impl();
  const KVCacheConfig& g = c.cfg;
  std::vector<float> k(static_cast<size_t>(g.head_dim_k)), v(static_cast<size_t>(g.head_dim_v));
  for (const BatchSeq& s : p.seqs) {
    if (s.sink_offset < 0) continue;
    const SeqState& st = c.Seq(s.id);
    uint8_t* page = sink_base + s.sink_offset;
    const int64_t n = std::min(st.length, c.sink_tokens);
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t h = 0; h < g.num_kv_heads; ++h) {
        std::copy_n(st.sink_k.data() + (j * g.num_kv_heads + h) * g.head_dim_k, g.head_dim_k, k.data());
        RopeInPlace(g.rope, g.head_dim_k, st.offset + j + s.view.sink_rope_shift, k.data());
        HadamardInPlace(k.data(), g.head_dim_k, p.hb_k);
        if (!g.v_from_k) {
          std::copy_n(st.sink_v.data() + (j * g.num_kv_heads + h) * g.head_dim_v, g.head_dim_v, v.data());
          HadamardInPlace(v.data(), g.head_dim_v, p.hb_v);
        }
        StoreToken(p.sink_layout, page, h, j, k.data(), v.data());
      }
    }
  }
}

StateView SlotView(const DecodeArgs& a, int64_t first_row, int64_t rows, int64_t dv) {
  return StateView{a.partial_o + first_row * a.dv_acc, a.partial_lse + first_row, rows, dv, a.dv_acc};
}

}  // namespace
}  // namespace decode

using decode::PlanState;

DecodeStats RunDecode(const DecodePlan& plan, const KVCache& cache, const DecodeTensors& tensors,
                      std::span<std::byte> workspace) {
  return decode::RunDecodeWithHooks(plan, cache, tensors, workspace, nullptr);
}

namespace decode {

DecodeStats RunDecodeWithHooks(const DecodePlan& plan, const KVCache& cache,
                               const DecodeTensors& tensors, std::span<std::byte> workspace,
                               std::atomic<int64_t>* block_visits) {
  ATTNKIT_CHECK(plan.valid(), "RunDecode: the plan is empty (make it with MakeDecodePlan)");
  const PlanState& p = plan.state();
  ATTNKIT_CHECK(&cache == p.cache, "RunDecode: the plan was made for another KV cache");
  ATTNKIT_CHECK(cache.version() == p.cache_version,
                "RunDecode: the KV cache changed since the plan was made (make a new plan after "
                "Append / Fork / Free)");
  CheckTensors(p, tensors);
  ATTNKIT_CHECK(workspace.size() >= p.workspace_bytes, "RunDecode: workspace has ", workspace.size(),
                " bytes, the plan needs ", p.workspace_bytes);
  ATTNKIT_CHECK(p.workspace_bytes == 0 || workspace.data() != nullptr, "RunDecode: workspace pointer is null");
  std::byte* ws = workspace.data();

  EmitCtx ectx{&p, &tensors};
  DecodeArgs a;
  a.rows = p.rows.data();
  a.segments = p.segments.data();
  a.blocks = p.blocks.data();
  a.problems = p.problems.data();
  a.sink_base = reinterpret_cast<const uint8_t*>(ws + p.sink_off);
  a.hq = p.spec.num_q_heads;
  a.group = p.spec.num_q_heads / p.spec.num_kv_heads;
  a.dqk = p.spec.head_dim_qk;
  a.dqk_pad = p.dqk_pad;
  a.dv = p.spec.head_dim_v;
  a.dv_acc = p.dv_acc;
  a.v_from_k = cache.config().v_from_k;
  a.qs = reinterpret_cast<const float*>(ws + p.qs_off);
  a.softcap = p.spec.softcap;
  a.alibi_slopes = p.alibi_slopes.empty() ? nullptr : p.alibi_slopes.data();
  a.window_left = p.window_left;
  a.window_right = p.window_right;
  a.unified = p.options.unified_max.has_value();
  a.phi2 = a.unified ? *p.options.unified_max * kLog2e : 0.0f;
  a.l1_floats = static_cast<size_t>(p.cpu.l1d_bytes) * 3 / 4 / sizeof(float);
  a.partial_o = reinterpret_cast<float*>(ws + p.po_off);
  a.partial_lse = reinterpret_cast<float*>(ws + p.plse_off);
  a.emit = EmitRow;
  a.emit_ctx = &ectx;
  a.score = p.score;
  a.values = p.values;
  a.fused = p.fused;
  a.block_visits = block_visits;

  // Phase 0.
  PrepareQueries(p, tensors, reinterpret_cast<float*>(ws + p.qs_off));
  PrepareSinks(p, reinterpret_cast<uint8_t*>(ws + p.sink_off));

  // Phase 1.
  std::atomic<int64_t> fallbacks{0};
  float* scratch = reinterpret_cast<float*>(ws + p.scratch_off);
  const size_t stride = p.scratch_stride / sizeof(float);
  const auto run_piece = [&](int thread, const Piece& piece) {
    float* s = scratch + static_cast<size_t>(thread) * stride;
    if (!p.fns.piece(a, piece, s)) {  // unified max out of its window: exact online softmax
      DecodeArgs exact = a;
      exact.unified = false;
      p.fns.piece(exact, piece, s);
      fallbacks.fetch_add(1, std::memory_order_relaxed);
    }
  };
  if (p.partition == DecodePartition::kStreamK) {
    ParallelFor(p.num_threads, p.num_workers, [&](int thread, int64_t w) {
      for (int32_t i = p.worker_begin[w]; i < p.worker_begin[w + 1]; ++i) run_piece(thread, p.pieces[i]);
    });
  } else {
    ParallelFor(p.num_threads, static_cast<int64_t>(p.pieces.size()),
                [&](int thread, int64_t i) { run_piece(thread, p.pieces[i]); });
  }

  // Phase 2: fold a problem's pieces into its first piece's state, in block order.
  const int64_t dv = p.spec.head_dim_v;
  const int64_t groups = static_cast<int64_t>(p.merge_group_begin.size()) - 1;
  ParallelFor(p.num_threads, groups, [&](int, int64_t gi) {
    for (int32_t k = p.merge_group_begin[gi]; k < p.merge_group_begin[gi + 1]; ++k) {
      const int32_t pi = p.merge_problems[k];
      const Problem& pb = p.problems[pi];
      const int64_t rows = pb.row_end - pb.row_begin;
      const StateView acc = SlotView(a, pb.state_row, rows, dv);
      for (int32_t j = p.problem_piece_begin[pi] + 1; j < p.problem_piece_begin[pi + 1]; ++j) {
        Merge(acc, SlotView(a, p.pieces[p.problem_pieces[j]].partial_row, rows, dv));
      }
      if (!pb.final) continue;
      for (int64_t r = 0; r < rows; ++r) {
        EmitRow(a, pb.row_begin + r, acc.o + r * a.dv_acc, acc.lse[r]);
      }
    }
  });

  // Phase 3: cascade rows = prefix state (+) own state.
  ParallelFor(p.num_threads, static_cast<int64_t>(p.cascade_problems.size()), [&](int, int64_t i) {
    const Problem& pb = p.problems[p.cascade_problems[i]];
    for (int32_t r = pb.row_begin; r < pb.row_end; ++r) {
      const StateView own = SlotView(a, pb.state_row + (r - pb.row_begin), 1, dv);
      const int32_t twin = p.rows[r].partner;
      const Problem& pp = p.problems[p.rows[twin].problem];
      Merge(own, SlotView(a, pp.state_row + (twin - pp.row_begin), 1, dv));
      EmitRow(a, r, own.o, own.lse[0]);
    }
  });
  DecodeStats stats;
  stats.unified_max_fallbacks = fallbacks.load();
  return stats;
}

}  // namespace decode
}  // namespace attnkit
