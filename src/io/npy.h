// SPDX-License-Identifier: Apache-2.0
// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0, C
// order, little-endian f32 / f16 / f64 / i32 / i64). Every malformed, truncated
// or unsupported file is an attnkit::Error naming the file and the problem.
#ifndef ATTNKIT_IO_NPY_H_
#define ATTNKIT_IO_NPY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attnkit::io {

// Element types a .npy file may hold here. Each is stored little-endian:
// descr '<f4', '<f2', '<f8', '<i4', '<i8'.
enum class NpyType : uint8_t { kF32, kF16, kF64, kI32, kI64 };

size_t SizeOf(NpyType t);
// NumPy's name of the type: "float32", "float16", "float64", "int32", "int64".
const char* Name(NpyType t);
// The header descr string, e.g. "<f4".
const char* Descr(NpyType t);
bool IsFloat(NpyType t);

// An n-dimensional array in C (row-major) order. `shape` is empty for a 0-d
// (scalar) array, which holds one element. `data` holds numel() * SizeOf(type)
// raw little-endian bytes.
struct NpyArray {
  NpyType type = NpyType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  int64_t numel() const;
  int rank() const { return static_cast<int>(shape.size()); }
  std::string ShapeString() const;  // e.g. "[2, 3]", "[]" for a scalar

  // All elements as f32: f16 widened exactly, f64 and integers rounded to
  // nearest (integers beyond 2^24 lose precision).
  std::vector<float> ToF32() const;
  // All elements as int64; integer arrays only (throws Error for float types).
  std::vector<int64_t> ToI64() const;

  static NpyArray FromF32(std::vector<int64_t> shape, const float* values);
  static NpyArray FromI64(std::vector<int64_t> shape, const int64_t* values);
};

// Parses the bytes of a whole .npy file. `name` (usually the path) prefixes
// every error message: "<name>: <problem>".
NpyArray ParseNpy(std::string_view bytes, const std::string& name);

// Reads and parses `path`. Throws Error for a missing or unreadable file and
// for every problem ParseNpy finds.
NpyArray ReadNpy(const std::string& path);

// Serialises `array` as a .npy file: header padded with spaces and ended with
// '\n' so that the data starts at a multiple of 64 bytes. `major_version` is
// 1, 2 or 3; version 1 is upgraded to 2 when the header exceeds 65535 bytes.
std::string SerializeNpy(const NpyArray& array, int major_version = 1);

// Writes `array` to `path` (see SerializeNpy). Throws Error naming the path if
// it cannot be written.
void WriteNpy(const std::string& path, const NpyArray& array, int major_version = 1);

// Convenience: writes `numel(shape)` f32 values as a float32 array.
void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace attnkit::io

#endif  // ATTNKIT_IO_NPY_H_
