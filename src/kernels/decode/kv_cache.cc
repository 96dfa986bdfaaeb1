// SPDX-License-Identifier: Apache-2.0
// attnkit::KVCache: configuration checks, the page pool (allocation, reference
// counts, copy-on-write), sequences (add, fork, free), append with RoPE,
// Hadamard rotation and quantisation, and the attention view of a sequence.
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "attnkit/error.h"
#include "src/kernels/decode/kv_cache_impl.h"
#include "src/kernels/decode/kv_quant.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace decode {
namespace {

constexpr int64_t kMaxNewQueries = 16;  // = kMaxDecodeQueries (decode.h)

// Fills defaults and checks every field; returns the completed config.
KVCacheConfig CheckConfig(KVCacheConfig c) {
  ATTNKIT_CHECK(c.num_kv_heads >= 1 && c.num_kv_heads <= 1024,
                "KVCacheConfig.num_kv_heads must be in [1, 1024], got ", c.num_kv_heads);
  ATTNKIT_CHECK(c.head_dim_k >= 1 && c.head_dim_k <= 1024,
                "KVCacheConfig.head_dim_k must be in [1, 1024], got ", c.head_dim_k);
  ATTNKIT_CHECK(c.head_dim_v >= 1 && c.head_dim_v <= 1024,
                "KVCacheConfig.head_dim_v must be in [1, 1024], got ", c.head_dim_v);
  ATTNKIT_CHECK(!c.v_from_k || c.head_dim_v <= c.head_dim_k, "KVCacheConfig.v_from_k needs head_dim_v (",
                c.head_dim_v, ") <= head_dim_k (", c.head_dim_k, ")");
  ATTNKIT_CHECK(static_cast<int>(c.dtype) <= 4, "KVCacheConfig.dtype is not a KVDType (",
                static_cast<int>(c.dtype), ")");
  const bool q = IsQuantized(c.dtype);
  ATTNKIT_CHECK(c.layout == KVLayout::kContiguous || c.layout == KVLayout::kPaged,
                "KVCacheConfig.layout is not a KVLayout (", static_cast<int>(c.layout), ")");
  if (c.layout == KVLayout::kPaged) {
    ATTNKIT_CHECK(c.page_size >= 16 && c.page_size <= 256 && c.page_size % 16 == 0,
                  "KVCacheConfig.page_size must be a multiple of 16 in [16, 256], got ", c.page_size);
    ATTNKIT_CHECK(c.num_pages >= 1 && c.num_pages <= (int64_t{1} << 30),
                  "KVCacheConfig.num_pages must be in [1, 2^30] for a paged cache, got ", c.num_pages);
  } else {
    ATTNKIT_CHECK(c.max_seqs >= 1 && c.max_seqs <= (int64_t{1} << 20),
                  "KVCacheConfig.max_seqs must be in [1, 2^20] for a contiguous cache, got ", c.max_seqs);
  }
  const int64_t unit = c.layout == KVLayout::kPaged ? c.page_size : 256;
  if (q && c.k_scales == KScales::kPerChannel) {
    if (c.k_group == 0) c.k_group = std::min<int64_t>(64, unit);
    ATTNKIT_CHECK(c.k_group >= 16 && c.k_group <= 256 && c.k_group % 16 == 0,
                  "KVCacheConfig.k_group must be a multiple of 16 in [16, 256], got ", c.k_group);
    ATTNKIT_CHECK(c.layout != KVLayout::kPaged || c.page_size % c.k_group == 0,
                  "KVCacheConfig.page_size (", c.page_size, ") must be a multiple of k_group (",
                  c.k_group, ")");
  } else {
    ATTNKIT_CHECK(c.k_group == 0 || q, "KVCacheConfig.k_group applies to int8/int4 per-channel keys only");
  }
  ATTNKIT_CHECK(c.k_scales == KScales::kPerChannel || c.k_scales == KScales::kPerToken,
                "KVCacheConfig.k_scales is not a KScales (", static_cast<int>(c.k_scales), ")");
  if (q) {
    const int64_t quantum = c.dtype == KVDType::kInt4 ? 32 : 16;
    if (c.v_group == 0) c.v_group = c.dtype == KVDType::kInt4 ? 64 : RoundUp(c.head_dim_v, 16);
    ATTNKIT_CHECK(c.v_group >= quantum && c.v_group <= 1024 && c.v_group % quantum == 0,
                  "KVCacheConfig.v_group must be a multiple of ", quantum, " in [", quantum,
                  ", 1024] for ", Name(c.dtype), ", got ", c.v_group);
    if (c.residual < 0) c.residual = c.dtype == KVDType::kInt4 ? 128 : 0;
    ATTNKIT_CHECK(c.residual <= 4096, "KVCacheConfig.residual must be in [0, 4096] (-1 = default), got ",
                  c.residual);
  } else {
    ATTNKIT_CHECK(c.v_group == 0, "KVCacheConfig.v_group applies to int8/int4 only, got ", c.v_group);
    ATTNKIT_CHECK(c.residual <= 0, "KVCacheConfig.residual applies to int8/int4 only, got ", c.residual);
    c.residual = 0;
  }
  switch (c.retention) {
    case KVRetention::kAll:
      ATTNKIT_CHECK(c.max_seq_len >= 1 && c.max_seq_len <= (int64_t{1} << 31),
                    "KVCacheConfig.max_seq_len must be in [1, 2^31] with retention kAll, got ",
                    c.max_seq_len);
      break;
    case KVRetention::kRing:
      ATTNKIT_CHECK(c.window >= 1 && c.window <= (int64_t{1} << 24),
                    "KVCacheConfig.window must be in [1, 2^24] with retention kRing, got ", c.window);
      break;
    case KVRetention::kSinkRecent:
      ATTNKIT_CHECK(c.sink_tokens >= 0 && c.sink_tokens <= 64,
                    "KVCacheConfig.sink_tokens must be in [0, 64], got ", c.sink_tokens);
      ATTNKIT_CHECK(c.recent_tokens >= kMaxNewQueries && c.recent_tokens <= (int64_t{1} << 24),
                    "KVCacheConfig.recent_tokens must be in [16, 2^24] with retention kSinkRecent, got ",
                    c.recent_tokens);
      break;
    default:
      detail::Throw("KVCacheConfig.retention is not a KVRetention (", static_cast<int>(c.retention), ")");
  }
  RopeSpec& r = c.rope;
  ATTNKIT_CHECK(r.style == RopeStyle::kNone || r.style == RopeStyle::kInterleaved ||
                    r.style == RopeStyle::kNeoX,
                "KVCacheConfig.rope.style is not a RopeStyle (", static_cast<int>(r.style), ")");
  if (r.style != RopeStyle::kNone) {
    ATTNKIT_CHECK(std::isfinite(r.theta) && r.theta > 1.0, "KVCacheConfig.rope.theta must be finite and > 1, got ",
                  r.theta);
    ATTNKIT_CHECK(r.start >= 0 && r.start < c.head_dim_k, "KVCacheConfig.rope.start must be in [0, head_dim_k), got ",
                  r.start);
    if (r.dims == 0) r.dims = c.head_dim_k - r.start;
    ATTNKIT_CHECK(r.dims >= 2 && r.dims % 2 == 0 && r.start + r.dims <= c.head_dim_k,
                  "KVCacheConfig.rope.dims must be even, >= 2 and fit in head_dim_k - start (",
                  c.head_dim_k - r.start, "), got ", r.dims);
  }
  return c;
}

// The page of main slot `slot` of `s`, allocated (or copied, when shared) so
// that it can be written. Capacity was checked before any write.
uint8_t* WritablePage(CacheImpl& c, SeqState& s, int64_t slot) {
  if (c.cfg.layout == KVLayout::kContiguous) return c.pool + s.slot * c.main.page_bytes;
  int32_t& id = s.table[slot / c.main.page_tokens];
  if (id < 0) {
    id = c.free_list.back();
    c.free_list.pop_back();
    c.refcount[id] = 1;
  } else if (c.refcount[id] > 1) {  // copy-on-write
    const int32_t fresh = c.free_list.back();
    c.free_list.pop_back();
    std::memcpy(c.pool + fresh * c.main.page_bytes, c.pool + id * c.main.page_bytes,
                static_cast<size_t>(c.main.page_bytes));
    --c.refcount[id];
    c.refcount[fresh] = 1;
    id = fresh;
  }
  return c.pool + static_cast<int64_t>(id) * c.main.page_bytes;
}

int64_t SlotOf(const CacheImpl& c, int64_t u) { return c.ring ? u % c.main_cap : u; }

// Pages that writing main tokens [u0, u1) would allocate or copy.
int64_t PagesNeeded(const CacheImpl& c, const SeqState& s, int64_t u0, int64_t u1) {
  if (c.cfg.layout != KVLayout::kPaged || u1 <= u0) return 0;
  const int64_t p = c.main.page_tokens;
  std::vector<char> seen(s.table.size(), 0);
  int64_t need = 0;
  const int64_t first = (c.ring && u1 - u0 >= c.main_cap) ? u1 - c.main_cap : u0;
  for (int64_t u = first; u < u1; u = (u / p + 1) * p) {
    const int64_t page = SlotOf(c, u) / p;
    if (seen[page]) continue;
    seen[page] = 1;
    const int32_t id = s.table[page];
    if (id < 0 || c.refcount[id] > 1) ++need;
  }
  return need;
}

// Main tokens in the main store after the sequence holds `length_u` of them.
int64_t QuantizedPrefix(const CacheImpl& c, int64_t qp, int64_t length_u) {
  if (!c.main.quantized()) return length_u;
  while (length_u - qp >= c.residual + c.step) qp += c.step;
  return qp;
}

// Moves main tokens [qp, qp + step) from the residual ring into the main store.
void Flush(CacheImpl& c, SeqState& s) {
  const StoreLayout& m = c.main;
  const uint8_t* res = reinterpret_cast<const uint8_t*>(s.residual.data());
  std::vector<float> keys(static_cast<size_t>(c.step * m.dk)), k(static_cast<size_t>(m.dk)),
      v(static_cast<size_t>(m.dv));
  uint8_t* page = WritablePage(c, s, SlotOf(c, s.qp));
  const int64_t in_page = SlotOf(c, s.qp) % m.page_tokens;
  for (int64_t h = 0; h < m.hkv; ++h) {
    for (int64_t i = 0; i < c.step; ++i) {
      LoadToken(c.res_layout, res, h, (s.qp + i) % c.res_cap, k.data(), v.data());
      if (m.k_per_channel) {
        std::copy(k.begin(), k.end(), keys.begin() + i * m.dk);
        StoreValue(m, page, h, in_page + i, v.data());
      } else {
        StoreToken(m, page, h, in_page + i, k.data(), v.data());
      }
    }
    if (m.k_per_channel) StoreKeyGroup(m, page, h, in_page, keys.data(), m.dk);
  }
  s.qp += c.step;
}

}  // namespace

void RopeInPlace(const RopeSpec& rope, int64_t head_dim, int64_t position, float* x) {
  if (rope.style == RopeStyle::kNone) return;
  const int64_t dims = rope.dims == 0 ? head_dim - rope.start : rope.dims;
  const int64_t half = dims / 2;
  float* y = x + rope.start;
  for (int64_t i = 0; i < half; ++i) {
    const double inv_freq = std::pow(rope.theta, -2.0 * static_cast<double>(i) / static_cast<double>(dims));
    const double angle = static_cast<double>(position) * inv_freq;
    const double cs = std::cos(angle), sn = std::sin(angle);
    const int64_t a = rope.style == RopeStyle::kNeoX ? i : 2 * i;
    const int64_t b = rope.style == RopeStyle::kNeoX ? i + half : 2 * i + 1;
    const double xa = y[a], xb = y[b];
    y[a] = static_cast<float>(xa * cs - xb * sn);
    y[b] = static_cast<float>(xa * sn + xb * cs);
  }
}

const SeqState& CacheImpl::Seq(int64_t id) const {
  const auto it = seqs.find(id);
  ATTNKIT_CHECK(it != seqs.end(), "KV cache has no sequence ", id);
  return it->second;
}

SeqView CacheImpl::View(const SeqState& s) const {
  SeqView v;
  const int64_t len_u = MainTokens(s);
  v.text_end = s.offset + s.length;
  auto add = [&](Segment::Kind kind, int64_t u0, int64_t u1, int64_t pos0) {
    if (u1 > u0) v.segments[v.num_segments++] = Segment{kind, u0, u1, pos0};
  };
  if (cfg.retention == KVRetention::kSinkRecent) {
    const int64_t sinks = std::min(s.length, sink_tokens);
    const int64_t ur0 = std::max<int64_t>(0, len_u - cfg.recent_tokens);
    v.sink_rope_shift = ur0;
    add(Segment::kSink, 0, sinks, 0);
    add(Segment::kMain, ur0, s.qp, sinks);
    const int64_t r0 = std::max(s.qp, ur0);
    add(Segment::kResidual, r0, len_u, sinks + (r0 - ur0));
    v.nk = sinks + (len_u - ur0);
    v.kept = v.nk;
    return v;
  }
  const int64_t first = ring ? std::max<int64_t>(0, s.qp - main_cap) : 0;
  add(Segment::kMain, first, s.qp, first);
  add(Segment::kResidual, s.qp, len_u, s.qp);
  v.nk = len_u;
  v.kept = len_u - first;
  return v;
}

StoreRef CacheImpl::MainRef(const SeqState& s) const {
  StoreRef r;
  r.layout = &main;
  r.ring = ring ? main_cap : 0;
  if (cfg.layout == KVLayout::kContiguous) {
    r.base = pool + s.slot * main.page_bytes;
  } else {
    r.base = pool;
    r.block_table = s.table.data();
  }
  return r;
}

StoreRef CacheImpl::ResidualRef(const SeqState& s) const {
  StoreRef r;
  r.layout = &res_layout;
  r.base = reinterpret_cast<const uint8_t*>(s.residual.data());
  r.ring = res_cap;
  return r;
}

}  // namespace decode

using decode::CacheImpl;
using decode::SeqState;

std::string_view Name(KVDType t) {
  switch (t) {
    case KVDType::kF32: return "f32";
    case KVDType::kBF16: return "bf16";
    case KVDType::kF16: return "f16";
    case KVDType::kInt8: return "int8";
    case KVDType::kInt4: return "int4";
  }
  return "?";
}

KVDType ParseKVDType(std::string_view name) {
  for (KVDType t : {KVDType::kF32, KVDType::kBF16, KVDType::kF16, KVDType::kInt8, KVDType::kInt4}) {
    if (name == Name(t)) return t;
  }
  detail::Throw("unknown KV dtype '", name, "' (allowed: f32, bf16, f16, int8, int4)");
}

void ApplyRope(const RopeSpec& rope, int64_t head_dim, int64_t position, float* x) {
  decode::RopeInPlace(rope, head_dim, position, x);
}

KVCache::KVCache(const KVCacheConfig& config) : impl_(std::make_unique<CacheImpl>()) {
  CacheImpl& c = *impl_;
  c.cfg = decode::CheckConfig(config);
  const KVCacheConfig& g = c.cfg;
  const bool q = IsQuantized(g.dtype);
  const bool per_channel = q && g.k_scales == KScales::kPerChannel;
  c.step = per_channel ? g.k_group : 1;
  c.residual = g.residual;
  c.sink_tokens = g.retention == KVRetention::kSinkRecent ? g.sink_tokens : 0;
  c.ring = g.retention != KVRetention::kAll;
  // Slot granularity: a page, or for one contiguous slot 16 tokens and a key group.
  const int64_t unit = g.layout == KVLayout::kPaged ? g.page_size : std::max<int64_t>(16, c.step);
  if (g.retention == KVRetention::kAll) {
    c.main_cap = decode::RoundUp(g.max_seq_len, unit);
  } else if (g.retention == KVRetention::kRing) {
    c.main_cap = decode::RoundUp(g.window + decode::kMaxNewQueries - 1, unit);
  } else {
    c.main_cap = decode::RoundUp(g.recent_tokens, unit);
  }
  const int64_t page_tokens = g.layout == KVLayout::kPaged ? g.page_size : c.main_cap;
  c.main = decode::MakeStoreLayout(g.dtype, g.num_kv_heads, g.head_dim_k, g.head_dim_v, !g.v_from_k,
                                   per_channel, g.k_group, g.v_group, page_tokens);
  if (q) {
    c.res_cap = decode::RoundUp(c.residual + c.step, decode::kSub);
    c.res_layout = decode::MakeStoreLayout(KVDType::kF32, g.num_kv_heads, g.head_dim_k, g.head_dim_v,
                                           !g.v_from_k, false, 16, 16, c.res_cap);
  }
  if (g.hadamard) {
    if (g.v_from_k) {
      c.hb_k = c.hb_v = decode::HadamardBlock(std::gcd(g.head_dim_k, g.head_dim_v));
    } else {
      c.hb_k = decode::HadamardBlock(g.head_dim_k);
      c.hb_v = decode::HadamardBlock(g.head_dim_v);
    }
  }
  c.num_pages = g.layout == KVLayout::kPaged ? g.num_pages : g.max_seqs;
  const double bytes = static_cast<double>(c.num_pages) * static_cast<double>(c.main.page_bytes);
  ATTNKIT_CHECK(bytes <= static_cast<double>(int64_t{1} << 40), "KV cache would need ", bytes,
                " bytes (more than 1 TiB): reduce num_pages, max_seqs or max_seq_len");
  c.pool_storage = HugePageBuffer(static_cast<size_t>(bytes));
  c.pool = c.pool_storage.data();
  c.refcount.assign(static_cast<size_t>(c.num_pages), 0);
  for (int64_t p = c.num_pages - 1; p >= 0; --p) c.free_list.push_back(static_cast<int32_t>(p));
}

KVCache::~KVCache() = default;
KVCache::KVCache(KVCache&&) noexcept = default;
KVCache& KVCache::operator=(KVCache&&) noexcept = default;

const KVCacheConfig& KVCache::config() const { return impl_->cfg; }

int64_t KVCache::AddSequence(int64_t position_offset) {
  CacheImpl& c = *impl_;
  ATTNKIT_CHECK(position_offset >= 0 && position_offset <= (int64_t{1} << 40),
                "AddSequence: position_offset must be in [0, 2^40], got ", position_offset);
  SeqState s;
  s.offset = position_offset;
  if (c.cfg.layout == KVLayout::kContiguous) {
    ATTNKIT_CHECK(!c.free_list.empty(), "AddSequence: all ", c.num_pages,
                  " sequence slots of the contiguous KV cache (max_seqs) are in use");
    s.slot = c.free_list.back();
    c.free_list.pop_back();
    c.refcount[s.slot] = 1;
  } else {
    s.table.assign(static_cast<size_t>(c.main_cap / c.main.page_tokens), -1);
  }
  if (c.res_cap > 0) s.residual.assign(static_cast<size_t>(c.res_layout.page_bytes / 4), 0.0f);
  const int64_t id = c.next_id++;
  c.seqs.emplace(id, std::move(s));
  ++c.version;
  return id;
}

int64_t KVCache::Fork(int64_t seq) {
  CacheImpl& c = *impl_;
  const SeqState& src = c.Seq(seq);
  SeqState s = src;
  if (c.cfg.layout == KVLayout::kContiguous) {
    ATTNKIT_CHECK(!c.free_list.empty(), "Fork: all ", c.num_pages,
                  " sequence slots of the contiguous KV cache (max_seqs) are in use");
    s.slot = c.free_list.back();
    c.free_list.pop_back();
    c.refcount[s.slot] = 1;
    std::memcpy(c.pool + s.slot * c.main.page_bytes, c.pool + src.slot * c.main.page_bytes,
                static_cast<size_t>(c.main.page_bytes));
  } else {
    for (int32_t id : s.table) {
      if (id >= 0) ++c.refcount[id];
    }
  }
  const int64_t id = c.next_id++;
  c.seqs.emplace(id, std::move(s));
  ++c.version;
  return id;
}

void KVCache::Free(int64_t seq) {
  CacheImpl& c = *impl_;
  const SeqState& s = c.Seq(seq);
  auto release = [&](int32_t id) {
    if (id >= 0 && --c.refcount[id] == 0) c.free_list.push_back(id);
  };
  if (c.cfg.layout == KVLayout::kContiguous) {
    release(static_cast<int32_t>(s.slot));
  } else {
    for (int32_t id : s.table) release(id);
  }
  c.seqs.erase(seq);
  ++c.version;
}

int64_t KVCache::AddSequenceFromPages(const std::vector<int32_t>& pages, int64_t length,
                                      int64_t position_offset) {
  CacheImpl& c = *impl_;
  const KVCacheConfig& g = c.cfg;
  ATTNKIT_CHECK(g.layout == KVLayout::kPaged && g.retention == KVRetention::kAll,
                "AddSequenceFromPages needs a paged KV cache with retention kAll");
  const int64_t p = c.main.page_tokens;
  const int64_t max_pages = c.main_cap / p;
  ATTNKIT_CHECK(static_cast<int64_t>(pages.size()) <= max_pages, "AddSequenceFromPages: block_table has ",
                pages.size(), " pages, more than max_seq_len allows (", max_pages, ")");
  for (size_t i = 0; i < pages.size(); ++i) {
    ATTNKIT_CHECK(pages[i] >= 0 && pages[i] < c.num_pages, "AddSequenceFromPages: block_table[", i, "] = ",
                  pages[i], " is outside the pool of ", c.num_pages, " pages");
    ATTNKIT_CHECK(c.refcount[pages[i]] > 0, "AddSequenceFromPages: block_table[", i, "] = ", pages[i],
                  " is a free page (it holds no sequence's tokens)");
  }
  const int64_t n = static_cast<int64_t>(pages.size());
  ATTNKIT_CHECK(length >= 0 && length <= n * p && length > (n - 1) * p, "AddSequenceFromPages: length ",
                length, " does not fit ", n, " pages of ", p, " tokens (allowed: ", (n - 1) * p + 1,
                "..", n * p, ")");
  ATTNKIT_CHECK(!c.main.quantized() || length == n * p, "AddSequenceFromPages: an ", Name(g.dtype),
                " cache shares whole pages only: length must be ", n * p, ", got ", length);
  const int64_t id = AddSequence(position_offset);
  SeqState& s = c.seqs.at(id);
  for (size_t i = 0; i < pages.size(); ++i) {
    s.table[i] = pages[i];
    ++c.refcount[pages[i]];
  }
  s.length = length;
  s.qp = length;
  return id;
}

std::vector<int32_t> KVCache::block_table(int64_t seq) const { return impl_->Seq(seq).table; }

void KVCache::Append(int64_t seq, const TensorView& k, const TensorView& v) {
  CacheImpl& c = *impl_;
  ATTNKIT_CHECK(c.seqs.count(seq) != 0, "Append: KV cache has no sequence ", seq);
  SeqState& s = c.seqs.at(seq);
  const KVCacheConfig& g = c.cfg;
  const decode::StoreLayout& m = c.main;
  auto check_tensor = [&](const char* name, const TensorView& t, int64_t dim) {
    CheckTensor(name, t, {kAnyExtent, g.num_kv_heads, dim}, "[n, Hkv, D]", "Append");
    ATTNKIT_CHECK(t.dtype == DType::kF32 || t.dtype == DType::kBF16 || t.dtype == DType::kF16,
                  "Append: '", name, "' has an unsupported dtype (allowed: f32, bf16, f16)");
  };
  check_tensor("k", k, g.head_dim_k);
  const int64_t n = k.shape[0];
  if (g.v_from_k) {
    ATTNKIT_CHECK(v.data == nullptr && v.rank == 0,
                  "Append: 'v' must be empty for a cache with v_from_k (V is the first ", g.head_dim_v,
                  " columns of K)");
  } else {
    check_tensor("v", v, g.head_dim_v);
    ATTNKIT_CHECK(v.shape[0] == n, "Append: 'k' has ", n, " tokens but 'v' has ", v.shape[0]);
  }
  if (n == 0) return;
  // Capacity, checked before anything is written.
  if (g.retention == KVRetention::kAll) {
    ATTNKIT_CHECK(s.length + n <= g.max_seq_len, "Append: sequence ", seq, " would hold ", s.length + n,
                  " tokens, more than max_seq_len ", g.max_seq_len);
  }
  const int64_t sinks_now = std::min(s.length, c.sink_tokens);
  const int64_t new_len_u = c.MainTokens(s) + std::max<int64_t>(0, n - (c.sink_tokens - sinks_now));
  const int64_t new_qp = decode::QuantizedPrefix(c, s.qp, new_len_u);
  const int64_t need = decode::PagesNeeded(c, s, s.qp, new_qp);
  ATTNKIT_CHECK(need <= static_cast<int64_t>(c.free_list.size()), "Append: KV cache is out of pages: ",
                n, " tokens for sequence ", seq, " need ", need, " more pages, ", c.free_list.size(),
                " of ", c.num_pages, " are free");

  std::vector<float> kf(static_cast<size_t>(g.num_kv_heads * g.head_dim_k));
  std::vector<float> vf(static_cast<size_t>(g.num_kv_heads * g.head_dim_v));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = s.length;
    for (int64_t h = 0; h < g.num_kv_heads; ++h) {
      for (int64_t d = 0; d < g.head_dim_k; ++d) {
        kf[h * g.head_dim_k + d] = LoadAsF32(k.data, k.dtype, i * k.strides[0] + h * k.strides[1] + d);
      }
      for (int64_t d = 0; d < g.head_dim_v && !g.v_from_k; ++d) {
        vf[h * g.head_dim_v + d] = LoadAsF32(v.data, v.dtype, i * v.strides[0] + h * v.strides[1] + d);
      }
    }
    ++s.length;
    if (t < c.sink_tokens) {  // sink tokens: kept as given, rotated at decode time
      s.sink_k.insert(s.sink_k.end(), kf.begin(), kf.end());
      if (!g.v_from_k) s.sink_v.insert(s.sink_v.end(), vf.begin(), vf.end());
      continue;
    }
    const int64_t u = t - c.sink_tokens;
    for (int64_t h = 0; h < g.num_kv_heads; ++h) {
      float* kh = kf.data() + h * g.head_dim_k;
      decode::RopeInPlace(g.rope, g.head_dim_k, s.offset + t, kh);
      decode::HadamardInPlace(kh, g.head_dim_k, c.hb_k);
      if (!g.v_from_k) decode::HadamardInPlace(vf.data() + h * g.head_dim_v, g.head_dim_v, c.hb_v);
    }
    const bool to_residual = m.quantized();
    uint8_t* page = to_residual ? reinterpret_cast<uint8_t*>(s.residual.data())
                                : decode::WritablePage(c, s, decode::SlotOf(c, u));
    const decode::StoreLayout& l = to_residual ? c.res_layout : m;
    const int64_t in_page = to_residual ? u % c.res_cap : decode::SlotOf(c, u) % m.page_tokens;
    for (int64_t h = 0; h < g.num_kv_heads; ++h) {
      decode::StoreToken(l, page, h, in_page, kf.data() + h * g.head_dim_k,
                         g.v_from_k ? nullptr : vf.data() + h * g.head_dim_v);
    }
    if (!to_residual) {
      s.qp = u + 1;
    } else {
      while (u + 1 - s.qp >= c.residual + c.step) decode::Flush(c, s);
    }
  }
  ++c.version;
}

int64_t KVCache::length(int64_t seq) const { return impl_->Seq(seq).length; }
int64_t KVCache::position_offset(int64_t seq) const { return impl_->Seq(seq).offset; }
int64_t KVCache::kept(int64_t seq) const { return impl_->View(impl_->Seq(seq)).kept; }
bool KVCache::contains(int64_t seq) const { return impl_->seqs.count(seq) != 0; }
std::vector<int64_t> KVCache::sequences() const {
  std::vector<int64_t> ids;
  for (const auto& [id, s] : impl_->seqs) ids.push_back(id);
  return ids;
}
int64_t KVCache::free_pages() const { return static_cast<int64_t>(impl_->free_list.size()); }
int64_t KVCache::num_pages() const { return impl_->num_pages; }
double KVCache::bytes_per_token() const { return static_cast<double>(impl_->main.DataBytesPerToken()); }
uint64_t KVCache::version() const { return impl_->version; }

void KVCache::Materialize(int64_t seq, std::vector<float>& k, std::vector<float>& v) const {
  const CacheImpl& c = *impl_;
  const SeqState& s = c.Seq(seq);
  const decode::SeqView view = c.View(s);
  const KVCacheConfig& g = c.cfg;
  const int64_t dk = g.head_dim_k, dv = g.head_dim_v, kept = view.kept;
  k.assign(static_cast<size_t>(g.num_kv_heads * kept * dk), 0.0f);
  v.assign(static_cast<size_t>(g.num_kv_heads * kept * dv), 0.0f);
  std::vector<float> kt(static_cast<size_t>(dk)), vt(static_cast<size_t>(dv));
  const int64_t first_pos = view.nk - kept;
  for (int si = 0; si < view.num_segments; ++si) {
    const decode::Segment& seg = view.segments[si];
    for (int64_t u = seg.u0; u < seg.u1; ++u) {
      const int64_t j = seg.pos0 + (u - seg.u0) - first_pos;  // row in the output
      for (int64_t h = 0; h < g.num_kv_heads; ++h) {
        if (seg.kind == decode::Segment::kSink) {
          std::copy_n(s.sink_k.data() + (u * g.num_kv_heads + h) * dk, dk, kt.data());
          decode::RopeInPlace(g.rope, dk, s.offset + u + view.sink_rope_shift, kt.data());
          if (g.v_from_k) {
            std::copy_n(kt.data(), dv, vt.data());
          } else {
            std::copy_n(s.sink_v.data() + (u * g.num_kv_heads + h) * dv, dv, vt.data());
          }
        } else {
          const decode::StoreRef ref = seg.kind == decode::Segment::kMain ? c.MainRef(s) : c.ResidualRef(s);
          const int64_t slot = ref.ring > 0 ? u % ref.ring : u;
          decode::LoadToken(*ref.layout, ref.PageOfSlot(slot), h, slot % ref.layout->page_tokens,
                            kt.data(), vt.data());
          // Back from the Hadamard basis (H is its own inverse).
          decode::HadamardInPlace(kt.data(), dk, c.hb_k);
          decode::HadamardInPlace(vt.data(), dv, c.hb_v);
        }
        std::copy(kt.begin(), kt.end(), k.begin() + (h * kept + j) * dk);
        std::copy(vt.begin(), vt.end(), v.begin() + (h * kept + j) * dv);
      }
    }
  }
}

}  // namespace attnkit
