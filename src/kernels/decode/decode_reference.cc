// SPDX-License-Identifier: Apache-2.0
// fp64 decode oracles (see decode_reference.h): materialise, then the exact
// reference of src/reference/ per sequence.
#include "src/kernels/decode/decode_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "src/kernels/decode/kv_cache_impl.h"
#include "src/kernels/decode/kv_quant.h"
#include "src/kernels/decode/query_quant.h"
#include "src/reference/reference.h"

namespace attnkit::decode {
namespace {

// Keys and values of one sequence as the kernel sees them: [Hkv, n, D] f32.
struct Keys {
  std::vector<float> k, v;
  int64_t n = 0;
};

Keys Gather(const KVCache& cache, int64_t id, int64_t prefix) {
  const KVCacheConfig& g = cache.config();
  Keys own;
  cache.Materialize(id, own.k, own.v);
  own.n = cache.kept(id);
  if (prefix < 0) return own;
  Keys pre;
  cache.Materialize(prefix, pre.k, pre.v);
  pre.n = cache.kept(prefix);
  Keys all;
  all.n = pre.n + own.n;
  for (const auto& [dim, dst, a, b] :
       {std::tuple{g.head_dim_k, &all.k, &pre.k, &own.k}, std::tuple{g.head_dim_v, &all.v, &pre.v, &own.v}}) {
    for (int64_t h = 0; h < g.num_kv_heads; ++h) {
      dst->insert(dst->end(), a->begin() + h * pre.n * dim, a->begin() + (h + 1) * pre.n * dim);
      dst->insert(dst->end(), b->begin() + h * own.n * dim, b->begin() + (h + 1) * own.n * dim);
    }
  }
  return all;
}

}  // namespace

RefResult ReferenceDecode(const AttentionSpec& spec, const KVCache& cache, const DecodeBatch& batch,
                          const TensorView& q, const TensorView& sinks) {
  const KVCacheConfig& g = cache.config();
  const int64_t hq = spec.num_q_heads, dqk = spec.head_dim_qk, dv = spec.head_dim_v;
  RefResult r;
  r.hq = hq;
  r.total_q = batch.cu_seqlens_q.back();
  r.dv = dv;
  r.out.assign(static_cast<size_t>(hq * r.total_q * dv), 0.0);
  r.lse.assign(static_cast<size_t>(hq * r.total_q), -std::numeric_limits<double>::infinity());
  for (size_t b = 0; b < batch.seq_ids.size(); ++b) {
    const int64_t id = batch.seq_ids[b], q0 = batch.cu_seqlens_q[b];
    const int64_t nq = batch.cu_seqlens_q[b + 1] - q0;
    if (nq == 0) continue;
    Keys keys = Gather(cache, id, batch.shared_prefix);
    const int64_t text_end = cache.position_offset(id) + cache.length(id);
    std::vector<float> qb(static_cast<size_t>(hq * nq * dqk));
    for (int64_t h = 0; h < hq; ++h) {
      for (int64_t i = 0; i < nq; ++i) {
        float* row = qb.data() + (h * nq + i) * dqk;
        for (int64_t d = 0; d < dqk; ++d) {
          row[d] = LoadAsF32(q.data, q.dtype, h * q.strides[1] + (q0 + i) * q.strides[2] + d);
        }
        ApplyRope(g.rope, dqk, text_end - nq + i, row);
      }
    }
    AttentionTensors t;
    t.q = TensorView::Contiguous(qb.data(), DType::kF32, {1, hq, nq, dqk});
    t.k = TensorView::Contiguous(keys.k.data(), DType::kF32, {1, g.num_kv_heads, keys.n, dqk});
    t.v = TensorView::Contiguous(keys.v.data(), DType::kF32, {1, g.num_kv_heads, keys.n, dv});
    t.sinks = spec.has_sinks ? sinks : TensorView{};
    AttentionShape shape;
    shape.batch = 1;
    shape.seqlen_q = nq;
    shape.seqlen_k = keys.n;
    const reference::Result res = reference::Attention(spec, shape, t);
    for (int64_t h = 0; h < hq; ++h) {
      for (int64_t i = 0; i < nq; ++i) {
        for (int64_t c = 0; c < dv; ++c) r.out[(h * r.total_q + q0 + i) * dv + c] = res.o(0, h, i, c);
        r.lse[h * r.total_q + q0 + i] = res.l(0, h, i);
      }
    }
  }
  return r;
}

RefDiff CompareToReference(const RefResult& ref, const TensorView& out, const TensorView& lse) {
  RefDiff d;
  double scale = 0, num = 0, den = 0, max_abs = 0;
  for (double x : ref.out) scale = std::max(scale, std::abs(x));
  if (scale == 0) scale = 1;
  for (int64_t h = 0; h < ref.hq; ++h) {
    for (int64_t i = 0; i < ref.total_q; ++i) {
      const bool empty = ref.l(h, i) == -std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < ref.dv; ++c) {
        const double got = LoadAsF32(out.data, out.dtype, h * out.strides[1] + i * out.strides[2] + c);
        if (!std::isfinite(got)) d.finite = false;
        if (empty && got != 0.0) d.empty_rows_exact = false;
        const double e = std::abs(got - ref.o(h, i, c));
        max_abs = std::max(max_abs, e);
        num += e * e;
        den += ref.o(h, i, c) * ref.o(h, i, c);
      }
      if (lse.data != nullptr) {
        const double got = static_cast<const float*>(lse.data)[h * lse.strides[1] + i * lse.strides[2]];
        if (empty) {
          if (got != -std::numeric_limits<double>::infinity()) d.empty_rows_exact = false;
        } else {
          if (!std::isfinite(got)) d.finite = false;
          d.lse_rel = std::max(d.lse_rel, std::abs(got - ref.l(h, i)) / std::max(1.0, std::abs(ref.l(h, i))));
        }
      }
    }
  }
  d.max_rel = max_abs / scale;
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return d;
}

}  // namespace attnkit::decode

namespace attnkit::decode {

void ReferenceFromLogits(const AttentionSpec& spec, const std::vector<double>& logits, int64_t h0,
                         int64_t heads, int64_t nq, int64_t nk, const float* values, int64_t q0,
                         const TensorView& sinks, RefResult& r) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  std::vector<float> slopes;
  if (spec.alibi) slopes = spec.alibi_slopes.empty() ? AlibiSlopes(spec.num_q_heads) : spec.alibi_slopes;
  const int64_t left = spec.mask.window_left, right = spec.mask.effective_right();
  std::vector<double> s(static_cast<size_t>(nk));
  for (int64_t hh = 0; hh < heads; ++hh) {
    const int64_t h = h0 + hh;
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t p = nk - nq + i;
      double m = kNegInf;
      for (int64_t j = 0; j < nk; ++j) {
        double x = logits[(hh * nq + i) * nk + j];
        if (spec.softcap > 0) x = spec.softcap * std::tanh(x / spec.softcap);
        if (spec.alibi) x -= slopes[h] * static_cast<double>(std::llabs(p - j));
        const bool visible = (left == kUnbounded || j >= p - left) && (right == kUnbounded || j <= p + right);
        s[j] = visible ? x : kNegInf;
        m = std::max(m, s[j]);
      }
      double sink = kNegInf;
      if (spec.has_sinks) {
        sink = LoadAsF32(sinks.data, sinks.dtype, h * sinks.strides[0]);
        m = std::max(m, sink);
      }
      double* out = &r.out[(h * r.total_q + q0 + i) * r.dv];
      if (m == kNegInf) continue;  // O = 0, LSE = -inf
      double l = spec.has_sinks ? std::exp(sink - m) : 0.0;
      for (int64_t j = 0; j < nk; ++j) l += s[j] == kNegInf ? 0.0 : std::exp(s[j] - m);
      for (int64_t j = 0; j < nk; ++j) {
        if (s[j] == kNegInf) continue;
        const double pj = std::exp(s[j] - m) / l;
        for (int64_t c = 0; c < r.dv; ++c) out[c] += pj * values[j * r.dv + c];
      }
      r.lse[h * r.total_q + q0 + i] = m + std::log(l);
    }
  }
}

namespace {

// Base-2 logits (as the VNNI kernel forms them) of `rows` prepared query rows
// qs [rows][dk_pad] against the kept keys of sequence `id`, KV head `kv`,
// written in natural units to logits[row * ld + col0 + j] for kept key j.
void LogitsOnCodes(const CacheImpl& c, int64_t id, int64_t kv, const std::vector<float>& qs,
                   int64_t rows, int64_t ld, int64_t col0, std::vector<double>& logits) {
  const KVCacheConfig& g = c.cfg;
  const StoreLayout& l = c.main;
  const int64_t dqk = g.head_dim_k, n = l.dk_pad;
  const SeqState& st = c.Seq(id);
  const SeqView view = c.View(st);
  const int64_t first = view.nk - view.kept;
  std::vector<int16_t> q8(static_cast<size_t>(n));  // 15-bit query codes
  std::vector<float> k(static_cast<size_t>(dqk)), v(static_cast<size_t>(g.head_dim_v));
  for (int si = 0; si < view.num_segments; ++si) {
    const Segment& seg = view.segments[si];
    for (int64_t u = seg.u0; u < seg.u1; ++u) {
      const int64_t j = seg.pos0 + (u - seg.u0) - first;
      const bool codes = seg.kind == Segment::kMain && l.quantized();
      SubTile sub{};
      int64_t t = 0;
      if (seg.kind == Segment::kMain) {
        const StoreRef ref = c.MainRef(st);
        const int64_t slot = ref.ring > 0 ? u % ref.ring : u;
        sub = SubTileAt(l, ref.PageOfSlot(slot), kv, slot % l.page_tokens);
        t = slot % kSub;
        if (!codes) LoadToken(l, ref.PageOfSlot(slot), kv, slot % l.page_tokens, k.data(), v.data());
      } else if (seg.kind == Segment::kResidual) {
        const StoreRef ref = c.ResidualRef(st);
        const int64_t slot = u % ref.ring;
        LoadToken(*ref.layout, ref.PageOfSlot(slot), kv, slot, k.data(), v.data());
      } else {
        std::copy_n(st.sink_k.data() + (u * g.num_kv_heads + kv) * dqk, dqk, k.data());
        RopeInPlace(g.rope, dqk, st.offset + u + view.sink_rope_shift, k.data());
        HadamardInPlace(k.data(), dqk, c.hb_k);
      }
      for (int64_t row = 0; row < rows; ++row) {
        const float* x = qs.data() + row * n;
        double logit2 = 0;
        if (!codes) {
          for (int64_t d = 0; d < dqk; ++d) logit2 += static_cast<double>(x[d]) * k[d];
        } else {
          const float* ks = sub.k_scale;
          const float sq = QuantizeQueryRow(x, l.k_per_channel ? ks : nullptr, n, q8.data());
          double dot = 0, zsum = 0, qsum = 0;
          for (int64_t d = 0; d < n; ++d) {
            const int code = l.fmt == KVDType::kInt8
                                 ? sub.k[(d / 4) * 64 + t * 4 + d % 4]
                                 : (sub.k[((d / 8) * 16 + t) * 4 + (d % 8) / 2] >> (4 * (d % 2))) & 0xF;
            dot += static_cast<double>(q8[d]) * code;
            qsum += q8[d];
            if (l.k_per_channel) zsum += static_cast<double>(x[d]) * ks[n + d];
          }
          logit2 = l.k_per_channel ? sq * dot + zsum
                                   : static_cast<double>(ks[t]) * sq * dot +
                                         static_cast<double>(ks[kSub + t]) * sq * qsum;
        }
        logits[row * ld + col0 + j] = logit2 * 0.6931471805599453;
      }
    }
  }
}

}  // namespace

RefResult ReferenceDecodeOnCodes(const AttentionSpec& spec, const KVCache& cache,
                                 const DecodeBatch& batch, const TensorView& q, const TensorView& sinks) {
  const CacheImpl& c = cache.impl();
  const KVCacheConfig& g = c.cfg;
  const int64_t hq = spec.num_q_heads, dqk = spec.head_dim_qk, dv = spec.head_dim_v;
  const int64_t group = hq / spec.num_kv_heads, n = c.main.dk_pad;
  RefResult r;
  r.hq = hq;
  r.total_q = batch.cu_seqlens_q.back();
  r.dv = dv;
  r.out.assign(static_cast<size_t>(hq * r.total_q * dv), 0.0);
  r.lse.assign(static_cast<size_t>(hq * r.total_q), -std::numeric_limits<double>::infinity());
  const float mul = spec.resolved_scale() * 1.4426950408889634f;
  const int64_t prefix = batch.shared_prefix;
  const int64_t np = prefix >= 0 ? cache.kept(prefix) : 0;
  std::vector<float> pk, pv;
  if (prefix >= 0) cache.Materialize(prefix, pk, pv);
  for (size_t b = 0; b < batch.seq_ids.size(); ++b) {
    const int64_t id = batch.seq_ids[b], q0 = batch.cu_seqlens_q[b];
    const int64_t nq = batch.cu_seqlens_q[b + 1] - q0;
    if (nq == 0) continue;
    const SeqView view = c.View(c.Seq(id));
    std::vector<float> kmat, vmat;
    cache.Materialize(id, kmat, vmat);
    const int64_t own = view.kept, nk = np + own;  // cascade: the prefix's keys first
    for (int64_t kv = 0; kv < spec.num_kv_heads; ++kv) {
      // Queries exactly as the kernel prepares them (decode_run.cc).
      std::vector<float> qs(static_cast<size_t>(group * nq * n), 0.0f);
      for (int64_t hh = 0; hh < group; ++hh) {
        for (int64_t i = 0; i < nq; ++i) {
          float* row = qs.data() + (hh * nq + i) * n;
          const int64_t h = kv * group + hh;
          for (int64_t d = 0; d < dqk; ++d) {
            row[d] = LoadAsF32(q.data, q.dtype, h * q.strides[1] + (q0 + i) * q.strides[2] + d);
          }
          RopeInPlace(g.rope, dqk, view.text_end - nq + i, row);
          HadamardInPlace(row, dqk, c.hb_k);
          for (int64_t d = 0; d < dqk; ++d) row[d] *= mul;
        }
      }
      std::vector<double> logits(static_cast<size_t>(group * nq * nk));
      if (prefix >= 0) LogitsOnCodes(c, prefix, kv, qs, group * nq, nk, 0, logits);
      LogitsOnCodes(c, id, kv, qs, group * nq, nk, np, logits);
      // Values in attention order, original basis.
      std::vector<float> values(static_cast<size_t>(nk * dv));
      if (prefix >= 0) std::copy_n(pv.data() + kv * np * dv, np * dv, values.data());
      std::copy_n(vmat.data() + kv * own * dv, own * dv, values.data() + np * dv);
      ReferenceFromLogits(spec, logits, kv * group, group, nq, nk, values.data(), q0, sinks, r);
    }
  }
  return r;
}

}  // namespace attnkit::decode
