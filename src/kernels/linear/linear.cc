// SPDX-License-Identifier: Apache-2.0
// Per-target compilation unit of the linear-attention kernels: foreach_target.h
// re-includes this file once per Highway target; HWY_ONCE then exports the
// dispatch table and defines the (target-independent) scratch layouts.
// clang-format off: foreach_target.h must come first and re-includes this file.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/linear/linear.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include "hwy/highway.h"
#include "src/kernels/linear/chunk-inl.h"
#include "src/kernels/linear/recurrent-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::linear {
namespace HWY_NAMESPACE {

// q/k/v and out dtypes are handled per row (RowAsF32, FinishRow): one
// instantiation per target.
void RunChunked(const LinearArgs& a, const WorkItem& w, float* scratch) {
  ChunkSequence(a, w, scratch);
}
void RunRecurrent(const LinearArgs& a, const WorkItem& w, float* scratch) {
  RecurrentSequence(a, w, scratch);
}
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::linear
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/simd/dispatch.h"

namespace attnkit::linear {

HWY_EXPORT(RunChunked);
HWY_EXPORT(RunRecurrent);
HWY_EXPORT(TargetName);

LinearFns GetLinearFns() {
  // Resolve the dispatch tables once here, so the hot path holds plain pointers.
  const size_t index = ChosenTargetIndex();
  LinearFns fns;
  fns.chunked = HWY_DISPATCH_TABLE(RunChunked)[index];
  fns.recurrent = HWY_DISPATCH_TABLE(RunRecurrent)[index];
  fns.target = HWY_DISPATCH_TABLE(TargetName)[index]();
  return fns;
}

namespace {
// Appends a region of `floats` floats, rounded up to a 64-byte multiple.
int64_t Take(int64_t& next, int64_t floats) {
  const int64_t at = next;
  next += RoundUp(floats, kPad);
  return at;
}
}  // namespace

ChunkLayout MakeChunkLayout(const LinearArgs& a) {
  const int64_t C = a.chunk, Cp = RoundUp(C, kPad), G = a.group, Fp = a.f_pad, Dvp = a.dv_pad;
  const bool channel = a.gate_kind == LinearGate::kChannel;
  ChunkLayout l{};
  int64_t next = 0;
  l.state = Take(next, a.f * Dvp);
  l.qf = Take(next, G * C * Fp);
  l.kf = Take(next, C * Fp);
  l.kpos = Take(next, a.delta && a.gated() ? C * Fp : 0);
  l.kt = Take(next, Fp * Cp);
  l.kdt = Take(next, a.gated() ? Fp * Cp : 0);
  l.u = Take(next, Cp * Dvp);
  l.p = Take(next, G * C * Cp);
  l.o = Take(next, G * C * Dvp);
  l.r = Take(next, a.delta ? C * Dvp : 0);
  l.tm = Take(next, a.delta ? C * Cp : 0);
  l.qs = Take(next, channel ? G * kSubBlock * Fp : 0);
  l.kd = Take(next, channel ? kSubBlock * Fp : 0);
  l.bp = Take(next, 2 * (channel ? C * Fp : C));  // doubles
  l.piv = Take(next, channel ? 2 * Fp : 0);
  l.w = Take(next, std::max(Cp, Fp));
  l.beta = Take(next, Cp);
  l.tmp = Take(next, std::max(2 * Fp + RoundUp(a.dk, kPad), Dvp));
  l.total = next;
  return l;
}

RecurrentLayout MakeRecurrentLayout(const LinearArgs& a) {
  const int64_t Fp = a.f_pad, Dvp = a.dv_pad;
  RecurrentLayout l{};
  int64_t next = 0;
  l.state = Take(next, a.f * Dvp);
  l.qf = Take(next, a.group * Fp);
  l.kf = Take(next, Fp);
  l.vrow = Take(next, Dvp);
  l.alpha = Take(next, Fp);
  l.o = Take(next, a.group * Dvp);
  l.tmp = Take(next, std::max(2 * Fp + RoundUp(a.dk, kPad), Dvp));
  l.total = next;
  return l;
}

}  // namespace attnkit::linear
#endif  // HWY_ONCE
