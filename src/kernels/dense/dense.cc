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
#include "src/kernels/dense/dense_bf16-inl.h"

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

// The AVX512-BF16 variant (bf16 inputs only); null entry points elsewhere.
bool HasBf16Products() { return kHaveBf16Products; }
#if HWY_TARGET == HWY_AVX3
void PackKBf16(const DenseArgs& a, const PackItem& it) { PackKPairsTile(a, it); }
void PackVBf16(const DenseArgs& a, const PackItem& it) { PackVPairsTile(a, it); }
void RunQueryTileBf16(const DenseArgs& a, const WorkItem& w, float* scratch) {
  QueryTile<BF16Bits, Bf16Products>(a, w, scratch);
}
#else
void PackKBf16(const DenseArgs&, const PackItem&) {}
void PackVBf16(const DenseArgs&, const PackItem&) {}
void RunQueryTileBf16(const DenseArgs&, const WorkItem&, float*) {}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::dense
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/simd/dispatch.h"

namespace attnkit::dense {

HWY_EXPORT(PackK);
HWY_EXPORT(PackV);
HWY_EXPORT(RunQueryTile);
HWY_EXPORT(TargetName);
HWY_EXPORT(HasBf16Products);
HWY_EXPORT(PackKBf16);
HWY_EXPORT(PackVBf16);
HWY_EXPORT(RunQueryTileBf16);

namespace {
bool CpuHasAvx512Bf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}
}  // namespace

DenseFns GetDenseFns(Products products) {
  // Resolve the dispatch tables once here, so the hot path holds plain pointers.
  const size_t index = ChosenTargetIndex();
  DenseFns fns;
  fns.target = HWY_DISPATCH_TABLE(TargetName)[index]();
  if (products == Products::kBF16) {
    if (!HWY_DISPATCH_TABLE(HasBf16Products)[index]() || !CpuHasAvx512Bf16()) return fns;
    fns.pack_k = HWY_DISPATCH_TABLE(PackKBf16)[index];
    fns.pack_v = HWY_DISPATCH_TABLE(PackVBf16)[index];
    fns.query_tile = HWY_DISPATCH_TABLE(RunQueryTileBf16)[index];
    return fns;
  }
  fns.pack_k = HWY_DISPATCH_TABLE(PackK)[index];
  fns.pack_v = HWY_DISPATCH_TABLE(PackV)[index];
  fns.query_tile = HWY_DISPATCH_TABLE(RunQueryTile)[index];
  return fns;
}

}  // namespace attnkit::dense
#endif  // HWY_ONCE
