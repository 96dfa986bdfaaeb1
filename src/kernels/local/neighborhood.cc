// SPDX-License-Identifier: Apache-2.0
// Per-target compilation unit of neighbourhood attention: foreach_target.h
// re-includes this file once per Highway target; HWY_ONCE exports the table.
// clang-format off: foreach_target.h must come first and re-includes this file.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/local/neighborhood.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include "hwy/highway.h"
#include "src/kernels/local/neighborhood-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::local {
namespace HWY_NAMESPACE {

// The rank is a template parameter: one instantiation per spatial rank.
void RunTile(const LineArgs& a, int64_t batch, int64_t head, const LineTile& tile,
             float* scratch) {
  switch (a.rank) {
    case 1: return ProcessTile<1>(a, batch, head, tile, scratch);
    case 2: return ProcessTile<2>(a, batch, head, tile, scratch);
    default: return ProcessTile<3>(a, batch, head, tile, scratch);
  }
}
void PackLine(const LineArgs& a, const TensorView& k, const TensorView& v, int64_t batch,
              int64_t kv_head, int64_t line, float* kt, float* vt) {
  VisitStorageType(k.dtype, [&](auto tag) {
    PackLineT<decltype(tag)>(a, k, v, batch, kv_head, line, kt, vt);
  });
}
const char* LocalTargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::local
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/simd/dispatch.h"

namespace attnkit::local {

HWY_EXPORT(RunTile);
HWY_EXPORT(PackLine);
HWY_EXPORT(LocalTargetName);

NeighborhoodFns GetNeighborhoodFns() {
  const size_t index = ChosenTargetIndex();
  NeighborhoodFns f;
  f.tile = HWY_DISPATCH_TABLE(RunTile)[index];
  f.pack = HWY_DISPATCH_TABLE(PackLine)[index];
  f.target = HWY_DISPATCH_TABLE(LocalTargetName)[index]();
  return f;
}

}  // namespace attnkit::local
#endif  // HWY_ONCE
