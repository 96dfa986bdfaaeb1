// SPDX-License-Identifier: Apache-2.0
// Neighbourhood attention entry points (attnkit/local.h): validation, the
// per-(batch, KV head) packing of key lines, the query tiles and the parallel
// loop over them; na1d / na2d / na3d are thin wrappers over the rank-generic call.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "attnkit/error.h"
#include "attnkit/local.h"
#include "src/common/parallel.h"
#include "src/kernels/local/neighborhood.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace local {
namespace {

int64_t RoundUp16(int64_t x) { return (x + 15) / 16 * 16; }

// Lanes of the widest x86 target (AVX-512 f32): sizes the logits scratch.
constexpr int64_t kMaxLanes = 16;

}  // namespace

namespace {
// The calling thread's grow-only buffer (never zeroed: packing writes every
// float it later reads). The API has no workspace argument, and a fresh
// allocation per call costs page faults comparable to the kernel itself on
// small grids (56 x 56: about a third of the time).
float* CallWorkspace(int64_t floats) {
  thread_local std::unique_ptr<float[]> buffer;
  thread_local int64_t capacity = 0;
  if (floats > capacity) {
    buffer.reset();
    buffer.reset(new float[static_cast<size_t>(floats)]);
    capacity = floats;
  }
  return buffer.get();
}
}  // namespace

int64_t LineScratchFloats(const LineArgs& a) {
  int64_t keys = 1, outer_keys = 1;
  for (int i = 0; i < a.rank; ++i) keys *= a.axes[static_cast<size_t>(i)].kernel;
  for (int i = 0; i + 1 < a.rank; ++i) outer_keys *= a.axes[static_cast<size_t>(i)].kernel;
  // int64 tables: per-row key lines, U, slots, runs (x2) (kTileRows x outer_keys
  // each at most), locals.
  const int64_t tables = 5 * kTileRows * outer_keys + kTileRows * kTileRows * outer_keys;
  const int64_t zeros = a.axes[static_cast<size_t>(a.rank - 1)].kernel * kMaxLanes;
  return kTileRows * (a.dqk * a.lp + keys * kMaxLanes + a.dv * kMaxLanes) + zeros + 2 * tables + 16;
}

std::vector<LineTile> MakeTiles(const LineArgs& a) {
  const Axis& lane = a.axes[static_cast<size_t>(a.rank - 1)];
  std::vector<LineTile> tiles;
  if (a.rank == 1) {
    for (int64_t rho = 0; rho < lane.dilation; ++rho) tiles.push_back({rho, 1, 1});
    return tiles;
  }
  // Rows: lines of consecutive sub-grid indices along axis rank - 2 (extent
  // ly, dilation ry), one residue of each; lines are ((z ly + y) r + rho).
  const Axis& row = a.axes[static_cast<size_t>(a.rank - 2)];
  const int64_t ly = row.extent, ry = row.dilation, r = lane.dilation;
  const int64_t planes = NumLines(a) / (ly * r);
  for (int64_t z = 0; z < planes; ++z) {
    for (int64_t res = 0; res < ry; ++res) {
      const int64_t sub = SubLength(row, res);
      for (int64_t y0 = 0; y0 < sub; y0 += kTileRows) {
        for (int64_t rho = 0; rho < r; ++rho) {
          tiles.push_back({((z * ly) + res + y0 * ry) * r + rho, std::min(kTileRows, sub - y0),
                           ry * r});
        }
      }
    }
  }
  return tiles;
}

namespace {
template <int kRank>
void FillKeySpans(const LineArgs& a, const std::vector<LineTile>& tiles,
                  std::vector<KeySpan>& spans) {
  int64_t outer_keys = 1;
  for (int i = 0; i + 1 < kRank; ++i) outer_keys *= a.axes[static_cast<size_t>(i)].kernel;
  std::vector<int64_t> key_lines(static_cast<size_t>(outer_keys));
  for (const LineTile& tile : tiles) {
    KeySpan span{NumLines(a), 0};
    for (int64_t j = 0; j < tile.rows; ++j) {
      const int64_t n = KeyLinesOf<kRank>(a, tile.line0 + j * tile.step, key_lines.data());
      span.first = std::min(span.first, key_lines[0]);  // ascending
      span.last = std::max(span.last, key_lines[static_cast<size_t>(n - 1)]);
    }
    spans.push_back(span);
  }
}
}  // namespace

std::vector<KeySpan> TileKeySpans(const LineArgs& a, const std::vector<LineTile>& tiles) {
  std::vector<KeySpan> spans;
  spans.reserve(tiles.size());
  switch (a.rank) {
    case 1: FillKeySpans<1>(a, tiles, spans); break;
    case 2: FillKeySpans<2>(a, tiles, spans); break;
    default: FillKeySpans<3>(a, tiles, spans); break;
  }
  return spans;
}

int64_t PackSlots(const std::vector<KeySpan>& spans, int64_t lines) {
  int64_t packed = 0, slots = 1;  // lines [0, packed) packed before the tile runs
  for (const KeySpan& span : spans) {
    packed = std::max(packed, span.last + 1);
    slots = std::max(slots, packed - span.first);
  }
  return std::min(slots, lines);
}

// Validation of the spec and tensors shared by neighbourhood and window attention.
void CheckLocalSpec(const char* who, const AttentionSpec& spec, const AttentionTensors& t,
                    int64_t tokens) {
  ValidateSpec(spec);
  ATTNKIT_CHECK(!spec.mask.causal && !spec.mask.has_window(), who,
                ": spec.mask must be off (the neighbourhood is the mask; use the per-axis "
                "causal flags)");
  ATTNKIT_CHECK(spec.softcap == 0.0f && !spec.alibi && !spec.has_sinks && !spec.has_bias, who,
                ": soft-cap, ALiBi, sinks and additive biases are not supported");
  ATTNKIT_CHECK(t.q.rank == 4 && t.k.rank == 4, who, ": q and k must be [B, H, N, D], got ",
                t.q.ShapeString(), " and ", t.k.ShapeString());
  ATTNKIT_CHECK(t.q.shape[2] == tokens && t.k.shape[2] == tokens, who,
                ": q and k must have N = ", tokens, " tokens (the grid), got ", t.q.ShapeString(),
                " and ", t.k.ShapeString());
  ValidateTensors(spec, ShapeOf(t), t);
}

}  // namespace local

int64_t NeighborhoodParams::tokens() const {
  int64_t n = 1;
  for (int i = 0; i < rank && i < kMaxSpatialRank; ++i) n *= extent[static_cast<size_t>(i)];
  return n;
}

void ValidateNeighborhoodParams(const NeighborhoodParams& p) {
  ATTNKIT_CHECK(p.rank >= 1 && p.rank <= kMaxSpatialRank, "rank must be 1, 2 or 3, got ", p.rank);
  for (int i = 0; i < p.rank; ++i) {
    const size_t a = static_cast<size_t>(i);
    const int64_t l = p.extent[a], k = p.kernel_size[a], r = p.dilation[a], s = p.stride[a];
    ATTNKIT_CHECK(l >= 1, "extent[", i, "] must be >= 1, got ", l);
    ATTNKIT_CHECK(r >= 1, "dilation[", i, "] must be >= 1, got ", r);
    ATTNKIT_CHECK(k >= 1, "kernel_size[", i, "] must be >= 1, got ", k);
    ATTNKIT_CHECK(k * r <= l, "kernel_size[", i, "] x dilation[", i, "] = ", k, " x ", r,
                  " is larger than the input extent[", i, "] = ", l);
    ATTNKIT_CHECK(s >= 1 && s <= k, "stride[", i, "] must be in [1, kernel_size[", i, "] = ", k,
                  "], got ", s);
  }
}

void NeighborhoodAttention(const NeighborhoodParams& params, const AttentionSpec& spec,
                           const AttentionTensors& t, const ThreadingContext& ctx) {
  ValidateNeighborhoodParams(params);
  local::CheckLocalSpec("NeighborhoodAttention", spec, t, params.tokens());
  local::LineArgs a;
  a.rank = params.rank;
  for (int i = 0; i < params.rank; ++i) {
    const size_t x = static_cast<size_t>(i);
    a.axes[x] = local::Axis{params.extent[x], params.kernel_size[x], params.dilation[x],
                            params.stride[x], params.causal[x]};
  }
  const local::Axis& lane = a.axes[static_cast<size_t>(a.rank - 1)];
  a.dqk = spec.head_dim_qk;
  a.dv = spec.head_dim_v;
  // Reads of a line's packed row stop before Ls + N - 1 (window starts + offsets
  // < Ls, plus the N - 1 lanes of an unaligned load): 16 floats of padding.
  a.lp = local::RoundUp16(local::SubLength(lane, 0)) + 16;
  a.scale_log2 = spec.resolved_scale() * 1.4426950408889634f;
  a.q = t.q;
  a.out = t.out;
  a.lse = spec.return_lse ? t.lse : TensorView{};

  // Work items. With at least two (batch, KV head) pairs per thread, one item
  // is one pair: its lines are packed into the worker's buffers just before
  // the first tile that reads them, and each tile runs for every query head of
  // the group. The buffers then keep only the a.slots most recent lines (line
  // l in slot l % slots, PackSlots): for rank 2 about R + K - 1 lines, so the
  // packed lines are read from L2 and never written back (a whole pair's
  // K^T / V^T, 2.3 MB for 56 x 56 x D 64, would go to memory and back).
  // Otherwise two parallel loops: pack every pair, then every (batch, query
  // head, tile), tiles fastest. (Not two loops per pair: on a loaded machine
  // each barrier waits for the slowest thread.)
  const int64_t lines = local::NumLines(a), batch = t.q.shape[0], hkv = spec.num_kv_heads;
  const int64_t group = spec.num_q_heads / hkv, threads = ctx.num_threads();
  const std::vector<local::LineTile> tiles = local::MakeTiles(a);
  const int64_t n_tiles = static_cast<int64_t>(tiles.size());
  const int64_t scratch_floats = local::LineScratchFloats(a);
  const bool per_pair = batch * hkv >= 2 * threads;
  // Key spans only order the per-pair packing; the two-loop path packs all lines.
  const std::vector<local::KeySpan> spans =
      per_pair ? local::TileKeySpans(a, tiles) : std::vector<local::KeySpan>{};
  a.slots = per_pair ? local::PackSlots(spans, lines) : lines;
  const int64_t kt_floats = a.slots * a.dqk * a.lp, vt_floats = a.slots * a.dv * a.lp;
  const int64_t buffers = per_pair ? threads : batch * hkv;  // K^T / V^T buffers
  float* const kt = local::CallWorkspace(buffers * (kt_floats + vt_floats) + scratch_floats * threads);
  float* const vt = kt + buffers * kt_floats;
  float* const scratch = vt + buffers * vt_floats;
  const local::NeighborhoodFns fns = local::GetNeighborhoodFns();
  const auto run_tile = [&](int worker, int64_t b, int64_t h, int64_t buffer, int64_t tile) {
    local::LineArgs w = a;
    w.kt = kt + buffer * kt_floats;
    w.vt = vt + buffer * vt_floats;
    fns.tile(w, b, h, tiles[static_cast<size_t>(tile)], scratch + worker * scratch_floats);
  };
  if (per_pair) {
    ParallelFor(ctx.num_threads(), batch * hkv, [&](int worker, int64_t bg) {
      const int64_t b = bg / hkv, g = bg % hkv;
      int64_t packed = 0;  // lines [0, packed) have been packed
      for (int64_t tile = 0; tile < n_tiles; ++tile) {
        for (; packed <= spans[static_cast<size_t>(tile)].last; ++packed) {
          fns.pack(a, t.k, t.v, b, g, packed, kt + worker * kt_floats, vt + worker * vt_floats);
        }
        for (int64_t h = g * group; h < (g + 1) * group; ++h) run_tile(worker, b, h, worker, tile);
      }
    });
    return;
  }
  ParallelFor(ctx.num_threads(), batch * hkv * lines, [&](int, int64_t item) {
    const int64_t bg = item / lines;
    fns.pack(a, t.k, t.v, bg / hkv, bg % hkv, item % lines, kt + bg * kt_floats,
             vt + bg * vt_floats);
  });
  ParallelFor(ctx.num_threads(), batch * spec.num_q_heads * n_tiles, [&](int worker, int64_t item) {
    const int64_t bh = item / n_tiles, b = bh / spec.num_q_heads, h = bh % spec.num_q_heads;
    run_tile(worker, b, h, b * hkv + h / group, item % n_tiles);
  });
}

namespace {
template <int kRank>
NeighborhoodParams ParamsOf(const NaArgs<kRank>& args) {
  NeighborhoodParams p;
  p.rank = kRank;
  for (int i = 0; i < kRank; ++i) {
    const size_t a = static_cast<size_t>(i);
    p.extent[a] = args.extent[a];
    p.kernel_size[a] = args.kernel_size[a];
    p.dilation[a] = args.dilation[a];
    p.stride[a] = args.stride[a];
    p.causal[a] = args.causal[a];
  }
  return p;
}
}  // namespace

void Na1d(const NaArgs<1>& args, const AttentionSpec& spec, const AttentionTensors& t,
          const ThreadingContext& ctx) {
  NeighborhoodAttention(ParamsOf(args), spec, t, ctx);
}
void Na2d(const NaArgs<2>& args, const AttentionSpec& spec, const AttentionTensors& t,
          const ThreadingContext& ctx) {
  NeighborhoodAttention(ParamsOf(args), spec, t, ctx);
}
void Na3d(const NaArgs<3>& args, const AttentionSpec& spec, const AttentionTensors& t,
          const ThreadingContext& ctx) {
  NeighborhoodAttention(ParamsOf(args), spec, t, ctx);
}

}  // namespace attnkit
