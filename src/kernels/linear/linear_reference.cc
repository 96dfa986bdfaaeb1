// SPDX-License-Identifier: Apache-2.0
// fp64 oracle of linear attention (see linear_reference.h): feature maps,
// recurrent and parallel forms, output normalisation and the softmax-window
// hybrid, written from the definitions in include/attnkit/linear.h.
#include "src/kernels/linear/linear_reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace attnkit::linear {
namespace {

using Row = std::vector<double>;
using Rows = std::vector<Row>;

// Element [b, h, n, c] of a rank-4 view, or [b, h, n] of a rank-3 view (c = 0).
double At(const TensorView& t, int64_t b, int64_t h, int64_t n, int64_t c) {
  const int64_t i = b * t.strides[0] + h * t.strides[1] + n * t.strides[2];
  return LoadAsF32(t.data, t.dtype, t.rank == 4 ? i + c * t.strides[3] : i);
}

Row Load(const TensorView& t, int64_t b, int64_t h, int64_t n, int64_t d) {
  Row r(d);
  for (int64_t c = 0; c < d; ++c) r[c] = At(t, b, h, n, c);
  return r;
}

// phi(x) of one row; `query` rows are multiplied by the scale (Based: inside).
Row Feature(const LinearSpec& s, Row x, bool query) {
  const int64_t dk = s.head_dim_k;
  const double factor = query ? s.resolved_scale() : 1.0;
  if (s.qk_l2norm) {
    double ss = 0;
    for (double v : x) ss += v * v;
    for (double& v : x) v /= std::sqrt(ss + 1e-6);
  }
  Row f;
  switch (s.feature_map) {
    case FeatureMap::kIdentity:
      for (double v : x) f.push_back(factor * v);
      break;
    case FeatureMap::kEluPlusOne:
      for (double v : x) f.push_back(factor * (v > 0 ? v + 1 : std::exp(v)));
      break;
    case FeatureMap::kRelu:
      for (double v : x) f.push_back(factor * std::max(v, 0.0));
      break;
    case FeatureMap::kHedgehog: {
      const bool tied = s.hedgehog_weight_k.empty();
      const std::vector<float>& w = query || tied ? s.hedgehog_weight_q : s.hedgehog_weight_k;
      const std::vector<float>& b = query || tied ? s.hedgehog_bias_q : s.hedgehog_bias_k;
      Row y(dk);
      for (int64_t o = 0; o < dk; ++o) {
        y[o] = b.empty() ? 0.0 : b[o];
        for (int64_t i = 0; i < dk; ++i) y[o] += static_cast<double>(w[o * dk + i]) * x[i];
      }
      double sum = 0;
      for (double v : y) sum += std::exp(v) + std::exp(-v);  // |y| is modest in tests
      for (double v : y) f.push_back(factor * std::exp(v) / sum);
      for (double v : y) f.push_back(factor * std::exp(-v) / sum);
      break;
    }
    case FeatureMap::kBased: {
      for (double& v : x) v *= factor;
      f.push_back(1.0);
      for (double v : x) f.push_back(v);
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t j = 0; j < dk; ++j) f.push_back(x[i] * x[j] / std::sqrt(2.0));
      break;
    }
  }
  return f;
}

// Everything one (sequence, KV head) needs, in double.
struct HeadInputs {
  int64_t n = 0;
  std::vector<Rows> qf;  // [G][n][F]
  Rows kf;               // [n][F]
  Rows v;                // [n][cols] (a ones column with the denominator)
  Rows a;                // [n][F] decay factors a_t = e^{log-gate}, 0 for -inf
  Row beta;              // [n]
  Rows s0;               // [F][cols]
};

HeadInputs GatherHead(const LinearSpec& s, const LinearShape& sh, const LinearTensors& t,
                      int64_t seq, int64_t g) {
  const int64_t group = s.num_q_heads / s.num_kv_heads, f = s.feature_dim();
  const int64_t cols = s.state_cols();
  const int64_t b = sh.is_varlen() ? 0 : seq, off = sh.is_varlen() ? sh.cu_seqlens[seq] : 0;
  HeadInputs in;
  in.n = sh.seq_len(seq);
  in.qf.resize(group);
  for (int64_t t0 = 0; t0 < in.n; ++t0) {
    const int64_t n = off + t0;
    for (int64_t hh = 0; hh < group; ++hh) {
      in.qf[hh].push_back(Feature(s, Load(t.q, b, g * group + hh, n, s.head_dim_k), true));
    }
    in.kf.push_back(Feature(s, Load(t.k, b, g, n, s.head_dim_k), false));
    Row v = Load(t.v, b, g, n, s.head_dim_v);
    if (cols > s.head_dim_v) v.push_back(1.0);
    in.v.push_back(v);
    Row a(f, 1.0);
    for (int64_t c = 0; c < f; ++c) {
      double lg = s.decay.empty() ? 0.0 : std::log(static_cast<double>(s.decay[g]));
      if (s.gate == LinearGate::kScalar) lg += At(t.gate, b, g, n, 0);
      if (s.gate == LinearGate::kChannel) lg += At(t.gate, b, g, n, c);
      a[c] = std::exp(lg);  // exp(-inf) = 0: a reset
    }
    in.a.push_back(a);
    in.beta.push_back(s.rule == LinearRule::kDelta ? At(t.beta, b, g, n, 0) : 0.0);
  }
  in.s0.assign(f, Row(cols, 0.0));
  if (t.initial_state.data != nullptr) {
    for (int64_t c = 0; c < f; ++c)
      for (int64_t j = 0; j < cols; ++j) in.s0[c][j] = At(t.initial_state, seq, g, c, j);
  }
  return in;
}

double Dot(const Row& x, const Row& y) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

// The definition: S <- diag(a) S (+ delta correction) + k v^T, o = q^T S.
// out[hh][t] = o (cols values); returns the final state.
Rows Recurrent(const LinearSpec& s, const HeadInputs& in, std::vector<Rows>& out) {
  Rows S = in.s0;
  const size_t f = S.size(), cols = S.empty() ? 0 : S[0].size();
  for (int64_t t = 0; t < in.n; ++t) {
    for (size_t c = 0; c < f; ++c)
      for (size_t j = 0; j < cols; ++j) S[c][j] *= in.a[t][c];
    Row x = in.v[t];
    if (s.rule == LinearRule::kDelta) {
      for (size_t j = 0; j < cols; ++j) {
        double u = 0;
        for (size_t c = 0; c < f; ++c) u += S[c][j] * in.kf[t][c];
        x[j] = in.beta[t] * (x[j] - u);
      }
    }
    for (size_t c = 0; c < f; ++c)
      for (size_t j = 0; j < cols; ++j) S[c][j] += in.kf[t][c] * x[j];
    for (size_t hh = 0; hh < out.size(); ++hh) {
      Row o(cols, 0.0);
      for (size_t c = 0; c < f; ++c)
        for (size_t j = 0; j < cols; ++j) o[j] += in.qf[hh][t][c] * S[c][j];
      out[hh].push_back(o);
    }
  }
  return S;
}

// The parallel form. D(t, j)[c] = prod_{j<u<=t} a_u[c] (1 for j = t), built per
// row t from t down to 0; Gam(t)[c] = prod_{u<=t} a_u[c] = the decay of S0.
//   additive: u_j = v_j
//   delta:    u_t = beta_t (v_t - (k_t o Gam(t))^T S0) - beta_t sum_{j<t} (k_t.D(t,j)k_j) u_j
//   o_t = (q_t o Gam(t))^T S0 + sum_{j<=t} (q_t . D(t,j) k_j) u_j
//   S_N = Gam(N-1) o S0 + sum_j (k_j o D(N-1, j)) u_j^T
Rows Parallel(const LinearSpec& s, const HeadInputs& in, std::vector<Rows>& out) {
  const int64_t n = in.n;
  const size_t f = in.s0.size(), cols = f ? in.s0[0].size() : 0;
  const bool delta = s.rule == LinearRule::kDelta;
  auto decayed = [&](const Row& x, const Row& d) {
    Row y(f);
    for (size_t c = 0; c < f; ++c) y[c] = x[c] * d[c];
    return y;
  };
  auto times_s0 = [&](const Row& x) {
    Row y(cols, 0.0);
    for (size_t c = 0; c < f; ++c)
      for (size_t j = 0; j < cols; ++j) y[j] += x[c] * in.s0[c][j];
    return y;
  };
  Rows u(n);
  Row gam(f, 1.0);
  Rows d;  // D(t, j) for j <= t of the current row t (of the last row after the loop)
  for (int64_t t = 0; t < n; ++t) {
    for (size_t c = 0; c < f; ++c) gam[c] *= in.a[t][c];
    d.assign(t + 1, Row(f, 1.0));
    for (int64_t j = t - 1; j >= 0; --j)
      for (size_t c = 0; c < f; ++c) d[j][c] = d[j + 1][c] * in.a[j + 1][c];
    if (!delta) {
      u[t] = in.v[t];
    } else {
      const Row ks0 = times_s0(decayed(in.kf[t], gam));
      u[t].assign(cols, 0.0);
      for (size_t j = 0; j < cols; ++j) u[t][j] = in.beta[t] * (in.v[t][j] - ks0[j]);
      for (int64_t j = 0; j < t; ++j) {
        const double a = in.beta[t] * Dot(in.kf[t], decayed(in.kf[j], d[j]));
        for (size_t i = 0; i < cols; ++i) u[t][i] -= a * u[j][i];
      }
    }
    for (size_t hh = 0; hh < out.size(); ++hh) {
      Row o = times_s0(decayed(in.qf[hh][t], gam));
      for (int64_t j = 0; j <= t; ++j) {
        const double w = Dot(in.qf[hh][t], decayed(in.kf[j], d[j]));
        for (size_t i = 0; i < cols; ++i) o[i] += w * u[j][i];
      }
      out[hh].push_back(o);
    }
  }
  Rows S(f, Row(cols, 0.0));
  for (size_t c = 0; c < f; ++c)
    for (size_t i = 0; i < cols; ++i) S[c][i] = gam[c] * in.s0[c][i];
  for (int64_t j = 0; j < n; ++j) {
    const Row kd = decayed(in.kf[j], d[j]);
    for (size_t c = 0; c < f; ++c)
      for (size_t i = 0; i < cols; ++i) S[c][i] += kd[c] * u[j][i];
  }
  return S;
}

// Normalisation of one output row (cols values) to Dv values.
Row Normalise(const LinearSpec& s, const Row& o) {
  const int64_t dv = s.head_dim_v;
  Row y(o.begin(), o.begin() + dv);
  const double eps = s.norm_eps;
  switch (s.norm) {
    case LinearNorm::kNone:
      break;
    case LinearNorm::kDenominator:
      for (double& v : y) v /= o[dv] + eps;
      break;
    case LinearNorm::kRmsNorm: {
      const double r = 1.0 / std::sqrt(Dot(y, y) / dv + eps);
      for (double& v : y) v *= r;
      break;
    }
    case LinearNorm::kLayerNorm: {
      double mean = 0;
      for (double v : y) mean += v;
      mean /= dv;
      double var = 0;
      for (double v : y) var += (v - mean) * (v - mean);
      const double r = 1.0 / std::sqrt(var / dv + eps);
      for (double& v : y) v = (v - mean) * r;
      break;
    }
  }
  return y;
}

// Causal sliding-window softmax attention of one query row over the raw keys
// [max(0, t - window + 1), t] of its sequence.
Row WindowSoftmax(const LinearSpec& s, const LinearTensors& t, int64_t b, int64_t h, int64_t off,
                  int64_t tok) {
  const int64_t g = h / (s.num_q_heads / s.num_kv_heads);
  const double scale = s.window_scale.has_value()
                           ? *s.window_scale
                           : 1.0 / std::sqrt(static_cast<double>(s.head_dim_k));
  const Row q = Load(t.q, b, h, off + tok, s.head_dim_k);
  const int64_t j0 = std::max<int64_t>(0, tok - s.window + 1);
  Row logits;
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = j0; j <= tok; ++j) {
    logits.push_back(scale * Dot(q, Load(t.k, b, g, off + j, s.head_dim_k)));
    m = std::max(m, logits.back());
  }
  double sum = 0;
  Row o(s.head_dim_v, 0.0);
  for (int64_t j = j0; j <= tok; ++j) {
    const double p = std::exp(logits[j - j0] - m);
    sum += p;
    const Row v = Load(t.v, b, g, off + j, s.head_dim_v);
    for (int64_t i = 0; i < s.head_dim_v; ++i) o[i] += p * v[i];
  }
  for (double& v : o) v /= sum;
  return o;
}

}  // namespace

ReferenceOutput LinearReference(const LinearSpec& s, const LinearShape& sh, const LinearTensors& t,
                                ReferenceForm form) {
  const int64_t hq = s.num_q_heads, hkv = s.num_kv_heads, group = hq / hkv;
  const int64_t f = s.feature_dim(), cols = s.state_cols(), dv = s.head_dim_v;
  const int64_t rows = sh.is_varlen() ? sh.total() : sh.seqlen;  // tokens per batch entry
  const int64_t bsz = sh.is_varlen() ? 1 : sh.batch;
  ReferenceOutput r;
  r.out.assign(bsz * hq * rows * dv, 0.0);
  r.state.assign(sh.batch * hkv * f * cols, 0.0);
  for (int64_t seq = 0; seq < sh.batch; ++seq) {
    const int64_t b = sh.is_varlen() ? 0 : seq, off = sh.is_varlen() ? sh.cu_seqlens[seq] : 0;
    for (int64_t g = 0; g < hkv; ++g) {
      const HeadInputs in = GatherHead(s, sh, t, seq, g);
      std::vector<Rows> o(group);
      const Rows S = form == ReferenceForm::kRecurrent ? Recurrent(s, in, o) : Parallel(s, in, o);
      for (int64_t c = 0; c < f; ++c)
        for (int64_t j = 0; j < cols; ++j) r.state[((seq * hkv + g) * f + c) * cols + j] = S[c][j];
      for (int64_t hh = 0; hh < group; ++hh) {
        const int64_t h = g * group + hh;
        for (int64_t tok = 0; tok < in.n; ++tok) {
          Row y = Normalise(s, o[hh][tok]);
          if (s.window > 0) {
            const Row w = WindowSoftmax(s, t, b, h, off, tok);
            for (int64_t i = 0; i < dv; ++i) y[i] = s.linear_weight * y[i] + s.window_weight * w[i];
          }
          std::copy(y.begin(), y.end(), r.out.begin() + ((b * hq + h) * rows + off + tok) * dv);
        }
      }
    }
  }
  return r;
}

}  // namespace attnkit::linear
