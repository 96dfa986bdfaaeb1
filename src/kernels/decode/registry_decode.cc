// SPDX-License-Identifier: Apache-2.0
// Registry lines of the decode family (listed by attnkit::ListKernels()).
// Decode kernels run through MakeDecodePlan / RunDecode (attnkit/decode.h),
// chosen by DecodeOptions::kernel or by the CPU's features.
#include "src/kernels/decode/decode_plan.h"
#include "src/plan/registry.h"

namespace attnkit {
std::vector<KernelInfo> DecodeKernelInfos() {
  const std::vector<DType> q_dtypes = {DType::kF32, DType::kBF16, DType::kF16};
  return {
      {decode::kFusedKernel, "decode", q_dtypes,
       "decode against a KV cache (f32/bf16/f16/int8/int4, contiguous or paged): Q.K and P.V "
       "straight from the stored 16-token sub-tiles, converted in registers (no f32 tiles in "
       "memory), online softmax, split-KV or stream-K with LSE merges (Highway, dynamic dispatch)",
       "f32 products on dequantised K/V (exact up to f32 rounding)"},
      {decode::kPortableKernel, "decode", q_dtypes,
       "decode against a KV cache: 16-token sub-tiles dequantised to f32 K^T / V tiles, "
       "register-blocked f32 tile products (the MLA kernel: V a view of the K tile)",
       "f32 products on dequantised K/V (exact up to f32 rounding)"},
      {decode::kVnniKernel, "decode", q_dtypes,
       "decode with int8/int4 KV: Q.K on the key codes with AVX512-VNNI vpdpbusd (queries "
       "quantised to 15-bit codes per row and key group, two s8 digits), P.V on the value "
       "codes in token quads (weights p s quantised per tile to 14-bit codes, two s8 digits)",
       "integer Q.K on the key codes (queries rounded to 15 bits, ~1e-4 rel.), integer P V "
       "(weights rounded to 2^-15 of the tile's largest)"},
  };
}
}  // namespace attnkit
