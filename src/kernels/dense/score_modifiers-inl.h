// SPDX-License-Identifier: Apache-2.0
// Score modifiers of the dense kernel (per-target Highway code): each one is a
// small struct that rewrites one row of a logits tile in place, in the order
// fixed by AttentionSpec (soft-cap, ALiBi, bias). Logits here are in base-2
// units (natural logits times log2 e), so each modifier scales its constants. Adding a modifier is one
// struct satisfying `ScoreModifier` plus one entry in `ApplyScoreModifiers`.
// Masking is not a modifier: it is structural (tile skipping + row bounds).

#if defined(ATTNKIT_KERNELS_DENSE_SCORE_MODIFIERS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_DENSE_SCORE_MODIFIERS_INL_H_
#undef ATTNKIT_KERNELS_DENSE_SCORE_MODIFIERS_INL_H_
#else
#define ATTNKIT_KERNELS_DENSE_SCORE_MODIFIERS_INL_H_
#endif

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/kernels/dense/dense.h"
#include "src/simd/convert-inl.h"
#include "src/simd/exp-inl.h"
#include "src/simd/storage_types.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::dense {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

// Where one row of a logits tile sits in the problem.
struct RowContext {
  int64_t batch_index;  // B index into tensors
  int64_t head;         // query head
  int64_t row;          // query row within its sequence
  int64_t pos;          // absolute position p = nk - nq + row
  int64_t j0;           // first key of the tile
  size_t cols;          // valid keys in the tile (<= width)
  size_t width;         // padded width, a multiple of Lanes
};

template <class M>
concept ScoreModifier = requires(const DenseArgs& a, const RowContext& ctx, float* s) {
  { M::Enabled(a) } -> std::same_as<bool>;
  M::Apply(a, ctx, s);
};

// s = c * tanh(s / c) (Gemma-2); in base 2 the cap is c log2 e. Applied to the
// padded width too: harmless, the padding is set to -inf afterwards.
struct Softcap {
  static bool Enabled(const DenseArgs& a) { return a.softcap > 0.0f; }
  static void Apply(const DenseArgs& a, const RowContext& ctx, float* HWY_RESTRICT s) {
    const hn::ScalableTag<float> d;
    const size_t N = hn::Lanes(d);
    const float cap2 = a.softcap * kLog2e;
    const auto cap = hn::Set(d, cap2), inv_cap = hn::Set(d, 1.0f / cap2);
    for (size_t c = 0; c < ctx.width; c += N) {
      const auto x = hn::Mul(hn::LoadU(d, s + c), inv_cap);
      hn::StoreU(hn::Mul(cap, hn::Tanh(d, x)), d, s + c);
    }
  }
};

// s -= slope[h] * |p - j| (symmetric ALiBi; equals the causal form j <= p).
// Positions are exact in f32 up to 2^24 tokens.
struct Alibi {
  static bool Enabled(const DenseArgs& a) { return a.alibi_slopes != nullptr; }
  static void Apply(const DenseArgs& a, const RowContext& ctx, float* HWY_RESTRICT s) {
    const hn::ScalableTag<float> d;
    const size_t N = hn::Lanes(d);
    const auto slope = hn::Set(d, a.alibi_slopes[ctx.head] * kLog2e);
    const auto pos = hn::Set(d, static_cast<float>(ctx.pos));
    for (size_t c = 0; c < ctx.width; c += N) {
      const auto j = hn::Iota(d, static_cast<float>(ctx.j0 + static_cast<int64_t>(c)));
      const auto dist = hn::Abs(hn::Sub(pos, j));
      hn::StoreU(hn::NegMulAdd(slope, dist, hn::LoadU(d, s + c)), d, s + c);
    }
  }
};

// s += bias[b, h, i, j]; size-1 axes of the bias broadcast.
struct AdditiveBias {
  static bool Enabled(const DenseArgs& a) { return a.bias.data != nullptr; }
  static void Apply(const DenseArgs& a, const RowContext& ctx, float* HWY_RESTRICT s) {
    const TensorView& t = a.bias;
    const int64_t off = (t.shape[0] == 1 ? 0 : ctx.batch_index * t.strides[0]) +
                        (t.shape[1] == 1 ? 0 : ctx.head * t.strides[1]) +
                        (t.shape[2] == 1 ? 0 : ctx.row * t.strides[2]) + ctx.j0;
    VisitStorageType(t.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* HWY_RESTRICT src = static_cast<const T*>(t.data) + off;
      const hn::ScalableTag<float> d;
      const size_t N = hn::Lanes(d);
      const auto log2e = hn::Set(d, kLog2e);
      size_t c = 0;
      for (; c + N <= ctx.cols; c += N) {
        hn::StoreU(hn::MulAdd(LoadF32(d, src + c), log2e, hn::LoadU(d, s + c)), d, s + c);
      }
      for (; c < ctx.cols; ++c) s[c] += ToF32(src[c]) * kLog2e;
    });
  }
};

template <ScoreModifier... Ms>
struct ModifierList {
  static bool AnyEnabled(const DenseArgs& a) { return (Ms::Enabled(a) || ...); }
  static void Apply(const DenseArgs& a, const RowContext& ctx, float* s) {
    ((Ms::Enabled(a) ? Ms::Apply(a, ctx, s) : void()), ...);
  }
};

// The order here is the order of AttentionSpec's logit definition.
using ScoreModifiers = ModifierList<Softcap, Alibi, AdditiveBias>;

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::dense
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_DENSE_SCORE_MODIFIERS_INL_H_
