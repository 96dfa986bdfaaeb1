// SPDX-License-Identifier: Apache-2.0
// KVCache: the key/value cache of one attention layer for decode (contiguous
// or paged storage, f32/bf16/f16/int8/int4, ring and sink+recent retention,
// RoPE on append, fork with copy-on-write). Not the attention itself: see decode.h.
#ifndef ATTNKIT_KV_CACHE_H_
#define ATTNKIT_KV_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "attnkit/tensor.h"

namespace attnkit {

// Storage type of cached keys and values. int8 and int4 are asymmetric
// (x ~ scale * u + zero with u unsigned) with f32 scales; see docs/decode.md.
enum class KVDType : uint8_t { kF32 = 0, kBF16 = 1, kF16 = 2, kInt8 = 3, kInt4 = 4 };
std::string_view Name(KVDType t);
KVDType ParseKVDType(std::string_view name);  // "f32" | "bf16" | "f16" | "int8" | "int4"; throws Error
inline constexpr bool IsQuantized(KVDType t) { return t == KVDType::kInt8 || t == KVDType::kInt4; }

// Where the tokens of a sequence live.
//   kContiguous: every sequence slot owns max_seq_len tokens of one allocation
//                (max_seqs slots); fork copies.
//   kPaged:      a pool of num_pages pages of page_size tokens; each sequence
//                has a block table; fork shares pages (copy-on-write).
enum class KVLayout : uint8_t { kContiguous = 0, kPaged = 1 };

// Which tokens a sequence keeps.
//   kAll:        every appended token (appending past max_seq_len is an Error).
//   kRing:       a sliding window: at least the newest `window` + 15 tokens are
//                kept in a ring (older ones are overwritten, by design).
//   kSinkRecent: StreamingLLM: the first `sink_tokens` plus the newest
//                `recent_tokens`; attention sees them at cache-slot positions.
enum class KVRetention : uint8_t { kAll = 0, kRing = 1, kSinkRecent = 2 };

// Rotary position embedding applied to keys on append (and to queries by Decode).
//   kInterleaved: pairs (x[2i], x[2i+1]) rotate by pos * theta^(-2i/dims)
//                 (RoFormer, GPT-J, llama.cpp's "normal" mode);
//   kNeoX:        pairs (x[i], x[i + dims/2]) (GPT-NeoX, Hugging Face Llama).
enum class RopeStyle : uint8_t { kNone = 0, kInterleaved = 1, kNeoX = 2 };

struct RopeSpec {
  RopeStyle style = RopeStyle::kNone;
  double theta = 10000.0;
  int64_t start = 0;  // first rotated dim (MLA: 512, the k^R part of [c ; k^R])
  int64_t dims = 0;   // rotated dims, even; 0 = head_dim_k - start
};

// Scale granularity of quantised keys (values are always per token).
//   kPerChannel: one (scale, zero) per channel for each group of k_group tokens
//                (KIVI; key outliers are channel-aligned);
//   kPerToken:   one (scale, zero) per token and head.
enum class KScales : uint8_t { kPerChannel = 0, kPerToken = 1 };

struct KVCacheConfig {
  int64_t num_kv_heads = 0;  // Hkv
  int64_t head_dim_k = 0;    // Dqk, 1..1024
  int64_t head_dim_v = 0;    // Dv, 1..1024
  // MLA (absorbed): V is the first head_dim_v columns of K; no V is stored or
  // passed to Append. DeepSeek-V2/V3: Hkv 1, Dqk 576 = 512 latent + 64 RoPE, Dv 512.
  bool v_from_k = false;

  KVDType dtype = KVDType::kBF16;
  KScales k_scales = KScales::kPerChannel;
  int64_t k_group = 0;   // per-channel keys: tokens per group, a multiple of 16 (0 = 64)
  int64_t v_group = 0;   // values: channels per group (0 = head_dim_v for int8, 64 for int4)
  // Newest tokens kept in f32 before they are quantised (KIVI's residual);
  // -1 = default (int4: 128, int8: 0). Per-channel keys also keep the
  // incomplete newest group in f32 until it fills.
  int64_t residual = -1;
  // Rotate K and V (and Q, and the output back) by a block Hadamard matrix
  // before quantisation: spreads channel outliers (QuaRot-style).
  bool hadamard = false;

  KVLayout layout = KVLayout::kPaged;
  int64_t page_size = 16;    // tokens per page: 16..256, a multiple of 16 and of k_group
  int64_t num_pages = 0;     // kPaged: pages in the pool
  int64_t max_seqs = 1;      // kContiguous: sequence slots
  int64_t max_seq_len = 0;   // kAll: tokens per sequence (capacity); others: unused

  KVRetention retention = KVRetention::kAll;
  int64_t window = 0;         // kRing: tokens always kept
  int64_t sink_tokens = 4;    // kSinkRecent: first tokens kept (0..64), in f32
  int64_t recent_tokens = 0;  // kSinkRecent: newest tokens kept (>= 16)

  RopeSpec rope;
};

namespace decode {
struct CacheImpl;  // src/kernels/decode/kv_cache_impl.h
}

// One layer's KV cache. Owns its memory (allocated once, zero-filled); every
// sequence is identified by the id AddSequence / Fork returned. Not
// thread-safe: mutate from one thread, and not while a Decode runs on it.
class KVCache {
 public:
  explicit KVCache(const KVCacheConfig& config);  // validates; throws Error
  ~KVCache();
  KVCache(KVCache&&) noexcept;
  KVCache& operator=(KVCache&&) noexcept;
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;

  const KVCacheConfig& config() const;

  // A new empty sequence. Its tokens get RoPE positions position_offset + t
  // (cascade: a suffix after a shared prefix of that many tokens).
  int64_t AddSequence(int64_t position_offset = 0);
  // A new sequence with the same tokens as `seq`. Paged: the pages are shared
  // and a shared page is copied before either sequence writes into it.
  int64_t Fork(int64_t seq);
  // Releases a sequence; its pages return to the pool once no fork uses them.
  void Free(int64_t seq);
  // Paged kAll caches: a new sequence of `length` tokens whose block table is
  // `pages` (ids of pages that hold tokens of live sequences, shared as by
  // Fork): an engine's own prefix sharing. Throws Error for a page id outside
  // the pool or not in use, or a length the pages cannot hold (quantised
  // caches: whole pages only).
  int64_t AddSequenceFromPages(const std::vector<int32_t>& pages, int64_t length,
                               int64_t position_offset = 0);
  // Paged: the page id of each page of the sequence's main store (-1 = none yet).
  std::vector<int32_t> block_table(int64_t seq) const;

  // Appends n tokens. k: [n, Hkv, Dqk] (rank 3, f32/bf16/f16, last axis
  // contiguous); v: [n, Hkv, Dv], or empty when v_from_k. Keys are rotated
  // (RoPE) at positions position_offset + length(seq) + i. Throws Error (and
  // changes nothing) when the tokens do not fit.
  void Append(int64_t seq, const TensorView& k, const TensorView& v);

  int64_t length(int64_t seq) const;           // tokens appended so far
  int64_t position_offset(int64_t seq) const;
  int64_t kept(int64_t seq) const;             // keys that attention sees now
  bool contains(int64_t seq) const;
  std::vector<int64_t> sequences() const;      // live ids, ascending
  int64_t free_pages() const;                  // kPaged: pages not in use
  int64_t num_pages() const;
  // Bytes of stored K/V (data and scales) per kept token of all heads, the
  // f32 residual excluded: what decode reads per token.
  double bytes_per_token() const;
  // Every change increments it; a DecodePlan is valid for one version.
  uint64_t version() const;

  // The keys and values attention sees for `seq`, dequantised, rotated back
  // from the Hadamard basis and, with RoPE, at their attention positions:
  // k [Hkv, kept, Dqk], v [Hkv, kept, Dv] row-major f32. For tests and tools.
  void Materialize(int64_t seq, std::vector<float>& k, std::vector<float>& v) const;

  const decode::CacheImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<decode::CacheImpl> impl_;
};

// Applies RoPE to one head vector x[head_dim] in place at `position` (f32
// arithmetic, angles in f64), as Append does to keys and Decode to queries.
void ApplyRope(const RopeSpec& rope, int64_t head_dim, int64_t position, float* x);

}  // namespace attnkit

#endif  // ATTNKIT_KV_CACHE_H_
