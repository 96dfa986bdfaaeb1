// SPDX-License-Identifier: Apache-2.0
// Comparison of a kernel's output with the fp64 reference (see test_util.h).
#include "src/kernels/sparse/test_util.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace attnkit::testing {

Agreement Compare(const reference::Result& ref, const AttentionTensors& t, double factor) {
  Agreement a;
  a.out_scale = 0;
  for (double v : ref.out) a.out_scale = std::max(a.out_scale, std::abs(v));
  if (a.out_scale == 0) a.out_scale = 1;
  const double half_ulp = t.out.dtype == DType::kBF16 ? 0x1.0p-8
                          : t.out.dtype == DType::kF16 ? 0x1.0p-11
                                                       : 0.0;
  const double tol = (1e-5 * factor + half_ulp) * a.out_scale;
  std::ostringstream why;
  bool reported_row = false;
  const TensorView& o = t.out;
  const TensorView& l = t.lse;
  for (int64_t b = 0; b < ref.batch; ++b) {
    for (int64_t h = 0; h < ref.heads; ++h) {
      for (int64_t i = 0; i < ref.rows; ++i) {
        const double lr = ref.l(b, h, i);
        const bool empty = std::isinf(lr) && lr < 0;
        for (int64_t d = 0; d < ref.dim; ++d) {
          const double got =
              LoadAsF32(o.data, o.dtype, b * o.strides[0] + h * o.strides[1] + i * o.strides[2] + d);
          const double e = std::abs(got - ref.o(b, h, i, d));
          const double err = std::isnan(e) ? INFINITY : e;
          if (empty && got != 0.0 && !reported_row) {
            why << "row (b" << b << ", h" << h << ", i" << i << ") sees no key but has output "
                << got << "; ";
            reported_row = true;
          }
          if (err > a.max_abs) a.max_abs = err;
        }
        if (l.data == nullptr) continue;
        const double lg =
            static_cast<const float*>(l.data)[b * l.strides[0] + h * l.strides[1] + i * l.strides[2]];
        if (empty) {
          if (!(std::isinf(lg) && lg < 0) && !reported_row) {
            reported_row = true;
            why << "row (b" << b << ", h" << h << ", i" << i << ") sees no key but has LSE " << lg
                << "; ";
          }
          continue;
        }
        const double e = std::abs(lg - lr) / std::max(1.0, std::abs(lr));
        a.lse_err = std::max(a.lse_err, std::isnan(e) ? INFINITY : e);
      }
    }
  }
  if (a.max_abs > tol) why << "max_abs " << a.max_abs << " > tolerance " << tol << "; ";
  if (a.lse_err > 1e-5 * factor) why << "LSE error " << a.lse_err << " > " << 1e-5 * factor << "; ";
  a.failure = why.str();
  return a;
}

}  // namespace attnkit::testing
