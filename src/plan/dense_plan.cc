// SPDX-License-Identifier: Apache-2.0
// Planning and running the dense family: tiles from the cost model, the work
// partition (longest items first), the workspace layout, and the two parallel
// phases of Run (pack, then compute).
#include <algorithm>
#include <cstring>

#include "attnkit/error.h"
#include "src/common/parallel.h"
#include "src/kernels/dense/dense_run.h"
#include "src/plan/autotune.h"
#include "src/plan/cost_model.h"
#include "src/plan/registry.h"

namespace attnkit {
namespace {

void CheckTileOverride(const PlanOptions& o) {
  ATTNKIT_CHECK(o.block_q == 0 || (o.block_q >= 1 && o.block_q <= 4096),
                "block_q must be in [1, 4096] (0 = automatic), got ", o.block_q);
  ATTNKIT_CHECK(o.block_k == 0 || (o.block_k >= 16 && o.block_k <= 4096 && o.block_k % 16 == 0),
                "block_k must be a multiple of 16 in [16, 4096] (0 = automatic), got ", o.block_k);
}

}  // namespace

namespace {

void PlanDenseWith(PlanImpl& p, const PlanOptions& options, dense::Products products) {
  CheckTileOverride(options);
  p.products = products;
  p.fns = dense::GetDenseFns(products);
  p.isa = p.fns.target;
  if (products == dense::Products::kBF16) p.isa += " + AVX512-BF16 dot products";
  const AttentionSpec& s = p.spec;
  p.dv_pad = dense::RoundUp(s.head_dim_v, dense::kPad);
  // V is read in place only when it already is an f32 tile with padded width.
  p.pack_v = products != dense::Products::kF32 ||
             !(p.shape.dtype == DType::kF32 && s.head_dim_v == p.dv_pad);

  // Sequences (packed offsets are filled once block_k is known).
  for (int64_t b = 0; b < p.shape.batch; ++b) {
    dense::Sequence q{};
    q.batch_index = p.shape.is_varlen() ? 0 : b;
    q.q_offset = p.shape.is_varlen() ? p.shape.cu_seqlens_q[b] : 0;
    q.k_offset = p.shape.is_varlen() ? p.shape.cu_seqlens_k[b] : 0;
    q.nq = p.shape.seq_q(b);
    q.nk = p.shape.seq_k(b);
    p.seqs.push_back(q);
  }

  p.candidates = RankDenseTiles(p);
  if (options.block_q != 0 || options.block_k != 0) {
    const int64_t bq = options.block_q != 0 ? options.block_q : p.candidates.front().block_q;
    const int64_t bk = options.block_k != 0 ? options.block_k : p.candidates.front().block_k;
    p.candidates.insert(p.candidates.begin(), EstimateDenseTiles(p, bq, bk));
  }
  p.block_q = p.candidates.front().block_q;
  p.block_k = p.candidates.front().block_k;
  p.est_ms = p.candidates.front().est_ms;

  // Workspace: packed K^T, packed V (in 4-byte words), then one scratch block
  // per worker.
  const int64_t hkv = s.num_kv_heads;
  p.k_tile_words = dense::KTileWords(products, s.head_dim_qk, p.block_k);
  p.v_tile_words = p.pack_v ? dense::VTileWords(products, p.dv_pad, p.block_k) : 0;
  int64_t k_floats = 0, v_floats = 0;
  for (dense::Sequence& q : p.seqs) {
    q.packed_k_offset = k_floats;
    q.packed_v_offset = v_floats;
    const int64_t tiles = dense::CeilDiv(q.nk, p.block_k);
    k_floats += hkv * tiles * p.k_tile_words;
    v_floats += hkv * tiles * p.v_tile_words;
  }
  p.packed_k_floats = k_floats;
  p.packed_v_floats = v_floats;
  const int64_t group = s.num_q_heads / s.num_kv_heads;
  p.scratch_floats = dense::ScratchFloats(p.block_q * group, p.block_k, s.head_dim_qk, p.dv_pad);
  p.workspace_bytes = AlignUp(4 * k_floats) + AlignUp(4 * v_floats) +
                      static_cast<size_t>(p.num_threads) * AlignUp(4 * p.scratch_floats);

  // Work: (sequence, query tile, KV head), each item covering the KV head's
  // whole GQA group; then longest first (causal items are uneven).
  std::vector<std::pair<int64_t, dense::WorkItem>> weighted;
  for (size_t si = 0; si < p.seqs.size(); ++si) {
    const dense::Sequence& q = p.seqs[si];
    for (int64_t t = 0; t * p.block_q < q.nq; ++t) {
      const int64_t rows = std::min(p.block_q, q.nq - t * p.block_q);
      const int64_t tiles = VisitedKeyTiles(p, q.nq, q.nk, t * p.block_q, rows, p.block_k);
      for (int64_t g = 0; g < hkv; ++g) {
        weighted.push_back({tiles * rows, dense::WorkItem{static_cast<int32_t>(si),
                                                          static_cast<int32_t>(g),
                                                          static_cast<int32_t>(t)}});
      }
    }
    for (int64_t g = 0; g < hkv; ++g) {
      for (int64_t t = 0; t * p.block_k < q.nk; ++t) {
        p.pack_items.push_back(dense::PackItem{static_cast<int32_t>(si), static_cast<int32_t>(g),
                                               static_cast<int32_t>(t)});
      }
    }
  }
  std::stable_sort(weighted.begin(), weighted.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  p.items.reserve(weighted.size());
  for (const auto& w : weighted) p.items.push_back(w.second);
}

}  // namespace

namespace {

// PlanDenseWith, or with options.autotune (and no tile override): the tiles
// measured fastest for this shape, from the cache or by timing candidates.
void PlanDenseTuned(PlanImpl& p, const PlanOptions& options, dense::Products products) {
  if (!options.autotune || options.block_q != 0 || options.block_k != 0) {
    return PlanDenseWith(p, options, products);
  }
  const PlanImpl blank = p;  // before tiles and partition
  PlanDenseWith(p, options, products);  // the cost model's candidates
  const std::string key = AutotuneKey(p);
  PlanOptions fixed = options;
  if (LookupTunedTiles(key, fixed.block_q, fixed.block_k)) {
    p = blank;
    PlanDenseWith(p, fixed, products);
    p.tuned_from_cache = true;
    return;
  }
  PlanImpl tuning = blank;
  const TileTiming best = AutotuneDenseTiles(
      tuning, p.candidates, [&](PlanImpl& trial, int64_t bq, int64_t bk) {
        PlanOptions o = options;
        o.block_q = bq;
        o.block_k = bk;
        PlanDenseWith(trial, o, products);
      });
  StoreTunedTiles(key, best.block_q, best.block_k, best.ms);
  fixed.block_q = best.block_q;
  fixed.block_k = best.block_k;
  p = blank;
  PlanDenseWith(p, fixed, products);
  p.tuning = std::move(tuning.tuning);
}

}  // namespace

void PlanDense(PlanImpl& p, const PlanOptions& options) {
  PlanDenseTuned(p, options, dense::Products::kF32);
}
void PlanDenseBf16(PlanImpl& p, const PlanOptions& options) {
  PlanDenseTuned(p, options, dense::Products::kBF16);
}

std::string DenseBf16Unsupported(const AttentionSpec&, const AttentionShape& shape) {
  if (shape.dtype != DType::kBF16) return "needs bf16 inputs";
  if (dense::GetDenseFns(dense::Products::kBF16).query_tile == nullptr) {
    return "needs an AVX-512 CPU with AVX512-BF16 (and the AVX3 Highway target compiled)";
  }
  return "";
}

void RunDense(const PlanImpl& p, const AttentionTensors& t, std::span<std::byte> workspace) {
  const dense::DenseRun r = dense::MakeDenseRun(p, t, workspace.data());
  const dense::DenseArgs& a = r.args;
  const dense::DenseFns& f = p.fns;
  ParallelFor(p.num_threads, static_cast<int64_t>(p.pack_items.size()), [&](int, int64_t i) {
    f.pack_k(a, p.pack_items[i]);
    if (a.packed_v != nullptr) f.pack_v(a, p.pack_items[i]);
  });
  ParallelFor(p.num_threads, static_cast<int64_t>(p.items.size()), [&](int worker, int64_t i) {
    f.query_tile(a, p.items[i], r.scratch + static_cast<size_t>(worker) * r.scratch_stride);
  });
}

}  // namespace attnkit
