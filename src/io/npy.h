// SPDX-License-Identifier: Apache-2.0
// Reading and writing NumPy .npy files (format versions 1.0-3.0, C order,
// little-endian f32 / f16 / f64 and i32 / i64). Every malformed, truncated or
// unsupported file is an attnkit::Error naming the file and the problem.
#ifndef ATTNKIT_IO_NPY_H_
#define ATTNKIT_IO_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace attnkit::io {

enum class NpyType : uint8_t { kF32, kF16, kF64, kI32, kI64 };

struct NpyArray {
  NpyType type = NpyType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // raw little-endian elements, C order

  int64_t numel() const;
  // Elements converted to f32 (integers and f64 rounded); throws for overflowing values? no: plain cast.
  std::vector<float> ToF32() const;
  std::vector<int64_t> ToI64() const;  // integer arrays only; throws otherwise
};

NpyArray ReadNpy(const std::string& path);
void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace attnkit::io

#endif  // ATTNKIT_IO_NPY_H_
