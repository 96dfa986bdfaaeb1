// SPDX-License-Identifier: Apache-2.0
// Interface of the decode kernel (non-SIMD part): the work description the
// planner fills (rows, key segments, KV blocks, problems, pieces) and the
// per-target entry point. Not the planning: see decode_plan.h.
//
// A problem is "these query rows against this key list": the rows are the
// query heads of one KV head's GQA group x the query tokens of one sequence
// (or, for a cascade prefix, of every sequence of the batch), at most
// kMaxRows of them; the key list is one sequence's segments cut into KV
// blocks of block_tokens. A piece is a contiguous run of one problem's blocks,
// processed by one worker with the online softmax:
//
//   for each compute tile of kTile tokens (4 sub-tiles of 16) of the piece
//   (the fused kernel, decode_fused-inl.h, forms S and P V straight from the
//   stored sub-tiles instead of the f32 K^T and V tiles):
//     K^T tile = dequant(sub-tiles)           [dqk_pad x kTile] f32 (L1)
//     S   = Qs K^T                            [rows x kTile], base-2 logits
//     S   = soft-cap, ALiBi, mask             per row: its position and head
//     (m, l, acc) <- online softmax step      src/simd/online_softmax-inl.h
//     V tile = dequant(sub-tiles)             [kTile x dv_acc] f32 (MLA: K^T transposed)
//     acc += P V
//
// and ends with (O = acc / l, LSE) written to the output (a piece covering the
// whole problem) or to a partial-state slot merged later with attnkit::Merge.
#ifndef ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_H_
#define ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "attnkit/spec.h"
#include "src/kernels/decode/kv_layout.h"

namespace attnkit::decode {

// Tokens per compute tile: S = Qs K^T is [rows x 64], four 16-float vectors
// per row, so 4 rows give the 16 independent accumulators that keep both FMA
// ports busy (src/simd/tile_gemm-inl.h); the f32 K^T and V tiles of a head dim
// of 128 take 2 x 32 KiB, within L1 + L2 reach of the 4 KiB sub-tile loads.
inline constexpr int64_t kTile = 64;
// Most query rows per problem: 128 rows x (64 logits + 128 accumulators) f32
// = 96 KiB of per-row state, in L2; larger groups (MLA 128 heads x 16 tokens)
// are cut into row blocks that re-read the keys.
inline constexpr int64_t kMaxRows = 128;

// One query row: query head `head` of packed query row `q_index`.
struct Row {
  int32_t head;
  int32_t q_index;     // row of the packed q / out tensors
  int32_t problem;     // the problem it belongs to
  int32_t partner;     // cascade: its row in the other problem (prefix <-> suffix), else -1
  int64_t pos;         // attention position (keys at pos + right and beyond are hidden)
  int64_t rope_pos;    // text position for RoPE of the query
};

// A run of keys: tokens [u0, u1) of a store at attention positions pos0 + (u - u0).
struct SegmentRef {
  StoreRef store;
  int64_t u0, u1, pos0;
  int64_t sink_offset;  // >= 0: store.base is sink_base + this (materialised per run)
};

// A KV block: tokens [u_begin, u_end) of a segment; u_begin a multiple of 16
// (tokens outside [u0, u1) of the segment are masked).
struct Block {
  int32_t segment;
  int64_t u_begin, u_end;
};

struct Problem {
  int32_t kv_head;
  int32_t row_begin, row_end;      // global rows (contiguous)
  int32_t block_begin, block_end;  // its blocks in DecodeArgs::blocks
  int32_t state_row;               // partial-state row of its merged state (-1: written directly)
  bool final;                      // its merged state is the output (no cascade partner)
};

// A run of blocks of one problem for one worker. partial_row < 0: the piece
// is the whole problem and writes the output itself.
struct Piece {
  int32_t problem;
  int32_t block_begin, block_end;
  int32_t partial_row;
};

// A prefetch into L2 (decode streams K/V once: L2 holds a few tiles ahead).
inline void PrefetchLine(const void* p) { __builtin_prefetch(p, 0, 2); }

// The lines of a later tile, handed out `per_step` at a time by the loops.
struct PrefetchQueue {
  static constexpr int kMaxRanges = 4 * (kTile / kSub);
  const char* begin[kMaxRanges];
  const char* end[kMaxRanges];
  int n = 0;
  int per_step = 1;
  // Where the next line is: range `cur`, address `at`.
  int cur = 0;
  const char* at = nullptr;

  // Queues [p, p + bytes) (whole lines); a range that continues the last one extends it.
  void Add(const void* p, int64_t bytes) {
    if (p == nullptr || bytes <= 0) return;
    const char* b = static_cast<const char*>(p);
    const char* e = b + (bytes + 63) / 64 * 64;
    if (n > 0 && end[n - 1] == b) {
      end[n - 1] = e;
    } else if (n < kMaxRanges) {
      begin[n] = b;
      end[n++] = e;
    }
  }
  // Spreads the lines over about `steps` calls of Cursor::Step().
  void Plan(int64_t steps) {
    int64_t lines = 0;
    for (int i = 0; i < n; ++i) lines += (end[i] - begin[i]) / 64;
    per_step = static_cast<int>(std::max<int64_t>(1, (lines + steps - 1) / std::max<int64_t>(1, steps)));
    cur = 0;
    at = n > 0 ? begin[0] : nullptr;
  }

  // The position, copied into a loop's registers and written back after it.
  struct Cursor {
    PrefetchQueue* q;
    const char* at;
    const char* stop;
    int cur;
    inline void Step() {
      if (q == nullptr) return;
      for (int k = 0; k < q->per_step; ++k) {
        if (at >= stop) {
          if (cur + 1 >= q->n) return;
          ++cur;
          at = q->begin[cur];
          stop = q->end[cur];
        }
        PrefetchLine(at);
        at += 64;
      }
    }
    void Save() {
      if (q == nullptr) return;
      q->cur = cur;
      q->at = at;
    }
  };
  // A cursor of `q`, or one that does nothing (q == nullptr).
  static Cursor Of(PrefetchQueue* q) {
    if (q == nullptr || q->n == 0) return Cursor{nullptr, nullptr, nullptr, 0};
    return Cursor{q, q->at, q->end[q->cur], q->cur};
  }
  void Drain() {
    Cursor c = Of(this);
    while (c.q != nullptr && (c.at < c.stop || c.cur + 1 < n)) c.Step();
    c.Save();
  }
};

struct DecodeArgs;
// Writes one finished output row: O (f32, dv, in the Hadamard basis of V) and
// its LSE (natural log); applies the sink, rotates back, converts, stores.
using EmitFn = void (*)(const DecodeArgs& a, int64_t row, float* o, float lse);
// A compute tile of quantised keys whose scores are computed on the codes
// (the VNNI kernel) instead of a dequantised K^T tile.
struct ScoreTile {
  const StoreLayout* layout;
  SubTile subs[kTile / kSub];
  int num_subs;
  int32_t row_begin, nrows;  // global rows of the problem
  const float* qs;           // their prepared f32 queries [nrows][dqk_pad]
  float* s;                  // [nrows][ld] base-2 logits, columns [0, 16 * num_subs)
  size_t ld;
  // Per-worker scratch of CodesFloats(nrows, dqk_pad) floats holding the integer
  // queries, and the key scales they were made for (per-channel keys
  // re-quantise the queries for every key group).
  float* codes;
  const float** codes_for;
  // The queue of a later tile's lines, stepped by the first rows' word loop (or nullptr).
  PrefetchQueue* pf;
};
using ScoreFn = void (*)(const DecodeArgs& a, const ScoreTile& t);

// A compute tile of quantised values whose acc += P V is computed on the
// codes (the VNNI kernel) instead of the fused f32 P V. The function steps
// and then drains `pf`.
struct ValueTile {
  const StoreLayout* layout;
  const SubTile* subs;       // the tile's sub-tiles (num_subs of them)
  int num_subs;
  int t0, t1;                // valid token columns of the tile
  int nrows;
  const float* p;            // [nrows][kTile] probabilities (0 outside [t0, t1))
  float* acc;                // [nrows][lda] unnormalised output, f32
  size_t lda;
  int64_t dv_acc;            // channels to accumulate (a multiple of 16)
  PrefetchQueue* pf;         // the queue of a later tile's lines (may be empty)
};
using ValueFn = void (*)(const ValueTile& t);

struct DecodeArgs {
  const Row* rows = nullptr;
  const SegmentRef* segments = nullptr;
  const Block* blocks = nullptr;
  const Problem* problems = nullptr;
  const uint8_t* sink_base = nullptr;  // workspace of materialised sink tokens
  int64_t hq = 0, group = 1;
  int64_t dqk = 0, dqk_pad = 0;  // dqk_pad: row stride of qs and rows of the K^T tile (mult. of 16)
  int64_t dv = 0, dv_acc = 0;    // dv_acc = RoundUp(dv, 16): accumulator and V tile width
  bool v_from_k = false;
  const float* qs = nullptr;     // prepared queries [rows][dqk_pad]: RoPE, Hadamard, scale * log2 e
  float softcap = 0.0f;          // natural units; 0 = off
  const float* alibi_slopes = nullptr;  // [Hq] or nullptr
  int64_t window_left = kUnbounded, window_right = kUnbounded;  // causal folded into right
  bool unified = false;          // FlashDecoding++: exp2(s - phi2), no running max
  float phi2 = 0.0f;             // phi in base-2 units
  size_t l1_floats = 9216;
  float* partial_o = nullptr;    // [partial rows][dv_acc]
  float* partial_lse = nullptr;  // [partial rows]
  EmitFn emit = nullptr;
  ScoreFn score = nullptr;       // nullptr: dequantise K and use the f32 tile product
  ValueFn values = nullptr;      // fused, quantised V: P V on the codes (nullptr: f32 P V)
  // Fused tiles (decode_fused-inl.h): scores and P V straight from the stored
  // sub-tiles; false: f32 K^T / V tiles and tile products (required for MLA).
  bool fused = false;
  void* emit_ctx = nullptr;      // what `emit` needs (tensors, sinks, rotation)
  std::atomic<int64_t>* block_visits = nullptr;  // tests: +1 per (problem, block) processed
};

// Floats of the integer queries of `rows` rows: per row two digit arrays of
// dqk_pad / 4 words of four s8 digits (query_quant.h), then its scale, code
// sum and zero-point term.
inline int64_t CodesFloats(int64_t rows, int64_t dqk_pad) { return rows * (dqk_pad / 2 + 4); }

// Floats of per-worker scratch for problems of up to `rows` rows.
inline int64_t ScratchFloats(int64_t rows, int64_t dqk_pad, int64_t dv_acc) {
  const int64_t rows_pad = RoundUp(rows, 16);
  return rows * (kTile + dv_acc) + 5 * rows_pad + dqk_pad * kTile + kTile * dv_acc + dv_acc +
         CodesFloats(rows, dqk_pad) + rows_pad;
}

// Runs one piece; returns false when the unified max overflowed (the caller
// then reruns the piece with unified = false).
using PieceFn = bool (*)(const DecodeArgs& a, const Piece& piece, float* scratch);

struct DecodeFns {
  PieceFn piece = nullptr;
  const char* target = "";
};
DecodeFns GetDecodeFns();

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_DECODE_KERNEL_H_
