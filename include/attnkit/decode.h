// SPDX-License-Identifier: Apache-2.0
// Decode: attention of 1..16 new query tokens per sequence against a KVCache
// (ragged batches, GQA, MLA, split-KV / stream-K, cascade over a shared prefix).
// Not the cache itself: see kv_cache.h. Conventions: docs/conventions.md, docs/decode.md.
#ifndef ATTNKIT_DECODE_H_
#define ATTNKIT_DECODE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attnkit/kv_cache.h"
#include "attnkit/spec.h"
#include "attnkit/tensor.h"
#include "attnkit/threading.h"

namespace attnkit {

// Most query tokens per sequence in one decode call (speculative decoding).
inline constexpr int64_t kMaxDecodeQueries = 16;

// Which sequences of the cache a call attends, and how many query tokens each
// has. Sequence b's queries are its last nq_b appended tokens: query i sits at
// attention position kept - nq_b + i (causal within the new tokens when
// spec.mask.causal). Queries are packed along tokens, FlashAttention-varlen
// style: q [1, Hq, total_q, Dqk] with sequence b owning rows
// [cu_seqlens_q[b], cu_seqlens_q[b+1]).
struct DecodeBatch {
  std::vector<int64_t> seq_ids;       // cache sequence ids, in batch order
  std::vector<int64_t> cu_seqlens_q;  // batch + 1 offsets from 0; nq_b in 0..16
  // Cascade: a cache sequence (retention kAll) attended by every query before
  // its own sequence's keys, read once for the whole batch; -1 = none. The
  // batch's sequences hold only their suffix and were made with
  // AddSequence(position_offset = length(shared_prefix)).
  int64_t shared_prefix = -1;
};

// How the (sequence, KV head, KV block) work is cut over threads.
//   kAuto:    stream-K with one worker per thread.
//   kSplitKV: FlashDecoding: every (sequence, KV head) in num_splits equal
//             chunks, chunks scheduled dynamically, merged with LSE.
//   kStreamK: LeanAttention: all KV blocks of all problems in one line, cut
//             into num_workers equal ranges; the owner of a problem's first
//             block merges the other partial states.
enum class DecodePartition : uint8_t { kAuto = 0, kSplitKV = 1, kStreamK = 2 };

struct DecodeOptions {
  DecodePartition partition = DecodePartition::kAuto;
  int64_t num_splits = 0;    // kSplitKV: chunks per problem (0 = enough for 2 per thread)
  int64_t block_tokens = 0;  // KV block (LeanTile) in tokens, a multiple of 64 (0 = 256)
  int num_workers = 0;       // kStreamK: workers (0 = 4 per thread, 1 for one thread); any count runs on any threads
  // FlashDecoding++ unified max: probabilities exp(s - phi) with this fixed phi
  // (natural-log units) instead of a running max. A row whose logits leave
  // [phi - 80, phi + 40] falls back to the exact online softmax (see DecodeStats).
  std::optional<float> unified_max;
  std::string kernel;  // registry name (ListKernels, family "decode"); "" = best for this CPU
};

// Tensors of one call (see DecodeBatch for the packing).
struct DecodeTensors {
  TensorView q;      // [1, Hq, total_q, Dqk] f32/bf16/f16, before RoPE (Decode applies the cache's)
  TensorView out;    // [1, Hq, total_q, Dv] f32/bf16/f16; written
  TensorView lse;    // [1, Hq, total_q] f32; written iff spec.return_lse
  TensorView sinks;  // [Hq] f32 iff spec.has_sinks
};

struct DecodeStats {
  int64_t unified_max_fallbacks = 0;  // pieces recomputed with the exact online softmax
};

namespace decode {
struct PlanState;  // src/kernels/decode/decode_plan.h
}

// A plan for one batch against one version of a cache: kernel, block size,
// partition and workspace. Decode shapes change every step, so planning is
// cheap (O(batch x blocks)); the plan checks the cache did not change since.
class DecodePlan {
 public:
  DecodePlan() = default;
  explicit DecodePlan(std::shared_ptr<const decode::PlanState> s) : s_(std::move(s)) {}
  bool valid() const { return s_ != nullptr; }
  size_t workspace_bytes() const;
  const std::string& kernel_name() const;
  std::string Explain() const;  // kernel, blocks, partition, pieces, workspace
  const decode::PlanState& state() const { return *s_; }

 private:
  std::shared_ptr<const decode::PlanState> s_;
};

// Validates (every bad input an Error naming it) and plans. `spec` must match
// the cache (Hkv, Dqk, Dv); additive bias is not supported in decode.
DecodePlan MakeDecodePlan(const AttentionSpec& spec, const KVCache& cache, const DecodeBatch& batch,
                          DType q_dtype, DType out_dtype, const ThreadingContext& ctx,
                          const DecodeOptions& options = {});

// Runs a plan: `workspace` holds plan.workspace_bytes() bytes (64-byte aligned
// recommended). Allocates nothing.
DecodeStats RunDecode(const DecodePlan& plan, const KVCache& cache, const DecodeTensors& tensors,
                      std::span<std::byte> workspace);

// Plans, allocates the workspace and runs.
DecodeStats Decode(const AttentionSpec& spec, const KVCache& cache, const DecodeBatch& batch,
                   const DecodeTensors& tensors, const ThreadingContext& ctx = ThreadingContext(),
                   const DecodeOptions& options = {});

}  // namespace attnkit

#endif  // ATTNKIT_DECODE_H_
