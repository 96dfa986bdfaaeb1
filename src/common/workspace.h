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

// Zeroed memory for large, long-lived buffers read by streaming kernels (the
// KV-cache pool): buffers of 2 MiB or more start on a 2 MiB boundary and ask
// the kernel for transparent huge pages (madvise), so that a decode step that
// walks a long cache misses the TLB once per 2 MiB, not once per 4 KiB page.
class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  explicit HugePageBuffer(size_t bytes);
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  HugePageBuffer(HugePageBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr; }
  HugePageBuffer& operator=(HugePageBuffer&& o) noexcept;
  ~HugePageBuffer();
  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace attnkit

#endif  // ATTNKIT_COMMON_WORKSPACE_H_
