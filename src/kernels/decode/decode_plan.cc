// SPDX-License-Identifier: Apache-2.0
// MakeDecodePlan: validation of spec, batch and options against the cache,
// kernel choice, the rows / segments / KV blocks / problems of a batch, the
// partition (split-KV or stream-K), merges and the workspace layout; and
// DecodePlan::Explain. Running is in decode_run.cc.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "attnkit/error.h"
#include "src/common/workspace.h"
#include "src/kernels/decode/decode_plan.h"
#include "src/kernels/decode/kv_quant.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace decode {
namespace {

void CheckOptions(const DecodeOptions& o) {
  ATTNKIT_CHECK(o.partition == DecodePartition::kAuto || o.partition == DecodePartition::kSplitKV ||
                    o.partition == DecodePartition::kStreamK,
                "DecodeOptions.partition is not a DecodePartition (", static_cast<int>(o.partition), ")");
  ATTNKIT_CHECK(o.num_splits >= 0 && o.num_splits <= 4096,
                "DecodeOptions.num_splits must be in [0, 4096] (0 = automatic), got ", o.num_splits);
  ATTNKIT_CHECK(o.block_tokens == 0 || (o.block_tokens >= kTile && o.block_tokens <= 65536 &&
                                        o.block_tokens % kTile == 0),
                "DecodeOptions.block_tokens must be a multiple of ", kTile, " in [", kTile,
                ", 65536] (0 = automatic), got ", o.block_tokens);
  ATTNKIT_CHECK(o.num_workers >= 0 && o.num_workers <= 4096,
                "DecodeOptions.num_workers must be in [0, 4096] (0 = threads), got ", o.num_workers);
  if (o.unified_max.has_value()) {
    ATTNKIT_CHECK(std::isfinite(*o.unified_max), "DecodeOptions.unified_max must be finite, got ",
                  *o.unified_max);
  }
}

void CheckSpec(const AttentionSpec& s, const KVCacheConfig& c) {
  ValidateSpec(s);
  ATTNKIT_CHECK(!s.has_bias, "spec.has_bias: an additive bias is not supported by decode");
  ATTNKIT_CHECK(s.num_kv_heads == c.num_kv_heads, "spec.num_kv_heads (", s.num_kv_heads,
                ") must equal the cache's num_kv_heads (", c.num_kv_heads, ")");
  ATTNKIT_CHECK(s.head_dim_qk == c.head_dim_k, "spec.head_dim_qk (", s.head_dim_qk,
                ") must equal the cache's head_dim_k (", c.head_dim_k, ")");
  ATTNKIT_CHECK(s.head_dim_v == c.head_dim_v, "spec.head_dim_v (", s.head_dim_v,
                ") must equal the cache's head_dim_v (", c.head_dim_v, ")");
}

// Sequence b's view and query rows, checked against what the cache keeps.
BatchSeq MakeBatchSeq(const CacheImpl& c, const AttentionSpec& spec, int64_t id, int64_t nq,
                      int64_t q_begin, int64_t b) {
  ATTNKIT_CHECK(c.seqs.count(id) != 0, "batch.seq_ids[", b, "] = ", id, ": the KV cache has no such sequence");
  BatchSeq s;
  s.id = id;
  s.nq = nq;
  s.q_begin = q_begin;
  s.view = c.View(c.Seq(id));
  ATTNKIT_CHECK(nq <= s.view.nk, "batch: sequence ", id, " has ", nq, " query tokens but holds only ",
                s.view.nk, " tokens (queries are its newest tokens)");
  const KVCacheConfig& g = c.cfg;
  if (g.retention == KVRetention::kRing && nq > 0) {
    const int64_t left = spec.mask.window_left;
    ATTNKIT_CHECK(left != kUnbounded && left + nq <= g.window + 15,
                  "spec.mask.window_left (", left == kUnbounded ? std::string("unbounded") : std::to_string(left),
                  ") + query tokens (", nq, ") must be <= the ring cache's window + 15 (", g.window + 15,
                  "): older keys are not kept");
  }
  if (g.retention == KVRetention::kSinkRecent) {
    ATTNKIT_CHECK(nq <= g.recent_tokens, "batch: sequence ", id, " has ", nq,
                  " query tokens, more than recent_tokens (", g.recent_tokens, ")");
  }
  return s;
}

// Segments of one key list (a batch sequence or the prefix).
void AddSegments(const CacheImpl& c, PlanState& p, BatchSeq& s) {
  const SeqState& st = c.Seq(s.id);
  s.segment_begin = static_cast<int32_t>(p.segments.size());
  for (int i = 0; i < s.view.num_segments; ++i) {
    const Segment& seg = s.view.segments[i];
    SegmentRef r;
    r.u0 = seg.u0;
    r.u1 = seg.u1;
    r.pos0 = seg.pos0 + s.pos_shift;
    r.sink_offset = -1;
    if (seg.kind == Segment::kMain) {
      r.store = c.MainRef(st);
    } else if (seg.kind == Segment::kResidual) {
      r.store = c.ResidualRef(st);
    } else {
      r.store.layout = &p.sink_layout;
      r.sink_offset = s.sink_offset;
    }
    p.segments.push_back(r);
  }
  s.segment_end = static_cast<int32_t>(p.segments.size());
}

// Blocks of key list `s` that rows at positions [pmin, pmax] may see.
void AddBlocks(PlanState& p, const BatchSeq& s, int64_t pmin, int64_t pmax) {
  for (int32_t si = s.segment_begin; si < s.segment_end; ++si) {
    const SegmentRef& seg = p.segments[si];
    int64_t lo = seg.u0, hi = seg.u1;
    if (p.window_left != kUnbounded) lo = std::max(lo, seg.u0 + (pmin - p.window_left - seg.pos0));
    if (p.window_right != kUnbounded) hi = std::min(hi, seg.u0 + (pmax + p.window_right - seg.pos0) + 1);
    for (int64_t u = lo / kSub * kSub; u < hi; u += p.block_tokens) {
      p.blocks.push_back(Block{si, u, std::min(hi, u + p.block_tokens)});
    }
  }
}

// Rows of sequence s for KV head g, in row blocks of at most kMaxRows.
void AddProblems(PlanState& p, const BatchSeq& s, const BatchSeq& keys, int64_t g, bool final) {
  const int64_t group = p.spec.num_q_heads / p.spec.num_kv_heads;
  const int64_t total = group * s.nq;
  for (int64_t r0 = 0; r0 < total; r0 += kMaxRows) {
    Problem pb{};
    pb.kv_head = static_cast<int32_t>(g);
    pb.row_begin = static_cast<int32_t>(p.rows.size());
    pb.final = final;
    pb.state_row = -1;
    int64_t pmin = kUnbounded, pmax = -kUnbounded;
    for (int64_t r = r0; r < std::min(total, r0 + kMaxRows); ++r) {
      const int64_t hh = r / s.nq, i = r % s.nq;
      Row row{};
      row.head = static_cast<int32_t>(g * group + hh);
      row.q_index = static_cast<int32_t>(s.q_begin + i);
      row.problem = static_cast<int32_t>(p.problems.size());
      row.partner = -1;
      row.pos = s.pos_shift + s.view.nk - s.nq + i;
      row.rope_pos = s.view.text_end - s.nq + i;
      pmin = std::min(pmin, row.pos);
      pmax = std::max(pmax, row.pos);
      p.rows.push_back(row);
    }
    pb.row_end = static_cast<int32_t>(p.rows.size());
    pb.block_begin = static_cast<int32_t>(p.blocks.size());
    AddBlocks(p, keys, pmin, pmax);
    pb.block_end = static_cast<int32_t>(p.blocks.size());
    p.problems.push_back(pb);
  }
}

// Cascade: the prefix's problems hold the rows of every sequence (per KV
// head); each row is linked to its twin in the sequence's own problem.
void AddPrefixProblems(PlanState& p, int64_t g, size_t suffix_problems) {
  std::vector<int32_t> twins;  // rows of KV head g in the suffix problems
  for (size_t r = 0; r < p.rows.size(); ++r) {
    const int32_t pi = p.rows[r].problem;
    if (static_cast<size_t>(pi) < suffix_problems && p.problems[pi].kv_head == g) {
      twins.push_back(static_cast<int32_t>(r));
    }
  }
  for (size_t t0 = 0; t0 < twins.size(); t0 += kMaxRows) {
    Problem pb{};
    pb.kv_head = static_cast<int32_t>(g);
    pb.row_begin = static_cast<int32_t>(p.rows.size());
    pb.final = false;
    pb.state_row = -1;
    int64_t pmin = kUnbounded, pmax = -kUnbounded;
    for (size_t t = t0; t < std::min(twins.size(), t0 + kMaxRows); ++t) {
      Row row = p.rows[twins[t]];
      row.problem = static_cast<int32_t>(p.problems.size());
      row.partner = twins[t];
      p.rows[twins[t]].partner = static_cast<int32_t>(p.rows.size());
      pmin = std::min(pmin, row.pos);
      pmax = std::max(pmax, row.pos);
      p.rows.push_back(row);
    }
    pb.row_end = static_cast<int32_t>(p.rows.size());
    pb.block_begin = static_cast<int32_t>(p.blocks.size());
    AddBlocks(p, p.prefix, pmin, pmax);
    pb.block_end = static_cast<int32_t>(p.blocks.size());
    p.problems.push_back(pb);
  }
}

// Partial-state rows for every piece that does not write the output, and the
// merge lists (grouped by the merging worker).
void AssignMerges(PlanState& p, const std::vector<int32_t>& piece_worker) {
  const size_t np = p.problems.size();
  std::vector<std::vector<int32_t>> of_problem(np);
  for (size_t i = 0; i < p.pieces.size(); ++i) of_problem[p.pieces[i].problem].push_back(static_cast<int32_t>(i));
  std::vector<std::vector<int32_t>> groups(static_cast<size_t>(std::max(1, p.num_workers)));
  p.problem_piece_begin.assign(np + 1, 0);
  for (size_t pi = 0; pi < np; ++pi) {
    std::vector<int32_t>& list = of_problem[pi];
    std::sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
      return p.pieces[a].block_begin < p.pieces[b].block_begin;
    });
    Problem& pb = p.problems[pi];
    p.problem_piece_begin[pi] = static_cast<int32_t>(p.problem_pieces.size());
    for (int32_t i : list) p.problem_pieces.push_back(i);
    if (list.size() == 1 && pb.final) continue;  // written directly by its piece
    for (int32_t i : list) {
      p.pieces[i].partial_row = static_cast<int32_t>(p.partial_rows);
      p.partial_rows += pb.row_end - pb.row_begin;
    }
    pb.state_row = p.pieces[list.front()].partial_row;
    if (list.size() > 1) {
      const int32_t host = piece_worker.empty() ? 0 : piece_worker[list.front()];
      groups[piece_worker.empty() ? 0 : host].push_back(static_cast<int32_t>(pi));
    }
  }
  p.problem_piece_begin[np] = static_cast<int32_t>(p.problem_pieces.size());
  // Split-KV: every merge is its own group (scheduled dynamically).
  p.merge_group_begin.push_back(0);
  for (const std::vector<int32_t>& g : groups) {
    for (int32_t pi : g) {
      p.merge_problems.push_back(pi);
      if (piece_worker.empty()) p.merge_group_begin.push_back(static_cast<int32_t>(p.merge_problems.size()));
    }
    if (!piece_worker.empty()) p.merge_group_begin.push_back(static_cast<int32_t>(p.merge_problems.size()));
  }
}

void Partition(PlanState& p) {
  const DecodeOptions& o = p.options;
  p.partition = o.partition == DecodePartition::kSplitKV ? DecodePartition::kSplitKV : DecodePartition::kStreamK;
  std::vector<int32_t> piece_worker;
  if (p.partition == DecodePartition::kStreamK) {
    // Default: 4 equal-cost ranges per thread, handed out dynamically, so a
    // thread that the OS deschedules (or that meets slower memory) does not
    // hold the whole step back; one thread keeps one range (no partial states).
    p.num_workers = o.num_workers > 0 ? o.num_workers : (p.num_threads > 1 ? kWorkersPerThread * p.num_threads : 1);
    // Cost of a block: its tokens, weighted up for many rows (compute grows
    // with rows, the bytes read do not).
    std::vector<double> cost(p.blocks.size(), 0.0);
    for (const Problem& pb : p.problems) {
      const double w = 1.0 + (pb.row_end - pb.row_begin) / 32.0;
      for (int32_t b = pb.block_begin; b < pb.block_end; ++b) {
        cost[b] = w * static_cast<double>(p.blocks[b].u_end - p.blocks[b].u_begin);
      }
    }
    p.pieces = StreamKPartition(p.problems, cost, p.num_workers, p.worker_begin, kStreamKSnap);
    piece_worker.assign(p.pieces.size(), 0);
    for (int w = 0; w < p.num_workers; ++w) {
      for (int32_t i = p.worker_begin[w]; i < p.worker_begin[w + 1]; ++i) piece_worker[i] = w;
    }
  } else {
    p.num_workers = p.num_threads;
    int64_t max_blocks = 1;
    for (const Problem& pb : p.problems) max_blocks = std::max<int64_t>(max_blocks, pb.block_end - pb.block_begin);
    const int64_t np = std::max<int64_t>(1, static_cast<int64_t>(p.problems.size()));
    p.num_splits = o.num_splits > 0 ? o.num_splits
                                    : std::clamp<int64_t>(CeilDiv(2 * p.num_threads, np), 1, max_blocks);
    p.pieces = SplitKVPartition(p.problems, p.num_splits);
    // Longest first, for the dynamic schedule.
    std::stable_sort(p.pieces.begin(), p.pieces.end(), [](const Piece& a, const Piece& b) {
      return a.block_end - a.block_begin > b.block_end - b.block_begin;
    });
  }
  AssignMerges(p, piece_worker);
}

void LayoutWorkspace(PlanState& p) {
  int64_t max_rows = 1;
  for (const Problem& pb : p.problems) max_rows = std::max<int64_t>(max_rows, pb.row_end - pb.row_begin);
  p.scratch_floats = ScratchFloats(max_rows, p.dqk_pad, p.dv_acc);
  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t at = off;
    off += AlignUp(bytes);
    return at;
  };
  p.qs_off = take(4 * p.rows.size() * static_cast<size_t>(p.dqk_pad));
  p.sink_off = take(static_cast<size_t>(p.sink_bytes));
  p.po_off = take(4 * static_cast<size_t>(p.partial_rows * p.dv_acc));
  p.plse_off = take(4 * static_cast<size_t>(p.partial_rows));
  p.scratch_stride = AlignUp(4 * static_cast<size_t>(p.scratch_floats));
  p.scratch_off = take(static_cast<size_t>(p.num_threads) * p.scratch_stride);
  p.workspace_bytes = off;
}

}  // namespace
}  // namespace decode

using decode::BatchSeq;
using decode::PlanState;

DecodePlan MakeDecodePlan(const AttentionSpec& spec, const KVCache& cache, const DecodeBatch& batch,
                          DType q_dtype, DType out_dtype, const ThreadingContext& ctx,
                          const DecodeOptions& options) {
  const decode::CacheImpl& c = cache.impl();
  decode::CheckSpec(spec, c.cfg);
  decode::CheckOptions(options);
  const int64_t nb = static_cast<int64_t>(batch.seq_ids.size());
  ATTNKIT_CHECK(nb >= 1, "batch.seq_ids must name at least one sequence");
  ATTNKIT_CHECK(static_cast<int64_t>(batch.cu_seqlens_q.size()) == nb + 1,
                "batch.cu_seqlens_q must have batch + 1 = ", nb + 1, " entries, got ", batch.cu_seqlens_q.size());
  ATTNKIT_CHECK(batch.cu_seqlens_q[0] == 0, "batch.cu_seqlens_q[0] must be 0, got ", batch.cu_seqlens_q[0]);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t nq = batch.cu_seqlens_q[b + 1] - batch.cu_seqlens_q[b];
    ATTNKIT_CHECK(nq >= 0 && nq <= kMaxDecodeQueries, "batch.cu_seqlens_q: sequence ", b, " has ", nq,
                  " query tokens (allowed: 0..", kMaxDecodeQueries, ")");
  }

  auto p = std::make_shared<PlanState>();
  p->spec = spec;
  p->batch = batch;
  p->options = options;
  p->q_dtype = q_dtype;
  p->out_dtype = out_dtype;
  p->num_threads = ctx.num_threads();
  p->cpu = ctx.cpu();
  p->cache = &cache;
  p->cache_version = cache.version();
  p->scale = spec.resolved_scale();
  if (spec.alibi) p->alibi_slopes = spec.alibi_slopes.empty() ? AlibiSlopes(spec.num_q_heads) : spec.alibi_slopes;
  const auto bound = [](int64_t v) { return v >= kWindowUnboundedAbove ? kUnbounded : v; };
  p->window_left = bound(spec.mask.window_left);
  p->window_right = bound(spec.mask.effective_right());
  p->dqk_pad = decode::RoundUp(spec.head_dim_qk, 16);
  p->dv_acc = decode::RoundUp(spec.head_dim_v, 16);
  p->block_tokens = options.block_tokens > 0 ? options.block_tokens : 256;
  p->hb_k = c.hb_k;
  p->hb_v = c.hb_v;
  p->sink_layout = decode::MakeStoreLayout(KVDType::kF32, c.cfg.num_kv_heads, c.cfg.head_dim_k,
                                           c.cfg.head_dim_v, !c.cfg.v_from_k, false, 16, 16,
                                           std::max<int64_t>(16, decode::RoundUp(c.sink_tokens, 16)));

  // Kernel: a forced registry name, or VNNI scores for int8/int4 keys when the CPU has them.
  const decode::ScoreFn vnni = decode::GetVnniScoreFn(p->cpu);
  const bool codes_possible = c.main.quantized() && !c.cfg.v_from_k;
  if (!options.kernel.empty()) {
    const std::string& k = options.kernel;
    ATTNKIT_CHECK(k == decode::kPortableKernel || k == decode::kFusedKernel || k == decode::kVnniKernel,
                  "DecodeOptions.kernel: unknown decode kernel '", k, "' (registered: ",
                  decode::kFusedKernel, ", ", decode::kPortableKernel, ", ", decode::kVnniKernel, ")");
    if (k == decode::kVnniKernel) {
      ATTNKIT_CHECK(vnni != nullptr, "DecodeOptions.kernel '", decode::kVnniKernel,
                    "' needs an x86-64 CPU with AVX512-VNNI");
      ATTNKIT_CHECK(codes_possible, "DecodeOptions.kernel '", decode::kVnniKernel,
                    "' needs an int8 or int4 cache with stored V (not v_from_k)");
    }
    ATTNKIT_CHECK(k != decode::kFusedKernel || !c.cfg.v_from_k, "DecodeOptions.kernel '",
                  decode::kFusedKernel, "' needs stored values (MLA v_from_k caches use ",
                  decode::kPortableKernel, ")");
    p->on_codes = k == decode::kVnniKernel;
    p->fused = k != decode::kPortableKernel;
  } else {
    // Automatic: VNNI scores wherever the CPU has them. The 15-bit query codes
    // (query_quant.h) cost ~1e-4 rel-L2 even with per-channel key scales
    // folded in (DecodeWorkTest.VnniScores...), far below the cache's own
    // quantisation error.
    p->on_codes = codes_possible && vnni != nullptr;
    // Fused tiles wherever values are stored; MLA (V a view of the K tile)
    // keeps the f32 tiles, which its 128 query heads amortise.
    p->fused = !c.cfg.v_from_k;
  }
  p->kernel_name = p->on_codes ? decode::kVnniKernel : p->fused ? decode::kFusedKernel : decode::kPortableKernel;
  p->fns = decode::GetDecodeFns();
  p->score = p->on_codes ? vnni : nullptr;
  p->values = p->on_codes ? decode::GetVnniValueFn(p->cpu) : nullptr;
  p->isa = std::string(p->fns.target) + (p->on_codes ? " + AVX512-VNNI scores" : "");

  // Cascade prefix.
  if (batch.shared_prefix >= 0) {
    ATTNKIT_CHECK(c.cfg.retention == KVRetention::kAll,
                  "batch.shared_prefix: cascade needs a cache with retention kAll");
    ATTNKIT_CHECK(c.seqs.count(batch.shared_prefix) != 0, "batch.shared_prefix = ", batch.shared_prefix,
                  ": the KV cache has no such sequence");
    p->prefix.id = batch.shared_prefix;
    p->prefix.view = c.View(c.Seq(batch.shared_prefix));
  } else {
    ATTNKIT_CHECK(batch.shared_prefix == -1, "batch.shared_prefix must be a sequence id or -1, got ",
                  batch.shared_prefix);
  }
  const int64_t prefix_len = p->prefix.id >= 0 ? p->prefix.view.nk : 0;

  // Sequences, their segments and sink workspace.
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t id = batch.seq_ids[b];
    BatchSeq s = decode::MakeBatchSeq(c, spec, id, batch.cu_seqlens_q[b + 1] - batch.cu_seqlens_q[b],
                                      batch.cu_seqlens_q[b], b);
    if (p->prefix.id >= 0) {
      ATTNKIT_CHECK(id != p->prefix.id, "batch.seq_ids[", b, "] is the shared prefix itself");
      ATTNKIT_CHECK(c.Seq(id).offset == prefix_len, "batch: sequence ", id, " has position_offset ",
                    c.Seq(id).offset, " but follows a shared prefix of ", prefix_len,
                    " tokens (make it with AddSequence(", prefix_len, "))");
      s.pos_shift = prefix_len;
    }
    if (s.view.num_segments > 0 && s.view.segments[0].kind == decode::Segment::kSink) {
      s.sink_offset = p->sink_bytes;
      p->sink_bytes += p->sink_layout.page_bytes;
    }
    decode::AddSegments(c, *p, s);
    p->seqs.push_back(s);
  }
  if (p->prefix.id >= 0) decode::AddSegments(c, *p, p->prefix);

  // Problems: (sequence, KV head, row block); then the cascade prefix's.
  const bool cascade = p->prefix.id >= 0;
  for (const BatchSeq& s : p->seqs) {
    if (s.nq == 0) continue;
    for (int64_t g = 0; g < spec.num_kv_heads; ++g) decode::AddProblems(*p, s, s, g, !cascade);
  }
  if (cascade) {
    const size_t suffix_problems = p->problems.size();
    for (int64_t g = 0; g < spec.num_kv_heads; ++g) decode::AddPrefixProblems(*p, g, suffix_problems);
    for (size_t i = 0; i < suffix_problems; ++i) p->cascade_problems.push_back(static_cast<int32_t>(i));
  }
  for (const decode::Block& blk : p->blocks) {
    p->kv_bytes += static_cast<double>(blk.u_end - blk.u_begin) *
                   static_cast<double>(p->segments[blk.segment].store.layout->DataBytesPerToken()) /
                   static_cast<double>(spec.num_kv_heads);
  }
  decode::Partition(*p);
  decode::LayoutWorkspace(*p);
  return DecodePlan(std::move(p));
}

size_t DecodePlan::workspace_bytes() const { return s_ ? s_->workspace_bytes : 0; }

const std::string& DecodePlan::kernel_name() const {
  static const std::string kNone = "(invalid plan)";
  return s_ ? s_->kernel_name : kNone;
}

std::string DecodePlan::Explain() const {
  if (!s_) return "(invalid plan)\n";
  const PlanState& p = *s_;
  const KVCacheConfig& g = p.cache->config();
  std::ostringstream os;
  int64_t total_q = p.batch.cu_seqlens_q.back();
  os << "problem   : decode, batch " << p.seqs.size() << " (" << total_q << " query tokens), Hq "
     << p.spec.num_q_heads << ", Hkv " << p.spec.num_kv_heads << ", Dqk " << p.spec.head_dim_qk
     << ", Dv " << p.spec.head_dim_v << (g.v_from_k ? " (V = K[:Dv], MLA)" : "") << ", q "
     << Name(p.q_dtype) << " -> " << Name(p.out_dtype) << "\n";
  os << "cache     : " << Name(g.dtype) << (g.layout == KVLayout::kPaged ? ", paged " : ", contiguous ")
     << (g.layout == KVLayout::kPaged ? std::to_string(g.page_size) + " tokens/page" : "")
     << (g.hadamard ? ", Hadamard" : "") << ", " << p.cache->bytes_per_token() << " B/token"
     << (p.prefix.id >= 0 ? ", cascade prefix of " + std::to_string(p.prefix.view.nk) + " tokens" : "")
     << "\n";
  os << "kernel    : " << p.kernel_name << " [" << p.isa << "]"
     << (p.options.unified_max ? ", unified max (FlashDecoding++)" : ", online softmax") << "\n";
  os << "work      : " << p.problems.size() << " problems (sequence x KV head x row block), "
     << p.blocks.size() << " KV blocks of <= " << p.block_tokens << " tokens, "
     << static_cast<int64_t>(p.kv_bytes) << " bytes of K/V\n";
  if (p.partition == DecodePartition::kStreamK) {
    os << "partition : stream-K, " << p.num_workers << " workers over " << p.num_threads << " threads, "
       << p.pieces.size() << " pieces, " << p.merge_problems.size() << " merges by the first block's owner\n";
  } else {
    os << "partition : split-KV, " << p.num_splits << " splits per problem, " << p.pieces.size()
       << " pieces (dynamic, longest first), " << p.merge_problems.size() << " merges\n";
  }
  os << "workspace : " << p.workspace_bytes << " bytes (" << p.partial_rows << " partial rows, "
     << p.num_threads << " x " << p.scratch_stride << " scratch)\n";
  return os.str();
}

DecodeStats Decode(const AttentionSpec& spec, const KVCache& cache, const DecodeBatch& batch,
                   const DecodeTensors& tensors, const ThreadingContext& ctx,
                   const DecodeOptions& options) {
  const DecodePlan plan =
      MakeDecodePlan(spec, cache, batch, tensors.q.dtype, tensors.out.dtype, ctx, options);
  AlignedWorkspace workspace(plan.workspace_bytes());
  return RunDecode(plan, cache, tensors, workspace.span());
}

}  // namespace attnkit
