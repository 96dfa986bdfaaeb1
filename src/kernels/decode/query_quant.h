// SPDX-License-Identifier: Apache-2.0
// The int8 queries of the VNNI decode kernel, defined once in scalar code:
// the kernel (decode_vnni.cc) performs the same IEEE operations in AVX-512,
// and the fp64 oracle (decode_reference.cc) calls this, so both see
// bit-identical codes. Not the key quantiser: see kv_quant.h.
#ifndef ATTNKIT_KERNELS_DECODE_QUERY_QUANT_H_
#define ATTNKIT_KERNELS_DECODE_QUERY_QUANT_H_

#include <cmath>
#include <cstdint>

namespace attnkit::decode {

// x[c] = q[c] * s[c] (per-channel key scales s; s == nullptr: x = q), then
//   amax = max |x|,  q8[c] = nearbyint(x[c] * (127 / amax)),  returns amax / 127
// (0 with all codes 0 when amax == 0). Rounding is to nearest even.
inline float QuantizeQueryRow(const float* q, const float* s, int64_t n, int8_t* q8) {
  float amax = 0.0f;
  for (int64_t c = 0; c < n; ++c) amax = std::fmax(amax, std::fabs(s != nullptr ? q[c] * s[c] : q[c]));
  if (amax == 0.0f) {
    for (int64_t c = 0; c < n; ++c) q8[c] = 0;
    return 0.0f;
  }
  const float inv = 127.0f / amax;
  for (int64_t c = 0; c < n; ++c) {
    const float x = s != nullptr ? q[c] * s[c] : q[c];
    q8[c] = static_cast<int8_t>(std::nearbyint(x * inv));
  }
  return amax / 127.0f;
}

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_QUERY_QUANT_H_
