// SPDX-License-Identifier: Apache-2.0
// Placeholder: the .npy reader/writer is being written (see npy.h).
#include "src/io/npy.h"

#include "attnkit/error.h"

namespace attnkit::io {
int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}
std::vector<float> NpyArray::ToF32() const { detail::Throw("npy: not implemented"); }
std::vector<int64_t> NpyArray::ToI64() const { detail::Throw("npy: not implemented"); }
NpyArray ReadNpy(const std::string& path) { detail::Throw("npy: not implemented"); }
void WriteNpy(const std::string&, const std::vector<int64_t>&, const float*) {
  detail::Throw("npy: not implemented");
}
}  // namespace attnkit::io
