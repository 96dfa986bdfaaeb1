// SPDX-License-Identifier: Apache-2.0
// Per-target compilation unit of the dense kernel: foreach_target.h re-includes
// this file once per Highway target; HWY_ONCE then exports the dispatch table.
// clang-format off: foreach_target.h must come first and re-includes this file.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/dense/dense.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include "hwy/highway.h"
#include "src/kernels/dense/dense-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::dense {
namespace HWY_NAMESPACE {

void PackK(const DenseArgs& a, const PackItem& it) {
  VisitStorageType(a.k.dtype, [&](auto tag) { PackKTile<decltype(tag)>(a, it); });
}
void PackV(const DenseArgs& a, const PackItem& it) {
  VisitStorageType(a.v.dtype, [&](auto tag) { PackVTile<decltype(tag)>(a, it); });
}
void RunQueryTile(const DenseArgs& a, const WorkItem& w, float* scratch) {
  VisitStorageType(a.q.dtype, [&](auto tag) { QueryTile<decltype(tag)>(a, w, scratch); });
}
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::dense
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attnkit::dense {

HWY_EXPORT(PackK);
HWY_EXPORT(PackV);
HWY_EXPORT(RunQueryTile);
HWY_EXPORT(TargetName);

DenseFns GetDenseFns() {
  // Resolve the dispatch tables once here, so the hot path holds plain pointers.
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  const size_t index = hwy::GetChosenTarget().GetIndex();
  DenseFns fns;
  fns.pack_k = HWY_DISPATCH_TABLE(PackK)[index];
  fns.pack_v = HWY_DISPATCH_TABLE(PackV)[index];
  fns.query_tile = HWY_DISPATCH_TABLE(RunQueryTile)[index];
  fns.target = HWY_DISPATCH_TABLE(TargetName)[index]();
  return fns;
}

}  // namespace attnkit::dense
#endif  // HWY_ONCE
