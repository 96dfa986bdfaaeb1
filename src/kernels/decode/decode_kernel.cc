// SPDX-License-Identifier: Apache-2.0
// Per-target compilation unit of the decode kernel: foreach_target.h re-includes
// this file once per Highway target; HWY_ONCE then exports the dispatch table.
// clang-format off: foreach_target.h must come first and re-includes this file.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/decode/decode_kernel.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include "hwy/highway.h"
#include "src/kernels/decode/decode_kernel-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::decode {
namespace HWY_NAMESPACE {

bool RunPiece(const DecodeArgs& a, const Piece& piece, float* scratch) {
  return RunPieceImpl(a, piece, scratch);
}
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::decode
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/simd/dispatch.h"

namespace attnkit::decode {

HWY_EXPORT(RunPiece);
HWY_EXPORT(TargetName);

DecodeFns GetDecodeFns() {
  // Resolve the dispatch table once here, so the hot path holds plain pointers.
  const size_t index = ChosenTargetIndex();
  DecodeFns fns;
  fns.piece = HWY_DISPATCH_TABLE(RunPiece)[index];
  fns.target = HWY_DISPATCH_TABLE(TargetName)[index]();
  return fns;
}

}  // namespace attnkit::decode
#endif  // HWY_ONCE
