// SPDX-License-Identifier: Apache-2.0
// Interface of the tiled FlashAttention-2 forward kernel (non-SIMD part).
// The planner fills DenseArgs once per Run; the kernel then runs in two
// parallel phases:
//   1. pack: every key tile of every (sequence, KV head) is converted to f32
//      and transposed into K^T [Dqk x block_k]; V tiles are converted to f32
//      [block_k x dv_pad] unless V is f32 with Dv a multiple of 16 (then read
//      in place). Packed tiles are shared by all query tiles and by all query
//      heads of a GQA group, so K/V are never repeated per query head.
//   2. compute: one work item = (sequence, KV head, query tile) covering all
//      query heads of the GQA group (their rows share each loaded tile);
//      online softmax over the visible key tiles only.
#ifndef ATTNKIT_KERNELS_DENSE_DENSE_H_
#define ATTNKIT_KERNELS_DENSE_DENSE_H_

#include <cstddef>
#include <cstdint>

#include "attnkit/spec.h"
#include "attnkit/tensor.h"

namespace attnkit::dense {

// Width padding of packed tiles, in floats: a multiple of the f32 lane count of
// every x86 target (16 for AVX-512), so micro-kernels never need a column tail.
inline constexpr int64_t kPad = 16;

inline int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t CeilDiv(int64_t x, int64_t m) { return (x + m - 1) / m; }

// One sequence of the batch (a fixed-length batch has B of them, all equal).
struct Sequence {
  int64_t batch_index;  // index into the B axis of the tensors (0 for varlen)
  int64_t q_offset;     // first token of this sequence along N of q/out/lse
  int64_t k_offset;     // first token along N of k/v
  int64_t nq, nk;
  int64_t packed_k_offset;  // 4-byte words from DenseArgs::packed_k to this sequence's tiles
  int64_t packed_v_offset;  // 4-byte words from DenseArgs::packed_v
};

// (sequence, KV head, query tile): the unit of parallel work; it computes the
// rows of every query head of the KV head's group.
struct WorkItem {
  int32_t seq;
  int32_t kv_head;
  int32_t q_tile;
};

// (sequence, KV head, key tile): the unit of packing work.
struct PackItem {
  int32_t seq;
  int32_t kv_head;
  int32_t k_tile;
};

struct DenseArgs {
  const Sequence* seqs = nullptr;
  int64_t hq = 0, hkv = 0, group = 1;  // group = Hq / Hkv
  int64_t dqk = 0, dv = 0, dv_pad = 0;
  float scale = 1.0f;                  // softmax scale (natural units)
  float softcap = 0.0f;                // 0 = off; natural units
  const float* alibi_slopes = nullptr;  // [Hq], or nullptr = off
  int64_t window_left = kUnbounded;    // key j visible iff p - left <= j <= p + right
  int64_t window_right = kUnbounded;   // causality already folded in
  TensorView q, k, v, out, lse, sinks, bias;  // lse/sinks/bias: data == nullptr when off
  int64_t block_q = 0, block_k = 0;    // query positions (x group = tile rows); keys, a multiple of kPad
  size_t l1_floats = 9216;             // L1 budget of a streamed B block in the tile products
  // Packed tiles, in 4-byte words (one f32, or one pair of bf16). Tile t of
  // KV head g of a sequence starts at packed_k + seq.packed_k_offset +
  // (g * num_key_tiles + t) * k_tile_words (likewise for V).
  float* packed_k = nullptr;
  float* packed_v = nullptr;           // nullptr: V is read in place (f32 products only)
  int64_t k_tile_words = 0, v_tile_words = 0;
};

// The two products of a tile, by precision:
//   kF32:  f32 FMAs on f32 tiles (any input dtype, converted exactly). K^T tile
//          [dqk][block_k] f32, V tile [block_k][dv_pad] f32.
//   kBF16: AVX512-BF16 dot products (vdpbf16ps, 2 MACs per lane) on bf16 inputs;
//          logits are exact products summed in f32, P is rounded to bf16 for
//          P V (as FlashAttention does on GPUs). K^T tile [ceil(dqk/2)][block_k]
//          pairs (k[c][2p], k[c][2p+1]); V tile [ceil(block_k/2)][dv_pad] pairs
//          (v[2i][c], v[2i+1][c]).
enum class Products : uint8_t { kF32, kBF16 };

inline int64_t KTileWords(Products p, int64_t dqk, int64_t block_k) {
  return p == Products::kF32 ? dqk * block_k : CeilDiv(dqk, 2) * block_k;
}
inline int64_t VTileWords(Products p, int64_t dv_pad, int64_t block_k) {
  return p == Products::kF32 ? block_k * dv_pad : CeilDiv(block_k, 2) * dv_pad;
}
// Per-worker scratch for tiles of `rows` = block_q x group rows: Q tile
// [rows x dqk], logits [rows x bk], accumulator [rows x dv_pad], then running
// max, running sum and rescale factor per row ([RoundUp(rows, kPad)] each, so
// row-vectorised loops need no tail).
inline int64_t ScratchFloats(int64_t rows, int64_t block_k, int64_t dqk, int64_t dv_pad) {
  return rows * (RoundUp(dqk, kPad) + block_k + dv_pad) + 3 * RoundUp(rows, kPad);
}

using PackFn = void (*)(const DenseArgs&, const PackItem&);
using TileFn = void (*)(const DenseArgs&, const WorkItem&, float* scratch);

// The kernel's entry points for the best Highway target this CPU supports
// (or the one forced by hwy::SetSupportedTargetsForTest). For kBF16, all
// pointers are null unless that target has the AVX512-BF16 path and the CPU
// supports it.
struct DenseFns {
  PackFn pack_k = nullptr;
  PackFn pack_v = nullptr;
  TileFn query_tile = nullptr;
  const char* target = "";  // e.g. "AVX3"
};
DenseFns GetDenseFns(Products products = Products::kF32);

}  // namespace attnkit::dense

#endif  // ATTNKIT_KERNELS_DENSE_DENSE_H_
