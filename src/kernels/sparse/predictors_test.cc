// SPDX-License-Identifier: Apache-2.0
// Each mask predictor against an independent slow implementation of its rule
// (fp64, elementwise where the rule is elementwise: exact antidiagonal sums,
// explicit softmax rows, brute-force block membership), its documented
// properties (threshold 1 -> dense, monotonicity, planted structure), and its
// invalid parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <string>

#include "attnkit/sparse.h"
#include "src/harness/cases.h"
#include "src/harness/structured_inputs.h"
#include "src/kernels/sparse/predict_common.h"

namespace attnkit {
namespace {

using Mat = std::vector<double>;  // row-major [rows x dim]

Mat ReadHead(const TensorView& t, int64_t b, int64_t h) {
  const int64_t n = t.shape[2], d = t.shape[3];
  Mat m(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < d; ++c) {
      m[static_cast<size_t>(i * d + c)] =
          LoadAsF32(t.data, t.dtype, b * t.strides[0] + h * t.strides[1] + i * t.strides[2] + c);
    }
  }
  return m;
}

double Dot(const Mat& a, int64_t i, const Mat& b, int64_t j, int64_t d) {
  double s = 0;
  for (int64_t c = 0; c < d; ++c) s += a[static_cast<size_t>(i * d + c)] * b[static_cast<size_t>(j * d + c)];
  return s;
}

// Rows of a BlockMask as sets, for readable failures.
std::vector<std::set<int32_t>> Rows(const BlockMask& m) {
  std::vector<std::set<int32_t>> rows;
  for (int64_t r = 0; r < m.num_rows(); ++r) {
    const auto kb = m.KeyBlocks(r);
    rows.emplace_back(kb.begin(), kb.end());
  }
  return rows;
}

std::string Show(const std::set<int32_t>& s) {
  std::string out = "{";
  for (int32_t v : s) out += std::to_string(v) + ",";
  return out + "}";
}

void ExpectSameRows(const BlockMask& got, const std::vector<std::set<int32_t>>& want) {
  const auto rows = Rows(got);
  ASSERT_EQ(rows.size(), want.size());
  int mismatches = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r] != want[r] && ++mismatches <= 5) {
      ADD_FAILURE() << "row " << r << ": got " << Show(rows[r]) << " want " << Show(want[r]);
    }
  }
}

struct Inputs {
  harness::Case c;
  harness::Inputs in;
};

Inputs Random(int64_t hq, int64_t hkv, int64_t nq, int64_t nk, int64_t d, bool causal,
              uint64_t seed = 3) {
  Inputs x;
  x.c.spec.num_q_heads = hq;
  x.c.spec.num_kv_heads = hkv;
  x.c.spec.head_dim_qk = x.c.spec.head_dim_v = d;
  x.c.spec.mask.causal = causal;
  x.c.batch = 2;
  x.c.seqlen_q = nq;
  x.c.seqlen_k = nk;
  x.c.seed = seed;
  x.in = harness::MakeInputs(x.c);
  return x;
}

// Block (iq, jk) visible under bottom-right causal: jk * bk <= last row's position.
bool BlockVisible(bool causal, int64_t nq, int64_t nk, int64_t bs, int64_t iq, int64_t jk) {
  if (!causal) return true;
  const int64_t p_last = nk - nq + std::min((iq + 1) * bs, nq) - 1;
  return jk * bs <= p_last;
}
int64_t Diagonal(bool causal, int64_t nq, int64_t nk, int64_t bs, int64_t iq) {
  const int64_t p_last = nk - nq + std::min((iq + 1) * bs, nq) - 1;
  if (causal && p_last < 0) return -1;
  return std::clamp<int64_t>(p_last, 0, nk - 1) / bs;
}

// ---------------------------------------------------------------- XAttention

// Exact antidiagonal sums A[r][c] = sum_t q_{rS+S-1-t} . k_{cS+t}, softmax per
// reshaped row, block sums; everything in fp64 and by definition.
std::vector<double> SlowXAttentionScores(const Mat& q, const Mat& k, int64_t nq, int64_t nk,
                                         int64_t d, int64_t bs, int64_t stride, double scale,
                                         bool causal) {
  const int64_t S = stride, nrq = (nq + S - 1) / S, nrk = (nk + S - 1) / S, R = bs / S;
  const int64_t nqb = (nq + bs - 1) / bs, nkb = (nk + bs - 1) / bs;
  std::vector<double> out(static_cast<size_t>(nqb * nkb), 0.0);
  for (int64_t r = 0; r < nrq; ++r) {
    if (r * S >= nq) continue;
    std::vector<double> a(static_cast<size_t>(nrk), -INFINITY);
    double m = -INFINITY;
    for (int64_t c = 0; c < nrk; ++c) {
      if (causal && c * S > nk - nq + r * S + S - 1) continue;
      double sum = 0;
      for (int64_t t = 0; t < S; ++t) {
        const int64_t qi = r * S + S - 1 - t, kj = c * S + t;
        if (qi < nq && kj < nk) sum += Dot(q, qi, k, kj, d);
      }
      a[static_cast<size_t>(c)] = sum * scale / static_cast<double>(S);
      m = std::max(m, a[static_cast<size_t>(c)]);
    }
    if (std::isinf(m)) continue;
    double l = 0;
    for (double& v : a) l += (v = std::exp(v - m));
    for (int64_t c = 0; c < nrk; ++c) {
      out[static_cast<size_t>((r / R) * nkb + c / R)] += a[static_cast<size_t>(c)] / l;
    }
  }
  return out;
}

std::vector<std::set<int32_t>> SlowXAttentionSelect(const std::vector<double>& scores, int64_t nq,
                                                    int64_t nk, int64_t bs, bool causal,
                                                    double threshold) {
  const int64_t nqb = (nq + bs - 1) / bs, nkb = (nk + bs - 1) / bs;
  std::vector<std::set<int32_t>> rows(static_cast<size_t>(nqb));
  for (int64_t iq = 0; iq < nqb; ++iq) {
    const double* row = scores.data() + iq * nkb;
    const double total = std::accumulate(row, row + nkb, 0.0);
    std::set<int32_t>& kept = rows[static_cast<size_t>(iq)];
    double cum = 0;
    if (causal) {
      for (int64_t f : {int64_t{0}, Diagonal(causal, nq, nk, bs, iq)}) {
        if (f >= 0 && BlockVisible(causal, nq, nk, bs, iq, f) && kept.insert(static_cast<int32_t>(f)).second) {
          cum += row[f];
        }
      }
    }
    std::vector<std::pair<double, int32_t>> others;
    for (int64_t jk = 0; jk < nkb; ++jk) {
      if (BlockVisible(causal, nq, nk, bs, iq, jk) && !kept.count(static_cast<int32_t>(jk))) {
        others.push_back({-row[jk], static_cast<int32_t>(jk)});
      }
    }
    std::sort(others.begin(), others.end());
    for (const auto& [neg, jk] : others) {
      if (cum >= threshold * total) break;
      kept.insert(jk);
      cum += -neg;
    }
  }
  return rows;
}

struct XCase {
  int64_t nq, nk, bs, stride;
  bool causal;
};

TEST(XAttention, BlockScoresEqualExactAntidiagonalSums) {
  for (const XCase& xc : {XCase{256, 256, 64, 8, true}, XCase{200, 328, 32, 4, true},
                          XCase{130, 190, 64, 16, false}, XCase{300, 300, 128, 8, true}}) {
    Inputs x = Random(4, 2, xc.nq, xc.nk, 32, xc.causal);
    const sparse::Problem pb =
        sparse::MakeProblem("test", x.c.spec, x.in.tensors.q, x.in.tensors.k, ThreadingContext(2));
    const auto fast = sparse::XAttentionBlockScores(pb, xc.bs, xc.stride);
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t h = 0; h < 4; ++h) {
        const auto slow = SlowXAttentionScores(ReadHead(x.in.tensors.q, b, h),
                                               ReadHead(x.in.tensors.k, b, h / 2), xc.nq, xc.nk, 32,
                                               xc.bs, xc.stride, 1.0 / std::sqrt(32.0), xc.causal);
        const auto& f = fast[static_cast<size_t>(b * 4 + h)];
        ASSERT_EQ(f.size(), slow.size());
        for (size_t i = 0; i < f.size(); ++i) {
          ASSERT_NEAR(f[i], slow[i], 2e-5) << "nq " << xc.nq << " b " << b << " h " << h << " at " << i;
        }
      }
    }
  }
}

TEST(XAttention, SelectionFollowsTheCumulativeThresholdRule) {
  for (double threshold : {0.5, 0.8, 0.9, 0.95}) {
    for (const XCase& xc : {XCase{512, 512, 64, 8, true}, XCase{384, 448, 32, 8, true},
                            XCase{256, 320, 64, 16, false}}) {
      Inputs x = Random(2, 1, xc.nq, xc.nk, 32, xc.causal, 11);
      XAttentionParams p;
      p.block_size = xc.bs;
      p.stride = xc.stride;
      p.threshold = threshold;
      const BlockMask mask = PredictXAttention(x.c.spec, x.in.tensors.q, x.in.tensors.k, p);
      std::vector<std::set<int32_t>> want;
      for (int64_t b = 0; b < 2; ++b) {
        for (int64_t h = 0; h < 2; ++h) {
          const auto scores = SlowXAttentionScores(ReadHead(x.in.tensors.q, b, h),
                                                   ReadHead(x.in.tensors.k, b, 0), xc.nq, xc.nk, 32,
                                                   xc.bs, xc.stride, 1 / std::sqrt(32.0), xc.causal);
          for (auto& r : SlowXAttentionSelect(scores, xc.nq, xc.nk, xc.bs, xc.causal, threshold)) {
            want.push_back(r);
          }
        }
      }
      SCOPED_TRACE("threshold " + std::to_string(threshold) + " nq " + std::to_string(xc.nq));
      ExpectSameRows(mask, want);
    }
  }
}

TEST(XAttention, ThresholdOneKeepsEveryVisibleBlockAndIsMonotone) {
  Inputs x = Random(2, 2, 320, 320, 32, true, 5);
  XAttentionParams p;
  p.block_size = 64;
  p.threshold = 1.0;
  const BlockMask full = PredictXAttention(x.c.spec, x.in.tensors.q, x.in.tensors.k, p);
  EXPECT_DOUBLE_EQ(KeptDensity(full, x.c.spec.mask), 1.0);
  std::vector<std::set<int32_t>> previous;
  for (double t : {0.3, 0.6, 0.9, 1.0}) {
    p.threshold = t;
    const auto rows = Rows(PredictXAttention(x.c.spec, x.in.tensors.q, x.in.tensors.k, p));
    for (size_t r = 0; r < previous.size(); ++r) {
      EXPECT_TRUE(std::includes(rows[r].begin(), rows[r].end(), previous[r].begin(), previous[r].end()))
          << "threshold " << t << " row " << r;
    }
    previous = rows;
  }
}

TEST(XAttention, PerHeadThresholds) {
  Inputs x = Random(2, 1, 256, 256, 32, true);
  XAttentionParams p;
  p.block_size = 64;
  p.head_thresholds = {1.0, 0.2};
  const BlockMask m = PredictXAttention(x.c.spec, x.in.tensors.q, x.in.tensors.k, p);
  const auto rows = Rows(m);
  for (int64_t iq = 0; iq < 4; ++iq) EXPECT_EQ(rows[static_cast<size_t>(iq)].size(), static_cast<size_t>(iq + 1));
  int64_t kept_head1 = 0;
  for (int64_t iq = 0; iq < 4; ++iq) kept_head1 += static_cast<int64_t>(rows[static_cast<size_t>(4 + iq)].size());
  EXPECT_LT(kept_head1, 10);
}

// ---------------------------------------------------------------- last-row predictors

// Exact probabilities of the last n rows (causal, bottom-right), their column
// sums and their diagonal sums by offset o = p - j.
struct Last {
  std::vector<double> vertical, slash;
};
Last SlowLastRows(const Mat& q, const Mat& k, int64_t nq, int64_t nk, int64_t d, int64_t n_last,
                  double scale) {
  Last out{std::vector<double>(static_cast<size_t>(nk), 0.0), std::vector<double>(static_cast<size_t>(nk), 0.0)};
  for (int64_t i = nq - n_last; i < nq; ++i) {
    const int64_t p = nk - nq + i;
    if (p < 0) continue;
    std::vector<double> s(static_cast<size_t>(p + 1));
    double m = -INFINITY, l = 0;
    for (int64_t j = 0; j <= p; ++j) m = std::max(m, s[static_cast<size_t>(j)] = scale * Dot(q, i, k, j, d));
    for (double& v : s) l += (v = std::exp(v - m));
    for (int64_t j = 0; j <= p; ++j) {
      out.vertical[static_cast<size_t>(j)] += s[static_cast<size_t>(j)] / l;
      out.slash[static_cast<size_t>(p - j)] += s[static_cast<size_t>(j)] / l;
    }
  }
  return out;
}

std::vector<int64_t> SlowTop(const std::vector<double>& v, int64_t k) {
  std::vector<int64_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return v[a] > v[b]; });
  idx.resize(static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(v.size()))));
  return idx;
}

// Elementwise union -> blocks: (iq, jk) kept iff some visible (i, j) in it is kept.
template <class Keep>
std::vector<std::set<int32_t>> BlocksOf(int64_t nq, int64_t nk, int64_t bs, Keep&& keep) {
  const int64_t nqb = (nq + bs - 1) / bs;
  std::vector<std::set<int32_t>> rows(static_cast<size_t>(nqb));
  for (int64_t i = 0; i < nq; ++i) {
    const int64_t p = nk - nq + i;
    for (int64_t j = 0; j <= std::min(p, nk - 1); ++j) {
      if (keep(p, j)) rows[static_cast<size_t>(i / bs)].insert(static_cast<int32_t>(j / bs));
    }
  }
  return rows;
}

TEST(MInference, VerticalSlashMatchesTheElementwiseRule) {
  const int64_t nq = 300, nk = 360, bs = 64, d = 32;
  Inputs x = Random(4, 2, nq, nk, d, true, 21);
  MInferenceParams p;
  p.default_head = {MInferencePattern::kVerticalSlash, 40, 60};
  const BlockMask mask = PredictMInference(x.c.spec, x.in.tensors.q, x.in.tensors.k, p);
  std::vector<std::set<int32_t>> want;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t h = 0; h < 4; ++h) {
      Last s = SlowLastRows(ReadHead(x.in.tensors.q, b, h), ReadHead(x.in.tensors.k, b, h / 2), nq,
                            nk, d, 64, 1 / std::sqrt(double(d)));
      for (int64_t j = 0; j < 30; ++j) s.vertical[static_cast<size_t>(j)] = INFINITY;
      for (int64_t o = 0; o < 100; ++o) s.slash[static_cast<size_t>(o)] = INFINITY;
      std::set<int64_t> cols, offs;
      for (int64_t j : SlowTop(s.vertical, 40)) cols.insert(j);
      for (int64_t o : SlowTop(s.slash, 60)) offs.insert(o);
      for (auto& r : BlocksOf(nq, nk, bs, [&](int64_t pos, int64_t j) {
             return cols.count(j) > 0 || offs.count(pos - j) > 0;
           })) {
        want.push_back(r);
      }
    }
  }
  ExpectSameRows(mask, want);
}

TEST(MInference, PerHeadPatternsAShapeAndBlockSparse) {
  const int64_t nq = 320, nk = 320, bs = 64, d = 32;
  Inputs x = Random(3, 3, nq, nk, d, true, 4);
  MInferenceParams p;
  p.heads = {{MInferencePattern::kAShape, 70, 100},
             {MInferencePattern::kBlockSparse, 2, 0},
             {MInferencePattern::kVerticalSlash, 1000, 6096}};
  const BlockMask mask = PredictMInference(x.c.spec, x.in.tensors.q, x.in.tensors.k, p);
  const auto rows = Rows(mask);
  const int64_t nqb = 5;
  for (int64_t b = 0; b < 2; ++b) {
    // Head 0: A-shape, elementwise.
    const auto ashape = BlocksOf(nq, nk, bs, [](int64_t pos, int64_t j) { return j < 70 || pos - j < 100; });
    // Head 1: the 2 best pooled blocks among the visible ones.
    const Mat q = ReadHead(x.in.tensors.q, b, 1), k = ReadHead(x.in.tensors.k, b, 1);
    for (int64_t iq = 0; iq < nqb; ++iq) {
      EXPECT_EQ(rows[static_cast<size_t>((b * 3 + 0) * nqb + iq)], ashape[static_cast<size_t>(iq)]);
      std::vector<double> pooled(static_cast<size_t>(iq + 1));
      for (int64_t jk = 0; jk <= iq; ++jk) {
        double s = 0;
        for (int64_t i = iq * bs; i < (iq + 1) * bs; ++i) {
          for (int64_t j = jk * bs; j < (jk + 1) * bs; ++j) s += Dot(q, i, k, j, d);
        }
        pooled[static_cast<size_t>(jk)] = s;  // proportional to the pooled logit
      }
      std::set<int32_t> top;
      for (int64_t jk : SlowTop(pooled, 2)) top.insert(static_cast<int32_t>(jk));
      EXPECT_EQ(rows[static_cast<size_t>((b * 3 + 1) * nqb + iq)], top) << "block-sparse row " << iq;
      // Head 2: budgets beyond N give every visible block.
      EXPECT_EQ(rows[static_cast<size_t>((b * 3 + 2) * nqb + iq)].size(), static_cast<size_t>(iq + 1));
    }
  }
}

// A planted vertical line (a key every query attends to) and the local band
// are recovered by vertical-slash from the last 64 queries.
TEST(MInference, RecoversPlantedVerticalLine) {
  harness::StructuredSpec s;
  s.batch = 1;
  s.heads_q = s.heads_kv = 1;
  s.seqlen = 2048;
  s.head_dim = 64;
  s.kinds = {harness::HeadKind::kVertical};
  harness::StructuredInputs in = harness::MakeStructuredInputs(s);
  AttentionSpec spec;
  spec.num_q_heads = spec.num_kv_heads = 1;
  spec.head_dim_qk = spec.head_dim_v = 64;
  spec.mask.causal = true;
  MInferenceParams p;
  // 40 columns: the first 30 are always kept, so 30 would select nothing else.
  p.default_head = {MInferencePattern::kVerticalSlash, 40, 50};
  const auto rows = Rows(PredictMInference(spec, in.tensors.q, in.tensors.k, p));
  ASSERT_FALSE(in.vertical_keys[0].empty());
  for (int64_t key : in.vertical_keys[0]) {
    for (int64_t iq = key / 64 + 1; iq < 32; ++iq) {
      EXPECT_TRUE(rows[static_cast<size_t>(iq)].count(static_cast<int32_t>(key / 64)))
          << "vertical key " << key << " missing from query block " << iq;
    }
  }
  for (int64_t iq = 0; iq < 32; ++iq) EXPECT_TRUE(rows[static_cast<size_t>(iq)].count(static_cast<int32_t>(iq)));
}

// FlexPrefill in fp64, written from the paper's description and code.
struct SlowFlex {
  std::vector<std::set<int32_t>> rows;
  bool query_aware = false;
};
SlowFlex SlowFlexPrefill(const Mat& q, const Mat& k, int64_t n, int64_t d, const FlexPrefillParams& p) {
  const int64_t bs = p.block_size, nb = (n + bs - 1) / bs, n_last = std::min(bs, n);
  const double scale = 1 / std::sqrt(double(d));
  Last s = SlowLastRows(q, k, n, n, d, n_last, scale);
  for (double& v : s.vertical) v /= static_cast<double>(n_last);
  for (double& v : s.slash) v /= static_cast<double>(n_last);
  const auto cover = [](std::vector<double> v, double score) {
    std::sort(v.rbegin(), v.rend());
    int64_t count = 0;
    double cum = 0;
    for (double x : v) {
      if ((cum += x) <= score) ++count;
    }
    return count + 1;
  };
  const int64_t min_blocks = (p.min_budget + bs - 1) / bs;
  int64_t nv = cover(s.vertical, p.gamma) / bs + 1, ns = cover(s.slash, p.gamma) / bs + 1;
  std::vector<double> vb(static_cast<size_t>(nb), 0.0), sb(static_cast<size_t>(nb), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    vb[static_cast<size_t>(j / bs)] += s.vertical[static_cast<size_t>(j)];
    sb[static_cast<size_t>(j / bs)] += s.slash[static_cast<size_t>(j)];
  }
  const auto mean_rows = [&](const Mat& x, int64_t from, int64_t to) {
    std::vector<double> m(static_cast<size_t>(d), 0.0);
    for (int64_t i = from; i < to; ++i) {
      for (int64_t c = 0; c < d; ++c) m[static_cast<size_t>(c)] += x[static_cast<size_t>(i * d + c)] / double(to - from);
    }
    return m;
  };
  std::vector<std::vector<double>> mk;
  for (int64_t jk = 0; jk < nb; ++jk) mk.push_back(mean_rows(k, jk * bs, std::min(n, (jk + 1) * bs)));
  const auto dot = [&](const std::vector<double>& a, const std::vector<double>& b) {
    return std::inner_product(a.begin(), a.end(), b.begin(), 0.0) * scale;
  };
  const auto softmax = [](std::vector<double>& x) {
    const double m = *std::max_element(x.begin(), x.end());
    double l = 0;
    for (double& v : x) l += (v = std::exp(v - m));
    for (double& v : x) v /= l;
  };
  const std::vector<double> mq = mean_rows(q, n - n_last, n);
  std::vector<double> est(static_cast<size_t>(nb));
  for (int64_t jk = 0; jk < nb; ++jk) est[static_cast<size_t>(jk)] = dot(mq, mk[static_cast<size_t>(jk)]);
  softmax(est);
  double js = 0;
  for (int64_t jk = 0; jk < nb; ++jk) {
    const double a = est[static_cast<size_t>(jk)], b = vb[static_cast<size_t>(jk)], m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * std::log(a / m);
    if (b > 0) js += 0.5 * b * std::log(b / m);
  }
  SlowFlex out;
  out.query_aware = std::sqrt(js) < p.tau;
  if (out.query_aware) nv = ns = min_blocks;
  nv = std::clamp(nv, min_blocks, nb);
  ns = std::clamp(ns, min_blocks, nb);
  vb[0] = sb[0] = INFINITY;
  const auto top_v = SlowTop(vb, nv), top_s = SlowTop(sb, ns);
  out.rows.assign(static_cast<size_t>(nb), {});
  for (int64_t iq = 0; iq < nb; ++iq) {
    for (int64_t v : top_v) {
      if (v <= iq) out.rows[static_cast<size_t>(iq)].insert(static_cast<int32_t>(v));
    }
    for (int64_t o : top_s) {
      if (o <= iq) out.rows[static_cast<size_t>(iq)].insert(static_cast<int32_t>(iq - o));
    }
  }
  if (out.query_aware) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t iq = 0; iq < nb; ++iq) {
      const std::vector<double> pq = mean_rows(q, iq * bs, std::min(n, (iq + 1) * bs));
      std::vector<double> row(static_cast<size_t>(iq + 1));
      for (int64_t jk = 0; jk <= iq; ++jk) row[static_cast<size_t>(jk)] = dot(pq, mk[static_cast<size_t>(jk)]);
      softmax(row);
      for (int64_t jk = 0; jk <= iq; ++jk) all.push_back({-row[static_cast<size_t>(jk)], iq * nb + jk});
    }
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double cum = 0;
    for (const auto& [neg, at] : all) {
      if ((cum += -neg) > p.gamma * static_cast<double>(nb) * (1 + 1e-9)) break;
      out.rows[static_cast<size_t>(at / nb)].insert(static_cast<int32_t>(at % nb));
    }
  }
  return out;
}

TEST(FlexPrefill, MatchesTheSlowRuleInBothHeadModes) {
  // Head 0 of each input: near-uniform Gaussian attention (pooled estimate
  // close to the truth: query-aware); structured heads with sink and vertical
  // lines (the pooled estimate misses them: vertical-slash).
  harness::StructuredSpec s;
  s.batch = 1;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.seqlen = 1152;  // whole blocks: a flat head's pooled estimate is then close to the truth
  s.head_dim = 32;
  s.kinds = {harness::HeadKind::kNoise, harness::HeadKind::kVertical, harness::HeadKind::kLocal,
             harness::HeadKind::kRetrieval};
  harness::StructuredInputs in = harness::MakeStructuredInputs(s);
  AttentionSpec spec;
  spec.num_q_heads = 4;
  spec.num_kv_heads = 2;
  spec.head_dim_qk = spec.head_dim_v = 32;
  spec.mask.causal = true;
  for (int64_t block : {64, 128}) {
    FlexPrefillParams p;
    p.block_size = block;
    p.min_budget = 128;
    const BlockMask mask = PredictFlexPrefill(spec, in.tensors.q, in.tensors.k, p);
    const auto rows = Rows(mask);
    const int64_t nb = mask.num_q_blocks();
    int aware = 0;
    for (int64_t h = 0; h < 4; ++h) {
      const SlowFlex want = SlowFlexPrefill(ReadHead(in.tensors.q, 0, h),
                                            ReadHead(in.tensors.k, 0, h / 2), 1152, 32, p);
      aware += want.query_aware;
      for (int64_t iq = 0; iq < nb; ++iq) {
        EXPECT_EQ(rows[static_cast<size_t>(h * nb + iq)], want.rows[static_cast<size_t>(iq)])
            << "block " << block << " head " << h << " row " << iq << ": got "
            << Show(rows[static_cast<size_t>(h * nb + iq)]) << " want " << Show(want.rows[static_cast<size_t>(iq)]);
      }
    }
    EXPECT_GT(aware, 0) << "no query-aware head: the test misses that branch";
    EXPECT_LT(aware, 4) << "no vertical-slash head: the test misses that branch";
  }
}

TEST(FlexPrefill, GammaOneIsDenseAndShortPromptsAreDense) {
  Inputs x = Random(2, 1, 640, 640, 32, true, 8);
  FlexPrefillParams p;
  p.block_size = 64;
  p.gamma = 1.0;
  p.min_budget = 0;
  EXPECT_DOUBLE_EQ(KeptDensity(PredictFlexPrefill(x.c.spec, x.in.tensors.q, x.in.tensors.k, p),
                               x.c.spec.mask), 1.0);
  Inputs y = Random(2, 1, 200, 200, 32, true, 8);  // <= 2 blocks of 128
  EXPECT_DOUBLE_EQ(KeptDensity(PredictFlexPrefill(y.c.spec, y.in.tensors.q, y.in.tensors.k), y.c.spec.mask), 1.0);
}

// ---------------------------------------------------------------- static and top-k

TEST(PowerAttention, ExactlyTheDocumentedOffsets) {
  AttentionSpec spec;
  spec.num_q_heads = 2;
  spec.mask.causal = true;
  PowerAttentionParams p;
  p.block_size = 32;
  p.sink_blocks = 2;
  p.local_blocks = 3;
  const int64_t n = 32 * 40 - 5;
  const auto rows = Rows(PredictPowerAttention(spec, 1, n, n, p));
  for (int64_t i = 0; i < 40; ++i) {
    std::set<int32_t> want;
    for (int64_t j = 0; j <= i; ++j) {
      const int64_t delta = i - j;
      const bool power = delta > 0 && (delta & (delta - 1)) == 0;
      if (j < 2 || delta < 3 || power) want.insert(static_cast<int32_t>(j));
    }
    EXPECT_EQ(rows[static_cast<size_t>(i)], want) << "row " << i;
    EXPECT_EQ(rows[static_cast<size_t>(40 + i)], want) << "head 1 row " << i;
  }
}

TEST(SlidingWindow, SinkAndWindowBlocks) {
  AttentionSpec spec;
  spec.num_q_heads = 1;
  spec.mask.causal = true;
  SlidingWindowParams p;
  p.block_size = 64;
  p.sink_blocks = 1;
  p.window_blocks = 3;
  const auto rows = Rows(PredictSlidingWindow(spec, 1, 640, 640, p));
  for (int64_t i = 0; i < 10; ++i) {
    std::set<int32_t> want = {0};
    for (int64_t j = std::max<int64_t>(0, i - 2); j <= i; ++j) want.insert(static_cast<int32_t>(j));
    EXPECT_EQ(rows[static_cast<size_t>(i)], want) << "row " << i;
  }
  spec.mask.causal = false;
  const auto sym = Rows(PredictSlidingWindow(spec, 1, 640, 640, p));
  EXPECT_EQ(sym[5], (std::set<int32_t>{0, 4, 5, 6}));
  EXPECT_EQ(sym[9], (std::set<int32_t>{0, 8, 9}));
}

TEST(TopK, BestPooledBlocksAmongTheVisibleOnes) {
  const int64_t n = 400, bs = 64, d = 32;
  Inputs x = Random(2, 1, n, n, d, true, 9);
  TopKParams p;
  p.top_k = 3;
  p.keep_sink = true;
  const auto rows = Rows(PredictTopK(x.c.spec, x.in.tensors.q, x.in.tensors.k, p));
  const int64_t nb = 7;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t h = 0; h < 2; ++h) {
      const Mat q = ReadHead(x.in.tensors.q, b, h), k = ReadHead(x.in.tensors.k, b, 0);
      for (int64_t iq = 0; iq < nb; ++iq) {
        std::vector<double> pooled(static_cast<size_t>(iq + 1));
        const int64_t qn = std::min(n, (iq + 1) * bs) - iq * bs;
        for (int64_t jk = 0; jk <= iq; ++jk) {
          const int64_t kn = std::min(n, (jk + 1) * bs) - jk * bs;
          double s = 0;
          for (int64_t i = iq * bs; i < iq * bs + qn; ++i) {
            for (int64_t j = jk * bs; j < jk * bs + kn; ++j) s += Dot(q, i, k, j, d);
          }
          pooled[static_cast<size_t>(jk)] = s / double(qn * kn);
        }
        std::set<int32_t> want = {0};
        for (int64_t jk : SlowTop(pooled, 3)) want.insert(static_cast<int32_t>(jk));
        EXPECT_EQ(rows[static_cast<size_t>((b * 2 + h) * nb + iq)], want) << "b" << b << " h" << h << " row " << iq;
      }
    }
  }
}

// ---------------------------------------------------------------- sampled mass

// The rule of PredictSampledMass by definition, in fp64: exact logits of every
// lattice key ((i + j) mod S == S - 1) and of the forced blocks, per row Z_i,
// block shares, heaviest entries over the row's entry threshold
// min(entry_threshold, entry_ratio / keys seen), then the selection.
struct SlowSampled {
  std::vector<double> share, entry, forced;  // [nqb * nkb], [nqb * nkb], [nqb]
};
std::set<int32_t> SlowForced(const SampledMassParams& p, bool causal, int64_t nq, int64_t nk,
                             int64_t iq) {
  const int64_t bs = p.block_size, d = Diagonal(causal, nq, nk, bs, iq);
  std::set<int32_t> f;
  for (int64_t jk = 0; jk < p.sink_blocks; ++jk) f.insert(static_cast<int32_t>(jk));
  for (int64_t jk = d - p.local_blocks + 1; d >= 0 && jk <= d; ++jk) f.insert(static_cast<int32_t>(jk));
  std::set<int32_t> visible;
  for (int32_t jk : f) {
    if (jk >= 0 && jk * bs < nk && BlockVisible(causal, nq, nk, bs, iq, jk)) visible.insert(jk);
  }
  return visible;
}
SlowSampled SlowSampledScores(const Mat& q, const Mat& k, int64_t nq, int64_t nk, int64_t d,
                              const SampledMassParams& p, double scale, bool causal) {
  const int64_t bs = p.block_size, S = p.stride, nqb = (nq + bs - 1) / bs, nkb = (nk + bs - 1) / bs;
  SlowSampled out;
  out.share.assign(static_cast<size_t>(nqb * nkb), 0.0);
  out.entry.assign(static_cast<size_t>(nqb * nkb), 0.0);
  out.forced.assign(static_cast<size_t>(nqb), 0.0);
  for (int64_t iq = 0; iq < nqb; ++iq) {
    const std::set<int32_t> forced = SlowForced(p, causal, nq, nk, iq);
    int64_t counted = 0;
    for (int64_t i = iq * bs; i < std::min(nq, (iq + 1) * bs); ++i) {
      const int64_t pos = nk - nq + i;
      double exact = 0, lattice = 0;
      std::vector<std::pair<int64_t, double>> sampled;  // (key, exp(logit))
      for (int64_t j = 0; j < nk; ++j) {
        if (causal && j > pos) continue;
        const double e = std::exp(scale * Dot(q, i, k, j, d));
        if (forced.count(static_cast<int32_t>(j / bs))) {
          exact += e;
        } else if ((i + j) % S == S - 1) {
          lattice += e;
          sampled.push_back({j, e});
        }
      }
      const double z = exact + static_cast<double>(S) * lattice;
      if (z == 0) continue;
      const double seen = static_cast<double>(causal ? std::min(pos + 1, nk) : nk);
      const double thr = std::min(p.entry_threshold, p.entry_ratio / seen);
      ++counted;
      out.forced[static_cast<size_t>(iq)] += exact / z;
      for (const auto& [j, e] : sampled) {
        const size_t at = static_cast<size_t>(iq * nkb + j / bs);
        out.share[at] += static_cast<double>(S) * e / z;
        out.entry[at] = std::max(out.entry[at], e / z / thr);
      }
    }
    for (int64_t jk = 0; jk < nkb && counted > 0; ++jk) out.share[static_cast<size_t>(iq * nkb + jk)] /= counted;
    if (counted > 0) out.forced[static_cast<size_t>(iq)] /= counted;
  }
  return out;
}
std::vector<std::set<int32_t>> SlowSampledSelect(const SlowSampled& sc, const SampledMassParams& p,
                                                 bool causal, int64_t nq, int64_t nk) {
  const int64_t bs = p.block_size, nqb = (nq + bs - 1) / bs, nkb = (nk + bs - 1) / bs;
  std::vector<std::set<int32_t>> rows(static_cast<size_t>(nqb));
  for (int64_t iq = 0; iq < nqb; ++iq) {
    std::set<int32_t>& kept = rows[static_cast<size_t>(iq)];
    kept = SlowForced(p, causal, nq, nk, iq);
    double cum = sc.forced[static_cast<size_t>(iq)];
    std::vector<std::pair<double, int32_t>> others;
    int64_t visible = 0;
    for (int64_t jk = 0; jk < nkb; ++jk) {
      if (!BlockVisible(causal, nq, nk, bs, iq, jk)) continue;
      ++visible;
      if (kept.count(static_cast<int32_t>(jk))) continue;
      const size_t at = static_cast<size_t>(iq * nkb + jk);
      if (sc.entry[at] >= 1.0) {
        kept.insert(static_cast<int32_t>(jk));
        cum += sc.share[at];
      } else {
        others.push_back({-sc.share[at], static_cast<int32_t>(jk)});
      }
    }
    std::sort(others.begin(), others.end());
    const int64_t cap = static_cast<int64_t>(std::floor(p.max_fraction * static_cast<double>(visible)));
    int64_t added = 0;
    for (const auto& [neg, jk] : others) {
      if (cum >= p.threshold || added >= cap) break;
      kept.insert(jk);
      cum += -neg;
      ++added;
    }
  }
  return rows;
}

struct SCase {
  int64_t nq, nk, bs, stride;
  bool causal;
};

TEST(SampledMass, ScoresEqualTheExactLatticeSums) {
  for (const SCase& sc : {SCase{256, 256, 64, 16, true}, SCase{200, 328, 32, 8, true},
                          SCase{130, 190, 64, 4, false}, SCase{1100, 1100, 128, 16, true}}) {
    Inputs x = Random(4, 2, sc.nq, sc.nk, 32, sc.causal);
    SampledMassParams p;
    p.block_size = sc.bs;
    p.stride = sc.stride;
    const sparse::Problem pb =
        sparse::MakeProblem("test", x.c.spec, x.in.tensors.q, x.in.tensors.k, ThreadingContext(2));
    const auto fast = sparse::SampledMassBlockScores(pb, p);
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t h = 0; h < 4; ++h) {
        const SlowSampled slow = SlowSampledScores(ReadHead(x.in.tensors.q, b, h),
                                                   ReadHead(x.in.tensors.k, b, h / 2), sc.nq, sc.nk,
                                                   32, p, 1.0 / std::sqrt(32.0), sc.causal);
        const auto& f = fast[static_cast<size_t>(b * 4 + h)];
        ASSERT_EQ(f.share.size(), slow.share.size());
        for (size_t i = 0; i < f.share.size(); ++i) {
          ASSERT_NEAR(f.share[i], slow.share[i], 1e-6 + 1e-4 * slow.share[i]) << "nq " << sc.nq << " h " << h << " at " << i;
          ASSERT_NEAR(f.entry[i], slow.entry[i], 1e-7 + 1e-4 * slow.entry[i]) << "nq " << sc.nq << " h " << h << " at " << i;
        }
        for (size_t i = 0; i < f.forced.size(); ++i) {
          ASSERT_NEAR(f.forced[i], slow.forced[i], 1e-5) << "nq " << sc.nq << " h " << h << " block " << i;
        }
      }
    }
  }
}

TEST(SampledMass, SelectionFollowsTheRule) {
  for (double threshold : {0.5, 0.9, 0.97}) {
    for (double entry : {1e-3, 0.05}) {
      for (double ratio : {8.0, 1e6}) {
        for (const SCase& sc : {SCase{512, 512, 64, 16, true}, SCase{384, 448, 32, 8, true},
                                SCase{256, 320, 64, 16, false}}) {
          Inputs x = Random(2, 1, sc.nq, sc.nk, 32, sc.causal, 11);
          SampledMassParams p;
          p.block_size = sc.bs;
          p.stride = sc.stride;
          p.threshold = threshold;
          p.entry_threshold = entry;
          p.entry_ratio = ratio;
          p.max_fraction = threshold < 0.9 ? 1.0 : 0.25;
          const BlockMask mask = PredictSampledMass(x.c.spec, x.in.tensors.q, x.in.tensors.k, p);
          std::vector<std::set<int32_t>> want;
          for (int64_t b = 0; b < 2; ++b) {
            for (int64_t h = 0; h < 2; ++h) {
              const SlowSampled slow = SlowSampledScores(ReadHead(x.in.tensors.q, b, h),
                                                         ReadHead(x.in.tensors.k, b, 0), sc.nq, sc.nk,
                                                         32, p, 1 / std::sqrt(32.0), sc.causal);
              for (auto& r : SlowSampledSelect(slow, p, sc.causal, sc.nq, sc.nk)) want.push_back(r);
            }
          }
          SCOPED_TRACE("threshold " + std::to_string(threshold) + " entry " + std::to_string(entry) +
                       " ratio " + std::to_string(ratio) + " nq " + std::to_string(sc.nq));
          ExpectSameRows(mask, want);
        }
      }
    }
  }
}

TEST(SampledMass, KeepsPlantedNeedlesAndLines) {
  for (harness::StructuredSuite suite : {harness::StructuredSuite::kHard, harness::StructuredSuite::kCalibrated}) {
    harness::StructuredSpec ss;
    ss.heads_q = 4;
    ss.heads_kv = 2;
    ss.seqlen = 4096;
    ss.kinds = {harness::HeadKind::kRetrieval, harness::HeadKind::kVertical};
    ss.suite = suite;
    const harness::StructuredInputs in = harness::MakeStructuredInputs(ss);
    AttentionSpec spec;
    spec.num_q_heads = 4;
    spec.num_kv_heads = 2;
    spec.head_dim_qk = spec.head_dim_v = 64;
    spec.mask.causal = true;
    const BlockMask mask = PredictSampledMass(spec, in.tensors.q, in.tensors.k);
    const auto rows = Rows(mask);
    const int64_t bs = 128, nqb = 4096 / bs;
    for (int64_t g = 0; g < 2; ++g) {
      const int64_t retrieval = g * 2, vertical = g * 2 + 1;  // query heads of KV head g
      for (const auto& [i0, j0] : in.needles[static_cast<size_t>(g)]) {
        for (int64_t i = i0; i < std::min<int64_t>(4096, i0 + 64); ++i) {
          const auto& row = rows[static_cast<size_t>(retrieval * nqb + i / bs)];
          EXPECT_TRUE(row.count(static_cast<int32_t>(j0 / bs)) && row.count(static_cast<int32_t>((j0 + 15) / bs)))
              << harness::Name(suite) << " needle (" << i0 << ", " << j0 << ") row " << i;
        }
      }
      for (int64_t key : in.vertical_keys[static_cast<size_t>(g)]) {
        for (int64_t iq = key / bs + 1; iq < nqb; ++iq) {
          EXPECT_TRUE(rows[static_cast<size_t>(vertical * nqb + iq)].count(static_cast<int32_t>(key / bs)))
              << harness::Name(suite) << " line " << key << " query block " << iq;
        }
      }
    }
  }
}

// The calibrated suite's promise: in the last query row of every structured
// head the keys far from all planted structure (not sink, line or needle keys,
// not within 256 of the diagonal) carry at most ~3 % of the exact mass; the
// hard suite leaves more than twice that in local heads.
TEST(StructuredInputs, CalibratedBackgroundShareOfTheLastRow) {
  for (harness::StructuredSuite suite : {harness::StructuredSuite::kHard, harness::StructuredSuite::kCalibrated}) {
    harness::StructuredSpec ss;
    ss.heads_q = 6;
    ss.heads_kv = 1;
    ss.seqlen = 4096;
    ss.kinds = {harness::HeadKind::kSink, harness::HeadKind::kVertical, harness::HeadKind::kLocal,
                harness::HeadKind::kRetrieval, harness::HeadKind::kMixed, harness::HeadKind::kNoise};
    ss.suite = suite;
    const harness::StructuredInputs in = harness::MakeStructuredInputs(ss);
    const Mat k = ReadHead(in.tensors.k, 0, 0);
    std::set<int64_t> structured(in.vertical_keys[0].begin(), in.vertical_keys[0].end());
    for (int64_t j = 0; j < 4; ++j) structured.insert(j);
    for (const auto& [i0, j0] : in.needles[0]) {
      for (int64_t j = j0; j < j0 + 16; ++j) structured.insert(j);
    }
    for (int64_t h = 0; h < 5; ++h) {
      const Mat q = ReadHead(in.tensors.q, 0, h);
      const int64_t i = 4095;
      std::vector<double> logit(4096);
      double m = -1e300;
      for (int64_t j = 0; j < 4096; ++j) m = std::max(m, logit[j] = Dot(q, i, k, j, 64) / 8.0);
      double total = 0, background = 0;
      for (int64_t j = 0; j < 4096; ++j) {
        const double e = std::exp(logit[j] - m);
        total += e;
        if (!structured.count(j) && i - j >= 256) background += e;
      }
      const double share = background / total;
      const char* kind = harness::Name(ss.kinds[static_cast<size_t>(h)]);
      if (suite == harness::StructuredSuite::kCalibrated) {
        EXPECT_LE(share, 0.035) << kind;
      } else if (ss.kinds[static_cast<size_t>(h)] == harness::HeadKind::kLocal) {
        EXPECT_GE(share, 0.06) << kind;  // 8 % here (N 4096, D 64), ~16 % at 64k
      }
    }
  }
}

// ---------------------------------------------------------------- errors

template <class Fn>
void ExpectError(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

class PredictorErrors : public ::testing::Test {
 protected:
  Inputs x = Random(2, 1, 256, 256, 32, true);
  const TensorView& q() { return x.in.tensors.q; }
  const TensorView& k() { return x.in.tensors.k; }
};

TEST_F(PredictorErrors, ThresholdOutsideZeroOne) {
  XAttentionParams p;
  p.threshold = 0.0;
  ExpectError([&] { PredictXAttention(x.c.spec, q(), k(), p); }, "threshold must be in (0, 1], got 0");
  p.threshold = 1.5;
  ExpectError([&] { PredictXAttention(x.c.spec, q(), k(), p); }, "threshold must be in (0, 1], got 1.5");
  p.threshold = 0.9;
  p.head_thresholds = {0.5, -1};
  ExpectError([&] { PredictXAttention(x.c.spec, q(), k(), p); }, "head_thresholds[1] must be in (0, 1]");
}

TEST_F(PredictorErrors, GammaOutsideZeroOne) {
  FlexPrefillParams p;
  p.gamma = 0;
  ExpectError([&] { PredictFlexPrefill(x.c.spec, q(), k(), p); }, "gamma must be in (0, 1], got 0");
  p.gamma = 0.9;
  p.tau = 2;
  ExpectError([&] { PredictFlexPrefill(x.c.spec, q(), k(), p); }, "tau must be in [0, 1], got 2");
}

TEST_F(PredictorErrors, SampledMassParameters) {
  SampledMassParams p;
  p.stride = 48;
  ExpectError([&] { PredictSampledMass(x.c.spec, q(), k(), p); }, "stride must divide block_size (128), got 48");
  p = {};
  p.entry_threshold = 0;
  ExpectError([&] { PredictSampledMass(x.c.spec, q(), k(), p); }, "entry_threshold must be in (0, 1], got 0");
  p = {};
  p.max_fraction = 2;
  ExpectError([&] { PredictSampledMass(x.c.spec, q(), k(), p); }, "max_fraction must be in (0, 1], got 2");
  p = {};
  p.local_blocks = -1;
  ExpectError([&] { PredictSampledMass(x.c.spec, q(), k(), p); }, "local_blocks must be >= 0, got -1");
  p = {};
  p.entry_ratio = 0;
  ExpectError([&] { PredictSampledMass(x.c.spec, q(), k(), p); }, "entry_ratio must be > 0, got 0");
  ExpectError([] { harness::ParseStructuredSuite("easy"); }, "unknown structured suite 'easy'");
}

TEST_F(PredictorErrors, StrideNotDividingTheBlock) {
  XAttentionParams p;
  p.block_size = 64;
  p.stride = 12;
  ExpectError([&] { PredictXAttention(x.c.spec, q(), k(), p); }, "stride must divide block_size (64), got 12");
}

TEST_F(PredictorErrors, BlockSizeNot32Or64Or128) {
  TopKParams p;
  p.block_size = 100;
  ExpectError([&] { PredictTopK(x.c.spec, q(), k(), p); }, "block_size must be 32, 64 or 128, got 100");
  PowerAttentionParams pp;
  pp.block_size = 16;
  ExpectError([&] { PredictPowerAttention(x.c.spec, 1, 256, 256, pp); }, "block_size must be 32, 64 or 128, got 16");
}

TEST_F(PredictorErrors, CausalOnlyPredictors) {
  AttentionSpec s = x.c.spec;
  s.mask.causal = false;
  ExpectError([&] { PredictMInference(s, q(), k()); }, "PredictMInference needs a causal mask");
  ExpectError([&] { PredictFlexPrefill(s, q(), k()); }, "PredictFlexPrefill needs a causal mask");
  ExpectError([&] { PredictPowerAttention(s, 1, 256, 256); }, "PredictPowerAttention needs a causal mask");
}

TEST_F(PredictorErrors, BudgetsAndShapes) {
  MInferenceParams m;
  m.heads.resize(3);
  ExpectError([&] { PredictMInference(x.c.spec, q(), k(), m); }, "heads must be empty or have num_q_heads (2) entries, got 3");
  SlidingWindowParams w;
  w.window_blocks = 0;
  ExpectError([&] { PredictSlidingWindow(x.c.spec, 1, 256, 256, w); }, "window_blocks must be >= 1, got 0");
  AttentionSpec s = x.c.spec;
  s.num_kv_heads = 2;
  ExpectError([&] { PredictTopK(s, q(), k()); }, "PredictTopK: tensor 'k' has shape");
}

}  // namespace
}  // namespace attnkit
