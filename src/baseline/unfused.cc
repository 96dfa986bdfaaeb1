// SPDX-License-Identifier: Apache-2.0
// The unfused OpenBLAS baseline (see unfused.h): loading OpenBLAS with dlopen,
// the vectorised per-row modifiers + softmax (Highway, dynamic dispatch), and
// the chunked (sequence, head, rows) driver around two sgemm calls.
// foreach_target.h must come first (clang-format would regroup it).
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/baseline/unfused.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
// clang-format on

#ifndef ATTNKIT_BASELINE_UNFUSED_ROW_TYPES_
#define ATTNKIT_BASELINE_UNFUSED_ROW_TYPES_
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace attnkit::baseline::detail {

// What ProcessRow needs to turn one row of raw scores into exp(s - max).
// Element c of the row is key key0 + c of the sequence.
struct RowArgs {
  float softcap = 0.0f;  // 0 = off
  bool alibi = false;
  float alibi_slope = 0.0f;
  int64_t pos_minus_key0 = 0;   // query position p - key0: |p - j| = |pos_minus_key0 - c|
  const float* bias = nullptr;  // bias row, element c = bias of key key0 + c; null = none
  bool has_sink = false;
  float sink = 0.0f;
};

// max: the largest logit of the row (including the sink), -inf if the row
// sees nothing; sum: sum of exp(logit - max) over visible keys and the sink.
struct RowStats {
  float max = 0.0f;
  float sum = 0.0f;
};

}  // namespace attnkit::baseline::detail
#endif  // ATTNKIT_BASELINE_UNFUSED_ROW_TYPES_

// ---------------------------------------------------------------- per target
HWY_BEFORE_NAMESPACE();
namespace attnkit::baseline {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Row s[0, n) holds scale * <q, k> for keys key0 .. key0 + n - 1; only
// [lo, hi) is visible. Afterwards s[c] = exp(logit_c - max) for visible c and
// 0 elsewhere (all 0 when the row sees nothing). Tails (fewer than a vector)
// go through a stack buffer so that no byte outside [lo, hi) is read.
detail::RowStats ProcessRow(float* HWY_RESTRICT s, int64_t n, int64_t lo, int64_t hi,
                            const detail::RowArgs& a) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  using V = hn::Vec<decltype(d)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (lo > 0) std::memset(s, 0, static_cast<size_t>(lo) * sizeof(float));
  if (hi < n) std::memset(s + hi, 0, static_cast<size_t>(n - hi) * sizeof(float));

  HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
  HWY_ALIGN float bias_buf[HWY_MAX_BYTES / sizeof(float)];
  const V neg_inf = hn::Set(d, kNegInf);
  const V cap = hn::Set(d, a.softcap);
  const V inv_cap = hn::Set(d, a.softcap > 0 ? 1.0f / a.softcap : 0.0f);
  const V slope = hn::Set(d, a.alibi_slope);
  const auto rel = hn::Set(di, static_cast<int32_t>(a.pos_minus_key0));

  // Pass 1: logits (soft-cap, ALiBi, bias) in place, and their maximum.
  auto logits = [&](V x, int64_t c, const float* bias_ptr) HWY_ATTR {
    if (a.softcap > 0) x = hn::Mul(cap, hn::Tanh(d, hn::Mul(x, inv_cap)));
    if (a.alibi) {
      const auto dist = hn::Abs(hn::Sub(rel, hn::Iota(di, static_cast<int32_t>(c))));
      x = hn::NegMulAdd(slope, hn::ConvertTo(d, dist), x);
    }
    if (bias_ptr != nullptr) x = hn::Add(x, hn::LoadU(d, bias_ptr));
    return x;
  };
  V vmax = neg_inf;
  int64_t c = lo;
  for (; c + lanes <= hi; c += lanes) {
    const V x = logits(hn::LoadU(d, s + c), c, a.bias ? a.bias + c : nullptr);
    hn::StoreU(x, d, s + c);
    vmax = hn::Max(vmax, x);
  }
  if (c < hi) {
    const size_t rem = static_cast<size_t>(hi - c);
    hn::Store(hn::Zero(d), d, buf);
    std::memcpy(buf, s + c, rem * sizeof(float));
    if (a.bias) {
      hn::Store(hn::Zero(d), d, bias_buf);
      std::memcpy(bias_buf, a.bias + c, rem * sizeof(float));
    }
    const V x = logits(hn::Load(d, buf), c, a.bias ? bias_buf : nullptr);
    hn::Store(x, d, buf);
    std::memcpy(s + c, buf, rem * sizeof(float));
    vmax = hn::Max(vmax, hn::IfThenElse(hn::FirstN(d, rem), x, neg_inf));
  }
  float m = hn::GetLane(hn::MaxOfLanes(d, vmax));
  if (a.has_sink && a.sink > m) m = a.sink;
  if (m == kNegInf) {  // sees no key and has no sink: P = 0
    if (hi > lo) std::memset(s + lo, 0, static_cast<size_t>(hi - lo) * sizeof(float));
    return {kNegInf, 0.0f};
  }

  // Pass 2: P = exp(logit - max) in place (exp(-inf) = 0), and the row sum.
  const V vm = hn::Set(d, m);
  V vsum = hn::Zero(d);
  for (c = lo; c + lanes <= hi; c += lanes) {
    const V e = hn::Exp(d, hn::Sub(hn::LoadU(d, s + c), vm));
    hn::StoreU(e, d, s + c);
    vsum = hn::Add(vsum, e);
  }
  if (c < hi) {
    const size_t rem = static_cast<size_t>(hi - c);
    hn::Store(neg_inf, d, buf);
    std::memcpy(buf, s + c, rem * sizeof(float));
    const V e = hn::Exp(d, hn::Sub(hn::Load(d, buf), vm));
    hn::Store(e, d, buf);
    std::memcpy(s + c, buf, rem * sizeof(float));
    vsum = hn::Add(vsum, hn::IfThenElseZero(hn::FirstN(d, rem), e));
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  if (a.has_sink) sum += std::exp(a.sink - m);
  return {m, sum};
}

}  // namespace HWY_NAMESPACE
}  // namespace attnkit::baseline
HWY_AFTER_NAMESPACE();

// ---------------------------------------------------------------- once
#if HWY_ONCE
#include <dlfcn.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "attnkit/error.h"
#include "src/baseline/unfused.h"
#include "src/plan/validate.h"

namespace attnkit::baseline {

HWY_EXPORT(ProcessRow);

namespace {

// CBLAS enums (cblas.h): row-major storage, (no) transpose.
constexpr int kCblasRowMajor = 101;
constexpr int kCblasNoTrans = 111;
constexpr int kCblasTrans = 112;

using SgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float* a, int lda, const float* b, int ldb, float beta, float* c,
                         int ldc);
using SetThreadsFn = void (*)(int);
using GetStringFn = char* (*)();

struct Loaded {
  BlasInfo info;
  void* handle = nullptr;
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_num_threads = nullptr;
};

// $ATTNKIT_OPENBLAS (a path or soname) when set, else the Debian/Ubuntu builds.
std::vector<std::string> DefaultCandidates() {
  const char* user = std::getenv("ATTNKIT_OPENBLAS");
  if (user != nullptr && *user != '\0') return {user};
  return {
      "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
      "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
      "libopenblas.so.0",
  };
}

// OPENBLAS_CORETYPE=SkylakeX when the CPU runs SkylakeX kernels (AVX-512
// F/BW/DQ/VL) and the user has not chosen a core type. Returns whether set.
bool MaybeForceCoreType() {
#if defined(__x86_64__) || defined(__i386__)
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return false;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return setenv("OPENBLAS_CORETYPE", "SkylakeX", /*overwrite=*/0) == 0;
  }
#endif
  return false;
}

Loaded LoadFrom(const std::vector<std::string>& candidates) {
  Loaded l;
  l.info.coretype_set_by_us = MaybeForceCoreType();
  std::string errors;
  for (const std::string& path : candidates) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      const std::string why = e ? e : "dlopen failed";
      // dlerror() usually starts with the path already.
      errors += (errors.empty() ? "" : "; ") + (why.find(path) == 0 ? why : path + ": " + why);
      continue;
    }
    auto sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    auto set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    auto corename = reinterpret_cast<GetStringFn>(dlsym(h, "openblas_get_corename"));
    auto config = reinterpret_cast<GetStringFn>(dlsym(h, "openblas_get_config"));
    if (!sgemm || !set_threads || !corename || !config) {
      errors += (errors.empty() ? "" : "; ") + path +
                ": missing cblas_sgemm / openblas_set_num_threads / openblas_get_corename / "
                "openblas_get_config";
      dlclose(h);
      continue;
    }
    l.handle = h;
    l.sgemm = sgemm;
    l.set_num_threads = set_threads;
    l.info.available = true;
    l.info.library = path;
    const char* core = corename();
    const char* cfg = config();
    l.info.core_name = core ? core : "?";
    l.info.config = cfg ? cfg : "?";
    // Trailing blanks in the config string.
    while (!l.info.config.empty() && l.info.config.back() == ' ') l.info.config.pop_back();
    return l;
  }
  l.info.error = "could not load OpenBLAS (" + errors +
                 "); install libopenblas0-openmp (Debian/Ubuntu) to enable the baseline";
  return l;
}

const Loaded& Library() {
  static const Loaded kLoaded = LoadFrom(DefaultCandidates());
  return kLoaded;
}

const Loaded& RequireLibrary() {
  const Loaded& l = Library();
  ATTNKIT_CHECK(l.info.available, "the unfused baseline needs OpenBLAS: ", l.info.error);
  return l;
}

// Runs `fn` with OpenBLAS using `threads` threads, then restores one thread
// for OpenBLAS and the caller's OpenMP thread count (OpenBLAS's OpenMP build
// sets the OpenMP default through openblas_set_num_threads).
template <class Fn>
void WithBlasThreads(const Loaded& l, int threads, const Fn& fn) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
#endif
  l.set_num_threads(threads);
  fn();
  l.set_num_threads(1);
#ifdef _OPENMP
  omp_set_num_threads(saved);
#endif
}

int CheckedInt(int64_t v, const char* what) {
  ATTNKIT_CHECK(v >= 0 && v <= INT_MAX, "unfused baseline: ", what, " = ", v,
                " does not fit the 32-bit BLAS interface");
  return static_cast<int>(v);
}

// Leading dimension of a matrix with `rows` rows of `cols` floats, `stride`
// apart. BLAS requires ld >= cols even when there is a single row.
int Ld(int64_t stride, int64_t rows, int64_t cols) {
  return CheckedInt(rows <= 1 ? std::max<int64_t>(cols, 1) : stride, "leading dimension");
}

// Visible keys [lo, hi) of the query at position p among nk keys (spec.h).
void VisibleRange(const MaskSpec& mask, int64_t p, int64_t nk, int64_t* lo, int64_t* hi) {
  const int64_t left = mask.window_left, right = mask.effective_right();
  *lo = left >= nk ? 0 : std::max<int64_t>(0, p - left);  // p <= nk - 1
  *hi = right >= nk - p ? nk : std::clamp<int64_t>(p + right + 1, 0, nk);
  *hi = std::max(*hi, *lo);
}

void CheckF32Rows(const char* name, const TensorView& t) {
  ATTNKIT_CHECK(t.dtype == DType::kF32, "unfused baseline: tensor '", name, "' must be f32, got ",
                Name(t.dtype), " (widen the inputs with baseline::WidenToF32 first)");
  ATTNKIT_CHECK(t.shape[2] <= 1 || t.strides[2] >= t.shape[3], "unfused baseline: tensor '", name,
                "' has row stride ", t.strides[2], " < its row length ", t.shape[3],
                " (rows must not overlap)");
  CheckedInt(t.strides[2], "row stride");
}

}  // namespace

// ---------------------------------------------------------------- OpenBLAS

std::string BlasInfo::Describe() const {
  if (!available) return "OpenBLAS unavailable: " + error;
  return "OpenBLAS core " + core_name +
         (coretype_set_by_us ? " (OPENBLAS_CORETYPE set by attnkit)" : "") + ", " + config + ", " +
         library;
}

const BlasInfo& Blas() { return Library().info; }

BlasInfo ProbeBlas(const std::vector<std::string>& candidates) {
  Loaded l = LoadFrom(candidates);
  if (l.handle != nullptr) dlclose(l.handle);  // the process-wide copy keeps its own reference
  return l.info;
}

double MeasureSgemmGflops(int num_threads, int64_t n, double min_seconds) {
  const Loaded& l = RequireLibrary();
  ATTNKIT_CHECK(n >= 1 && n <= 16384, "MeasureSgemmGflops: n must be in [1, 16384], got ", n);
  const int ni = static_cast<int>(n);
  std::vector<float> a(static_cast<size_t>(n * n)), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(i % 13) * 0.01f;
    b[i] = static_cast<float>(i % 7) * 0.02f;
  }
  double best = 1e300;
  WithBlasThreads(l, std::max(1, num_threads), [&] {
    auto once = [&] {
      const auto t0 = std::chrono::steady_clock::now();
      l.sgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, ni, ni, ni, 1.0f, a.data(), ni,
              b.data(), ni, 0.0f, c.data(), ni);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    once();  // warm-up: thread start, page faults
    double total = 0;
    for (int rep = 0; rep < 3 || total < min_seconds; ++rep) {
      const double t = once();
      best = std::min(best, t);
      total += t;
      if (rep >= 100) break;
    }
  });
  return 2.0 * static_cast<double>(n) * n * n / best * 1e-9;
}

// ---------------------------------------------------------------- inputs

namespace {

// Copies a [d0, d1, d2, d3] view of any dtype into packed f32.
TensorView Widen(const TensorView& t, std::vector<float>& dst) {
  if (t.empty()) return TensorView{};
  ATTNKIT_CHECK(t.rank == 4, "WidenToF32: expected a rank-4 tensor, got ", t.ShapeString());
  dst.resize(static_cast<size_t>(t.numel()));
  size_t i = 0;
  for (int64_t a = 0; a < t.shape[0]; ++a)
    for (int64_t b = 0; b < t.shape[1]; ++b)
      for (int64_t c = 0; c < t.shape[2]; ++c) {
        const int64_t base = a * t.strides[0] + b * t.strides[1] + c * t.strides[2];
        for (int64_t e = 0; e < t.shape[3]; ++e) {
          dst[i++] = LoadAsF32(t.data, t.dtype, base + e * t.strides[3]);
        }
      }
  return TensorView::Contiguous(dst.data(), DType::kF32,
                                {t.shape[0], t.shape[1], t.shape[2], t.shape[3]});
}

}  // namespace

F32Inputs WidenToF32(const AttentionTensors& in) {
  F32Inputs f;
  f.tensors.q = Widen(in.q, f.q);
  f.tensors.k = Widen(in.k, f.k);
  f.tensors.v = Widen(in.v, f.v);
  f.tensors.bias = Widen(in.bias, f.bias);
  f.tensors.sinks = in.sinks;
  return f;
}

// ---------------------------------------------------------------- baseline

Unfused::Unfused(const AttentionSpec& spec, const AttentionShape& shape, int num_threads,
                 int64_t chunk_rows)
    : spec_(spec), shape_(shape), num_threads_(std::max(1, num_threads)), chunk_rows_(chunk_rows) {
  ValidateSpec(spec_);
  ValidateShape(spec_, shape_);
  ATTNKIT_CHECK(num_threads <= 1024, "unfused baseline: num_threads must be <= 1024, got ",
                num_threads);
  ATTNKIT_CHECK(chunk_rows >= 1 && chunk_rows <= 65536,
                "unfused baseline: chunk_rows must be in [1, 65536], got ", chunk_rows);
  RequireLibrary();
  // The baseline computes in f32 from f32 tensors, whatever the case's dtypes.
  shape_.dtype = DType::kF32;
  shape_.out_dtype = DType::kF32;
  scale_ = spec_.resolved_scale();
  if (spec_.alibi)
    slopes_ = spec_.alibi_slopes.empty() ? AlibiSlopes(spec_.num_q_heads) : spec_.alibi_slopes;

  // Items: per sequence and head, chunks from last to first, so the widest
  // (causal: last) chunks start first and the narrow ones fill the tail.
  for (int64_t s = 0; s < shape_.batch; ++s) {
    const int64_t nq = shape_.seq_q(s), nk = shape_.seq_k(s);
    if (nq == 0) continue;
    const int64_t chunks = (nq + chunk_rows_ - 1) / chunk_rows_;
    for (int64_t h = 0; h < spec_.num_q_heads; ++h) {
      for (int64_t c = chunks - 1; c >= 0; --c) {
        Item it{s, h, c * chunk_rows_, std::min(chunk_rows_, nq - c * chunk_rows_), 0, 0};
        int64_t lo_first, hi_first, lo_last, hi_last;
        VisibleRange(spec_.mask, nk - nq + it.row0, nk, &lo_first, &hi_first);
        VisibleRange(spec_.mask, nk - nq + it.row0 + it.rows - 1, nk, &lo_last, &hi_last);
        it.key0 = lo_first;  // both bounds are non-decreasing in the position
        it.keys = std::max<int64_t>(0, hi_last - lo_first);
        max_keys_ = std::max(max_keys_, it.keys);
        items_.push_back(it);
      }
    }
  }
  CheckedInt(max_keys_, "key range");
  CheckedInt(spec_.head_dim_qk, "head_dim_qk");
  CheckedInt(spec_.head_dim_v, "head_dim_v");
  // Per thread: chunk_rows x max_keys scores, then chunk_rows row stats (max, sum).
  scratch_.resize(static_cast<size_t>(num_threads_) * chunk_rows_ * (max_keys_ + 2));
}

void Unfused::Run(const AttentionTensors& t) {
  CheckF32Rows("q", t.q);  // before ValidateTensors, for the more helpful message
  CheckF32Rows("k", t.k);
  CheckF32Rows("v", t.v);
  CheckF32Rows("out", t.out);
  ValidateTensors(spec_, shape_, t);
  if (spec_.has_bias) {
    ATTNKIT_CHECK(t.bias.dtype == DType::kF32, "unfused baseline: tensor 'bias' must be f32, got ",
                  Name(t.bias.dtype), " (widen it with baseline::WidenToF32 first)");
  }
  const Loaded& l = RequireLibrary();
  const int64_t per_thread = chunk_rows_ * (max_keys_ + 2);
  const int64_t n = static_cast<int64_t>(items_.size());
  WithBlasThreads(l, 1, [&] {
#pragma omp parallel for schedule(dynamic) num_threads(num_threads_)
    for (int64_t w = 0; w < n; ++w) {
#ifdef _OPENMP
      const int64_t thread = omp_get_thread_num();
#else
      const int64_t thread = 0;
#endif
      RunItem(t, items_[static_cast<size_t>(w)], scratch_.data() + thread * per_thread);
    }
  });
}

void Unfused::RunItem(const AttentionTensors& t, const Item& it, float* scores) const {
  const Loaded& l = Library();
  const bool varlen = shape_.is_varlen();
  const int64_t b = varlen ? 0 : it.seq;
  const int64_t nq = shape_.seq_q(it.seq), nk = shape_.seq_k(it.seq);
  const int64_t q_row0 = (varlen ? shape_.cu_seqlens_q[it.seq] : 0) + it.row0;  // tensor rows
  const int64_t k_row0 = (varlen ? shape_.cu_seqlens_k[it.seq] : 0) + it.key0;
  const int64_t h = it.head, g = h / (spec_.num_q_heads / spec_.num_kv_heads);
  const int64_t dqk = spec_.head_dim_qk, dv = spec_.head_dim_v;
  const auto at = [](const TensorView& v, int64_t i0, int64_t i1, int64_t i2) {
    return static_cast<float*>(v.data) + i0 * v.strides[0] + i1 * v.strides[1] + i2 * v.strides[2];
  };
  const float* q = at(t.q, b, h, q_row0);
  const float* k = at(t.k, b, g, k_row0);
  const float* v = at(t.v, b, g, k_row0);
  float* o = at(t.out, b, h, q_row0);
  const int64_t o_stride = t.out.strides[2];
  float* lse = t.lse.empty() ? nullptr
                             : static_cast<float*>(t.lse.data) + b * t.lse.strides[0] +
                                   h * t.lse.strides[1] + q_row0 * t.lse.strides[2];
  const bool has_sink = spec_.has_sinks;
  const float sink =
      has_sink ? LoadAsF32(t.sinks.data, t.sinks.dtype, h * t.sinks.strides[0]) : 0.0f;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  if (it.keys == 0) {  // no row of the chunk sees a key: O = 0, LSE = sink or -inf
    for (int64_t r = 0; r < it.rows; ++r) {
      std::fill(o + r * o_stride, o + r * o_stride + dv, 0.0f);
      if (lse) lse[r * t.lse.strides[2]] = has_sink ? sink : kNegInf;
    }
    return;
  }
  const int rows = static_cast<int>(it.rows), keys = static_cast<int>(it.keys);
  detail::RowStats* stats = reinterpret_cast<detail::RowStats*>(scores + chunk_rows_ * max_keys_);

  // S[rows, keys] = scale * Q[rows, dqk] . K[keys, dqk]^T
  l.sgemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, rows, keys, static_cast<int>(dqk), scale_, q,
          Ld(t.q.strides[2], rows, dqk), k, Ld(t.k.strides[2], keys, dqk), 0.0f, scores, keys);

  detail::RowArgs args;
  args.softcap = spec_.softcap;
  args.alibi = !slopes_.empty();
  args.alibi_slope = args.alibi ? slopes_[static_cast<size_t>(h)] : 0.0f;
  args.has_sink = has_sink;
  args.sink = sink;
  const TensorView& bias = t.bias;
  const auto process_row = HWY_DYNAMIC_DISPATCH(ProcessRow);
  for (int64_t r = 0; r < it.rows; ++r) {
    const int64_t i = it.row0 + r, p = nk - nq + i;
    int64_t lo, hi;
    VisibleRange(spec_.mask, p, nk, &lo, &hi);
    lo = std::clamp<int64_t>(lo - it.key0, 0, it.keys);
    hi = std::clamp<int64_t>(hi - it.key0, lo, it.keys);
    args.pos_minus_key0 = p - it.key0;
    if (spec_.has_bias) {  // broadcast axes (size 1) do not advance
      args.bias = static_cast<const float*>(bias.data) +
                  (bias.shape[0] > 1 ? b * bias.strides[0] : 0) +
                  (bias.shape[1] > 1 ? h * bias.strides[1] : 0) +
                  (bias.shape[2] > 1 ? i * bias.strides[2] : 0) + it.key0;
    }
    stats[r] = process_row(scores + r * it.keys, it.keys, lo, hi, args);
  }

  // O[rows, dv] = P[rows, keys] . V[keys, dv], then each row divided by its sum.
  l.sgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, rows, static_cast<int>(dv), keys, 1.0f,
          scores, keys, v, Ld(t.v.strides[2], keys, dv), 0.0f, o, Ld(o_stride, rows, dv));
  for (int64_t r = 0; r < it.rows; ++r) {
    float* row = o + r * o_stride;
    const detail::RowStats st = stats[r];
    if (st.max == kNegInf) {
      std::fill(row, row + dv, 0.0f);
      if (lse) lse[r * t.lse.strides[2]] = kNegInf;
      continue;
    }
    const float inv = 1.0f / st.sum;
    for (int64_t c = 0; c < dv; ++c) row[c] *= inv;
    if (lse) lse[r * t.lse.strides[2]] = st.max + std::log(st.sum);
  }
}

}  // namespace attnkit::baseline
#endif  // HWY_ONCE
