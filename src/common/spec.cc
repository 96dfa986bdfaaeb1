// SPDX-License-Identifier: Apache-2.0
// AttentionSpec helpers: default scale, the ALiBi slope table, visible-pair counts.
#include "attnkit/spec.h"

#include <cmath>

#include "attnkit/error.h"

namespace attnkit {

float AttentionSpec::resolved_scale() const {
  if (scale.has_value()) return *scale;
  return head_dim_qk > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_qk)))
                         : 1.0f;
}

namespace {
// slopes of a power-of-two head count n: 2^(-8 (h+1) / n), h = 0..n-1.
std::vector<double> PowerOfTwoSlopes(int64_t n) {
  std::vector<double> s(n);
  for (int64_t h = 0; h < n; ++h) s[h] = std::exp2(-8.0 * static_cast<double>(h + 1) / n);
  return s;
}
}  // namespace

std::vector<float> AlibiSlopes(int64_t num_heads) {
  ATTNKIT_CHECK(num_heads >= 1, "AlibiSlopes: num_heads must be >= 1, got ", num_heads);
  int64_t p = 1;
  while (p * 2 <= num_heads) p *= 2;
  std::vector<double> slopes = PowerOfTwoSlopes(p);
  if (p < num_heads) {
    const std::vector<double> extra = PowerOfTwoSlopes(2 * p);
    for (int64_t i = 0; static_cast<int64_t>(slopes.size()) < num_heads; i += 2) {
      slopes.push_back(extra[i]);
    }
  }
  return std::vector<float>(slopes.begin(), slopes.end());
}

int64_t VisiblePairs(const MaskSpec& mask, int64_t nq, int64_t nk) {
  const int64_t right = mask.effective_right();
  int64_t total = 0;
  for (int64_t i = 0; i < nq; ++i) {
    const int64_t p = nk - nq + i;
    const int64_t lo = mask.window_left == kUnbounded ? 0 : std::max<int64_t>(0, p - mask.window_left);
    const int64_t hi = right == kUnbounded ? nk - 1 : std::min<int64_t>(nk - 1, p + right);
    if (hi >= lo) total += hi - lo + 1;
  }
  return total;
}

}  // namespace attnkit
