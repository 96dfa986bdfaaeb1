// SPDX-License-Identifier: Apache-2.0
// Planning of decode (non-SIMD): what MakeDecodePlan decided (PlanState), the
// two partitions of the work (fixed split-KV and stream-K), and the internal
// run entry with test hooks. Not the kernel: see decode_kernel.h.
#ifndef ATTNKIT_KERNELS_DECODE_DECODE_PLAN_H_
#define ATTNKIT_KERNELS_DECODE_DECODE_PLAN_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "attnkit/decode.h"
#include "src/kernels/decode/decode_kernel.h"
#include "src/kernels/decode/kv_cache_impl.h"

namespace attnkit::decode {

// One sequence of the batch (or the cascade prefix).
struct BatchSeq {
  int64_t id = -1;
  int64_t nq = 0, q_begin = 0;  // its packed query rows
  SeqView view;
  int64_t pos_shift = 0;        // cascade suffix: prefix length added to attention positions
  int64_t sink_offset = -1;     // its materialised sinks in the sink workspace
  int32_t segment_begin = 0, segment_end = 0;
};

struct PlanState {
  AttentionSpec spec;
  DecodeBatch batch;
  DecodeOptions options;
  DType q_dtype = DType::kF32, out_dtype = DType::kF32;
  int num_threads = 1;
  CpuInfo cpu;
  const KVCache* cache = nullptr;
  uint64_t cache_version = 0;
  std::string kernel_name, isa;
  bool on_codes = false;  // scores on int8/int4 codes with VNNI
  bool fused = false;     // fused tiles (decode_fused-inl.h) instead of f32 K^T / V tiles

  // Resolved problem.
  float scale = 1.0f;
  std::vector<float> alibi_slopes;
  int64_t window_left = kUnbounded, window_right = kUnbounded;
  int64_t dqk_pad = 0, dv_acc = 0, block_tokens = 256;
  int64_t hb_k = 1, hb_v = 1;
  StoreLayout sink_layout;  // f32 page of the sink tokens (kSinkRecent)

  // Work.
  std::vector<BatchSeq> seqs;
  BatchSeq prefix;  // cascade only (id >= 0)
  std::vector<SegmentRef> segments;
  std::vector<Row> rows;
  std::vector<Block> blocks;
  std::vector<Problem> problems;
  DecodePartition partition = DecodePartition::kStreamK;
  int64_t num_splits = 1;
  int num_workers = 1;
  std::vector<Piece> pieces;           // stream-K: line order; split-KV: longest first
  std::vector<int32_t> worker_begin;   // stream-K: pieces of worker w
  // Problems whose state needs merging, grouped by the worker that merges
  // them (stream-K: the owner of the first block; split-KV: one group each),
  // and for each problem its pieces in block order.
  std::vector<int32_t> merge_problems, merge_group_begin;
  std::vector<int32_t> problem_pieces, problem_piece_begin;
  std::vector<int32_t> cascade_problems;  // suffix problems to merge with the prefix
  int64_t partial_rows = 0;
  int64_t sink_bytes = 0;
  double kv_bytes = 0;  // bytes of K/V data and scales read by one run

  // Workspace (byte offsets, each 64-byte aligned).
  size_t qs_off = 0, sink_off = 0, po_off = 0, plse_off = 0, scratch_off = 0;
  size_t scratch_stride = 0, workspace_bytes = 0;
  int64_t scratch_floats = 0;

  DecodeFns fns;
  ScoreFn score = nullptr;
  ValueFn values = nullptr;  // P V on the value codes (the VNNI kernel)
};

// Cuts the blocks of all problems, laid out in one line problem after
// problem, into `workers` contiguous ranges of (nearly) equal cost; blocks
// are atoms. A cut moves to the nearest problem boundary when that is within
// snap x (total cost / workers) of its target (0: never), so with many short
// problems no problem is split (no partial states to merge) at a small cost
// in balance. Returns the pieces in line order (partial_row unset) and fills
// worker_begin (workers + 1 entries). Problems with no blocks get an empty
// piece in the range where they sit.
std::vector<Piece> StreamKPartition(const std::vector<Problem>& problems,
                                    const std::vector<double>& block_cost, int workers,
                                    std::vector<int32_t>& worker_begin, double snap = 0.0);
// The planner's snap: an eighth of a worker's share.
inline constexpr double kStreamKSnap = 0.125;
// Cuts every problem into min(splits, blocks) chunks of equal block count.
std::vector<Piece> SplitKVPartition(const std::vector<Problem>& problems, int64_t splits);

// RunDecode with test hooks: block_visits (one counter per block) is
// incremented each time a block is processed.
DecodeStats RunDecodeWithHooks(const DecodePlan& plan, const KVCache& cache,
                               const DecodeTensors& tensors, std::span<std::byte> workspace,
                               std::atomic<int64_t>* block_visits);

// Kernel names (registry_decode.cc).
// Stream-K workers per thread when DecodeOptions::num_workers is 0.
inline constexpr int kWorkersPerThread = 4;

inline constexpr const char* kPortableKernel = "decode_kvcache_f32acc_portable";
inline constexpr const char* kFusedKernel = "decode_kvcache_fused_portable";
inline constexpr const char* kVnniKernel = "decode_int8int4kv_vnni_avx512";

// The VNNI score kernel (decode_vnni.cc): nullptr when this build or CPU has none.
ScoreFn GetVnniScoreFn(const CpuInfo& cpu);
// Its P V on int8 / int4 value codes: nullptr when this build or CPU has none.
ValueFn GetVnniValueFn(const CpuInfo& cpu);

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_DECODE_PLAN_H_
