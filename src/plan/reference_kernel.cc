// SPDX-License-Identifier: Apache-2.0
// The fp64 oracle as a registry entry, so `--kernel reference_f64` runs it
// through the same Plan/Run path as every kernel. It allocates its own
// buffers (the one exception to "Run allocates nothing").
#include "src/plan/registry.h"
#include "src/reference/reference.h"

namespace attnkit {

void PlanReference(PlanImpl& p, const PlanOptions&) {
  p.isa = "scalar fp64";
  p.workspace_bytes = 0;
}

void RunReference(const PlanImpl& p, const AttentionTensors& t, std::span<std::byte>) {
  reference::Store(reference::Attention(p.spec, p.shape, t), t);
}

}  // namespace attnkit
