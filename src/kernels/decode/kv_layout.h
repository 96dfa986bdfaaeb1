// SPDX-License-Identifier: Apache-2.0
// Byte layout of KV-cache pages (shared by the cache, the decode kernels and
// the quantisation reference). Not the paging logic: see kv_cache_impl.h.
//
// A store is a set of pages of `page_tokens` tokens (the paged pool, one
// contiguous slot, the f32 residual ring, the f32 sink buffer). A page is
// head-major: Hkv regions of head_bytes, each holding, 64-byte aligned:
//
//   K data    page_tokens/16 sub-tiles of 16 tokens; a sub-tile is the keys
//             "transposed" in 4-byte words of w channels:  [dk_pad / w][16][w]
//             f32: w = 1 (4 B), bf16 / f16: w = 1 (2 B, [dk_pad][16]),
//             int8: w = 4 (u8), int4: w = 8 (u4, channel c0 + j in bits 4j..4j+3).
//             One word row = 16 tokens = one 64-byte line (32 B for 16-bit),
//             so a channel (group) of 16 tokens is one vector load and Q.K
//             needs no horizontal sums (f32 FMAs, or one VNNI vpdpbusd).
//   V data    floats: [page_tokens][dv_pad] row-major per token.
//             int8 / int4: per sub-tile 4 quads of 4 tokens, each quad
//             [dv_pad][4 tokens] (4 consecutive tokens of one channel per
//             4-byte word, so P.V is a vertical vpdpbusd over token quads):
//             int8 byte (t / 4) 4 dv_pad + 4 c + t % 4; int4 per quad and
//             32-channel chunk one 64-byte line, word j = tokens of channel
//             c0 + j (low nibbles) and c0 + 16 + j (high nibbles).
//             Absent when V is a view of K (MLA).
//   K scales  int8/int4 only, f32: per token: [page_tokens/16][s[16], z[16]];
//             per channel: [page_tokens/k_group][s[dk_pad], z[dk_pad]].
//   V scales  int8/int4 only, f32: per sub-tile [v_groups][s[16], z[16]], so
//             the scales of 16 tokens are one vector load.
//
// A quantised element is x = s * u + z with u unsigned (0..255 or 0..15).
// Page sizes are multiples of 16 (and of k_group), so a 16-token sub-tile and
// a per-channel group never straddle pages.
#ifndef ATTNKIT_KERNELS_DECODE_KV_LAYOUT_H_
#define ATTNKIT_KERNELS_DECODE_KV_LAYOUT_H_

#include <cstdint>

#include "attnkit/kv_cache.h"

namespace attnkit::decode {

inline constexpr int64_t kSub = 16;     // tokens per sub-tile
inline constexpr int64_t kAlign = 64;   // bytes

inline int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t CeilDiv(int64_t x, int64_t m) { return (x + m - 1) / m; }

struct StoreLayout {
  KVDType fmt = KVDType::kF32;
  int64_t hkv = 0, dk = 0, dv = 0;
  int64_t dk_pad = 0;          // multiple of 8
  int64_t dv_pad = 0;          // multiple of v_group (and of 16; 32 for int4)
  bool has_v = true;           // false: V is the first dv columns of K (MLA)
  bool k_per_channel = false;  // quantised keys: per-channel groups of k_group tokens
  int64_t k_group = 16;
  int64_t v_group = 16, v_groups = 1;  // channels per value group; groups per token
  int64_t page_tokens = 16;
  // Bytes of one 16-token sub-tile of one head, and region offsets in a head.
  int64_t k_sub_bytes = 0, v_sub_bytes = 0;
  int64_t k_off = 0, v_off = 0, ks_off = 0, vs_off = 0;
  int64_t head_bytes = 0, page_bytes = 0;

  bool quantized() const { return IsQuantized(fmt); }
  // Channels per 4-byte word of the K sub-tile (w above).
  int64_t k_word_channels() const {
    return fmt == KVDType::kInt8 ? 4 : fmt == KVDType::kInt4 ? 8 : 1;
  }
  // Bytes of the K/V data of one page and head: what one decode reads.
  int64_t DataBytesPerToken() const;  // all heads, scales included
};

// Layout of a store of `fmt` with pages of `page_tokens` tokens.
// `k_group` / `v_group` matter only for quantised formats.
StoreLayout MakeStoreLayout(KVDType fmt, int64_t hkv, int64_t dk, int64_t dv, bool has_v,
                            bool k_per_channel, int64_t k_group, int64_t v_group,
                            int64_t page_tokens);

// Pointers to one 16-token sub-tile of one head.
struct SubTile {
  const uint8_t* k;         // [dk_pad / w][16][w]
  const uint8_t* v;         // floats [16][dv_pad]; codes [4][dv_pad][4] (nullptr when !has_v)
  const float* k_scale;     // per token: s[16], z[16]; per channel: s[dk_pad], z[dk_pad]
  const float* v_scale;     // [v_groups][s[16], z[16]]
};

inline SubTile SubTileAt(const StoreLayout& l, const uint8_t* page, int64_t head,
                         int64_t token_in_page) {
  const uint8_t* h = page + head * l.head_bytes;
  const int64_t sub = token_in_page / kSub;
  SubTile t;
  t.k = h + l.k_off + sub * l.k_sub_bytes;
  t.v = l.has_v ? h + l.v_off + sub * l.v_sub_bytes : nullptr;
  t.k_scale = nullptr;
  t.v_scale = nullptr;
  if (l.quantized()) {
    const float* ks = reinterpret_cast<const float*>(h + l.ks_off);
    t.k_scale = l.k_per_channel ? ks + (token_in_page / l.k_group) * 2 * l.dk_pad : ks + sub * 2 * kSub;
    if (l.has_v) {
      t.v_scale = reinterpret_cast<const float*>(h + l.vs_off) + sub * kSub * l.v_groups * 2;
    }
  }
  return t;
}

// Where a store's token slots live: page i of a sequence is
// base + block_table[i] * page_bytes (or base itself when block_table is null,
// a store of one page). Token index u sits at slot u, or u mod ring for a ring.
struct StoreRef {
  const StoreLayout* layout = nullptr;
  const uint8_t* base = nullptr;
  const int32_t* block_table = nullptr;
  int64_t ring = 0;  // slots of a ring (a multiple of page_tokens... or of 16 for one page); 0 = none

  const uint8_t* PageOfSlot(int64_t slot) const {
    if (block_table == nullptr) return base;
    return base + static_cast<int64_t>(block_table[slot / layout->page_tokens]) * layout->page_bytes;
  }
  // The sub-tile holding token index u (u a multiple of 16).
  SubTile At(int64_t head, int64_t u) const {
    const int64_t slot = ring > 0 ? u % ring : u;
    return SubTileAt(*layout, PageOfSlot(slot), head, slot % layout->page_tokens);
  }
};

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_KV_LAYOUT_H_
