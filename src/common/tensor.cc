// SPDX-License-Identifier: Apache-2.0
// TensorView helpers and the parsing of dtype / layout names.
#include "attnkit/tensor.h"

#include <sstream>

#include "attnkit/error.h"

namespace attnkit {

DType ParseDType(std::string_view name) {
  if (name == "f32" || name == "float32") return DType::kF32;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  if (name == "f16" || name == "float16") return DType::kF16;
  detail::Throw("unknown dtype '", name, "' (allowed: f32, bf16, f16)");
}

Layout ParseLayout(const std::string& name) {
  if (name == "bhnd") return Layout::kBHND;
  if (name == "bnhd") return Layout::kBNHD;
  detail::Throw("unknown layout '", name, "' (allowed: bhnd, bnhd)");
}

const char* Name(Layout layout) { return layout == Layout::kBHND ? "bhnd" : "bnhd"; }

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= shape[i];
  return n;
}

std::string TensorView::ShapeString() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < rank; ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

TensorView TensorView::Contiguous(const void* data, DType dtype,
                                  std::initializer_list<int64_t> shape) {
  ATTNKIT_CHECK(shape.size() >= 1 && shape.size() <= kMaxRank, "TensorView rank must be 1..",
                kMaxRank, ", got ", shape.size());
  TensorView t;
  t.data = const_cast<void*>(data);
  t.dtype = dtype;
  t.rank = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  int64_t stride = 1;
  for (int d = t.rank - 1; d >= 0; --d) {
    t.strides[d] = stride;
    stride *= t.shape[d];
  }
  return t;
}

TensorView TensorView::Attention(const void* data, DType dtype, Layout layout, int64_t batch,
                                 int64_t heads, int64_t tokens, int64_t dim) {
  TensorView t;
  t.data = const_cast<void*>(data);
  t.dtype = dtype;
  t.rank = 4;
  t.shape = {batch, heads, tokens, dim};
  if (layout == Layout::kBHND) {
    t.strides = {heads * tokens * dim, tokens * dim, dim, 1};
  } else {  // memory order [B, N, H, D]
    t.strides = {tokens * heads * dim, dim, heads * dim, 1};
  }
  return t;
}

}  // namespace attnkit
