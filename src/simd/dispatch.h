// SPDX-License-Identifier: Apache-2.0
// The index into HWY_EXPORT's dispatch tables of the target Highway chose for
// this CPU, for the kernels that resolve their tables once into plain
// function pointers (Get*Fns). Include after hwy/highway.h, in the HWY_ONCE part.
#ifndef ATTNKIT_SIMD_DISPATCH_H_
#define ATTNKIT_SIMD_DISPATCH_H_

#include <cstddef>

#include "hwy/highway.h"

namespace attnkit {

inline size_t ChosenTargetIndex() {
#if (HWY_TARGETS & (HWY_TARGETS - 1)) == 0
  // One compiled target (e.g. HWY_COMPILE_ONLY_STATIC, as in the asan preset):
  // HWY_EXPORT's table then has a single entry.
  return 0;
#else
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  return hwy::GetChosenTarget().GetIndex();
#endif
}

}  // namespace attnkit

#endif  // ATTNKIT_SIMD_DISPATCH_H_
