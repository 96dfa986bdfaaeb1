// SPDX-License-Identifier: Apache-2.0
// `attnkit run`: exact attention on tensors read from .npy files, the output
// (and optionally the log-sum-exp) written back as float32 .npy files.
//
// Shapes (bhnd = heads-major, bnhd = tokens-major; see docs/cli_run.md):
//   fixed length   q [B, Hq, Nq, Dqk]  k [B, Hkv, Nk, Dqk]  v [B, Hkv, Nk, Dv]   (bhnd)
//                  q [B, Nq, Hq, Dqk]  k [B, Nk, Hkv, Dqk]  v [B, Nk, Hkv, Dv]   (bnhd)
//                  out like q with Dv; lse [B, Hq, Nq]
//   varlen         q [Hq, Tq, Dqk] ... (bhnd) or [Tq, Hq, Dqk] ... (bnhd), all
//                  sequences packed along tokens, Tq = cu_seqlens_q[-1];
//                  out likewise; lse [Hq, Tq]
//   sinks [Hq]; bias [B|1, Hq|1, Nq|1, Nk] (always in this axis order)
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "attnkit/attnkit.h"
#include "src/io/npy.h"
#include "tools/cli/commands.h"
#include "tools/cli/problem_flags.h"

namespace attnkit::cli {
namespace {

struct RunFlags {
  std::string q, k, v, out, lse, sinks, bias, cu_seqlens_q, cu_seqlens_k;
  bool causal = false, alibi = false, verbose = false;
  // Numbers are taken as text and parsed here so that every bad value is an
  // attnkit::Error naming its flag.
  std::string window, softcap, scale, threads;
  std::string dtype = "f32", layout = "bhnd";
  std::string kernel;  // registry kernel name; "" = the planner's choice
};

// One array read from a file given by a flag.
struct Input {
  std::string flag, path;
  io::NpyArray array;

  std::string Where() const { return flag + " " + path; }
  std::string Shape() const { return array.ShapeString(); }
};

// Re-throws `fn`'s attnkit::Error with `prefix` in front of its message.
template <typename Fn>
auto WithContext(const std::string& prefix, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    detail::Throw(prefix, e.what());
  }
}

Input Load(const std::string& flag, const std::string& path) {
  Input in{flag, path, {}};
  // ReadNpy's messages start with the path: "--q Q.npy: truncated: ...".
  in.array = WithContext(flag + " ", [&] { return io::ReadNpy(path); });
  return in;
}

void CheckFloatInput(const Input& in, const char* role) {
  ATTNKIT_CHECK(io::IsFloat(in.array.type), in.Where(), ": dtype ", io::Name(in.array.type),
                " is not supported for ", role, " (allowed: float32, float16, float64)");
}

float ParseFloatFlag(const char* flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(text.c_str(), &end);
  ATTNKIT_CHECK(!text.empty() && end == text.c_str() + text.size(), flag, " '", text,
                "' is not a number");
  ATTNKIT_CHECK(std::isfinite(v) && errno != ERANGE, flag, " '", text,
                "' must be a finite float32 value");
  return v;
}

int ParseThreads(const std::string& text) {
  if (text.empty()) return 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  ATTNKIT_CHECK(end == text.c_str() + text.size(), "--threads '", text, "' is not an integer");
  ATTNKIT_CHECK(v >= 0 && v <= 1024, "--threads ", text,
                ": must be in [0, 1024] (0 = all hardware threads)");
  return static_cast<int>(v);
}

// "[1, 2, 3]": the multi-index of flat element `i` of a C-order array.
std::string IndexString(const io::NpyArray& a, int64_t i) {
  std::vector<int64_t> idx(a.shape.size());
  for (int d = a.rank() - 1; d >= 0; --d) {
    idx[d] = i % a.shape[d];
    i /= a.shape[d];
  }
  std::ostringstream os;
  os << '[';
  for (size_t d = 0; d < idx.size(); ++d) os << (d ? ", " : "") << idx[d];
  os << ']';
  return os.str();
}

// The values of `in` in f32, rejecting NaN and infinities (-inf is allowed
// where it means "masked", in bias and sinks).
std::vector<float> FiniteF32(const Input& in, bool allow_neg_inf) {
  std::vector<float> f = in.array.ToF32();
  for (size_t i = 0; i < f.size(); ++i) {
    const float x = f[i];
    if (std::isfinite(x) || (allow_neg_inf && std::isinf(x) && x < 0)) continue;
    const bool overflowed = in.array.type == io::NpyType::kF64 && !std::isnan(x);
    ATTNKIT_CHECK(
        false, in.Where(), ": element ", IndexString(in.array, static_cast<int64_t>(i)),
        overflowed ? " overflows float32" : (std::isnan(x) ? " is NaN" : " is infinite"),
        allow_neg_inf ? " (only finite values and -inf are allowed)" : " (inputs must be finite)");
  }
  return f;
}

// The values of a q/k/v input stored as `dtype`, checked to stay finite. At
// least one element is allocated so that the tensor pointer is never null.
std::vector<uint8_t> ConvertInput(const Input& in, DType dtype) {
  const std::vector<float> f = FiniteF32(in, /*allow_neg_inf=*/false);
  std::vector<uint8_t> out(std::max<size_t>(f.size(), 1) * SizeOf(dtype));
  for (size_t i = 0; i < f.size(); ++i) {
    StoreFromF32(out.data(), dtype, static_cast<int64_t>(i), f[i]);
    const float stored = LoadAsF32(out.data(), dtype, static_cast<int64_t>(i));
    ATTNKIT_CHECK(std::isfinite(stored), in.Where(), ": element ",
                  IndexString(in.array, static_cast<int64_t>(i)), " = ", f[i],
                  " overflows --dtype ", Name(dtype), " (use --dtype f32 or bf16)");
  }
  return out;
}

// Logical sizes of an attention operand: [B, H, N, D] whatever the layout.
struct Dims {
  int64_t b = 1, h = 0, n = 0, d = 0;
};

// Reads the sizes of q, k or v from its .npy shape. `h`, `n`, `d` name the
// axes in messages (e.g. "Hkv", "Nk", "Dqk").
Dims AttentionDims(const Input& in, Layout layout, bool varlen, const char* h, const char* n,
                   const char* d) {
  const std::string nn = varlen ? std::string("T") + (n[1] == 'q' ? "q" : "k") : n;
  std::ostringstream axes;
  if (varlen) {
    axes << (layout == Layout::kBHND ? "[" + std::string(h) + ", " + nn + ", " + d + "]"
                                     : "[" + nn + ", " + h + ", " + d + "]");
    axes << " (packed varlen, --layout " << Name(layout) << ")";
  } else {
    axes << (layout == Layout::kBHND ? "[B, " + std::string(h) + ", " + nn + ", " + d + "]"
                                     : "[B, " + nn + ", " + h + ", " + d + "]");
    axes << " (--layout " << Name(layout) << ")";
  }
  const int rank = varlen ? 3 : 4;
  ATTNKIT_CHECK(in.array.rank() == rank, in.Where(), ": expected rank ", rank, " ", axes.str(),
                ", got shape ", in.Shape());
  const std::vector<int64_t>& s = in.array.shape;
  Dims out;
  const int o = varlen ? 0 : 1;  // offset of the first non-batch axis
  if (!varlen) out.b = s[0];
  if (layout == Layout::kBHND) {
    out.h = s[o];
    out.n = s[o + 1];
  } else {
    out.n = s[o];
    out.h = s[o + 1];
  }
  out.d = s[o + 2];
  ATTNKIT_CHECK(out.b >= 1 && out.h >= 1 && out.d >= 1 && (varlen || out.n >= 1), in.Where(),
                ": shape ", in.Shape(), " ", axes.str(), " has an empty axis (B = ", out.b, ", ", h,
                " = ", out.h, ", ", nn, " = ", out.n, ", ", d, " = ", out.d, "); all must be >= 1");
  return out;
}

// Two inputs must agree on one size.
void Agree(const Input& a, int64_t va, const Input& b, int64_t vb, const char* what) {
  ATTNKIT_CHECK(va == vb, a.Where(), " and ", b.Where(), " disagree on ", what, ": ", va, " (",
                a.flag.substr(2), " shape ", a.Shape(), ") vs ", vb, " (", b.flag.substr(2),
                " shape ", b.Shape(), ")");
}

// Reads and checks a varlen offsets array: rank 1, integer, starts at 0,
// non-decreasing, ends at the packed token count of `packed`.
std::vector<int64_t> LoadCuSeqlens(const std::string& flag, const std::string& path,
                                   const Input& packed, int64_t total) {
  const Input in = Load(flag, path);
  ATTNKIT_CHECK(in.array.type == io::NpyType::kI32 || in.array.type == io::NpyType::kI64,
                in.Where(), ": dtype ", io::Name(in.array.type),
                " is not supported for sequence offsets (allowed: int32, int64)");
  ATTNKIT_CHECK(in.array.rank() == 1 && in.array.shape[0] >= 2, in.Where(),
                ": expected rank 1 [batch + 1] with at least 2 entries, got shape ", in.Shape());
  std::vector<int64_t> cu = in.array.ToI64();
  ATTNKIT_CHECK(cu[0] == 0, in.Where(), ": the first offset must be 0, got ", cu[0]);
  for (size_t i = 1; i < cu.size(); ++i) {
    ATTNKIT_CHECK(cu[i] >= cu[i - 1], in.Where(), ": offsets must be non-decreasing, but entry ", i,
                  " = ", cu[i], " < entry ", i - 1, " = ", cu[i - 1]);
  }
  ATTNKIT_CHECK(cu.back() == total, in.Where(), ": the last offset (", cu.back(),
                ") must equal the packed token count of ", packed.Where(), " (", total, ", shape ",
                packed.Shape(), ")");
  return cu;
}

void RunCommand(const RunFlags& f) {
  // ---- flags
  for (const auto& [value, flag] : {std::pair{&f.q, "--q"}, std::pair{&f.k, "--k"},
                                    std::pair{&f.v, "--v"}, std::pair{&f.out, "--out"}}) {
    ATTNKIT_CHECK(!value->empty(), flag, " is required (see attnkit run --help)");
  }
  ATTNKIT_CHECK(f.lse.empty() || f.lse != f.out, "--out and --lse name the same file '", f.out,
                "'");
  const DType dtype = WithContext("--dtype: ", [&] { return ParseDType(f.dtype); });
  const Layout layout = WithContext("--layout: ", [&] { return ParseLayout(f.layout); });
  const bool varlen = !f.cu_seqlens_q.empty() || !f.cu_seqlens_k.empty();
  ATTNKIT_CHECK(f.cu_seqlens_q.empty() == f.cu_seqlens_k.empty(),
                "--cu-seqlens-q and --cu-seqlens-k must be given together (varlen batch), got ",
                f.cu_seqlens_q.empty() ? "only --cu-seqlens-k" : "only --cu-seqlens-q");
  ATTNKIT_CHECK(!(varlen && !f.bias.empty()),
                "--bias is not supported with a varlen batch (--cu-seqlens-q/-k)");

  AttentionSpec spec;
  spec.mask.causal = f.causal;
  if (!f.window.empty()) ParseWindow(f.window, spec.mask);
  if (!f.softcap.empty()) {
    spec.softcap = ParseFloatFlag("--softcap", f.softcap);
    ATTNKIT_CHECK(spec.softcap >= 0.0f, "--softcap ", f.softcap, ": must be >= 0 (0 = off)");
  }
  if (!f.scale.empty()) spec.scale = ParseFloatFlag("--scale", f.scale);
  spec.alibi = f.alibi;
  const int threads = ParseThreads(f.threads);

  // ---- q, k, v: shapes and consistency
  const Input q = Load("--q", f.q), k = Load("--k", f.k), v = Load("--v", f.v);
  CheckFloatInput(q, "q");
  CheckFloatInput(k, "k");
  CheckFloatInput(v, "v");
  const Dims dq = AttentionDims(q, layout, varlen, "Hq", "Nq", "Dqk");
  const Dims dk = AttentionDims(k, layout, varlen, "Hkv", "Nk", "Dqk");
  const Dims dv = AttentionDims(v, layout, varlen, "Hkv", "Nk", "Dv");
  if (!varlen) {
    Agree(q, dq.b, k, dk.b, "the batch size B");
    Agree(k, dk.b, v, dv.b, "the batch size B");
  }
  Agree(q, dq.d, k, dk.d, "the head dim Dqk");
  Agree(k, dk.h, v, dv.h, "the number of KV heads Hkv");
  Agree(k, dk.n, v, dv.n, varlen ? "the packed key count Tk" : "the key count Nk");
  ATTNKIT_CHECK(dq.h % dk.h == 0, q.Where(), " has Hq = ", dq.h, " query heads and ", k.Where(),
                " has Hkv = ", dk.h, " KV heads: Hq must be a multiple of Hkv (shapes ", q.Shape(),
                " and ", k.Shape(), ")");
  spec.num_q_heads = dq.h;
  spec.num_kv_heads = dk.h;
  spec.head_dim_qk = dq.d;
  spec.head_dim_v = dv.d;

  std::vector<int64_t> cu_q, cu_k;
  if (varlen) {
    cu_q = LoadCuSeqlens("--cu-seqlens-q", f.cu_seqlens_q, q, dq.n);
    cu_k = LoadCuSeqlens("--cu-seqlens-k", f.cu_seqlens_k, k, dk.n);
    ATTNKIT_CHECK(cu_q.size() == cu_k.size(), "--cu-seqlens-q ", f.cu_seqlens_q, " has ",
                  cu_q.size(), " entries (", cu_q.size() - 1, " sequences) but --cu-seqlens-k ",
                  f.cu_seqlens_k, " has ", cu_k.size(), " (", cu_k.size() - 1, " sequences)");
  }

  // ---- tensors in the compute dtype; the output and LSE in f32
  const std::vector<uint8_t> q_data = ConvertInput(q, dtype);
  const std::vector<uint8_t> k_data = ConvertInput(k, dtype);
  const std::vector<uint8_t> v_data = ConvertInput(v, dtype);
  const int64_t b = dq.b;  // 1 in varlen mode: tokens are packed along N
  AttentionTensors t;
  t.q = TensorView::Attention(q_data.data(), dtype, layout, b, dq.h, dq.n, dq.d);
  t.k = TensorView::Attention(k_data.data(), dtype, layout, b, dk.h, dk.n, dk.d);
  t.v = TensorView::Attention(v_data.data(), dtype, layout, b, dv.h, dv.n, dv.d);
  const int64_t out_numel = b * dq.h * dq.n * dv.d;
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(out_numel, 1)));
  t.out = TensorView::Attention(out.data(), DType::kF32, layout, b, dq.h, dq.n, dv.d);
  std::vector<float> lse;
  if (!f.lse.empty()) {
    spec.return_lse = true;
    lse.resize(static_cast<size_t>(std::max<int64_t>(b * dq.h * dq.n, 1)));
    t.lse = TensorView::Contiguous(lse.data(), DType::kF32, {b, dq.h, dq.n});
  }

  // ---- optional sinks [Hq] and bias [B|1, Hq|1, Nq|1, Nk], both kept in f32
  std::vector<float> sinks, bias;
  if (!f.sinks.empty()) {
    const Input s = Load("--sinks", f.sinks);
    CheckFloatInput(s, "sinks");
    ATTNKIT_CHECK(s.array.rank() == 1 && s.array.shape[0] == dq.h, s.Where(),
                  ": expected shape [Hq] = [", dq.h, "] (one sink logit per query head of ",
                  q.Where(), "), got ", s.Shape());
    sinks = FiniteF32(s, /*allow_neg_inf=*/true);
    spec.has_sinks = true;
    t.sinks = TensorView::Contiguous(sinks.data(), DType::kF32, {dq.h});
  }
  if (!f.bias.empty()) {
    const Input bi = Load("--bias", f.bias);
    CheckFloatInput(bi, "bias");
    const std::vector<int64_t>& s = bi.array.shape;
    const bool ok = bi.array.rank() == 4 && (s[0] == 1 || s[0] == dq.b) &&
                    (s[1] == 1 || s[1] == dq.h) && (s[2] == 1 || s[2] == dq.n) && s[3] == dk.n;
    ATTNKIT_CHECK(ok, bi.Where(), ": expected shape [B|1, Hq|1, Nq|1, Nk] = [", dq.b, "|1, ", dq.h,
                  "|1, ", dq.n, "|1, ", dk.n, "] (from ", q.Where(), " and ", k.Where(), "), got ",
                  bi.Shape());
    bias = FiniteF32(bi, /*allow_neg_inf=*/true);
    spec.has_bias = true;
    t.bias = TensorView::Contiguous(bias.data(), DType::kF32, {s[0], s[1], s[2], s[3]});
  }

  // ---- plan and run
  const std::string context = "attnkit run (--q " + f.q + ", --k " + f.k + ", --v " + f.v + "): ";
  PlanOptions options;
  options.kernel = f.kernel;
  const Plan plan = WithContext(context, [&] {
    return MakePlan(spec, ShapeOf(t, cu_q, cu_k), ThreadingContext(threads), options);
  });
  std::vector<std::byte> workspace(plan.workspace_bytes());
  const auto start = std::chrono::steady_clock::now();
  // A varlen batch of empty query sequences has nothing to compute (and its
  // zero-size views would have stride-0 axes, which Run rejects for outputs).
  if (dq.n > 0) WithContext(context, [&] { Run(plan, t, workspace); });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // ---- outputs: O in the layout of the inputs, LSE [B, Hq, Nq] or [Hq, Tq]
  std::vector<int64_t> out_shape;
  if (varlen) {
    out_shape = layout == Layout::kBHND ? std::vector<int64_t>{dq.h, dq.n, dv.d}
                                        : std::vector<int64_t>{dq.n, dq.h, dv.d};
  } else {
    out_shape = layout == Layout::kBHND ? std::vector<int64_t>{b, dq.h, dq.n, dv.d}
                                        : std::vector<int64_t>{b, dq.n, dq.h, dv.d};
  }
  WithContext("--out ", [&] { io::WriteNpy(f.out, out_shape, out.data()); });
  if (!f.lse.empty()) {
    const std::vector<int64_t> lse_shape =
        varlen ? std::vector<int64_t>{dq.h, dq.n} : std::vector<int64_t>{b, dq.h, dq.n};
    WithContext("--lse ", [&] { io::WriteNpy(f.lse, lse_shape, lse.data()); });
  }
  if (f.verbose) {
    std::printf("%s", plan.Explain().c_str());
    std::printf("run: %.3f ms on %d threads; wrote %s%s%s\n", seconds * 1e3, plan.num_threads(),
                f.out.c_str(), f.lse.empty() ? "" : " and ", f.lse.c_str());
  }
}

}  // namespace

void AddRunCommand(CLI::App& app) {
  // Owned by the callback, so that every app (tests build many) has fresh flags.
  auto f = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand(
      "run", "exact attention on .npy inputs; writes the output (and LSE) as float32 .npy");
  cmd->add_option("--q", f->q, "queries Q.npy [B, Hq, Nq, Dqk] (bhnd) or [B, Nq, Hq, Dqk] (bnhd)");
  cmd->add_option("--k", f->k, "keys K.npy [B, Hkv, Nk, Dqk] (bhnd) or [B, Nk, Hkv, Dqk] (bnhd)");
  cmd->add_option("--v", f->v, "values V.npy [B, Hkv, Nk, Dv] (bhnd) or [B, Nk, Hkv, Dv] (bnhd)");
  cmd->add_option("--out,-o", f->out, "output O.npy (float32, layout of the inputs) [required]");
  cmd->add_option("--lse", f->lse, "also write the log-sum-exp, float32 [B, Hq, Nq]");
  cmd->add_flag("--causal", f->causal, "causal mask, bottom-right aligned");
  cmd->add_option("--window", f->window, "sliding window L,R (keys p-L..p+R; 'inf' = unbounded)");
  cmd->add_option("--softcap", f->softcap, "logit soft-cap c: s = c tanh(s / c)");
  cmd->add_flag("--alibi", f->alibi, "ALiBi with the standard slope table for Hq heads");
  cmd->add_option("--sinks", f->sinks, "learned sink logits S.npy, [Hq]");
  cmd->add_option("--bias", f->bias, "additive bias B.npy, [B|1, Hq|1, Nq|1, Nk]");
  cmd->add_option("--scale", f->scale, "logit scale (default 1/sqrt(Dqk))");
  cmd->add_option("--dtype", f->dtype,
                  "compute dtype the inputs are converted to: f32 | bf16 | f16")
      ->capture_default_str();
  cmd->add_option("--layout", f->layout, "axis order of q/k/v/out: bhnd | bnhd")
      ->capture_default_str();
  cmd->add_option("--cu-seqlens-q", f->cu_seqlens_q,
                  "varlen: int32/int64 [batch + 1] offsets of the packed query tokens");
  cmd->add_option("--cu-seqlens-k", f->cu_seqlens_k,
                  "varlen: int32/int64 [batch + 1] offsets of the packed key tokens");
  cmd->add_option("--threads,-t", f->threads, "threads (0 or absent = all hardware threads)");
  cmd->add_option("--kernel", f->kernel,
                  "force a registry kernel by name (see `attnkit plan --list-kernels`); default: the "
                  "planner's choice, which for bf16 may round P to bf16 like FlashAttention "
                  "(dense_fwd_f32acc_tiled keeps every product in f32)");
  cmd->add_flag("--verbose", f->verbose, "print the plan and the time taken");
  cmd->callback([f] { RunCommand(*f); });
}

}  // namespace attnkit::cli
