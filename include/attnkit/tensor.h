// SPDX-License-Identifier: Apache-2.0
// TensorView: a non-owning pointer + dtype + shape + strides (in elements).
// attnkit never allocates or frees tensor memory; the caller owns it.
#ifndef ATTNKIT_TENSOR_H_
#define ATTNKIT_TENSOR_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "attnkit/dtype.h"

namespace attnkit {

inline constexpr int kMaxRank = 4;

// Physical order of the axes of a 4-D attention tensor. Both are views of the
// same logical tensor [B, H, N, D]; only the strides differ.
//   kBHND: heads-major   [batch, heads, tokens, dim]  (PyTorch SDPA)
//   kBNHD: tokens-major  [batch, tokens, heads, dim]  (FlashAttention, KV caches)
enum class Layout : uint8_t { kBHND = 0, kBNHD = 1 };

Layout ParseLayout(const std::string& name);  // "bhnd" | "bnhd"; throws Error.
const char* Name(Layout layout);

struct TensorView {
  void* data = nullptr;  // inputs are never written through this pointer
  DType dtype = DType::kF32;
  int rank = 0;
  std::array<int64_t, kMaxRank> shape{};    // logical sizes
  std::array<int64_t, kMaxRank> strides{};  // in elements; 0 is allowed on size-1 axes

  bool empty() const { return data == nullptr; }
  int64_t numel() const;
  std::string ShapeString() const;  // e.g. "[2, 8, 128, 64]"

  // A densely packed row-major view of the given shape.
  static TensorView Contiguous(const void* data, DType dtype, std::initializer_list<int64_t> shape);

  // A logical [B, H, N, D] view of memory laid out as `layout`, densely packed.
  static TensorView Attention(const void* data, DType dtype, Layout layout, int64_t batch,
                              int64_t heads, int64_t tokens, int64_t dim);
};

}  // namespace attnkit

#endif  // ATTNKIT_TENSOR_H_
