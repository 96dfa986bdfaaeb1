// SPDX-License-Identifier: Apache-2.0
// SIMD body of neighbourhood attention (per-target Highway code, included by
// neighborhood.cc once per target): one template over the spatial rank.
//
// One call processes one query line (see neighborhood.h for the layout) in
// vectors of N consecutive sub-grid positions x0 .. x0 + N - 1 (N = f32 lanes,
// 16 on AVX-512). Lane i's window along the lane axis starts at start_i; for
// interior queries start_i = start_0 + i, so offset c of the window is the
// unaligned vector K^T[d][start_0 + c ..] ("contiguous"). Near borders and with
// stride > 1 the starts are monotone but not consecutive: a lane permutation of
// the same load when they span fewer than N keys ("permute"), else a gather.
//   S[o][c] = sum_d Q^T[d][x0..] * K^T_o[d][start + c]   o: key line (outer
//                                                        window), c < K
//   S = -inf where c >= len_i (causal windows near the start)
//   m = max, p = 2^(S - m), l = sum p                    vertical over keys:
//                                                        no horizontal reductions
//   O_i = sum_{o,c} p[o][c][i] V_o[start_i + c] / l_i     row-major, per lane
// Logits are exact f32 dot products of the packed f32 operands; every query
// sees between 1 and K^rank keys, never an empty row.

#if defined(ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
#undef ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
#else
#define ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "hwy/highway.h"
#include "src/kernels/local/neighborhood.h"
#include "src/simd/convert-inl.h"
#include "src/simd/exp-inl.h"
#include "src/simd/storage_types.h"

HWY_BEFORE_NAMESPACE();
namespace attnkit::local {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace ::attnkit::HWY_NAMESPACE;  // SIMD primitives of the same target

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Window offsets per pass of the logits loop: kChunk accumulators + the query
// vector + one key vector stay in registers (16 or 32 on x86).
inline constexpr int64_t kChunk = 8;

enum class LoadMode { kContiguous, kPermute, kGather };

template <typename T>
HWY_INLINE const T* Row(const TensorView& t, int64_t b, int64_t h, int64_t n) {
  return static_cast<const T*>(t.data) + b * t.strides[0] + h * t.strides[1] + n * t.strides[2];
}

// K^T and V of one line of (b, g), in f32 (see neighborhood.h).
template <typename T>
void PackLineT(const LineArgs& a, const TensorView& k, const TensorView& v, int64_t b, int64_t g,
               int64_t line, float* kt, float* vp) {
  const Axis& lane = a.axes[static_cast<size_t>(a.rank - 1)];
  const int64_t ls = SubLength(lane, line % lane.dilation);
  float* HWY_RESTRICT kl = kt + line * a.dqk * a.lp;
  float* HWY_RESTRICT vl = vp + line * a.max_ls * a.dv_pad;
  float row[1024];  // dqk <= 1024 (validated)
  for (int64_t x = 0; x < ls; ++x) {
    const int64_t n = TokenOf(a, line, x);
    ConvertScaleRow(Row<T>(k, b, g, n), static_cast<size_t>(a.dqk), 1.0f, row);
    for (int64_t dd = 0; dd < a.dqk; ++dd) kl[dd * a.lp + x] = row[dd];
    float* vrow = vl + x * a.dv_pad;
    ConvertScaleRow(Row<T>(v, b, g, n), static_cast<size_t>(a.dv), 1.0f, vrow);
    std::fill(vrow + a.dv, vrow + a.dv_pad, 0.0f);
  }
  for (int64_t dd = 0; dd < a.dqk; ++dd) std::fill(kl + dd * a.lp + ls, kl + (dd + 1) * a.lp, 0.0f);
}

// S[(o K + c) N + lane] for window offsets c in [c0, c0 + cn) of one key line.
template <LoadMode kMode, class D>
HWY_INLINE void LineLogits(D d, const float* HWY_RESTRICT qt, int64_t lp, int64_t dqk,
                           const float* HWY_RESTRICT kl, int64_t base, hn::Vec<hn::RebindToSigned<D>> idx,
                           int64_t c0, int64_t cn, float* HWY_RESTRICT s) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kChunk];
  for (int64_t j = 0; j < kChunk; ++j) acc[j] = hn::Zero(d);
  for (int64_t dd = 0; dd < dqk; ++dd) {
    const V qv = hn::LoadU(d, qt + dd * lp);
    const float* HWY_RESTRICT krow = kl + dd * lp;
    for (int64_t j = 0; j < kChunk; ++j) {
      if (j >= cn) break;
      V kv;
      if constexpr (kMode == LoadMode::kContiguous) {
        kv = hn::LoadU(d, krow + base + c0 + j);
      } else if constexpr (kMode == LoadMode::kPermute) {
        kv = hn::TableLookupLanes(hn::LoadU(d, krow + base + c0 + j), hn::IndicesFromVec(d, idx));
      } else {
        kv = hn::GatherIndex(d, krow + c0 + j, idx);
      }
      acc[j] = hn::MulAdd(qv, kv, acc[j]);
    }
  }
  for (int64_t j = 0; j < cn; ++j) hn::StoreU(acc[j], d, s + (c0 + j) * static_cast<int64_t>(N));
}

// acc[0, kNv N) = sum over the lane's keys of p * V rows, for one column chunk.
template <int kNv, class D>
HWY_INLINE void LanePV(D d, const float* HWY_RESTRICT s, size_t lane, const int64_t* key_lines,
                       int64_t n_out, int64_t k, int64_t len, const float* HWY_RESTRICT vp,
                       int64_t line_floats, int64_t row0, int64_t dv_pad, int64_t col,
                       float* HWY_RESTRICT out) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kNv];
  for (int j = 0; j < kNv; ++j) acc[j] = hn::Zero(d);
  for (int64_t o = 0; o < n_out; ++o) {
    const float* HWY_RESTRICT vrows = vp + key_lines[o] * line_floats + row0 * dv_pad + col;
    const float* HWY_RESTRICT ps = s + (o * k) * static_cast<int64_t>(N) + static_cast<int64_t>(lane);
    for (int64_t c = 0; c < len; ++c) {
      const V pv = hn::Set(d, ps[c * static_cast<int64_t>(N)]);
      const float* HWY_RESTRICT vr = vrows + c * dv_pad;
      for (int j = 0; j < kNv; ++j) acc[j] = hn::MulAdd(pv, hn::LoadU(d, vr + j * N), acc[j]);
    }
  }
  for (int j = 0; j < kNv; ++j) hn::StoreU(acc[j], d, out + col + j * N);
}

template <int kRank, typename T, typename TOut>
void ProcessLineT(const LineArgs& a, int64_t b, int64_t h, int64_t line, float* scratch) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const Axis& lane = a.axes[kRank - 1];
  const int64_t rho = line % lane.dilation, outer = line / lane.dilation;
  const int64_t ls = SubLength(lane, rho), k = lane.kernel, dqk = a.dqk, lp = a.lp;

  // Scratch (LineScratchFloats): Q^T [dqk x lp] | S [K^rank x N] | acc
  // [dv_pad] | one Q row [RoundUp(dqk, 16)] | key lines [K^(rank-1)] int64.
  int64_t max_keys = 1;
  for (int i = 0; i < kRank; ++i) max_keys *= a.axes[static_cast<size_t>(i)].kernel;
  float* HWY_RESTRICT qt = scratch;
  float* HWY_RESTRICT s = qt + dqk * lp;
  float* HWY_RESTRICT acc = s + max_keys * N;
  float* HWY_RESTRICT qrow = acc + a.dv_pad;
  // int64_t key lines need 8-byte alignment; a worker's scratch may start at an odd float
  // (LineScratchFloats leaves 16 floats of slack for this).
  float* key_base = qrow + (dqk + 15) / 16 * 16;
  key_base += (reinterpret_cast<uintptr_t>(key_base) / sizeof(float)) & 1;
  int64_t* key_lines = reinterpret_cast<int64_t*>(key_base);

  // Key lines: the product of the outer axes' windows, row-major like the lines.
  int64_t n_out = 1;
  key_lines[0] = 0;
  int64_t rem = outer, coord[kMaxSpatialRank] = {0, 0, 0};
  for (int ax = kRank - 2; ax >= 0; --ax) {
    coord[ax] = rem % a.axes[static_cast<size_t>(ax)].extent;
    rem /= a.axes[static_cast<size_t>(ax)].extent;
  }
  for (int ax = 0; ax + 1 < kRank; ++ax) {
    const Axis& axis = a.axes[static_cast<size_t>(ax)];
    const int64_t r = axis.dilation, res = coord[ax] % r;
    const Window w = AxisWindow(axis, SubLength(axis, res), coord[ax] / r);
    const int64_t count = w.end - w.start;
    for (int64_t u = n_out - 1; u >= 0; --u) {  // expand in place, back to front
      for (int64_t j = count - 1; j >= 0; --j) {
        key_lines[u * count + j] = key_lines[u] * axis.extent + (w.start + j) * r + res;
      }
    }
    n_out *= count;
  }
  for (int64_t o = 0; o < n_out; ++o) key_lines[o] = key_lines[o] * lane.dilation + rho;

  // Q^T of the line, scaled into base-2 logit units; padding columns are 0.
  for (int64_t x = 0; x < ls; ++x) {
    ConvertScaleRow(Row<T>(a.q, b, h, TokenOf(a, line, x)), static_cast<size_t>(dqk),
                    a.scale_log2, qrow);
    for (int64_t dd = 0; dd < dqk; ++dd) qt[dd * lp + x] = qrow[dd];
  }
  for (int64_t dd = 0; dd < dqk; ++dd) std::fill(qt + dd * lp + ls, qt + (dd + 1) * lp, 0.0f);

  const int64_t line_floats = a.max_ls * a.dv_pad;
  int32_t starts[64], lens[64];  // N <= 16 lanes (64 for safety)
  for (int64_t x0 = 0; x0 < ls; x0 += N) {
    const int64_t nv = std::min(N, ls - x0);
    bool full = true;  // every lane sees K keys along the lane axis
    for (int64_t i = 0; i < N; ++i) {
      const Window w = AxisWindow(lane, ls, std::min(x0 + i, ls - 1));
      starts[i] = static_cast<int32_t>(w.start);
      lens[i] = static_cast<int32_t>(w.end - w.start);
      full = full && (i >= nv || lens[i] == k);
    }
    const int32_t base = starts[0];
    bool contiguous = true, permute = true;
    for (int64_t i = 0; i < nv; ++i) {
      contiguous = contiguous && starts[i] == base + i;
      permute = permute && starts[i] - base >= 0 && starts[i] - base < N;
    }
    for (int64_t i = nv; i < N; ++i) {  // padding lanes: harmless, in-range reads
      starts[i] = contiguous ? base + static_cast<int32_t>(i) : starts[nv - 1];
    }
    int32_t offsets[64];
    for (int64_t i = 0; i < N; ++i) offsets[i] = permute ? starts[i] - base : starts[i];
    const auto idx = hn::LoadU(di, offsets);

    // Logits of every key, lanes = queries.
    for (int64_t o = 0; o < n_out; ++o) {
      const float* kl = a.kt + key_lines[o] * dqk * lp;
      float* so = s + o * k * N;
      for (int64_t c0 = 0; c0 < k; c0 += kChunk) {
        const int64_t cn = std::min(kChunk, k - c0);
        if (contiguous) {
          LineLogits<LoadMode::kContiguous>(d, qt + x0, lp, dqk, kl, base, idx, c0, cn, so);
        } else if (permute) {
          LineLogits<LoadMode::kPermute>(d, qt + x0, lp, dqk, kl, base, idx, c0, cn, so);
        } else {
          LineLogits<LoadMode::kGather>(d, qt + x0, lp, dqk, kl, base, idx, c0, cn, so);
        }
      }
    }
    const int64_t n_keys = n_out * k;
    if (!full) {  // causal windows near the start: offsets c >= len are not keys
      const auto len = hn::ConvertTo(d, hn::LoadU(di, lens));
      for (int64_t key = 0; key < n_keys; ++key) {
        const auto c = hn::Set(d, static_cast<float>(key % k));
        float* sk = s + key * N;
        hn::StoreU(hn::IfThenElse(hn::Lt(c, len), hn::LoadU(d, sk), hn::Set(d, kNegInf)), d, sk);
      }
    }
    // Softmax over keys, vectorised over the N queries.
    auto m = hn::Set(d, kNegInf);
    for (int64_t key = 0; key < n_keys; ++key) m = hn::Max(m, hn::LoadU(d, s + key * N));
    auto l = hn::Zero(d);
    for (int64_t key = 0; key < n_keys; ++key) {
      const auto p = Exp2(d, hn::Sub(hn::LoadU(d, s + key * N), m));
      hn::StoreU(p, d, s + key * N);
      l = hn::Add(l, p);
    }
    float ms[64], ls_sum[64];
    hn::StoreU(m, d, ms);
    hn::StoreU(l, d, ls_sum);

    // P V per query lane, then the output row (and LSE).
    for (int64_t i = 0; i < nv; ++i) {
      const int64_t len = lens[i];
      for (int64_t col = 0; col < a.dv_pad; col += 4 * N) {
        const int64_t nvec = std::min<int64_t>(4, (a.dv_pad - col) / N);
        const auto pv = [&](auto nv_tag) {
          LanePV<decltype(nv_tag)::value>(d, s, static_cast<size_t>(i), key_lines, n_out, k, len,
                                          a.vp, line_floats, starts[i], a.dv_pad, col, acc);
        };
        if (nvec == 4) pv(std::integral_constant<int, 4>());
        if (nvec == 3) pv(std::integral_constant<int, 3>());
        if (nvec == 2) pv(std::integral_constant<int, 2>());
        if (nvec == 1) pv(std::integral_constant<int, 1>());
      }
      const int64_t n = TokenOf(a, line, x0 + i);
      TOut* out = static_cast<TOut*>(a.out.data) + b * a.out.strides[0] + h * a.out.strides[1] +
                  n * a.out.strides[2];
      const float inv = 1.0f / ls_sum[i];
      for (int64_t c = 0; c < a.dv; ++c) StoreFromF32(out, a.out.dtype, c, acc[c] * inv);
      if (a.lse.data != nullptr) {
        float* lse = static_cast<float*>(a.lse.data) + b * a.lse.strides[0] +
                     h * a.lse.strides[1] + n * a.lse.strides[2];
        *lse = (ms[i] + std::log2(ls_sum[i])) * kLn2;
      }
    }
  }
}

template <int kRank>
void ProcessLine(const LineArgs& a, int64_t b, int64_t h, int64_t line, float* scratch) {
  VisitStorageType(a.q.dtype, [&](auto in_tag) {
    VisitStorageType(a.out.dtype, [&](auto out_tag) {
      ProcessLineT<kRank, decltype(in_tag), decltype(out_tag)>(a, b, h, line, scratch);
    });
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::local
HWY_AFTER_NAMESPACE();

#endif  // ATTNKIT_KERNELS_LOCAL_NEIGHBORHOOD_INL_H_
