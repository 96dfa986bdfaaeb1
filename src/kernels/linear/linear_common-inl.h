// SPDX-License-Identifier: Apache-2.0
// Row-level SIMD helpers shared by the chunked and recurrent linear-attention
// kernels (per-target Highway code): feature maps, exponentials of log-gate
// differences, output normalisation and the state's load / store. Not a kernel.

#if defined(ATTNKIT_KERNELS_LINEAR_LINEAR_COMMON_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_LINEAR_LINEAR_COMMON_INL_H_
#undef ATTNKIT_KERNELS_LINEAR_LINEAR_COMMON_INL_H_
#else
#define ATTNKIT_KERNELS_LINEAR_LINEAR_COMMON_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "hwy/highway.h"
#include "src/simd/tile_gemm-inl.h"
#include "src/kernels/linear/linear.h"
#include "src/simd/convert-inl.h"
#include "src/simd/exp-inl.h"
#include "src/simd/storage_types.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::linear {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

// TileGemm (src/simd/tile_gemm-inl.h) is force-inlined, which the dense kernel wants; the linear
// kernels call it from ~10 places for each of 3 input types, so they go through one out-of-line
// copy per target instead (inlining them all made linear.cc take >10 CPU-minutes to compile).
template <bool kAccumulate>
HWY_NOINLINE void LinearGemm(const float* HWY_RESTRICT a, size_t lda, const float* HWY_RESTRICT b,
                             size_t ldb, size_t rows, size_t depth, size_t cols,
                             float* HWY_RESTRICT c, size_t ldc, size_t l1_floats) {
  TileGemm<kAccumulate>(a, lda, b, ldb, rows, depth, cols, c, ldc, l1_floats);
}

// Element pointer of token `n` of head `head` of a [B, H, N, ...] view.
template <typename T>
HWY_INLINE T* RowPtr(const TensorView& t, int64_t batch, int64_t head, int64_t n) {
  return static_cast<T*>(t.data) + batch * t.strides[0] + head * t.strides[1] + n * t.strides[2];
}

// The log-gate of token n (channel c) of KV head g, clamped (see kMinLogGate),
// plus the head's log-decay.
HWY_INLINE float LogGate(const LinearArgs& a, const Sequence& s, int64_t g, int64_t n, int64_t c) {
  float x = a.log_decay != nullptr ? a.log_decay[g] : 0.0f;
  if (a.gate_kind == LinearGate::kScalar) {
    x += std::max(*RowPtr<const float>(a.gate, s.batch_index, g, s.offset + n), kMinLogGate);
  } else if (a.gate_kind == LinearGate::kChannel) {
    x += std::max(RowPtr<const float>(a.gate, s.batch_index, g, s.offset + n)[c], kMinLogGate);
  }
  return x;
}

HWY_INLINE float Beta(const LinearArgs& a, const Sequence& s, int64_t g, int64_t n) {
  return *RowPtr<const float>(a.beta, s.batch_index, g, s.offset + n);
}

// x[i] <- e^{x[i]} for i < n (natural exp through Exp2: relative error 2.5e-7,
// exactly 0 below about -88, the f32 underflow of e^x anyway).
HWY_INLINE void ExpInPlace(float* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto log2e = hn::Set(d, kLog2e);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(Exp2(d, hn::Mul(hn::LoadU(d, x + i), log2e)), d, x + i);
  for (; i < n; ++i) x[i] = std::exp(x[i]);
}

// w[i] = e^{x[i] - y[i]} from double log-sums (the difference is rounded to
// f32 once, so e.g. two large cumulative decays that differ a little still
// give an accurate ratio). x_stride / y_stride 0 broadcast a scalar.
HWY_INLINE void ExpOfDifference(const double* x, size_t x_stride, const double* y,
                                size_t y_stride, size_t n, float* HWY_RESTRICT w) {
  for (size_t i = 0; i < n; ++i) w[i] = static_cast<float>(x[i * x_stride] - y[i * y_stride]);
  ExpInPlace(w, n);
}

// x[i] *= a for i < n (any n).
HWY_INLINE void ScaleN(float* HWY_RESTRICT x, size_t n, float a) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto va = hn::Set(d, a);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), va), d, x + i);
  for (; i < n; ++i) x[i] *= a;
}

// x[i] *= w[i] for i < n.
HWY_INLINE void MulN(float* HWY_RESTRICT x, const float* HWY_RESTRICT w, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::LoadU(d, x + i), hn::LoadU(d, w + i)), d, x + i);
  }
  for (; i < n; ++i) x[i] *= w[i];
}

// sum_i x[i] y[i] over i < n, two accumulator chains.
HWY_INLINE float DotN(const float* HWY_RESTRICT x, const float* HWY_RESTRICT y, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, x + i), hn::LoadU(d, y + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, x + i + N), hn::LoadU(d, y + i + N), s1);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, x + i), hn::LoadU(d, y + i), s0);
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

// Row (b, h, n) of q, k or v (`count` values of its storage dtype) as f32.
// The dtype switch sits here, per row, so that the kernels above are compiled
// once rather than once per storage type.
HWY_INLINE void RowAsF32(const TensorView& t, int64_t b, int64_t h, int64_t n, size_t count,
                         float* HWY_RESTRICT out) {
  VisitStorageType(t.dtype, [&](auto tag) {
    ConvertScaleRow(RowPtr<const decltype(tag)>(t, b, h, n), count, 1.0f, out);
  });
}

// The feature row phi(x) of row (b, h, n) of q (query) or k: f32, F values,
// then zeros up to f_pad. `tmp` holds 2 f_pad + RoundUp(Dk, 16) floats. Query
// features are multiplied by q_factor (the scale); Based scales the query row
// before its Taylor map instead, so phi(q).phi(k) = 1 + s + s^2/2.
HWY_INLINE void FeatureRow(const LinearArgs& a, int64_t b_index, int64_t h, int64_t n, bool query,
                           float* HWY_RESTRICT out, float* HWY_RESTRICT tmp) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t dk = static_cast<size_t>(a.dk);
  float* HWY_RESTRICT xs = tmp + 2 * a.f_pad;  // the input row as f32
  RowAsF32(query ? a.q : a.k, b_index, h, n, dk, xs);
  if (a.l2norm) ScaleN(xs, dk, 1.0f / std::sqrt(DotN(xs, xs, dk) + 1e-6f));
  const float factor = query ? a.q_factor : 1.0f;
  size_t i = 0;
  switch (a.feature_map) {
    case FeatureMap::kIdentity:
      std::copy(xs, xs + dk, out);
      ScaleN(out, dk, factor);
      break;
    case FeatureMap::kEluPlusOne: {  // x > 0 ? x + 1 : e^x
      const auto one = hn::Set(d, 1.0f), zero = hn::Zero(d), log2e = hn::Set(d, kLog2e);
      const auto vf = hn::Set(d, factor);
      for (; i + N <= dk; i += N) {
        const auto v = hn::LoadU(d, xs + i);
        const auto e = Exp2(d, hn::Mul(hn::Min(v, zero), log2e));
        hn::StoreU(hn::Mul(hn::IfThenElse(hn::Gt(v, zero), hn::Add(v, one), e), vf), d, out + i);
      }
      for (; i < dk; ++i) out[i] = factor * (xs[i] > 0.0f ? xs[i] + 1.0f : std::exp(xs[i]));
      break;
    }
    case FeatureMap::kRelu: {
      const auto zero = hn::Zero(d), vf = hn::Set(d, factor);
      for (; i + N <= dk; i += N) hn::StoreU(hn::Mul(hn::Max(hn::LoadU(d, xs + i), zero), vf), d, out + i);
      for (; i < dk; ++i) out[i] = factor * std::max(xs[i], 0.0f);
      break;
    }
    case FeatureMap::kHedgehog: {  // softmax over [y, -y], y = W x + b, max-subtracted
      const float* w = query ? a.hedgehog_wq : a.hedgehog_wk;
      const float* b = query ? a.hedgehog_bq : a.hedgehog_bk;
      float m = 0.0f;
      for (size_t o = 0; o < dk; ++o) {
        const float y = DotN(w + o * dk, xs, dk) + (b != nullptr ? b[o] : 0.0f);
        out[o] = y;
        m = std::max(m, std::abs(y));
      }
      for (size_t o = 0; o < dk; ++o) {
        out[dk + o] = -out[o] - m;
        out[o] -= m;
      }
      ExpInPlace(out, 2 * dk);
      float sum = 0.0f;
      for (size_t o = 0; o < 2 * dk; ++o) sum += out[o];
      ScaleN(out, 2 * dk, factor / sum);
      break;
    }
    case FeatureMap::kBased: {  // [1, x', vec(x' x'^T) / sqrt 2], x' = factor x
      ScaleN(xs, dk, factor);
      out[0] = 1.0f;
      std::copy(xs, xs + dk, out + 1);
      float* outer = out + 1 + dk;
      for (size_t r = 0; r < dk; ++r) {
        std::copy(xs, xs + dk, outer + r * dk);
        ScaleN(outer + r * dk, dk, xs[r] * 0.70710678118654752f);
      }
      break;
    }
  }
  std::fill(out + a.f, out + a.f_pad, 0.0f);
}

// Value row (b, g, n) as f32: Dv values, then 1 (the normaliser's column) with
// the denominator, then zeros up to dv_pad.
HWY_INLINE void ValueRow(const LinearArgs& a, int64_t b_index, int64_t g, int64_t n,
                         float* HWY_RESTRICT out) {
  RowAsF32(a.v, b_index, g, n, static_cast<size_t>(a.dv), out);
  if (a.dvs > a.dv) out[a.dv] = 1.0f;
  std::fill(out + a.dvs, out + a.dv_pad, 0.0f);
}

// Writes one output row (query head h, token n of sequence s) from the state
// product `o` (dv_pad floats; o[dv] is the denominator when there is one):
// normalisation, the hybrid mix, rounding to the output dtype. `tmp`: Dv floats.
HWY_INLINE void FinishRow(const LinearArgs& a, const Sequence& s, int64_t h, int64_t n,
                          const float* HWY_RESTRICT o, float* HWY_RESTRICT tmp) {
  const size_t dv = static_cast<size_t>(a.dv);
  std::copy(o, o + dv, tmp);
  switch (a.norm) {
    case LinearNorm::kNone:
      break;
    case LinearNorm::kDenominator:
      ScaleN(tmp, dv, 1.0f / (o[dv] + a.eps));
      break;
    case LinearNorm::kRmsNorm:
      ScaleN(tmp, dv, 1.0f / std::sqrt(DotN(tmp, tmp, dv) / static_cast<float>(dv) + a.eps));
      break;
    case LinearNorm::kLayerNorm: {
      float mean = 0.0f;
      for (size_t i = 0; i < dv; ++i) mean += tmp[i];
      mean /= static_cast<float>(dv);
      float var = 0.0f;
      for (size_t i = 0; i < dv; ++i) {
        tmp[i] -= mean;
        var += tmp[i] * tmp[i];
      }
      ScaleN(tmp, dv, 1.0f / std::sqrt(var / static_cast<float>(dv) + a.eps));
      break;
    }
  }
  if (a.window_out != nullptr) {
    const int64_t rows = a.q.shape[2];
    const float* win = a.window_out + ((s.batch_index * a.hq + h) * rows + s.offset + n) * a.dv;
    for (size_t i = 0; i < dv; ++i) tmp[i] = a.linear_weight * tmp[i] + a.window_weight * win[i];
  }
  if (a.out.dtype == DType::kF32) {
    std::copy(tmp, tmp + dv, RowPtr<float>(a.out, s.batch_index, h, s.offset + n));
  } else {
    void* dst = RowPtr<uint16_t>(a.out, s.batch_index, h, s.offset + n);  // bf16 / f16 bits
    for (size_t i = 0; i < dv; ++i) StoreFromF32(dst, a.out.dtype, static_cast<int64_t>(i), tmp[i]);
  }
}

// state [F x dv_pad] <- the initial state of (sequence, KV head g), or zeros.
// Returns false when it is all zeros (no initial state given).
HWY_INLINE bool LoadState(const LinearArgs& a, const Sequence& s, int64_t g, float* HWY_RESTRICT state) {
  const size_t dvp = static_cast<size_t>(a.dv_pad);
  if (a.state_in.data == nullptr) {
    std::fill(state, state + a.f * a.dv_pad, 0.0f);
    return false;
  }
  for (int64_t c = 0; c < a.f; ++c) {
    const float* src = RowPtr<const float>(a.state_in, s.state_index, g, c);
    std::copy(src, src + a.dvs, state + c * dvp);
    std::fill(state + c * dvp + a.dvs, state + (c + 1) * dvp, 0.0f);
  }
  return true;
}

HWY_INLINE void StoreState(const LinearArgs& a, const Sequence& s, int64_t g,
                           const float* HWY_RESTRICT state) {
  if (a.state_out.data == nullptr) return;
  for (int64_t c = 0; c < a.f; ++c) {
    const float* src = state + c * a.dv_pad;
    std::copy(src, src + a.dvs, RowPtr<float>(a.state_out, s.state_index, g, c));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::linear
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_LINEAR_LINEAR_COMMON_INL_H_
