// SPDX-License-Identifier: Apache-2.0
// Page layout sizes, quantisers, Hadamard rotation and the scalar store/load
// of tokens (see kv_quant.h and kv_layout.h). Runs on append, not in decode.
#include "src/kernels/decode/kv_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "attnkit/dtype.h"

namespace attnkit::decode {
namespace {

int Bits(KVDType t) {
  switch (t) {
    case KVDType::kF32: return 32;
    case KVDType::kBF16:
    case KVDType::kF16: return 16;
    case KVDType::kInt8: return 8;
    case KVDType::kInt4: return 4;
  }
  return 32;
}

int64_t AlignUp(int64_t x) { return RoundUp(x, kAlign); }

float* KScaleBase(const StoreLayout& l, uint8_t* page, int64_t head) {
  return reinterpret_cast<float*>(page + head * l.head_bytes + l.ks_off);
}

// Writes code u of channel c, token column t (0..15) of a quantised K sub-tile.
void PutKCode(const StoreLayout& l, uint8_t* sub, int64_t c, int64_t t, int u) {
  if (l.fmt == KVDType::kInt8) {
    sub[(c / 4) * 64 + t * 4 + c % 4] = static_cast<uint8_t>(u);
    return;
  }
  const int64_t j = c % 8;
  uint8_t& b = sub[((c / 8) * 16 + t) * 4 + j / 2];
  b = (j % 2 == 0) ? static_cast<uint8_t>((b & 0xF0) | u) : static_cast<uint8_t>((b & 0x0F) | (u << 4));
}
int GetKCode(const StoreLayout& l, const uint8_t* sub, int64_t c, int64_t t) {
  if (l.fmt == KVDType::kInt8) return sub[(c / 4) * 64 + t * 4 + c % 4];
  const int64_t j = c % 8;
  const uint8_t b = sub[((c / 8) * 16 + t) * 4 + j / 2];
  return (j % 2 == 0) ? (b & 0x0F) : (b >> 4);
}
// Byte of code (token t of its sub-tile, channel c) in a quantised V sub-tile
// (kv_layout.h): token quads, 4 tokens per 4-byte word. int4: per quad and
// 32-channel chunk one 64-byte line, channel c0 + j in the low nibbles of word
// j and c0 + 16 + j in the high ones.
int64_t VCodeByte(const StoreLayout& l, int64_t t, int64_t c) {
  if (l.fmt == KVDType::kInt8) return (t / 4) * 4 * l.dv_pad + 4 * c + t % 4;
  return (t / 4) * 2 * l.dv_pad + (c / 32) * 64 + (c % 16) * 4 + t % 4;
}
void PutVCode(const StoreLayout& l, uint8_t* sub, int64_t t, int64_t c, int u) {
  uint8_t& b = sub[VCodeByte(l, t, c)];
  if (l.fmt == KVDType::kInt8) {
    b = static_cast<uint8_t>(u);
  } else {
    b = (c % 32 < 16) ? static_cast<uint8_t>((b & 0xF0) | u) : static_cast<uint8_t>((b & 0x0F) | (u << 4));
  }
}
int GetVCode(const StoreLayout& l, const uint8_t* sub, int64_t t, int64_t c) {
  const uint8_t b = sub[VCodeByte(l, t, c)];
  if (l.fmt == KVDType::kInt8) return b;
  return (c % 32 < 16) ? (b & 0x0F) : (b >> 4);
}

void PutFloat(KVDType t, uint8_t* base, int64_t i, float x) {
  switch (t) {
    case KVDType::kF32: reinterpret_cast<float*>(base)[i] = x; break;
    case KVDType::kBF16: reinterpret_cast<uint16_t*>(base)[i] = F32ToBF16(x); break;
    case KVDType::kF16: reinterpret_cast<uint16_t*>(base)[i] = F32ToF16(x); break;
    default: break;
  }
}
float GetFloat(KVDType t, const uint8_t* base, int64_t i) {
  switch (t) {
    case KVDType::kF32: return reinterpret_cast<const float*>(base)[i];
    case KVDType::kBF16: return BF16ToF32(reinterpret_cast<const uint16_t*>(base)[i]);
    case KVDType::kF16: return F16ToF32(reinterpret_cast<const uint16_t*>(base)[i]);
    default: return 0.0f;
  }
}

uint8_t* MutableSub(const StoreLayout& l, uint8_t* page, int64_t head, int64_t token) {
  return page + head * l.head_bytes + l.k_off + (token / kSub) * l.k_sub_bytes;
}

}  // namespace

StoreLayout MakeStoreLayout(KVDType fmt, int64_t hkv, int64_t dk, int64_t dv, bool has_v,
                            bool k_per_channel, int64_t k_group, int64_t v_group,
                            int64_t page_tokens) {
  StoreLayout l;
  l.fmt = fmt;
  l.hkv = hkv;
  l.dk = dk;
  l.dv = dv;
  l.has_v = has_v;
  l.page_tokens = page_tokens;
  l.dk_pad = RoundUp(dk, 8);
  const bool q = IsQuantized(fmt);
  l.k_per_channel = q && k_per_channel;
  l.k_group = l.k_per_channel ? k_group : kSub;
  l.v_group = q ? v_group : RoundUp(dv, kSub);
  l.dv_pad = RoundUp(dv, q ? l.v_group : kSub);
  l.v_groups = l.dv_pad / l.v_group;
  const int bits = Bits(fmt);
  l.k_sub_bytes = kSub * l.dk_pad * bits / 8;
  l.v_sub_bytes = has_v ? kSub * l.dv_pad * bits / 8 : 0;
  const int64_t subs = page_tokens / kSub;
  l.k_off = 0;
  l.v_off = AlignUp(subs * l.k_sub_bytes);
  l.ks_off = l.v_off + AlignUp(subs * l.v_sub_bytes);
  int64_t ks_bytes = 0, vs_bytes = 0;
  if (q) {
    ks_bytes = l.k_per_channel ? (page_tokens / l.k_group) * 2 * l.dk_pad * 4 : page_tokens * 2 * 4;
    vs_bytes = has_v ? page_tokens * l.v_groups * 2 * 4 : 0;
  }
  l.vs_off = l.ks_off + AlignUp(ks_bytes);
  l.head_bytes = AlignUp(l.vs_off + vs_bytes);
  l.page_bytes = hkv * l.head_bytes;
  return l;
}

int64_t StoreLayout::DataBytesPerToken() const {
  // Data and scales of a full page, per token (alignment padding excluded).
  const int bits = Bits(fmt);
  double per_head = static_cast<double>(dk_pad + (has_v ? dv_pad : 0)) * bits / 8;
  if (quantized()) {
    per_head += k_per_channel ? 8.0 * dk_pad / k_group : 8.0;
    if (has_v) per_head += 8.0 * v_groups;
  }
  return static_cast<int64_t>(per_head * hkv + 0.5);
}

QuantParams MinMaxParams(const float* x, int64_t n, int64_t stride, int qmax) {
  float lo = x[0], hi = x[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, x[i * stride]);
    hi = std::max(hi, x[i * stride]);
  }
  return QuantParams{(hi - lo) / static_cast<float>(qmax), lo};
}

int QuantizeValue(float x, QuantParams p, int qmax) {
  if (!(p.s > 0.0f)) return 0;
  const float u = std::nearbyint((x - p.z) / p.s);
  return static_cast<int>(std::clamp(u, 0.0f, static_cast<float>(qmax)));
}

int64_t HadamardBlock(int64_t dim) {
  int64_t b = 1;
  while (b < 256 && dim % (2 * b) == 0) b *= 2;
  return b;
}

void HadamardInPlace(float* x, int64_t dim, int64_t block) {
  if (block <= 1) return;
  const float norm = 1.0f / std::sqrt(static_cast<float>(block));
  for (int64_t b0 = 0; b0 < dim; b0 += block) {
    float* y = x + b0;
    for (int64_t len = 1; len < block; len *= 2) {
      for (int64_t i = 0; i < block; i += 2 * len) {
        for (int64_t j = i; j < i + len; ++j) {
          const float a = y[j], b = y[j + len];
          y[j] = a + b;
          y[j + len] = a - b;
        }
      }
    }
    for (int64_t i = 0; i < block; ++i) y[i] *= norm;
  }
}

void StoreValue(const StoreLayout& l, uint8_t* page, int64_t head, int64_t token,
                const float* v) {
  if (!l.has_v) return;
  uint8_t* h = page + head * l.head_bytes;
  uint8_t* sub = h + l.v_off + (token / kSub) * l.v_sub_bytes;
  const int64_t t = token % kSub;
  if (!l.quantized()) {
    const int64_t row = t * l.dv_pad;
    for (int64_t c = 0; c < l.dv_pad; ++c) PutFloat(l.fmt, sub, row + c, c < l.dv ? v[c] : 0.0f);
    return;
  }
  const int qmax = QMax(l.fmt);
  // Scales of a sub-tile: [v_groups][s[16], z[16]] (kv_layout.h).
  float* vs = reinterpret_cast<float*>(h + l.vs_off) + (token / kSub) * kSub * l.v_groups * 2 + t;
  for (int64_t g = 0; g < l.v_groups; ++g) {
    const int64_t c0 = g * l.v_group, n = std::min(l.v_group, l.dv - c0);
    const QuantParams p = n > 0 ? MinMaxParams(v + c0, n, 1, qmax) : QuantParams{0.0f, 0.0f};
    vs[g * 2 * kSub] = p.s;
    vs[g * 2 * kSub + kSub] = p.z;
    for (int64_t c = c0; c < c0 + l.v_group; ++c) {
      PutVCode(l, sub, t, c, c < l.dv ? QuantizeValue(v[c], p, qmax) : 0);
    }
  }
}

void StoreToken(const StoreLayout& l, uint8_t* page, int64_t head, int64_t token, const float* k,
                const float* v) {
  uint8_t* sub = MutableSub(l, page, head, token);
  const int64_t t = token % kSub;
  if (!l.quantized()) {
    for (int64_t c = 0; c < l.dk_pad; ++c) PutFloat(l.fmt, sub, c * kSub + t, c < l.dk ? k[c] : 0.0f);
  } else {
    const int qmax = QMax(l.fmt);
    const QuantParams p = MinMaxParams(k, l.dk, 1, qmax);
    float* ks = KScaleBase(l, page, head) + (token / kSub) * 2 * kSub;
    ks[t] = p.s;
    ks[kSub + t] = p.z;
    for (int64_t c = 0; c < l.dk_pad; ++c) PutKCode(l, sub, c, t, c < l.dk ? QuantizeValue(k[c], p, qmax) : 0);
  }
  StoreValue(l, page, head, token, v);
}

void StoreKeyGroup(const StoreLayout& l, uint8_t* page, int64_t head, int64_t first_token,
                   const float* keys, int64_t ld) {
  const int qmax = QMax(l.fmt);
  float* ks = KScaleBase(l, page, head) + (first_token / l.k_group) * 2 * l.dk_pad;
  for (int64_t c = 0; c < l.dk_pad; ++c) {
    const QuantParams p = c < l.dk ? MinMaxParams(keys + c, l.k_group, ld, qmax) : QuantParams{0.0f, 0.0f};
    ks[c] = p.s;
    ks[l.dk_pad + c] = p.z;
    for (int64_t i = 0; i < l.k_group; ++i) {
      const int64_t token = first_token + i;
      PutKCode(l, MutableSub(l, page, head, token), c, token % kSub,
               c < l.dk ? QuantizeValue(keys[i * ld + c], p, qmax) : 0);
    }
  }
}

void LoadToken(const StoreLayout& l, const uint8_t* page, int64_t head, int64_t token, float* k,
               float* v) {
  const SubTile st = SubTileAt(l, page, head, token);
  const int64_t t = token % kSub;
  for (int64_t c = 0; c < l.dk; ++c) {
    if (!l.quantized()) {
      k[c] = GetFloat(l.fmt, st.k, c * kSub + t);
    } else if (l.k_per_channel) {
      k[c] = std::fma(st.k_scale[c], static_cast<float>(GetKCode(l, st.k, c, t)), st.k_scale[l.dk_pad + c]);
    } else {
      k[c] = std::fma(st.k_scale[t], static_cast<float>(GetKCode(l, st.k, c, t)), st.k_scale[kSub + t]);
    }
  }
  if (!l.has_v) {
    for (int64_t c = 0; c < l.dv; ++c) v[c] = k[c];
    return;
  }
  for (int64_t c = 0; c < l.dv; ++c) {
    if (!l.quantized()) {
      v[c] = GetFloat(l.fmt, st.v, t * l.dv_pad + c);
    } else {
      const float* vs = st.v_scale + (c / l.v_group) * 2 * kSub + t;
      v[c] = std::fma(vs[0], static_cast<float>(GetVCode(l, st.v, t, c)), vs[kSub]);
    }
  }
}

}  // namespace attnkit::decode
