// SPDX-License-Identifier: Apache-2.0
// The integer queries of the VNNI decode kernel, defined once in scalar code:
// the kernel (decode_vnni.cc) performs the same IEEE operations in AVX-512,
// and the fp64 oracle (decode_reference.cc) calls this, so both see
// bit-identical codes. Not the key quantiser: see kv_quant.h.
//
// A query code X has 15 bits (|X| <= 127 * 128): the kernel feeds it to
// vpdpbusd (u8 keys x s8) as two signed 8-bit digits, X = 128 a + b with
// a = round(X / 128) in [-127, 127] and b = X - 128 a in [-64, 64], and forms
// dot = 128 (u . a) + (u . b). Rounding the query to 15 bits costs ~1e-4 of
// its largest element, so the codes are exact enough even when per-channel key
// scales with outlier channels are folded into the query first (one 8-bit
// digit would leave the ordinary channels 3-4 bits there).
#ifndef ATTNKIT_KERNELS_DECODE_QUERY_QUANT_H_
#define ATTNKIT_KERNELS_DECODE_QUERY_QUANT_H_

#include <cmath>
#include <cstdint>

namespace attnkit::decode {

inline constexpr float kQueryCodeMax = 127.0f * 128.0f;

// x[c] = q[c] * s[c] (per-channel key scales s; s == nullptr: x = q), then
//   amax = max |x|,  X[c] = nearbyint(x[c] * (kQueryCodeMax / amax)),
// returns amax / kQueryCodeMax (0 with all codes 0 when amax == 0). Rounding
// is to nearest even.
inline float QuantizeQueryRow(const float* q, const float* s, int64_t n, int16_t* codes) {
  float amax = 0.0f;
  for (int64_t c = 0; c < n; ++c) amax = std::fmax(amax, std::fabs(s != nullptr ? q[c] * s[c] : q[c]));
  if (amax == 0.0f) {
    for (int64_t c = 0; c < n; ++c) codes[c] = 0;
    return 0.0f;
  }
  const float inv = kQueryCodeMax / amax;
  for (int64_t c = 0; c < n; ++c) {
    const float x = s != nullptr ? q[c] * s[c] : q[c];
    codes[c] = static_cast<int16_t>(std::nearbyint(x * inv));
  }
  return amax / kQueryCodeMax;
}

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_QUERY_QUANT_H_
