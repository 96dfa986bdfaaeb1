// SPDX-License-Identifier: Apache-2.0
// fp64 reference attention (see reference.h). One loop nest, no tiling.
#include "src/reference/reference.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace attnkit::reference {
namespace {

// Address of element (i0, i1, i2, i3) of a 4-D view; size-1 axes broadcast.
int64_t Offset4(const TensorView& t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
  auto idx = [&](int axis, int64_t i) { return t.shape[axis] == 1 ? 0 : i * t.strides[axis]; };
  return idx(0, i0) + idx(1, i1) + idx(2, i2) + idx(3, i3);
}

float Read4(const TensorView& t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
  return LoadAsF32(t.data, t.dtype, Offset4(t, i0, i1, i2, i3));
}

bool Visible(const MaskSpec& mask, int64_t p, int64_t j) {
  const int64_t right = mask.effective_right();
  if (mask.window_left != kUnbounded && j < p - mask.window_left) return false;
  if (right != kUnbounded && j > p + right) return false;
  return true;
}

// Acc: accumulation type. kRound: round logits/probabilities/outputs to
// `precision` like a framework working in that dtype.
template <typename Acc, bool kRound>
Result Compute(const AttentionSpec& spec, const AttentionShape& shape, const AttentionTensors& in,
               DType precision) {
  const int64_t hq = spec.num_q_heads, group = spec.num_q_heads / spec.num_kv_heads;
  const int64_t dqk = spec.head_dim_qk, dv = spec.head_dim_v;
  const Acc scale = static_cast<Acc>(spec.resolved_scale());
  std::vector<float> slopes;
  if (spec.alibi) slopes = spec.alibi_slopes.empty() ? AlibiSlopes(hq) : spec.alibi_slopes;
  auto round = [&](Acc x) -> Acc {
    if constexpr (kRound) return static_cast<Acc>(RoundTo(precision, static_cast<float>(x)));
    return x;
  };
  constexpr Acc kNegInf = -std::numeric_limits<Acc>::infinity();

  Result r;
  r.batch = shape.is_varlen() ? 1 : shape.batch;
  r.heads = hq;
  r.rows = shape.is_varlen() ? shape.total_q() : shape.seqlen_q;
  r.dim = dv;
  r.out.assign(static_cast<size_t>(r.batch * r.heads * r.rows * r.dim), 0.0);
  r.lse.assign(static_cast<size_t>(r.batch * r.heads * r.rows), 0.0);

  const int64_t num_seqs = shape.batch;
  std::vector<Acc> logits, acc(static_cast<size_t>(dv)), qrow(static_cast<size_t>(dqk)), kmat, vmat;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t nq = shape.seq_q(s), nk = shape.seq_k(s);
    const int64_t b = shape.is_varlen() ? 0 : s;  // batch index in the tensors
    const int64_t q0 = shape.is_varlen() ? shape.cu_seqlens_q[s] : 0;
    const int64_t k0 = shape.is_varlen() ? shape.cu_seqlens_k[s] : 0;
    logits.assign(static_cast<size_t>(nk), 0);
    for (int64_t g = 0; g < spec.num_kv_heads; ++g) {
      // K and V of this KV head, widened once: kmat [nk x dqk], vmat [nk x dv].
      kmat.resize(static_cast<size_t>(nk * dqk));
      vmat.resize(static_cast<size_t>(nk * dv));
      for (int64_t j = 0; j < nk; ++j) {
        for (int64_t c = 0; c < dqk; ++c) kmat[j * dqk + c] = Read4(in.k, b, g, k0 + j, c);
        for (int64_t c = 0; c < dv; ++c) vmat[j * dv + c] = Read4(in.v, b, g, k0 + j, c);
      }
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        for (int64_t i = 0; i < nq; ++i) {
          for (int64_t c = 0; c < dqk; ++c) qrow[c] = Read4(in.q, b, h, q0 + i, c);
          const int64_t p = nk - nq + i;  // bottom-right aligned position
          Acc m = kNegInf;
          bool any = false;
          for (int64_t j = 0; j < nk; ++j) {
            if (!Visible(spec.mask, p, j)) {
              logits[j] = kNegInf;
              continue;
            }
            Acc dot = 0;
            for (int64_t c = 0; c < dqk; ++c) dot += qrow[c] * kmat[j * dqk + c];
            Acc sc = round(scale * dot);
            if (spec.softcap > 0) {
              const Acc cap = static_cast<Acc>(spec.softcap);
              sc = cap * std::tanh(sc / cap);
            }
            if (spec.alibi) sc -= static_cast<Acc>(slopes[h]) * static_cast<Acc>(std::llabs(p - j));
            if (spec.has_bias) sc += static_cast<Acc>(Read4(in.bias, b, h, i, j));
            logits[j] = sc;
            if (sc == kNegInf) continue;  // a -inf bias masks the key
            any = true;
            if (sc > m || std::isnan(sc)) m = sc;
          }
          Acc sink = kNegInf;
          if (spec.has_sinks) {
            sink = static_cast<Acc>(LoadAsF32(in.sinks.data, in.sinks.dtype, h * in.sinks.strides[0]));
            if (sink > m) m = sink;
            any = true;
          }
          double* out_row = &r.o(b, h, q0 + i, 0);
          if (!any) {  // fully masked row: O = 0, LSE = -inf
            r.l(b, h, q0 + i) = -std::numeric_limits<double>::infinity();
            continue;
          }
          Acc l = spec.has_sinks ? std::exp(sink - m) : Acc(0);
          std::fill(acc.begin(), acc.end(), Acc(0));
          for (int64_t j = 0; j < nk; ++j) {
            if (logits[j] == kNegInf) continue;
            const Acc e = std::exp(logits[j] - m);
            l += e;
            logits[j] = e;
          }
          for (int64_t j = 0; j < nk; ++j) {
            if (logits[j] == kNegInf) continue;
            const Acc pj = round(logits[j] / l);
            for (int64_t c = 0; c < dv; ++c) acc[c] += pj * vmat[j * dv + c];
          }
          for (int64_t c = 0; c < dv; ++c) out_row[c] = static_cast<double>(round(acc[c]));
          r.l(b, h, q0 + i) = static_cast<double>(m + std::log(l));
        }
      }
    }
  }
  return r;
}

}  // namespace

Result Attention(const AttentionSpec& spec, const AttentionShape& shape,
                 const AttentionTensors& in) {
  return Compute<double, false>(spec, shape, in, DType::kF32);
}

Result NaiveAtPrecision(const AttentionSpec& spec, const AttentionShape& shape,
                        const AttentionTensors& in, DType precision) {
  return Compute<float, true>(spec, shape, in, precision);
}

void Store(const Result& r, const AttentionTensors& in) {
  for (int64_t b = 0; b < r.batch; ++b) {
    for (int64_t h = 0; h < r.heads; ++h) {
      for (int64_t i = 0; i < r.rows; ++i) {
        for (int64_t c = 0; c < r.dim; ++c) {
          StoreFromF32(in.out.data, in.out.dtype, Offset4(in.out, b, h, i, c),
                       static_cast<float>(r.o(b, h, i, c)));
        }
        if (!in.lse.empty()) {
          const int64_t off = b * in.lse.strides[0] + h * in.lse.strides[1] + i * in.lse.strides[2];
          static_cast<float*>(in.lse.data)[off] = static_cast<float>(r.l(b, h, i));
        }
      }
    }
  }
}

}  // namespace attnkit::reference
