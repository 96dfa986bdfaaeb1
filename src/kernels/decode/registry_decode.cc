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
      {decode::kPortableKernel, "decode", q_dtypes,
       "decode against a KV cache (f32/bf16/f16/int8/int4, contiguous or paged): 16-token "
       "sub-tiles dequantised to f32 tiles, register-blocked f32 products, online softmax, "
       "split-KV or stream-K with LSE merges (Highway, dynamic dispatch)",
       "f32 products on dequantised K/V (exact up to f32 rounding)"},
      {decode::kVnniKernel, "decode", q_dtypes,
       "decode with int8/int4 keys: Q.K on the codes with AVX512-VNNI vpdpbusd (queries "
       "quantised to int8 per row and key group), values dequantised to f32 tiles",
       "int8 x int8/int4 Q.K products (queries rounded to int8), f32 P V"},
  };
}
}  // namespace attnkit
