// SPDX-License-Identifier: Apache-2.0
// Distinct C++ types for the raw bit patterns of 16-bit storage formats, so that
// kernels can be templated on the storage type of their inputs.
#ifndef ATTNKIT_SIMD_STORAGE_TYPES_H_
#define ATTNKIT_SIMD_STORAGE_TYPES_H_

#include <cstdint>

#include "attnkit/dtype.h"

namespace attnkit {

struct BF16Bits {
  uint16_t bits;
};
struct F16Bits {
  uint16_t bits;
};
static_assert(sizeof(BF16Bits) == 2 && sizeof(F16Bits) == 2);

inline float ToF32(float v) { return v; }
inline float ToF32(BF16Bits v) { return BF16ToF32(v.bits); }
inline float ToF32(F16Bits v) { return F16ToF32(v.bits); }

// Calls fn(T{}) with T the storage type of `dtype`.
template <class Fn>
decltype(auto) VisitStorageType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kBF16: return fn(BF16Bits{});
    case DType::kF16: return fn(F16Bits{});
    case DType::kF32: break;
  }
  return fn(float{});
}

}  // namespace attnkit

#endif  // ATTNKIT_SIMD_STORAGE_TYPES_H_
