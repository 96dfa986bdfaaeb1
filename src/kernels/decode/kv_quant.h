// SPDX-License-Identifier: Apache-2.0
// Scalar write path of the KV cache: asymmetric int8/int4 quantisers, the
// block Hadamard rotation, and storing one token (or one per-channel group of
// tokens) into a page in the layout of kv_layout.h. Not the read path: the
// decode kernels dequantise in SIMD code (decode-inl.h).
#ifndef ATTNKIT_KERNELS_DECODE_KV_QUANT_H_
#define ATTNKIT_KERNELS_DECODE_KV_QUANT_H_

#include <cstdint>

#include "src/kernels/decode/kv_layout.h"

namespace attnkit::decode {

// Largest unsigned code of a quantised format (255 for int8, 15 for int4).
inline int QMax(KVDType t) { return t == KVDType::kInt4 ? 15 : 255; }

// Min-max asymmetric parameters of x[0, n) (stride `stride`): x ~ s * u + z,
// z = min, s = (max - min) / qmax (0 for a constant group: then u = 0, x = z).
struct QuantParams {
  float s, z;
};
QuantParams MinMaxParams(const float* x, int64_t n, int64_t stride, int qmax);
// u = clamp(round((x - z) / s), 0, qmax); 0 when s == 0.
int QuantizeValue(float x, QuantParams p, int qmax);

// Block size of the Hadamard rotation of a head dim: the largest power of two
// dividing `dim`, at most 256 (1 = no rotation).
int64_t HadamardBlock(int64_t dim);
// x[0, dim) <- x H (normalised Walsh-Hadamard blocks of `block`; H = H^T = H^-1).
void HadamardInPlace(float* x, int64_t dim, int64_t block);

// Stores one token of one head at `token_in_page` of `page` (f32/bf16/f16, or
// int8/int4 with per-token key scales). k: [dk], v: [dv] (ignored without V).
// Per-channel quantised keys are written by StoreKeyGroup instead.
void StoreToken(const StoreLayout& l, uint8_t* page, int64_t head, int64_t token_in_page,
                const float* k, const float* v);
// Per-channel keys: quantises k_group tokens of one head (keys [k_group][dk],
// row stride `ld`) with one (s, z) per channel and stores them at
// `first_token` (a multiple of k_group) of `page`. Values are stored by
// StoreToken's V part (StoreValue).
void StoreKeyGroup(const StoreLayout& l, uint8_t* page, int64_t head, int64_t first_token,
                   const float* keys, int64_t ld);
void StoreValue(const StoreLayout& l, uint8_t* page, int64_t head, int64_t token_in_page,
                const float* v);

// Reads back one token of one head, dequantised: k [dk], v [dv] (v = the
// first dv keys when the store has no V). The scalar definition of what the
// kernels compute: s * u + z in f32 (one fused multiply-add).
void LoadToken(const StoreLayout& l, const uint8_t* page, int64_t head, int64_t token_in_page,
               float* k, float* v);

}  // namespace attnkit::decode

#endif  // ATTNKIT_KERNELS_DECODE_KV_QUANT_H_
