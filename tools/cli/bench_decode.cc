// SPDX-License-Identifier: Apache-2.0
// `attnkit bench --decode`: decode against a paged KV cache on a built-in list
// of decode shapes (context 1k..128k, batch 1..64, GQA 1..8, speculative
// tokens, a ragged batch, MLA), per KV dtype. Reports the K/V bytes read per
// second (and, with --roof, as a fraction of the measured read bandwidth),
// tokens per second, stream-K against a fixed split-KV in the same run, and
// the output's rel-L2 error against exact fp64 attention on the unquantised
// data, for the first sequence of each batch, on two kinds of key outlier
// channels (scaled 16x: near one-hot attention; KIVI-style offsets).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "attnkit/attnkit.h"
#include "attnkit/decode.h"
#include "src/harness/bandwidth.h"
#include "src/harness/report.h"
#include "src/kernels/decode/decode_plan.h"
#include "src/kernels/decode/decode_test_util.h"
#include "src/reference/reference.h"
#include "tools/cli/bench_modes.h"

namespace attnkit::cli {
namespace {

struct DecodeShape {
  std::string name;
  int64_t hq, hkv, dk, dv;
  std::vector<int64_t> lengths;  // one per sequence of the batch
  int64_t nq = 1;                // query tokens per sequence
  bool mla = false;              // V = K[:, :dv], one KV head
};

std::vector<int64_t> Same(int64_t n, int64_t len) { return std::vector<int64_t>(static_cast<size_t>(n), len); }

// Llama-3-8B attention (Hq 32, Hkv 8, D 128) unless named otherwise.
std::vector<DecodeShape> Shapes() {
  const std::vector<int64_t> ragged = {16384, 256, 512, 8192, 1024, 300, 4096, 2048,
                                       700,   12000, 256, 6000, 1500, 3000, 900, 10000};
  return {
      {"ctx1k-b1", 32, 8, 128, 128, {1024}},
      {"ctx4k-b1", 32, 8, 128, 128, {4096}},
      {"ctx32k-b1", 32, 8, 128, 128, {32768}},
      {"ctx128k-b1", 32, 8, 128, 128, {131072}},
      {"ctx32k-b1-nq4", 32, 8, 128, 128, {32768}, 4},
      {"ctx4k-b16", 32, 8, 128, 128, Same(16, 4096)},
      {"ctx1k-b64", 32, 8, 128, 128, Same(64, 1024)},
      {"ragged-b16", 32, 8, 128, 128, ragged},
      {"gqa1-ctx8k-b1", 32, 32, 128, 128, {8192}},
      {"gqa8-ctx32k-b1", 64, 8, 128, 128, {32768}},
      {"mla-ctx8k-b1", 128, 1, 576, 512, {8192}, 1, true},
      // Ragged batches with one KV head (MQA, MLA): too few (sequence, head)
      // problems for a fixed split count to balance; where stream-K pays off.
      {"mqa-ragged-b4", 32, 1, 128, 128, {32768, 4096, 1024, 512}},
      {"mla-ragged-b4", 128, 1, 576, 512, {16384, 2048, 1024, 512}, 1, true},
  };
}

// A filled cache of one shape and KV dtype (int4 with the Hadamard rotation).
struct Filled {
  KVCacheConfig cfg;
  std::unique_ptr<KVCache> cache;
  std::vector<int64_t> ids;
  decode::TokenStyle style;
};

constexpr int64_t kChunk = 2048;  // tokens generated and appended at a time
uint64_t ChunkSeed(size_t seq, int64_t chunk) { return 1000003ull * (seq + 1) + static_cast<uint64_t>(chunk); }

Filled Fill(const DecodeShape& s, KVDType dt, decode::TokenStyle style) {
  Filled f;
  KVCacheConfig& c = f.cfg;
  f.style = style;
  c.num_kv_heads = s.hkv;
  c.head_dim_k = s.dk;
  c.head_dim_v = s.dv;
  c.v_from_k = s.mla;
  c.dtype = dt;
  c.hadamard = dt == KVDType::kInt4;
  c.layout = KVLayout::kPaged;
  c.page_size = 64;
  int64_t pages = 0, longest = 0;
  for (int64_t len : s.lengths) {
    pages += decode::CeilDiv(len, 64) + 1;
    longest = std::max(longest, len);
  }
  c.num_pages = pages;
  c.max_seq_len = longest;
  f.cache = std::make_unique<KVCache>(c);
  for (size_t i = 0; i < s.lengths.size(); ++i) {
    const int64_t id = f.cache->AddSequence();
    for (int64_t t0 = 0, chunk = 0; t0 < s.lengths[i]; t0 += kChunk, ++chunk) {
      const int64_t n = std::min(kChunk, s.lengths[i] - t0);
      const decode::TokenData t = decode::MakeTokens(c, n, ChunkSeed(i, chunk), style);
      f.cache->Append(id, t.KView(c), t.VView(c));
    }
    f.ids.push_back(id);
  }
  return f;
}

// rel-L2 of sequence 0's output against fp64 attention on the unquantised tokens.
double ExactRelL2(const DecodeShape& s, const AttentionSpec& spec, const Filled& f,
                  const decode::BatchData& d) {
  const int64_t n = s.lengths[0], nq = std::min(s.nq, n);
  std::vector<float> k, v;
  for (int64_t t0 = 0, chunk = 0; t0 < n; t0 += kChunk, ++chunk) {
    const decode::TokenData t = decode::MakeTokens(f.cfg, std::min(kChunk, n - t0), ChunkSeed(0, chunk), f.style);
    k.insert(k.end(), t.k.begin(), t.k.end());
    if (s.mla) {
      for (int64_t i = 0; i < t.n; ++i) {
        v.insert(v.end(), t.k.begin() + i * s.dk, t.k.begin() + i * s.dk + s.dv);
      }
    } else {
      v.insert(v.end(), t.v.begin(), t.v.end());
    }
  }
  AttentionTensors in;
  in.q = d.t.q;
  in.q.shape[2] = nq;
  in.k = TensorView::Attention(k.data(), DType::kF32, Layout::kBNHD, 1, s.hkv, n, s.dk);
  in.v = TensorView::Attention(v.data(), DType::kF32, Layout::kBNHD, 1, s.hkv, n, s.dv);
  AttentionShape shape;
  shape.batch = 1;
  shape.seqlen_q = nq;
  shape.seqlen_k = n;
  AttentionSpec exact = spec;
  exact.return_lse = false;
  const reference::Result r = reference::Attention(exact, shape, in);
  double num = 0, den = 0;
  for (int64_t h = 0; h < s.hq; ++h) {
    for (int64_t i = 0; i < nq; ++i) {
      for (int64_t c = 0; c < s.dv; ++c) {
        const double got = d.out[static_cast<size_t>((h * d.batch.cu_seqlens_q.back() + i) * s.dv + c)];
        const double e = got - r.o(0, h, i, c);
        num += e * e;
        den += r.o(0, h, i, c) * r.o(0, h, i, c);
      }
    }
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// Median and minimum wall time of RunDecode (ms).
struct Timed {
  double median_ms = 0, min_ms = 0;
  int reps = 0;
};

// Times two plans of the same batch, alternating one call of each (after a
// warm-up of both), so that load drift on a shared machine hits both alike
// and their ratio compares like with like.
// With an evictor (the default, cold), the caches are evicted before every
// timed call; its time is not counted.
std::pair<Timed, Timed> TimeAlternating(const DecodePlan& a, const DecodePlan& b, const KVCache& cache,
                                        const DecodeTensors& t, const BenchFlags& f,
                                        const harness::CacheEvictor* evictor, int threads) {
  const size_t bytes = std::max(a.workspace_bytes(), b.workspace_bytes());
  std::vector<std::byte> ws(bytes + 64);
  const auto addr = reinterpret_cast<uintptr_t>(ws.data());
  std::span<std::byte> span(ws.data() + (64 - addr % 64) % 64, bytes);
  const DecodePlan* plans[2] = {&a, &b};
  for (const DecodePlan* p : plans) RunDecode(*p, cache, t, span.first(p->workspace_bytes()));  // warm-up
  std::vector<double> ms[2];
  const auto begin = std::chrono::steady_clock::now();
  double timed_s = 0;
  for (;;) {
    for (int i = 0; i < 2; ++i) {
      if (evictor != nullptr) evictor->Evict(threads);
      const auto t0 = std::chrono::steady_clock::now();
      RunDecode(*plans[i], cache, t, span.first(plans[i]->workspace_bytes()));
      const auto t1 = std::chrono::steady_clock::now();
      ms[i].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      timed_s += ms[i].back() / 1e3;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    const size_t n = ms[0].size();
    // --min-time counts timed seconds; evicting alone may not take more than 20x that.
    const bool enough = (n >= 3 && timed_s >= 2 * f.min_time) || elapsed >= 40 * f.min_time + 1;
    if (f.reps > 0 ? static_cast<int>(n) >= f.reps : enough || n >= 10000) break;
  }
  Timed out[2];
  for (int i = 0; i < 2; ++i) {
    std::sort(ms[i].begin(), ms[i].end());
    out[i] = Timed{ms[i][ms[i].size() / 2], ms[i].front(), static_cast<int>(ms[i].size())};
  }
  return {out[0], out[1]};
}

// The kernel column: vnni, fused or tiles.
const char* KernelShortName(const std::string& name) {
  if (name == decode::kVnniKernel) return "vnni";
  return name == decode::kFusedKernel ? "fused" : "tiles";
}

std::vector<KVDType> KVDTypes(const std::string& list) {
  if (list.empty()) return {KVDType::kBF16, KVDType::kInt8, KVDType::kInt4};
  std::vector<KVDType> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(ParseKVDType(item));
  return out;
}

}  // namespace

void RunDecodeBench(const BenchFlags& f) {
  const harness::Format fmt = harness::ParseFormat(f.format);
  ATTNKIT_CHECK(f.shapes.empty(), "--shapes: decode mode uses its built-in shape list (see --list); "
                "select cases with --filter");
  ATTNKIT_CHECK(!f.autotune, "--autotune applies to dense attention, not to --decode");
  const std::regex re = CheckCommonBenchFlags(f);
  const std::vector<KVDType> dtypes = KVDTypes(f.dtype);
  const ThreadingContext ctx(f.threads);
  const int threads = ctx.num_threads();
  std::vector<DecodeShape> shapes;
  for (const DecodeShape& s : Shapes()) {
    if (std::regex_search(s.name, re)) shapes.push_back(s);
  }
  ATTNKIT_CHECK(!shapes.empty(), "--filter '", f.filter, "' matches none of the decode shapes (try --list)");
  if (f.list) {
    for (const DecodeShape& s : shapes) {
      int64_t total = 0;
      for (int64_t len : s.lengths) total += len;
      std::printf("%-16s Hq %3lld  Hkv %2lld  Dqk %3lld  Dv %3lld%s  batch %2zu  %lld query token(s)  "
                  "%lld cached tokens\n",
                  s.name.c_str(), static_cast<long long>(s.hq), static_cast<long long>(s.hkv),
                  static_cast<long long>(s.dk), static_cast<long long>(s.dv), s.mla ? " (MLA)" : "",
                  s.lengths.size(), static_cast<long long>(s.nq), static_cast<long long>(total));
    }
    return;
  }

  harness::Bandwidth roof;
  if (f.roof) roof = harness::MeasureReadBandwidth(threads);
  std::unique_ptr<harness::CacheEvictor> evictor;
  if (!f.warm) evictor = std::make_unique<harness::CacheEvictor>(CpuInfo::Detect().l3_bytes);
  char header[1024];
  std::snprintf(header, sizeof(header),
                "attnkit bench --decode: %zu shapes x %zu KV dtypes, paged cache (64 tokens/page), "
                "data with outlier channels, %s\nthreads %d | CPU: %s%s\n",
                shapes.size(), dtypes.size(),
                f.warm ? "warm caches (--warm)" : "caches evicted before every timed call",
                threads, CpuInfo::Detect().ToString().c_str(),
                f.roof ? ("\nread-bandwidth roof (1 GiB, " + std::to_string(threads) + " threads): " +
                          harness::Fixed(roof.best_gbps, 1) + " GB/s best, " +
                          harness::Fixed(roof.median_gbps, 1) + " GB/s median")
                             .c_str()
                       : "");
  if (fmt == harness::Format::kTable) {
    std::printf("%s\n", header);
  } else if (fmt == harness::Format::kCsv) {
    std::fprintf(stderr, "%s", header);
  }
  std::fflush(stdout);

  std::vector<std::string> cols = {"name", "kv", "kernel", "ms", "min_ms", "GB/s", "tok/s", "splitkv_ms",
                                   "sk_gain", "rel_l2", "rel_l2_off"};
  if (f.roof) cols.insert(cols.begin() + 6, "roof%");
  harness::Table table(cols);
  harness::Progress progress("bench --decode", static_cast<int64_t>(shapes.size() * dtypes.size()));
  for (const DecodeShape& s : shapes) {
    for (KVDType dt : dtypes) {
      const Filled filled = Fill(s, dt, decode::TokenStyle::kScaled);
      AttentionSpec spec;
      spec.num_q_heads = s.hq;
      spec.num_kv_heads = s.hkv;
      spec.head_dim_qk = s.dk;
      spec.head_dim_v = s.dv;
      if (s.mla) spec.scale = 1.0f / std::sqrt(192.0f);  // DeepSeek: 1/sqrt(128 + 64)
      spec.mask.causal = true;
      std::vector<int64_t> nq;
      for (int64_t len : s.lengths) nq.push_back(std::min(s.nq, len));
      decode::BatchData d = decode::MakeBatch(spec, filled.ids, nq, 7);
      DecodeOptions stream_k;  // kAuto: stream-K, 4 workers per thread
      stream_k.kernel = f.kernel;
      DecodeOptions split = stream_k;
      split.partition = DecodePartition::kSplitKV;
      const DecodePlan plan = MakeDecodePlan(spec, *filled.cache, d.batch, DType::kF32, DType::kF32, ctx, stream_k);
      const DecodePlan split_plan =
          MakeDecodePlan(spec, *filled.cache, d.batch, DType::kF32, DType::kF32, ctx, split);
      const auto [t, ts] = TimeAlternating(plan, split_plan, *filled.cache, d.t, f, evictor.get(), threads);
      const double gbps = plan.state().kv_bytes / (t.median_ms * 1e6);
      const double toks = static_cast<double>(d.batch.cu_seqlens_q.back()) / (t.median_ms / 1e3);
      // (Skipped past 64k tokens: the f32 copy and the fp64 pass would cost GBs and seconds.)
      const bool exact = s.lengths[0] <= 65536;
      const double err = exact ? ExactRelL2(s, spec, filled, d) : -1.0;
      // The same queries against a cache of the KIVI-style data (offset outliers).
      double err_off = -1.0;
      if (exact) {
        const Filled off = Fill(s, dt, decode::TokenStyle::kOffsets);
        const DecodePlan off_plan = MakeDecodePlan(spec, *off.cache, d.batch, DType::kF32, DType::kF32, ctx, stream_k);
        std::vector<std::byte> ws(off_plan.workspace_bytes());
        RunDecode(off_plan, *off.cache, d.t, ws);
        err_off = ExactRelL2(s, spec, off, d);
      }
      std::string kv(Name(dt));
      if (filled.cfg.hadamard) kv += "+H";
      std::vector<std::string> row = {s.name, kv, KernelShortName(plan.kernel_name()),
                                      harness::Fixed(t.median_ms, 3), harness::Fixed(t.min_ms, 3),
                                      harness::Fixed(gbps, 1),
                                      harness::Sig(toks, 4), harness::Fixed(ts.median_ms, 3),
                                      harness::Fixed(ts.median_ms / t.median_ms, 2), err < 0 ? std::string("-") : harness::Sig(err, 2),
                                      err_off < 0 ? std::string("-") : harness::Sig(err_off, 2)};
      if (f.roof) row.insert(row.begin() + 6, harness::Fixed(100.0 * gbps / roof.best_gbps, 0));
      table.AddRow(row);
      progress.Step(s.name + " " + kv);
    }
  }
  progress.Done();
  if (fmt == harness::Format::kJson || fmt == harness::Format::kCsv) {
    std::printf("%s", table.Render(fmt).c_str());
    return;
  }
  std::printf("%s", table.Render(fmt).c_str());
  std::printf(
      "\nms: median wall time of RunDecode with stream-K (4 workers per thread, handed out dynamically); min_ms: its fastest call\n(on a "
      "machine shared with other jobs the least disturbed one); GB/s: bytes of K/V data\nand scales the plan reads / median time%s; tok/s: query tokens per second; "
      "splitkv_ms: the\nfixed split-KV partition, timed alternately with stream-K; sk_gain = splitkv_ms / ms; rel_l2: "
      "output of the first\nsequence vs exact fp64 attention on the unquantised keys and values "
      "(int4+H: Hadamard-rotated), keys with\n20 of 128 channels scaled 16x (near one-hot attention); "
      "rel_l2_off: the same queries on KIVI-style keys\n(20 channels with large per-channel offsets, logit std ~1.5).\n",
      f.roof ? "; roof%: GB/s as a percentage of the best read bandwidth above" : "");
  std::fflush(stdout);
}

}  // namespace attnkit::cli
