// SPDX-License-Identifier: Apache-2.0
// Test helpers of the linear family (header-only, tests only): deterministic
// inputs of a problem owning their memory, running it, and the error metrics.
#ifndef ATTNKIT_KERNELS_LINEAR_LINEAR_TEST_UTIL_H_
#define ATTNKIT_KERNELS_LINEAR_LINEAR_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "attnkit/linear.h"
#include "src/kernels/linear/linear_reference.h"

namespace attnkit::linear::testing {

struct Problem {
  std::string name;
  LinearSpec spec;
  int64_t batch = 2, seqlen = 67;
  std::vector<int64_t> varlen;  // per-sequence lengths; varlen when non-empty
  DType dtype = DType::kF32, out_dtype = DType::kF32;
  Layout layout = Layout::kBNHD;
  float gate_lo = -0.3f, gate_hi = 0.0f;  // log-gates uniform in [lo, hi]
  float beta_lo = 0.1f, beta_hi = 1.0f;
  bool initial_state = true;
  uint64_t seed = 7;

  LinearShape Shape() const {
    LinearShape s;
    s.dtype = dtype;
    s.out_dtype = out_dtype;
    if (varlen.empty()) {
      s.batch = batch;
      s.seqlen = seqlen;
    } else {
      s.batch = static_cast<int64_t>(varlen.size());
      s.cu_seqlens.push_back(0);
      for (int64_t n : varlen) s.cu_seqlens.push_back(s.cu_seqlens.back() + n);
    }
    return s;
  }
};

// Memory of one call, with the views into it.
struct Inputs {
  std::vector<uint8_t> q, k, v, out;
  std::vector<float> gate, beta, state_in, state_out;
  LinearTensors t;
  LinearShape shape;

  Inputs() = default;
  Inputs(const Inputs&) = delete;
  Inputs& operator=(const Inputs&) = delete;
};

inline void Fill(std::vector<uint8_t>& mem, DType dt, int64_t n, std::mt19937_64& rng, float sd) {
  std::normal_distribution<float> nd(0.0f, sd);
  mem.assign(static_cast<size_t>(n) * SizeOf(dt), 0);
  for (int64_t i = 0; i < n; ++i) StoreFromF32(mem.data(), dt, i, nd(rng));
}

inline void MakeInputs(const Problem& p, Inputs& in) {
  const LinearSpec& s = p.spec;
  in.shape = p.Shape();
  const int64_t b = in.shape.is_varlen() ? 1 : in.shape.batch;
  const int64_t n = in.shape.is_varlen() ? in.shape.total() : in.shape.seqlen;
  const int64_t hq = s.num_q_heads, hkv = s.num_kv_heads, dk = s.head_dim_k, dv = s.head_dim_v;
  std::mt19937_64 rng(p.seed);
  Fill(in.q, p.dtype, b * hq * n * dk, rng, 1.0f);
  Fill(in.k, p.dtype, b * hkv * n * dk, rng, 1.0f);
  Fill(in.v, p.dtype, b * hkv * n * dv, rng, 1.0f);
  in.out.assign(static_cast<size_t>(b * hq * n * dv) * SizeOf(p.out_dtype), 0);
  in.t.q = TensorView::Attention(in.q.data(), p.dtype, p.layout, b, hq, n, dk);
  in.t.k = TensorView::Attention(in.k.data(), p.dtype, p.layout, b, hkv, n, dk);
  in.t.v = TensorView::Attention(in.v.data(), p.dtype, p.layout, b, hkv, n, dv);
  in.t.out = TensorView::Attention(in.out.data(), p.out_dtype, p.layout, b, hq, n, dv);
  std::uniform_real_distribution<float> gd(p.gate_lo, p.gate_hi), bd(p.beta_lo, p.beta_hi);
  if (s.gate == LinearGate::kScalar) {
    in.gate.resize(b * hkv * n);
    for (float& g : in.gate) g = gd(rng);
    in.t.gate = TensorView::Contiguous(in.gate.data(), DType::kF32, {b, hkv, n});
  } else if (s.gate == LinearGate::kChannel) {
    in.gate.resize(b * hkv * n * dk);
    for (float& g : in.gate) g = gd(rng);
    in.t.gate = TensorView::Contiguous(in.gate.data(), DType::kF32, {b, hkv, n, dk});
  }
  if (s.rule == LinearRule::kDelta) {
    in.beta.resize(b * hkv * n);
    for (float& x : in.beta) x = bd(rng);
    in.t.beta = TensorView::Contiguous(in.beta.data(), DType::kF32, {b, hkv, n});
  }
  const int64_t f = s.feature_dim(), cols = s.state_cols(), ns = in.shape.batch;
  if (p.initial_state) {
    std::normal_distribution<float> sd(0.0f, 0.3f);
    std::uniform_real_distribution<float> pos(0.0f, 0.3f);
    in.state_in.resize(ns * hkv * f * cols);
    for (size_t i = 0; i < in.state_in.size(); ++i) {
      // The normaliser column of a denominator state is a sum of positive features.
      in.state_in[i] = (cols > dv && static_cast<int64_t>(i % cols) == dv) ? 1.0f + pos(rng) : sd(rng);
    }
    in.t.initial_state = TensorView::Contiguous(in.state_in.data(), DType::kF32, {ns, hkv, f, cols});
  }
  in.state_out.assign(ns * hkv * f * cols, 0.0f);
  in.t.final_state = TensorView::Contiguous(in.state_out.data(), DType::kF32, {ns, hkv, f, cols});
}

// The output in logical [B, H, N, Dv] order, as double.
inline std::vector<double> OutValues(const Inputs& in) {
  const TensorView& o = in.t.out;
  std::vector<double> r;
  for (int64_t b = 0; b < o.shape[0]; ++b)
    for (int64_t h = 0; h < o.shape[1]; ++h)
      for (int64_t n = 0; n < o.shape[2]; ++n)
        for (int64_t i = 0; i < o.shape[3]; ++i)
          r.push_back(LoadAsF32(o.data, o.dtype,
                                b * o.strides[0] + h * o.strides[1] + n * o.strides[2] + i));
  return r;
}

inline std::vector<double> StateValues(const Inputs& in) {
  return std::vector<double>(in.state_out.begin(), in.state_out.end());
}

inline double RelL2(const std::vector<double>& x, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size() && i < ref.size(); ++i) {
    const double d = x[i] - ref[i];
    num += std::isnan(d) ? INFINITY : d * d;
    den += ref[i] * ref[i];
  }
  if (x.size() != ref.size()) return INFINITY;
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

inline void Run(const Problem& p, Inputs& in, LinearMode mode, int64_t chunk = 0, int threads = 2) {
  LinearPlanOptions o;
  o.mode = mode;
  o.chunk = chunk;
  LinearAttention(p.spec, in.t, ThreadingContext(threads), in.shape.cu_seqlens, o);
}

}  // namespace attnkit::linear::testing

#endif  // ATTNKIT_KERNELS_LINEAR_LINEAR_TEST_UTIL_H_
