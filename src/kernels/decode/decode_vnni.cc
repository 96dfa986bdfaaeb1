// SPDX-License-Identifier: Apache-2.0
// The registered ISA-specific parts of decode: Q.K on int8 / int4 key codes
// and P.V on int8 / int4 value codes with AVX512-VNNI (vpdpbusd: u8 x s8 ->
// s32, 64 products per instruction), beside the portable Highway path
// (Highway 1.0.3 has no int8 dot product). Not the rest of the kernel: the
// softmax stays portable. P.V: see "P V on the codes" below.
//
// A key sub-tile is 16 tokens x (dk_pad / w) words of w channels (kv_layout.h),
// so one 64-byte load holds one word-row of 16 tokens: broadcasting a query
// word (4 codes) and one vpdpbusd adds 4 channels to 16 token dots, no
// horizontal sums. int4 words hold 8 nibbles: (word & 0x0F0F0F0F) is channels
// c0, c0+2, c0+4, c0+6 as bytes and ((word >> 4) & 0x0F0F0F0F) the odd ones,
// matched by two query words.
//
// Queries are 15-bit codes X = 128 a + b (query_quant.h) held as two s8 digit
// words; each key word meets both: dot = 128 (u . a) + (u . b), two vpdpbusd.
// Blocks of 2 rows x 4 sub-tiles x 2 digits keep 16 accumulators (of 32 zmm
// registers) so the 5-cycle vpdpbusd latency is hidden. Queries are quantised
// per row (QuantizeQueryRow): with per-token keys once per piece,
// logit = s_t (sq dot) + z_t (sq sum X); with per-channel keys per key group
// after folding the channel scales in, logit = sq dot + sum q z.
#include <algorithm>
#include <cstring>

#include "src/kernels/decode/decode_plan.h"
#include "src/kernels/decode/query_quant.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ATTNKIT_HAVE_VNNI_KERNEL 1
#define ATTNKIT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#endif

namespace attnkit::decode {

#if ATTNKIT_HAVE_VNNI_KERNEL
namespace {

// (Unmasked forms of several intrinsics read an undefined source in GCC 12
// and warn; the maskz forms with an all-ones mask are the same instructions.)

// acc += products of the u8 lanes of u and the s8 digit word at w (broadcast).
// Inline asm: with _mm512_dpbusd_epi32 GCC 12 copies the accumulators between
// registers every iteration and spills them, and does not fold the broadcast.
ATTNKIT_VNNI inline void DpbusdBcast(__m512i& acc, __m512i u, const void* w) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*static_cast<const int32_t*>(w)));
}

// Horizontal max / sums as trees of shuffles (halves, quarters, pairs,
// neighbours): four dependent steps instead of a chain of 16 scalar ones.
template <bool kMax>
ATTNKIT_VNNI inline __m512 Fold(__m512 a, __m512 b) {
  if constexpr (kMax) {
    return _mm512_maskz_max_ps(0xFFFF, a, b);
  } else {
    return _mm512_maskz_add_ps(0xFFFF, a, b);
  }
}
template <bool kMax>
ATTNKIT_VNNI float FoldLanes(__m512 v) {
  v = Fold<kMax>(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));
  v = Fold<kMax>(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));
  v = Fold<kMax>(v, _mm512_maskz_permute_ps(0xFFFF, v, 0x4E));
  v = Fold<kMax>(v, _mm512_maskz_permute_ps(0xFFFF, v, 0xB1));
  return _mm512_cvtss_f32(v);
}
ATTNKIT_VNNI float MaxOfLanes(__m512 v) { return FoldLanes<true>(v); }
ATTNKIT_VNNI float SumOfLanes(__m512 v) { return FoldLanes<false>(v); }
ATTNKIT_VNNI int32_t SumOfLanes(__m512i v) {
  v = _mm512_add_epi32(v, _mm512_maskz_shuffle_i32x4(0xFFFF, v, v, 0x4E));
  v = _mm512_add_epi32(v, _mm512_maskz_shuffle_i32x4(0xFFFF, v, v, 0xB1));
  v = _mm512_add_epi32(v, _mm512_maskz_shuffle_epi32(0xFFFF, v, static_cast<_MM_PERM_ENUM>(0x4E)));
  v = _mm512_add_epi32(v, _mm512_maskz_shuffle_epi32(0xFFFF, v, static_cast<_MM_PERM_ENUM>(0xB1)));
  return _mm512_cvtsi512_si32(v);
}

// Per row of the codes scratch: digit words a, digit words b, then scale,
// code sum and zero-point term.
struct RowCodes {
  const int32_t* hi;  // digits a, in the key word order
  const int32_t* lo;  // digits b
  float scale;
  float sum;    // sum of the codes X (per-token keys)
  float zterm;  // sum_c q[c] z[c] (per-channel keys), base 2
};

int64_t RowStride(int64_t dqk_pad) { return CodesFloats(1, dqk_pad); }

// Quantises row r's query to 15-bit codes and writes their two digits in the
// key word order (int8 keys: 4 consecutive channels per word; int4 words: 8
// channels, the even ones then the odd ones), then scale, code sum, zero term.
// Two passes of 16 channels: max |q s| and sum q z, then the codes.
ATTNKIT_VNNI void PrepareRow(const StoreLayout& l, const float* q, const float* ks, float* out) {
  const int64_t n = l.dk_pad;
  const float* s = l.k_per_channel ? ks : nullptr;
  int8_t* hi = reinterpret_cast<int8_t*>(out);  // digit words a
  int8_t* lo = hi + n;                          // digit words b
  // The same operations as QuantizeQueryRow, 16 lanes at a time.
  __m512 amax = _mm512_setzero_ps(), zacc = _mm512_setzero_ps();
  for (int64_t c = 0; c < n; c += 16) {
    const __mmask16 m = n - c >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - c)) - 1);
    const __m512 qv = _mm512_maskz_loadu_ps(m, q + c);
    const __m512 x = s != nullptr ? _mm512_mul_ps(qv, _mm512_maskz_loadu_ps(m, s + c)) : qv;
    amax = _mm512_maskz_max_ps(0xFFFF, amax, _mm512_abs_ps(x));
    if (s != nullptr) zacc = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, ks + n + c), zacc);
  }
  // (Reduced by MaxOfLanes: GCC 12's _mm512_reduce_* read an undefined source and warn.)
  const float a = MaxOfLanes(amax);
  // int4: bytes of 16 channels in word order, evens then odds of each 8.
  const __m128i order = l.fmt == KVDType::kInt4
                            ? _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15)
                            : _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i sum = _mm512_setzero_si512();
  if (a == 0.0f) {
    std::memset(hi, 0, static_cast<size_t>(2 * n));
  } else {
    const __m512 inv = _mm512_set1_ps(kQueryCodeMax / a);
    for (int64_t c = 0; c < n; c += 16) {
      const __mmask16 m = n - c >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - c)) - 1);
      __m512 x = _mm512_maskz_loadu_ps(m, q + c);
      if (s != nullptr) x = _mm512_mul_ps(x, _mm512_maskz_loadu_ps(m, s + c));
      const __m512i big = _mm512_maskz_cvtps_epi32(0xFFFF, _mm512_mul_ps(x, inv));  // X, nearest even
      // a = round(X / 128) (exact in f32), b = X - 128 a.
      const __m512i da = _mm512_maskz_cvtps_epi32(
          0xFFFF, _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, big), _mm512_set1_ps(1.0f / 128.0f)));
      const __m512i db = _mm512_sub_epi32(big, _mm512_maskz_slli_epi32(0xFFFF, da, 7));
      sum = _mm512_add_epi32(sum, big);
      _mm_mask_storeu_epi8(hi + c, m, _mm_shuffle_epi8(_mm512_maskz_cvtepi32_epi8(0xFFFF, da), order));
      _mm_mask_storeu_epi8(lo + c, m, _mm_shuffle_epi8(_mm512_maskz_cvtepi32_epi8(0xFFFF, db), order));
    }
  }
  float* tail = out + n / 2;
  tail[0] = a / kQueryCodeMax;
  tail[1] = static_cast<float>(SumOfLanes(sum));
  tail[2] = l.k_per_channel ? SumOfLanes(zacc) : 0.0f;
}

// Dots of kR rows x kS sub-tiles over every word-row, per digit:
// hi[r][s], lo[r][s] (int32 x 16 tokens).
// pf (or nullptr): the prefetch queue, stepped once per word-row.
template <int kR, int kS, bool kInt4>
ATTNKIT_VNNI inline __attribute__((always_inline)) void Dots(const ScoreTile& t, int64_t words, const RowCodes* rc, int s0, PrefetchQueue* pf,
                       __m512i (&hi)[2][4], __m512i (&lo)[2][4]) {
  for (int r = 0; r < kR; ++r) {
    for (int s = 0; s < kS; ++s) hi[r][s] = lo[r][s] = _mm512_setzero_si512();
  }
  const __m512i low = _mm512_set1_epi32(0x0F0F0F0F);
  PrefetchQueue::Cursor pfc = PrefetchQueue::Of(pf);
  for (int64_t w = 0; w < words; ++w) {
    pfc.Step();
    __m512i k[kS], k_odd[kS];
    for (int s = 0; s < kS; ++s) {
      const __m512i kv = _mm512_loadu_si512(t.subs[s0 + s].k + w * 64);
      if constexpr (kInt4) {
        k[s] = _mm512_and_si512(kv, low);
        k_odd[s] = _mm512_and_si512(_mm512_maskz_srli_epi32(0xFFFF, kv, 4), low);
      } else {
        k[s] = kv;
      }
    }
    for (int r = 0; r < kR; ++r) {
      if constexpr (kInt4) {
        for (int s = 0; s < kS; ++s) {
          DpbusdBcast(hi[r][s], k[s], rc[r].hi + 2 * w);
          DpbusdBcast(hi[r][s], k_odd[s], rc[r].hi + 2 * w + 1);
          DpbusdBcast(lo[r][s], k[s], rc[r].lo + 2 * w);
          DpbusdBcast(lo[r][s], k_odd[s], rc[r].lo + 2 * w + 1);
        }
      } else {
        for (int s = 0; s < kS; ++s) {
          DpbusdBcast(hi[r][s], k[s], rc[r].hi + w);
          DpbusdBcast(lo[r][s], k[s], rc[r].lo + w);
        }
      }
    }
  }
  pfc.Save();
}

// Scores of kR rows (from r0) and kS sub-tiles (from s0) into t.s.
template <int kR, int kS, bool kInt4>
ATTNKIT_VNNI void ScoreBlock(const ScoreTile& t, const RowCodes* rc, int r0, int s0) {
  const StoreLayout& l = *t.layout;
  const int64_t words = kInt4 ? l.dk_pad / 8 : l.dk_pad / 4;
  __m512i hi[2][4], lo[2][4];
  // The first block of rows and sub-tiles steps the prefetch queue.
  PrefetchQueue* pf = r0 == 0 && s0 == 0 ? t.pf : nullptr;
  Dots<kR, kS, kInt4>(t, words, rc + r0, s0, pf, hi, lo);
  for (int s = 0; s < kS; ++s) {
    const float* ks = t.subs[s0 + s].k_scale;
    for (int r = 0; r < kR; ++r) {
      const RowCodes& q = rc[r0 + r];
      const __m512 dot = _mm512_fmadd_ps(_mm512_set1_ps(128.0f), _mm512_maskz_cvtepi32_ps(0xFFFF, hi[r][s]),
                                         _mm512_maskz_cvtepi32_ps(0xFFFF, lo[r][s]));
      __m512 logit;
      if (l.k_per_channel) {
        logit = _mm512_fmadd_ps(dot, _mm512_set1_ps(q.scale), _mm512_set1_ps(q.zterm));
      } else {  // s_t (sq dot) + z_t (sq sum)
        logit = _mm512_fmadd_ps(_mm512_loadu_ps(ks), _mm512_mul_ps(dot, _mm512_set1_ps(q.scale)),
                                _mm512_mul_ps(_mm512_loadu_ps(ks + kSub), _mm512_set1_ps(q.scale * q.sum)));
      }
      _mm512_storeu_ps(t.s + static_cast<size_t>(r0 + r) * t.ld + (s0 + s) * kSub, logit);
    }
  }
}

template <int kR, bool kInt4>
ATTNKIT_VNNI void ScoreRows(const ScoreTile& t, const RowCodes* rc, int r0, int s0, int ns) {
  switch (ns) {
    case 4: return ScoreBlock<kR, 4, kInt4>(t, rc, r0, s0);
    case 3: return ScoreBlock<kR, 3, kInt4>(t, rc, r0, s0);
    case 2: return ScoreBlock<kR, 2, kInt4>(t, rc, r0, s0);
    default: return ScoreBlock<kR, 1, kInt4>(t, rc, r0, s0);
  }
}

template <bool kInt4>
ATTNKIT_VNNI void ScoreSubs(const ScoreTile& t, const RowCodes* rc, int s0, int ns) {
  int r = 0;
  for (; r + 2 <= t.nrows; r += 2) ScoreRows<2, kInt4>(t, rc, r, s0, ns);
  if (r < t.nrows) ScoreRows<1, kInt4>(t, rc, r, s0, ns);
}

ATTNKIT_VNNI void VnniScores(const DecodeArgs& a, const ScoreTile& t) {
  const StoreLayout& l = *t.layout;
  const int64_t stride = RowStride(a.dqk_pad);
  RowCodes rc[kMaxRows];
  const bool int4 = l.fmt == KVDType::kInt4;
  // Runs of sub-tiles that share key scales (per-token keys: the whole tile).
  int s0 = 0;
  while (s0 < t.num_subs) {
    const float* group = l.k_per_channel ? t.subs[s0].k_scale : reinterpret_cast<const float*>(&l);
    int ns = 1;
    while (s0 + ns < t.num_subs && (!l.k_per_channel || t.subs[s0 + ns].k_scale == group)) ++ns;
    if (*t.codes_for != group) {
      for (int r = 0; r < t.nrows; ++r) {
        PrepareRow(l, t.qs + static_cast<size_t>(r) * a.dqk_pad, group, t.codes + r * stride);
      }
      *t.codes_for = group;
    }
    for (int r = 0; r < t.nrows; ++r) {
      const float* row = t.codes + r * stride;
      const int32_t* words = reinterpret_cast<const int32_t*>(row);
      rc[r] = RowCodes{words, words + l.dk_pad / 4, row[l.dk_pad / 2], row[l.dk_pad / 2 + 1],
                       row[l.dk_pad / 2 + 2]};
    }
    if (int4) {
      ScoreSubs<true>(t, rc, s0, ns);
    } else {
      ScoreSubs<false>(t, rc, s0, ns);
    }
    s0 += ns;
  }
}

// ---------------------------------------------------------------- P V on the codes
//
// Values are stored in token quads (kv_layout.h): word j of a quad's 64-byte
// line holds 4 consecutive tokens of one channel, so one vpdpbusd adds 4
// tokens' products to 16 channel accumulators. Per row r and value group g
// the weights w_t = p_t s_tg (s_tg: token t's value scale) are quantised per
// tile to 14-bit codes X_t = round(kMaxX w_t / max_t w_t) (step = max / kMaxX,
// error <= step / 2 per weight, i.e. <= 3.1e-5 of the tile's largest weight,
// far below the value codes' own rounding of 1 / 510 of their group's range),
// held as two s8 digits X = 2^7 a + b (each 0..127), the signed operand of
// vpdpbusd, broadcast from memory; the u8 value codes (int4: one nibble of each
// byte) are the unsigned one. Per channel
//   sum_t X_t u_t = 2^7 (a . u) + (b . u),
// each digit dot exact in int32 (64 tokens x 255 x 127 < 2^21, the sum < 2^28),
// converted to f32 once, and
//   acc += step * that + sum_t p_t z_tg.
// The oracle of the tests (ReferenceDecodeOnCodes) rounds neither the weights
// nor their digits, so CheckDecode allows kWeightCodeTolerance for this path.
// Blocks of 4 rows x 32 channels x 2 digits keep 16 accumulators.

inline constexpr float kMaxX = 16383.0f;  // 2^14 - 1: the largest weight code

// Digits and sums of one row and value group of a tile.
struct RowWeights {
  uint32_t a[kTile / 4], b[kTile / 4];  // quad q: byte i = digit of token 4 q + i
  float step;                           // max_t w_t / kMaxX
  float zsum;                           // sum_t p_t z_tg
};

// Weights of row p (probabilities [kTile]) for value group g of the tile.
// Invalid tokens (whose scales may hold any bits) get X = 0.
ATTNKIT_VNNI void PrepareWeights(const ValueTile& t, const float* p, int64_t g, RowWeights& w) {
  __m512 wv[kTile / kSub];
  __m512 mx = _mm512_setzero_ps(), zacc = _mm512_setzero_ps();
  for (int j = 0; j < kTile / kSub; ++j) {
    const int lo = std::max(t.t0 - j * 16, 0), hi = std::min(t.t1 - j * 16, 16);
    if (j >= t.num_subs || hi <= lo) {
      wv[j] = _mm512_setzero_ps();
      continue;
    }
    const __mmask16 m = static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
    const float* vs = t.subs[j].v_scale + g * 2 * kSub;  // s[16], z[16]
    const __m512 pv = _mm512_maskz_loadu_ps(m, p + j * 16);
    wv[j] = _mm512_mul_ps(pv, _mm512_maskz_loadu_ps(m, vs));
    zacc = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m, vs + kSub), zacc);
    mx = _mm512_maskz_max_ps(0xFFFF, mx, wv[j]);
  }
  const float top = MaxOfLanes(mx);
  const __m512 inv = _mm512_set1_ps(top > 0.0f ? kMaxX / top : 0.0f);
  const __m512i digit = _mm512_set1_epi32(0x7F);
  for (int j = 0; j < kTile / kSub; ++j) {
    __m512i x = _mm512_maskz_cvtps_epi32(0xFFFF, _mm512_mul_ps(wv[j], inv));  // nearest even
    x = _mm512_maskz_min_epi32(0xFFFF, x, _mm512_set1_epi32(static_cast<int>(kMaxX)));
    const __m512i a = _mm512_maskz_srli_epi32(0xFFFF, x, 7);
    const __m512i b = _mm512_and_si512(x, digit);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(w.a + 4 * j), _mm512_maskz_cvtepi32_epi8(0xFFFF, a));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(w.b + 4 * j), _mm512_maskz_cvtepi32_epi8(0xFFFF, b));
  }
  w.step = top / kMaxX;
  w.zsum = SumOfLanes(zacc);
}

// acc[r][c0 + 16 j] (r < R, j < J) += P V over token quads [q0, q1); one
// value group (w[r]). pfc (or nullptr): stepped twice per quad.
template <int R, int J, bool kInt4>
ATTNKIT_VNNI void ValuePass(const ValueTile& t, const RowWeights* w, int64_t c0, int q0, int q1,
                            PrefetchQueue::Cursor* pfc, float* acc) {
  const StoreLayout& l = *t.layout;
  const int64_t quad_bytes = kInt4 ? 2 * l.dv_pad : 4 * l.dv_pad;
  // Byte offset of the pass's vectors in a quad: int8 4 c; int4 its 32-channel line.
  const int64_t off = kInt4 ? (c0 / 32) * 64 : 4 * c0;
  const bool high = kInt4 && c0 % 32 != 0;  // int4, J = 1: the high nibbles of the line
  __m512i ha[R][J], hb[R][J];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < J; ++j) ha[r][j] = hb[r][j] = _mm512_setzero_si512();
  }
  const __m512i nib = _mm512_set1_epi8(0x0F);
  PrefetchQueue::Cursor pf = pfc != nullptr ? *pfc : PrefetchQueue::Cursor{nullptr, nullptr, nullptr, 0};
  for (int q = q0; q < q1; ++q) {
    pf.Step();
    pf.Step();
    const uint8_t* quad = t.subs[q / 4].v + (q % 4) * quad_bytes + off;
    __m512i v[J];
    if constexpr (kInt4) {
      const __m512i line = _mm512_loadu_si512(quad);
      if (J == 2 || !high) v[0] = _mm512_and_si512(line, nib);
      if (J == 2) v[1] = _mm512_and_si512(_mm512_maskz_srli_epi16(0xFFFFFFFF, line, 4), nib);
      if (J == 1 && high) v[0] = _mm512_and_si512(_mm512_maskz_srli_epi16(0xFFFFFFFF, line, 4), nib);
    } else {
      for (int j = 0; j < J; ++j) v[j] = _mm512_loadu_si512(quad + 64 * j);
    }
    for (int r = 0; r < R; ++r) {
      for (int j = 0; j < J; ++j) {
        DpbusdBcast(ha[r][j], v[j], w[r].a + q);
        DpbusdBcast(hb[r][j], v[j], w[r].b + q);
      }
    }
  }
  if (pfc != nullptr) *pfc = pf;
  for (int r = 0; r < R; ++r) {
    const __m512 step = _mm512_set1_ps(w[r].step), zsum = _mm512_set1_ps(w[r].zsum);
    for (int j = 0; j < J; ++j) {
      const __m512i ab = _mm512_add_epi32(_mm512_maskz_slli_epi32(0xFFFF, ha[r][j], 7), hb[r][j]);
      const __m512 dot = _mm512_maskz_cvtepi32_ps(0xFFFF, ab);  // < 2^28: one f32 rounding
      float* a = acc + static_cast<size_t>(r) * t.lda + c0 + 16 * j;
      const __m512 y = _mm512_fmadd_ps(step, dot, _mm512_loadu_ps(a));
      _mm512_storeu_ps(a, _mm512_add_ps(y, zsum));
    }
  }
}

template <int R, bool kInt4>
ATTNKIT_VNNI void ValueRows(const ValueTile& t, int r0, PrefetchQueue::Cursor* pfc) {
  const StoreLayout& l = *t.layout;
  const int q0 = t.t0 / 4, q1 = (t.t1 + 3) / 4;
  float* acc = t.acc + static_cast<size_t>(r0) * t.lda;
  for (int64_t g = 0; g < l.v_groups && g * l.v_group < t.dv_acc; ++g) {
    RowWeights w[R];
    for (int r = 0; r < R; ++r) PrepareWeights(t, t.p + static_cast<size_t>(r0 + r) * kTile, g, w[r]);
    const int64_t c_end = std::min((g + 1) * l.v_group, t.dv_acc);
    for (int64_t c = g * l.v_group; c < c_end;) {
      if (c_end - c >= 32) {
        ValuePass<R, 2, kInt4>(t, w, c, q0, q1, pfc, acc);
        c += 32;
      } else {
        ValuePass<R, 1, kInt4>(t, w, c, q0, q1, pfc, acc);
        c += 16;
      }
    }
  }
}

template <bool kInt4>
ATTNKIT_VNNI void ValueBlocks(const ValueTile& t) {
  PrefetchQueue::Cursor pfc = PrefetchQueue::Of(t.pf);
  for (int r0 = 0; r0 < t.nrows; r0 += 4) {
    PrefetchQueue::Cursor* c = r0 == 0 ? &pfc : nullptr;  // the first row block steps the queue
    switch (std::min(4, t.nrows - r0)) {
      case 4: ValueRows<4, kInt4>(t, r0, c); break;
      case 3: ValueRows<3, kInt4>(t, r0, c); break;
      case 2: ValueRows<2, kInt4>(t, r0, c); break;
      default: ValueRows<1, kInt4>(t, r0, c); break;
    }
  }
  pfc.Save();
  if (t.pf != nullptr) t.pf->Drain();  // what the loops did not hand out
}

ATTNKIT_VNNI void VnniValues(const ValueTile& t) {
  if (t.layout->fmt == KVDType::kInt4) {
    ValueBlocks<true>(t);
  } else {
    ValueBlocks<false>(t);
  }
}

bool VnniCpu(const CpuInfo& cpu) {
  if (!cpu.has_avx512_vnni) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

}  // namespace

ValueFn GetVnniValueFn(const CpuInfo& cpu) { return VnniCpu(cpu) ? VnniValues : nullptr; }

ScoreFn GetVnniScoreFn(const CpuInfo& cpu) { return VnniCpu(cpu) ? VnniScores : nullptr; }

#else  // not x86-64 GCC/Clang

ScoreFn GetVnniScoreFn(const CpuInfo&) { return nullptr; }
ValueFn GetVnniValueFn(const CpuInfo&) { return nullptr; }

#endif

}  // namespace attnkit::decode
