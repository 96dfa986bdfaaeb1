// SPDX-License-Identifier: Apache-2.0
// Deterministic input generation for harness cases (see cases.h).
#include <cmath>
#include <cstring>
#include <limits>

#include "src/harness/cases.h"

namespace attnkit::harness {
namespace {

// splitmix64 + Box-Muller: the same numbers on every platform and library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  float Normal() {
    const double u1 = 1.0 - Uniform(), u2 = Uniform();
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

 private:
  uint64_t state_;
};

// A [B, H, N, D] tensor in `layout` with `pad` extra elements per D-row.
// Padding elements hold NaN so that any read of them poisons the result.
TensorView Allocate(std::vector<uint8_t>& buf, DType dtype, Layout layout, int64_t b, int64_t h,
                    int64_t n, int64_t d, int64_t pad) {
  const int64_t row = d + pad;
  const int64_t numel = b * h * n * row;
  buf.assign(static_cast<size_t>(numel) * SizeOf(dtype), 0);
  for (int64_t i = 0; i < numel; ++i) StoreFromF32(buf.data(), dtype, i, std::nanf(""));
  TensorView t = TensorView::Attention(buf.data(), dtype, layout, b, h, n, row);
  t.shape[3] = d;  // logical dim excludes the padding; strides keep it
  return t;
}

int64_t Offset(const TensorView& t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
  return i0 * t.strides[0] + i1 * t.strides[1] + i2 * t.strides[2] + i3 * t.strides[3];
}

template <class Fn>
void Fill(const TensorView& t, Fn&& value) {
  for (int64_t i0 = 0; i0 < t.shape[0]; ++i0)
    for (int64_t i1 = 0; i1 < t.shape[1]; ++i1)
      for (int64_t i2 = 0; i2 < t.shape[2]; ++i2)
        for (int64_t i3 = 0; i3 < t.shape[3]; ++i3)
          StoreFromF32(t.data, t.dtype, Offset(t, i0, i1, i2, i3), value(i0, i1, i2, i3));
}

float Get(const TensorView& t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
  return LoadAsF32(t.data, t.dtype, Offset(t, i0, i1, i2, i3));
}

}  // namespace

Inputs MakeInputs(const Case& c) {
  Inputs in;
  const AttentionSpec& s = c.spec;
  const AttentionShape shape = c.Shape();
  in.cu_seqlens_q = shape.cu_seqlens_q;
  in.cu_seqlens_k = shape.cu_seqlens_k;
  const int64_t b = c.is_varlen() ? 1 : c.batch;
  const int64_t nq = shape.is_varlen() ? shape.total_q() : c.seqlen_q;
  const int64_t nk = shape.is_varlen() ? shape.total_k() : c.seqlen_k;
  AttentionTensors& t = in.tensors;
  t.q = Allocate(in.q, c.dtype, c.layout, b, s.num_q_heads, nq, s.head_dim_qk, c.row_padding);
  t.k = Allocate(in.k, c.dtype, c.layout, b, s.num_kv_heads, nk, s.head_dim_qk, c.row_padding);
  t.v = Allocate(in.v, c.dtype, c.layout, b, s.num_kv_heads, nk, s.head_dim_v, c.row_padding);
  t.out = Allocate(in.out, c.out_dtype, c.layout, b, s.num_q_heads, nq, s.head_dim_v, 0);

  Rng rng(c.seed);
  const float qk_gain = c.inputs == InputKind::kLargeLogits ? 100.0f : 1.0f;
  Fill(t.q, [&](auto...) { return c.inputs == InputKind::kZeroQuery ? 0.0f : qk_gain * rng.Normal(); });
  Fill(t.k, [&](auto...) {
    float x = qk_gain * rng.Normal();
    if (c.inputs == InputKind::kOffsetK) x += 20.0f;
    if (c.inputs == InputKind::kSpikes && rng.Next() % 64 == 0) x *= 100.0f;
    return x;
  });
  Fill(t.v, [&](auto...) {
    float x = rng.Normal();
    if (c.inputs == InputKind::kSpikes && rng.Next() % 64 == 0) x *= 100.0f;
    return x;
  });
  if (c.inputs == InputKind::kSpikes) {  // needles: key j of KV head g = 3 x some query of group g
    const int64_t group = s.num_q_heads / s.num_kv_heads;
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t g = 0; g < s.num_kv_heads; ++g)
        for (int64_t j = 5; j < nk && nq > 0; j += 11)
          for (int64_t d = 0; d < s.head_dim_qk; ++d)
            StoreFromF32(t.k.data, t.k.dtype, Offset(t.k, bi, g, j, d),
                         3.0f * Get(t.q, bi, g * group, j % nq, d));
  }

  if (s.return_lse) {
    in.lse.assign(static_cast<size_t>(b * s.num_q_heads * nq) * 4, 0);
    t.lse = TensorView::Contiguous(in.lse.data(), DType::kF32, {b, s.num_q_heads, nq});
    for (int64_t i = 0; i < t.lse.numel(); ++i) reinterpret_cast<float*>(in.lse.data())[i] = std::nanf("");
  }
  if (s.has_sinks) {
    in.sinks.assign(static_cast<size_t>(s.num_q_heads) * 4, 0);
    t.sinks = TensorView::Contiguous(in.sinks.data(), DType::kF32, {s.num_q_heads});
    for (int64_t h = 0; h < s.num_q_heads; ++h) reinterpret_cast<float*>(in.sinks.data())[h] = 2.0f * rng.Normal();
  }
  if (s.has_bias) {
    const int64_t bb = c.bias_batch ? b : 1, bh = c.bias_heads ? s.num_q_heads : 1,
                  br = c.bias_rows ? nq : 1;
    in.bias.assign(static_cast<size_t>(bb * bh * br * nk) * SizeOf(c.dtype), 0);
    t.bias = TensorView::Contiguous(in.bias.data(), c.dtype, {bb, bh, br, nk});
    // Row 3 (mod 7) of a per-row bias is all -inf: whole rows masked by the bias.
    Fill(t.bias, [&](int64_t, int64_t, int64_t i, int64_t) {
      return (c.bias_rows && i % 7 == 3) ? -std::numeric_limits<float>::infinity() : rng.Normal();
    });
  }
  return in;
}

}  // namespace attnkit::harness
