// SPDX-License-Identifier: Apache-2.0
// HugePageBuffer (see workspace.h).
#include "src/common/workspace.h"

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace attnkit {

HugePageBuffer::HugePageBuffer(size_t bytes) : bytes_(bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t align = bytes >= kHuge ? kHuge : kWorkspaceAlign;
  const size_t rounded = (bytes + align - 1) / align * align;
  data_ = static_cast<uint8_t*>(std::aligned_alloc(align, rounded == 0 ? align : rounded));
  if (data_ == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == kHuge) madvise(data_, rounded, MADV_HUGEPAGE);  // a hint: ignored where THP is off
#endif
  std::memset(data_, 0, rounded == 0 ? align : rounded);
}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

HugePageBuffer::~HugePageBuffer() { std::free(data_); }

}  // namespace attnkit
