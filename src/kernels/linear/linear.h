// SPDX-License-Identifier: Apache-2.0
// Interface of the linear-attention kernels (non-SIMD part): the argument block
// the planner fills once per run, the per-worker scratch layout, and the
// per-target entry points. Validation and planning are in linear_plan.cc.
//
// One work item = (sequence, KV head): the kernel walks that sequence from its
// initial state to its final state for every query head of the KV head's GQA
// group (they share feature rows of K, V, gates and the state), either
//   chunked    chunks of `chunk` tokens: intra-chunk tile products plus the
//              state passed between chunks (chunk-inl.h), or
//   recurrent  token by token, one pass over the state per token (recurrent-inl.h).
// The parallel form is the chunked kernel with one chunk per sequence.
#ifndef ATTNKIT_KERNELS_LINEAR_LINEAR_H_
#define ATTNKIT_KERNELS_LINEAR_LINEAR_H_

#include <cstddef>
#include <cstdint>

#include "attnkit/linear.h"
#include "attnkit/tensor.h"

namespace attnkit::linear {

// Width padding of every scratch row, in floats: a multiple of the f32 lane
// count of every x86 target (16 for AVX-512), so the tile products
// (src/simd/tile_gemm-inl.h) never need a column tail.
inline constexpr int64_t kPad = 16;
// Rows of the query blocks of the per-channel gated scores when the gates decay
// too fast for one pivot per chunk (see chunk-inl.h, GatedScoresChannel).
inline constexpr int64_t kSubBlock = 16;
// Largest decay (in nats, summed over a block) that one pivot may span: the
// factors e^{+-B} of the pivoted products then stay within e^20 = 4.9e8 of 1,
// far from f32 overflow and with rounding errors ~ 20 * 6e-8 = 1.2e-6.
inline constexpr double kPivotSpan = 20.0;
// Log-gates are clamped to >= this before use. e^-200 underflows to exactly 0
// in f32 (as any gate below about -88 does), so -inf (a reset) and finite very
// negative gates give the same f32 result without inf - inf = NaN in the sums.
inline constexpr float kMinLogGate = -200.0f;

inline int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// One sequence of the batch.
struct Sequence {
  int64_t batch_index;  // index into the B axis of q/k/v/out/gate/beta (0 for varlen)
  int64_t offset;       // first token of the sequence along N
  int64_t n;            // tokens
  int64_t state_index;  // index into the S axis of the states
};

struct WorkItem {
  int32_t seq;
  int32_t kv_head;
};

struct LinearArgs {
  const Sequence* seqs = nullptr;
  int64_t hq = 0, hkv = 0, group = 1;  // group = Hq / Hkv
  int64_t dk = 0, dv = 0;
  int64_t f = 0, f_pad = 0;     // feature width F and its padded row stride
  int64_t dvs = 0, dv_pad = 0;  // state columns (Dv, + 1 with the denominator) and padded stride
  FeatureMap feature_map = FeatureMap::kIdentity;
  bool l2norm = false;
  float q_factor = 1.0f;  // the scale: multiplies query features (Based: the query row, before phi)
  const float* hedgehog_wq = nullptr;  // [Dk x Dk], row-major (out, in)
  const float* hedgehog_bq = nullptr;  // [Dk] or nullptr
  const float* hedgehog_wk = nullptr;
  const float* hedgehog_bk = nullptr;
  bool delta = false;
  LinearGate gate_kind = LinearGate::kNone;
  const float* log_decay = nullptr;  // [Hkv] log(lambda), or nullptr = no decay
  LinearNorm norm = LinearNorm::kNone;
  float eps = 1e-6f;
  TensorView q, k, v, out, gate, beta, state_in, state_out;  // data == nullptr when absent
  // Hybrid: the softmax-window output, f32 contiguous [B, Hq, q.shape[2], Dv], or nullptr.
  const float* window_out = nullptr;
  float linear_weight = 1.0f, window_weight = 0.0f;
  int64_t chunk = 64;          // C, tokens per chunk (chunked / parallel forms)
  size_t l1_floats = 9216;     // L1 budget of a streamed B block in TileGemm
  bool gated() const { return gate_kind != LinearGate::kNone || log_decay != nullptr; }
};

// Per-worker scratch of the chunked kernel, in floats from the worker's base;
// every region starts on a 64-byte boundary. C = chunk, Cp = RoundUp(C, 16),
// G = group, Fp = f_pad, Dvp = dv_pad.
struct ChunkLayout {
  int64_t state;   // [F x Dvp]    the state S of the KV head
  int64_t qf;      // [G*C x Fp]   query feature rows (head-major: row hh * c + t)
  int64_t kf;      // [C x Fp]     key feature rows
  int64_t kpos;    // [C x Fp]     delta: key rows times e^{B_t} (decayed from the chunk start)
  int64_t kt;      // [Fp x Cp]    K^T for the scores (pivot-scaled with per-channel gates)
  int64_t kdt;     // [Fp x Cp]    (K e^{B_last - B})^T for the state update
  int64_t u;       // [Cp x Dvp]   V rows (+ a ones column), then the delta rule's U
  int64_t p;       // [G*C x Cp]   intra-chunk scores
  int64_t o;       // [G*C x Dvp]  output accumulator
  int64_t r;       // [C x Dvp]    delta: right-hand side beta (V - Kpos S)
  int64_t tm;      // [C x Cp]     delta: A, then T = (I + A)^-1
  int64_t qs;      // [G*16 x Fp]  pivot-scaled query block (per-channel gates)
  int64_t kd;      // [16 x Fp]    pivot-scaled keys of a diagonal block
  int64_t bp;      // double [C x Fp] (or [C]) prefix sums of the log-gates
  int64_t piv;     // double [Fp]  pivot log-gates of a block
  int64_t w;       // [max(Cp, Fp)] exponent / weight row
  int64_t beta;    // [Cp]
  int64_t tmp;     // [2 Fp + Dkp] feature-map temporaries
  int64_t total;
};
ChunkLayout MakeChunkLayout(const LinearArgs& a);

// Per-worker scratch of the recurrent kernel.
struct RecurrentLayout {
  int64_t state;  // [F x Dvp]
  int64_t qf;     // [G x Fp]
  int64_t kf;     // [Fp]
  int64_t vrow;   // [Dvp]  v (+ 1), then the delta rule's update row
  int64_t alpha;  // [Fp]   per-channel decay of this token
  int64_t o;      // [G x Dvp]
  int64_t tmp;    // [2 Fp + Dkp]
  int64_t total;
};
RecurrentLayout MakeRecurrentLayout(const LinearArgs& a);

using SequenceFn = void (*)(const LinearArgs&, const WorkItem&, float* scratch);

// Entry points of the best Highway target this CPU supports (or the one forced
// by hwy::SetSupportedTargetsForTest).
struct LinearFns {
  SequenceFn chunked = nullptr;
  SequenceFn recurrent = nullptr;
  const char* target = "";
};
LinearFns GetLinearFns();

}  // namespace attnkit::linear

#endif  // ATTNKIT_KERNELS_LINEAR_LINEAR_H_
