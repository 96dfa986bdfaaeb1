// SPDX-License-Identifier: Apache-2.0
// The state behind attnkit::KVCache: the page pool with reference counts and
// a free list, per-sequence block tables, the f32 residual ring of quantised
// caches and the f32 sink buffer, and each sequence's view as attention sees
// it (segments). Not the byte layout of a page: see kv_layout.h.
//
// Token indices: t counts every token appended to a sequence; u = t (or
// t - sink_tokens in kSinkRecent mode) indexes the "main" tokens. Main tokens
// u < qp live in the main store (slot u, or u mod ring); u in [qp, length_u)
// live in the residual ring (quantised caches only; float caches have
// qp = length_u).
#ifndef ATTNKIT_KERNELS_DECODE_KV_CACHE_IMPL_H_
#define ATTNKIT_KERNELS_DECODE_KV_CACHE_IMPL_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "attnkit/kv_cache.h"
#include "src/common/workspace.h"
#include "src/kernels/decode/kv_layout.h"

namespace attnkit::decode {

// A run of keys that attention sees: main tokens [u0, u1) of one store at
// attention positions pos0 + (u - u0).
struct Segment {
  enum Kind : uint8_t { kSink, kMain, kResidual } kind;
  int64_t u0, u1, pos0;
};

// One sequence as attention sees it: keys at attention positions
// [nk - kept, nk) in at most three segments (sinks, main, residual), queries
// at nk - nq + i. RoPE positions are text positions (position_offset + t);
// sink keys are rotated at run time by sink_rope_shift extra positions
// (StreamingLLM's cache-slot positions).
struct SeqView {
  int64_t nk = 0, kept = 0;
  int64_t text_end = 0;        // RoPE position of the next token
  int64_t sink_rope_shift = 0;
  int num_segments = 0;
  Segment segments[3];
};

struct SeqState {
  int64_t length = 0;  // tokens appended (t)
  int64_t offset = 0;  // RoPE position of token 0
  int64_t slot = -1;   // kContiguous: its slot
  std::vector<int32_t> table;  // kPaged: page id per page of the main store (-1 = none)
  int64_t qp = 0;              // main tokens in the main store
  std::vector<float> residual; // f32 store of res_cap tokens (a ring); empty if none
  std::vector<float> sink_k, sink_v;  // [sinks][Hkv][D] as appended (no RoPE, no rotation)
};

struct CacheImpl {
  KVCacheConfig cfg;
  StoreLayout main;        // the configured dtype
  StoreLayout res_layout;  // f32, one page of res_cap tokens
  int64_t main_cap = 0;    // main-store slots per sequence
  bool ring = false;       // main store is a ring of main_cap slots
  int64_t res_cap = 0;     // residual ring tokens (0: no residual)
  int64_t residual = 0;    // R: newest main tokens kept in f32
  int64_t step = 1;        // tokens quantised at a time (k_group for per-channel keys)
  int64_t sink_tokens = 0;
  int64_t hb_k = 1, hb_v = 1;  // Hadamard blocks (1 = off)

  HugePageBuffer pool_storage;  // zeroed; 2 MiB aligned (huge pages) when large
  uint8_t* pool = nullptr;      // pool_storage.data()
  int64_t num_pages = 0;    // kPaged pool pages, or kContiguous slots
  std::vector<int32_t> refcount;
  std::vector<int32_t> free_list;
  std::map<int64_t, SeqState> seqs;
  int64_t next_id = 0;
  uint64_t version = 0;

  const SeqState& Seq(int64_t id) const;  // throws Error naming the id
  SeqView View(const SeqState& s) const;
  // The main store of a sequence as the kernels address it.
  StoreRef MainRef(const SeqState& s) const;
  StoreRef ResidualRef(const SeqState& s) const;
  int64_t MainTokens(const SeqState& s) const {  // length_u
    return cfg.retention == KVRetention::kSinkRecent ? std::max<int64_t>(0, s.length - sink_tokens)
                                                      : s.length;
  }
};

// RoPE in place on one head vector, angles and products in f64 (kv_cache.cc).
void RopeInPlace(const RopeSpec& rope, int64_t head_dim, int64_t position, float* x);

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_KV_CACHE_IMPL_H_
