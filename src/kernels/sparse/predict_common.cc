// SPDX-License-Identifier: Apache-2.0
// Shared plumbing of the mask predictors (see predict_common.h).
#include "src/kernels/sparse/predict_common.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "attnkit/error.h"
#include "src/common/parallel.h"
#include "src/plan/validate.h"

namespace attnkit::sparse {
namespace {

constexpr int64_t kChunk = 256;  // keys per column chunk: a [dim x 256] K^T panel
int64_t RoundUp16(int64_t x) { return (x + 15) / 16 * 16; }

void CheckInput(const char* who, const char* name, const TensorView& t, int64_t heads,
                int64_t dim) {
  CheckTensor(name, t, {kAnyExtent, heads, kAnyExtent, dim}, "[B, H, N, D]", who);
  ATTNKIT_CHECK(t.shape[0] >= 1 && t.shape[2] >= 1, who, ": tensor '", name,
                "' must have batch and length >= 1, got ", t.ShapeString());
}

}  // namespace

Problem MakeProblem(const char* who, const AttentionSpec& spec, const TensorView& q,
                    const TensorView& k, const ThreadingContext& ctx) {
  ValidateSpec(spec);
  CheckInput(who, "q", q, spec.num_q_heads, spec.head_dim_qk);
  CheckInput(who, "k", k, spec.num_kv_heads, spec.head_dim_qk);
  ATTNKIT_CHECK(q.shape[0] == k.shape[0], who, ": q and k must have the same batch, got ",
                q.ShapeString(), " and ", k.ShapeString());
  ATTNKIT_CHECK(q.dtype == k.dtype, who, ": q and k must have the same dtype, got ",
                Name(q.dtype), " and ", Name(k.dtype));
  Problem pb;
  pb.spec = &spec;
  pb.q = q;
  pb.k = k;
  pb.batch = q.shape[0];
  pb.hq = spec.num_q_heads;
  pb.hkv = spec.num_kv_heads;
  pb.group = pb.hq / pb.hkv;
  pb.nq = q.shape[2];
  pb.nk = k.shape[2];
  pb.dim = spec.head_dim_qk;
  pb.scale = spec.resolved_scale();
  pb.window = WindowBounds::Of(spec.mask);
  pb.threads = ctx.num_threads();
  pb.fns = GetScoreFns();
  pb.l1_floats = static_cast<size_t>(ctx.cpu().l1d_bytes) * 3 / 4 / sizeof(float);
  return pb;
}

void CheckFraction(const char* name, double value) {
  ATTNKIT_CHECK(value > 0.0 && value <= 1.0, name, " must be in (0, 1], got ", value);
}

void CheckBlockAndStride(int64_t block_size, int64_t stride) {
  CheckBlockSize("block_size", block_size);
  ATTNKIT_CHECK(stride >= 1 && stride <= block_size && block_size % stride == 0,
                "stride must divide block_size (", block_size, "), got ", stride);
}

std::vector<float> PooledRows(const ScoreFns& fns, const RowSource& src, int64_t block,
                              float scale) {
  const int64_t nb = CeilDiv(src.rows, block), dim = src.dim;
  std::vector<float> pooled(static_cast<size_t>(nb * dim), 0.0f), rows(static_cast<size_t>(block * dim));
  for (int64_t ib = 0; ib < nb; ++ib) {
    const int64_t count = std::min(block, src.rows - ib * block);
    fns.gather_rows(src, ib * block, count, 1, false, scale / static_cast<float>(count), rows.data(),
                    dim);
    float* out = pooled.data() + ib * dim;
    for (int64_t r = 0; r < count; ++r) {
      for (int64_t d = 0; d < dim; ++d) out[d] += rows[static_cast<size_t>(r * dim + d)];
    }
  }
  return pooled;
}

void ForEachProbabilityChunk(const Problem& pb, int64_t b, int64_t h,
                             const std::vector<int64_t>& rows,
                             const std::function<void(int64_t, int64_t, const float*, size_t)>& fn) {
  const int64_t nr = static_cast<int64_t>(rows.size()), dim = pb.dim, nk = pb.nk;
  if (nr == 0) return;
  const RowSource qs = RowSource::Of(pb.q, b, h), ks = RowSource::Of(pb.k, b, pb.KvHead(h));
  const int64_t rows_pad = RoundUp16(nr);
  std::vector<float> a(static_cast<size_t>(nr * dim)), panel(static_cast<size_t>(dim * kChunk));
  std::vector<float> s(static_cast<size_t>(nr * kChunk));
  std::vector<float> m(static_cast<size_t>(rows_pad), -std::numeric_limits<float>::infinity());
  std::vector<float> l(static_cast<size_t>(rows_pad), 0.0f), alpha(static_cast<size_t>(rows_pad));
  std::vector<int64_t> lo(static_cast<size_t>(nr)), hi(static_cast<size_t>(nr));
  int64_t c_first = nk, c_end = 0;
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t p = nk - pb.nq + rows[static_cast<size_t>(r)];
    lo[r] = pb.window.left == kUnbounded ? 0 : std::max<int64_t>(0, p - pb.window.left);
    hi[r] = pb.window.right == kUnbounded ? nk : std::min<int64_t>(nk, p + pb.window.right + 1);
    if (lo[r] < hi[r]) {
      c_first = std::min(c_first, lo[r]);
      c_end = std::max(c_end, hi[r]);
    }
    pb.fns.gather_rows(qs, rows[static_cast<size_t>(r)], 1, 1, false, pb.scale * kLog2E,
                       a.data() + r * dim, dim);
  }
  c_first = c_first / kChunk * kChunk;
  // Logits of chunk [c0, c1) into s, -inf outside each row's visible keys.
  const auto logits = [&](int64_t c0, int64_t c1) {
    const size_t width = static_cast<size_t>(RoundUp16(c1 - c0));
    pb.fns.pack_transposed(ks, 1, c0, c1, panel.data(), kChunk);
    for (int64_t d = 0; d < dim; ++d) {  // zero the panel's padding columns
      std::fill(panel.data() + d * kChunk + (c1 - c0), panel.data() + d * kChunk + width, 0.0f);
    }
    pb.fns.gemm(a.data(), static_cast<size_t>(dim), panel.data(), kChunk, static_cast<size_t>(nr),
                static_cast<size_t>(dim), width, s.data(), kChunk, pb.l1_floats);
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (int64_t r = 0; r < nr; ++r) {
      float* row = s.data() + r * kChunk;
      const int64_t from = std::clamp<int64_t>(lo[r] - c0, 0, static_cast<int64_t>(width));
      const int64_t to = std::clamp<int64_t>(hi[r] - c0, from, static_cast<int64_t>(width));
      std::fill(row, row + from, kNegInf);
      std::fill(row + to, row + width, kNegInf);
    }
    return width;
  };
  for (int64_t c0 = c_first; c0 < c_end; c0 += kChunk) {
    const size_t width = logits(c0, std::min(c_end, c0 + kChunk));
    pb.fns.online_stats(s.data(), static_cast<size_t>(nr), kChunk, width, m.data(), l.data(),
                        alpha.data());
  }
  for (int64_t c0 = c_first; c0 < c_end; c0 += kChunk) {
    const int64_t c1 = std::min(c_end, c0 + kChunk);
    const size_t width = logits(c0, c1);
    pb.fns.normalise_rows(s.data(), static_cast<size_t>(nr), kChunk, width, m.data(), l.data());
    fn(c0, c1, s.data(), kChunk);
  }
}

std::vector<int32_t> TopIndices(const std::vector<double>& values, int64_t k) {
  std::vector<int32_t> idx(values.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::clamp<int64_t>(k, 0, static_cast<int64_t>(values.size()));
  const auto better = [&](int32_t x, int32_t y) {
    return values[x] > values[y] || (values[x] == values[y] && x < y);
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
  idx.resize(static_cast<size_t>(k));
  return idx;
}

std::vector<float> PooledLogits(const Problem& pb, const std::vector<float>& pooled_q,
                                const std::vector<float>& pooled_k, int64_t nqb, int64_t nkb) {
  const int64_t dim = pb.dim, ld = RoundUp16(nkb);
  RowSource ks;
  ks.data = pooled_k.data();
  ks.rows = nkb;
  ks.dim = dim;
  ks.row_stride = dim;
  std::vector<float> kt(static_cast<size_t>(dim * ld), 0.0f), out(static_cast<size_t>(nqb * ld));
  pb.fns.pack_transposed(ks, 1, 0, nkb, kt.data(), ld);
  pb.fns.gemm(pooled_q.data(), static_cast<size_t>(dim), kt.data(), static_cast<size_t>(ld),
              static_cast<size_t>(nqb), static_cast<size_t>(dim), static_cast<size_t>(ld),
              out.data(), static_cast<size_t>(ld), pb.l1_floats);
  std::vector<float> logits(static_cast<size_t>(nqb * nkb));
  for (int64_t i = 0; i < nqb; ++i) {
    for (int64_t j = 0; j < nkb; ++j) {
      logits[static_cast<size_t>(i * nkb + j)] = pb.scale * out[static_cast<size_t>(i * ld + j)];
    }
  }
  return logits;
}

BlockMask BuildPerHead(const Problem& pb, int64_t block_q, int64_t block_k,
                       const std::function<void(int64_t, int64_t,
                                                std::vector<std::vector<int32_t>>&)>& fn) {
  const int64_t nqb = CeilDiv(pb.nq, block_q);
  std::vector<std::vector<std::vector<int32_t>>> rows(static_cast<size_t>(pb.batch * pb.hq));
  ParallelFor(pb.threads, pb.batch * pb.hq, [&](int, int64_t bh) {
    auto& r = rows[static_cast<size_t>(bh)];
    r.assign(static_cast<size_t>(nqb), {});
    fn(bh / pb.hq, bh % pb.hq, r);
  });
  BlockMaskBuilder builder(pb.batch, pb.hq, pb.nq, pb.nk, block_q, block_k);
  for (auto& head : rows) {
    for (auto& row : head) builder.AddRow(row);
  }
  return builder.Finish();
}

KeyRange VisibleKeys(const WindowBounds& w, int64_t nq, int64_t nk, int64_t block_q, int64_t iq) {
  const QueryBlockRows r = RowsOf(nq, nk, block_q, iq);
  KeyRange k;
  k.lo = w.left == kUnbounded ? 0 : std::max<int64_t>(0, r.pmin - w.left);
  k.hi = w.right == kUnbounded ? nk : std::min<int64_t>(nk, r.pmax + w.right + 1);
  if (k.hi < k.lo) k.hi = k.lo;
  return k;
}

void BlockRow::Mark(int64_t lo, int64_t hi, const KeyRange& keys) {
  lo = std::max(lo, keys.lo);
  hi = std::min(hi, keys.hi - 1);
  for (int64_t jk = lo / block_k_; lo <= hi && jk <= hi / block_k_; ++jk) {
    flags_[static_cast<size_t>(jk)] = 1;
  }
}

std::vector<int32_t> BlockRow::Take() {
  std::vector<int32_t> out;
  for (size_t jk = 0; jk < flags_.size(); ++jk) {
    if (flags_[jk] != 0) out.push_back(static_cast<int32_t>(jk));
    flags_[jk] = 0;
  }
  return out;
}

void PackColBlocked(const Problem& pb, const RowSource& src, int64_t group, int64_t c0, int64_t c1,
                    float* dst) {
  const int64_t depth = group * pb.dim;
  for (int64_t c = c0; c < c1;) {
    const int64_t end = std::min(c1, (c / kColBlock + 1) * kColBlock);
    pb.fns.pack_transposed(src, group, c, end,
                           dst + (c / kColBlock) * depth * kColBlock + c % kColBlock, kColBlock);
    c = end;
  }
}

void GemmColBlocked(const Problem& pb, const float* a, int64_t rows, int64_t depth,
                    const float* kb, int64_t c0, int64_t cols, float* out, int64_t ldo) {
  for (int64_t c = c0; c < c0 + cols;) {
    const int64_t w = std::min(c0 + cols, (c / kColBlock + 1) * kColBlock) - c;
    pb.fns.gemm(a, static_cast<size_t>(depth),
                kb + (c / kColBlock) * depth * kColBlock + c % kColBlock,
                static_cast<size_t>(kColBlock), static_cast<size_t>(rows),
                static_cast<size_t>(depth), static_cast<size_t>(w), out + (c - c0),
                static_cast<size_t>(ldo), pb.l1_floats);
    c += w;
  }
}

}  // namespace attnkit::sparse
