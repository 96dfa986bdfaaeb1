// SPDX-License-Identifier: Apache-2.0
// Autotuning of the dense tiles (see autotune.h): synthetic inputs, timing of
// the candidates, and the per-shape cache.
#include "src/plan/autotune.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "src/plan/registry.h"

namespace attnkit {
namespace {

struct Cache {
  std::mutex mu;
  bool loaded = false;
  std::string path;  // "" = no file
  std::map<std::string, std::pair<int64_t, int64_t>> tiles;
};

Cache& TheCache() {
  static Cache cache;
  return cache;
}

std::string CachePath() {
  const char* env = std::getenv("ATTNKIT_AUTOTUNE_CACHE");
  if (env != nullptr) return std::string(env) == "off" ? "" : env;
  const char* home = std::getenv("HOME");
  return home != nullptr ? std::string(home) + "/.cache/attnkit/autotune.tsv" : "";
}

// Lines: key \t block_q \t block_k \t ms. Malformed lines are ignored.
void LoadLocked(Cache& c) {
  if (c.loaded) return;
  c.loaded = true;
  c.path = CachePath();
  if (c.path.empty()) return;
  std::ifstream in(c.path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t bq = 0, bk = 0;
    if (std::getline(fields, key, '\t') && fields >> bq >> bk && bq > 0 && bk > 0) {
      c.tiles[key] = {bq, bk};
    }
  }
}

// Synthetic tensors with the problem's shapes (contiguous BHND), small values.
struct SyntheticInputs {
  std::vector<uint8_t> q, k, v, out, lse, sinks, bias;
  AttentionTensors t;
};

TensorView Make(std::vector<uint8_t>& buf, DType dtype, int64_t b, int64_t h, int64_t n, int64_t d) {
  buf.assign(static_cast<size_t>(b * h * n * d) * SizeOf(dtype), 0);
  uint32_t state = 12345;
  for (int64_t i = 0; i < b * h * n * d; ++i) {
    state = state * 1664525u + 1013904223u;
    StoreFromF32(buf.data(), dtype, i, static_cast<float>(state >> 8) * 0x1.0p-24f - 0.5f);
  }
  return TensorView::Attention(buf.data(), dtype, Layout::kBHND, b, h, n, d);
}

SyntheticInputs MakeInputs(const PlanImpl& p) {
  const AttentionSpec& s = p.spec;
  const AttentionShape& sh = p.shape;
  const int64_t b = sh.is_varlen() ? 1 : sh.batch;
  const int64_t nq = sh.is_varlen() ? sh.total_q() : sh.seqlen_q;
  const int64_t nk = sh.is_varlen() ? sh.total_k() : sh.seqlen_k;
  SyntheticInputs in;
  in.t.q = Make(in.q, sh.dtype, b, s.num_q_heads, nq, s.head_dim_qk);
  in.t.k = Make(in.k, sh.dtype, b, s.num_kv_heads, nk, s.head_dim_qk);
  in.t.v = Make(in.v, sh.dtype, b, s.num_kv_heads, nk, s.head_dim_v);
  in.t.out = Make(in.out, sh.out_dtype, b, s.num_q_heads, nq, s.head_dim_v);
  if (s.return_lse) {
    in.lse.assign(static_cast<size_t>(b * s.num_q_heads * nq) * 4, 0);
    in.t.lse = TensorView::Contiguous(in.lse.data(), DType::kF32, {b, s.num_q_heads, nq});
  }
  if (s.has_sinks) {
    in.sinks.assign(static_cast<size_t>(s.num_q_heads) * 4, 0);
    in.t.sinks = TensorView::Contiguous(in.sinks.data(), DType::kF32, {s.num_q_heads});
  }
  if (s.has_bias) {
    in.bias.assign(static_cast<size_t>(nk) * 4, 0);
    in.t.bias = TensorView::Contiguous(in.bias.data(), DType::kF32, {1, 1, 1, nk});
  }
  return in;
}

double TimeOnce(const PlanImpl& p, const AttentionTensors& t, std::vector<std::byte>& ws) {
  ws.resize(std::max(ws.size(), p.workspace_bytes));
  const auto t0 = std::chrono::steady_clock::now();
  p.kernel->run(p, t, ws);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::string AutotuneKey(const PlanImpl& p) {
  const AttentionSpec& s = p.spec;
  const AttentionShape& sh = p.shape;
  std::ostringstream os;
  os << p.kernel_name << " " << Name(sh.dtype) << ">" << Name(sh.out_dtype) << " h" << s.num_q_heads
     << "/" << s.num_kv_heads << " d" << s.head_dim_qk << "/" << s.head_dim_v << " w"
     << (p.window_left == kUnbounded ? -1 : p.window_left) << ","
     << (p.window_right == kUnbounded ? -1 : p.window_right)
     << (s.softcap > 0 ? " cap" : "") << (s.alibi ? " alibi" : "") << (s.has_bias ? " bias" : "")
     << (s.has_sinks ? " sinks" : "") << " b" << sh.batch;
  if (sh.is_varlen()) {
    os << " varlen";
    for (int64_t i = 0; i < sh.batch; ++i) os << " " << sh.seq_q(i) << "/" << sh.seq_k(i);
  } else {
    os << " n" << sh.seqlen_q << "/" << sh.seqlen_k;
  }
  os << " t" << p.num_threads << " " << p.cpu.simd_target << " l2=" << p.cpu.l2_bytes;
  return os.str();
}

bool LookupTunedTiles(const std::string& key, int64_t& block_q, int64_t& block_k) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  LoadLocked(c);
  const auto it = c.tiles.find(key);
  if (it == c.tiles.end()) return false;
  block_q = it->second.first;
  block_k = it->second.second;
  return true;
}

void StoreTunedTiles(const std::string& key, int64_t block_q, int64_t block_k, double ms) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  LoadLocked(c);
  c.tiles[key] = {block_q, block_k};
  if (c.path.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(c.path).parent_path(), ec);
  std::ofstream out(c.path, std::ios::app);  // best effort: an unwritable cache only costs time
  if (out) out << key << '\t' << block_q << '\t' << block_k << '\t' << ms << '\n';
}

TileTiming AutotuneDenseTiles(
    PlanImpl& base, const std::vector<TileCandidate>& candidates,
    const std::function<void(PlanImpl&, int64_t, int64_t)>& plan_with_tiles) {
  const SyntheticInputs in = MakeInputs(base);
  std::vector<std::byte> ws;
  TileTiming best{0, 0, 1e300};
  for (size_t i = 0; i < candidates.size() && i < kAutotuneCandidates; ++i) {
    PlanImpl trial = base;
    plan_with_tiles(trial, candidates[i].block_q, candidates[i].block_k);
    double ms = TimeOnce(trial, in.t, ws);  // warm-up (page faults, caches)
    if (ms < 2000) ms = std::min(TimeOnce(trial, in.t, ws), TimeOnce(trial, in.t, ws));
    base.tuning.push_back({candidates[i].block_q, candidates[i].block_k, ms});
    if (ms < best.ms) best = {candidates[i].block_q, candidates[i].block_k, ms};
  }
  return best;
}

}  // namespace attnkit
