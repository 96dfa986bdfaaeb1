// SPDX-License-Identifier: Apache-2.0
// Workspace carving shared by every plan: each region of a workspace starts on
// a 64-byte cache line, and the one-call entry points (Attention, Decode,
// BlockSparseAttention, LinearAttention) own a cache-line-aligned buffer.
#ifndef ATTNKIT_COMMON_WORKSPACE_H_
#define ATTNKIT_COMMON_WORKSPACE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace attnkit {

inline constexpr size_t kWorkspaceAlign = 64;  // bytes

// `bytes` rounded up to a whole number of cache lines.
inline size_t AlignUp(size_t bytes) {
  return (bytes + kWorkspaceAlign - 1) / kWorkspaceAlign * kWorkspaceAlign;
}

// A heap workspace of `bytes` bytes starting on a cache line.
class AlignedWorkspace {
 public:
  explicit AlignedWorkspace(size_t bytes) : storage_(bytes + kWorkspaceAlign), bytes_(bytes) {}
  std::span<std::byte> span() {
    const auto addr = reinterpret_cast<uintptr_t>(storage_.data());
    const size_t pad = (kWorkspaceAlign - addr % kWorkspaceAlign) % kWorkspaceAlign;
    return std::span<std::byte>(storage_.data() + pad, bytes_);
  }

 private:
  std::vector<std::byte> storage_;
  size_t bytes_;
};

}  // namespace attnkit

#endif  // ATTNKIT_COMMON_WORKSPACE_H_
