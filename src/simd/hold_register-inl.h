// SPDX-License-Identifier: Apache-2.0
// HoldInRegister(v): an empty asm statement that makes v live in a vector
// register at that point, so the compiler cannot fold its load into the
// memory operand of every FMA that uses it.
//
// Why: in an outer-product micro-kernel (acc[j][c] += a[j] * b[c]) GCC 12
// re-reads a[j] or b[c] from memory in each of the kR x kC FMAs instead of
// loading it once. Where 512-bit loads issue at one per cycle and line-split
// (unaligned) ones at about 0.6 (the 2-vCPU Zen 5 VM of docs/benchmarks.md),
// those repeated loads, not the FMAs, set the speed: a 3 x 7 block of
// neighbourhood-attention logits ran at 0.45 FMA/cycle with folded loads and
// 0.90 with the seven window vectors held in registers.

#if defined(ATTNKIT_SIMD_HOLD_REGISTER_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_SIMD_HOLD_REGISTER_INL_H_
#undef ATTNKIT_SIMD_HOLD_REGISTER_INL_H_
#else
#define ATTNKIT_SIMD_HOLD_REGISTER_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit {
namespace HWY_NAMESPACE {

template <class V>
HWY_INLINE void HoldInRegister(V& v) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_SSE4 && (HWY_COMPILER_GCC || HWY_COMPILER_CLANG)
  asm("" : "+v"(v.raw));
#else
  (void)v;  // EMU128 / SCALAR: vectors are arrays, nothing to pin
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_SIMD_HOLD_REGISTER_INL_H_
