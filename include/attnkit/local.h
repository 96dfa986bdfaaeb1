// SPDX-License-Identifier: Apache-2.0
// Local attention on token grids: neighbourhood attention over 1-3 spatial
// axes with NATTEN's semantics (kernel size, dilation, stride, per-axis causal,
// windows shifted rather than truncated at borders) and Swin's window /
// shifted-window attention. Block-sparse attention is in attnkit/sparse.h.
#ifndef ATTNKIT_LOCAL_H_
#define ATTNKIT_LOCAL_H_

#include <array>
#include <cstdint>
#include <vector>

#include "attnkit/plan.h"
#include "attnkit/spec.h"
#include "attnkit/threading.h"

namespace attnkit {

inline constexpr int kMaxSpatialRank = 3;

// Neighbourhood attention parameters, one entry per spatial axis a < rank.
// Tokens are the grid points in row-major order (the last axis fastest), so a
// [B, H, X, Y, Z, D] array is the [B, H, X*Y*Z, D] attention tensor. Per axis,
// with L = extent, K = kernel_size, r = dilation, s = stride:
//   * dilation: token i belongs to the sub-grid of indices = i (mod r), where it
//     has index x = i / r; windows are taken inside that sub-grid of length Ls;
//   * non-causal: the window of x is [start, start + K) with the group leader
//     c = min((x / s) s + s / 2, Ls - 1), wl = K / 2, wr = K / 2 + K % 2 - 1,
//     start = max(c - wl, 0) + (c + wr >= Ls ? Ls - wr - c - 1 : 0): shifted,
//     not truncated, at the borders, so every query sees exactly K keys;
//   * causal: leader c = min((x / s) s + s - 1, Ls - 1), keys
//     [max(c - K + 1, 0), min(x + 1, Ls)): never the future;
// and a query sees the product of its per-axis windows (docs/sparse.md).
// Constraints: 1 <= K, K r <= L, 1 <= r, 1 <= s <= K.
struct NeighborhoodParams {
  int rank = 1;  // 1, 2 or 3
  std::array<int64_t, kMaxSpatialRank> extent{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> kernel_size{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> dilation{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> stride{1, 1, 1};
  std::array<bool, kMaxSpatialRank> causal{false, false, false};

  int64_t tokens() const;  // product of the extents
};

// Throws attnkit::Error naming the parameter and axis when invalid.
void ValidateNeighborhoodParams(const NeighborhoodParams& params);

// Neighbourhood attention. `spec` gives the heads (GQA allowed), head dims,
// scale and return_lse; its mask, soft-cap, ALiBi, sinks and bias must be off
// (the neighbourhood is the mask). Tensors as for attnkit::Run with
// N = params.tokens() for q, k, v and out (any strides, last axis contiguous).
void NeighborhoodAttention(const NeighborhoodParams& params, const AttentionSpec& spec,
                           const AttentionTensors& tensors,
                           const ThreadingContext& ctx = ThreadingContext());

// Thin wrappers over NeighborhoodAttention for 1, 2 and 3 spatial axes.
template <int kRank>
struct NaArgs {
  std::array<int64_t, kRank> extent{};
  std::array<int64_t, kRank> kernel_size{};
  std::array<int64_t, kRank> dilation = Ones();
  std::array<int64_t, kRank> stride = Ones();
  std::array<bool, kRank> causal{};
  static constexpr std::array<int64_t, kRank> Ones() {
    std::array<int64_t, kRank> a{};
    a.fill(1);
    return a;
  }
};
void Na1d(const NaArgs<1>& args, const AttentionSpec& spec, const AttentionTensors& tensors,
          const ThreadingContext& ctx = ThreadingContext());
void Na2d(const NaArgs<2>& args, const AttentionSpec& spec, const AttentionTensors& tensors,
          const ThreadingContext& ctx = ThreadingContext());
void Na3d(const NaArgs<3>& args, const AttentionSpec& spec, const AttentionTensors& tensors,
          const ThreadingContext& ctx = ThreadingContext());

// Swin window attention on a [height x width] token grid (row-major tokens):
// W-MSA when shift is 0, SW-MSA otherwise. The map is rolled by (-shift_y,
// -shift_x), partitioned into non-overlapping window_y x window_x windows,
// attention runs inside each window with, when shifted, keys of a different
// region of the rolled map masked out (Swin's 3 x 3 region labels; masked
// logits are -inf, Swin's reference adds -100), and outputs are rolled back.
// `rel_pos_bias`, if not empty, is Swin's table [Hq, 2 window_y - 1,
// 2 window_x - 1] (f32, row-major), added to the logit of query i and key j at
// [h, dy + window_y - 1, dx + window_x - 1] with (dy, dx) = pos_i - pos_j.
// height and width must be multiples of the window; 0 <= shift < window.
struct WindowParams {
  int64_t height = 0, width = 0;
  std::array<int64_t, 2> window{7, 7};
  std::array<int64_t, 2> shift{0, 0};
};
void ValidateWindowParams(const WindowParams& params);
void WindowAttention(const WindowParams& params, const AttentionSpec& spec,
                     const AttentionTensors& tensors, const std::vector<float>& rel_pos_bias = {},
                     const ThreadingContext& ctx = ThreadingContext());

}  // namespace attnkit

#endif  // ATTNKIT_LOCAL_H_
