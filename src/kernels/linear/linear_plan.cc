// SPDX-License-Identifier: Apache-2.0
// Planning and running the linear family: the form and chunk length from a
// cost model, the work partition, the workspace layout, RunLinear and Explain.
// The kernels themselves are chunk-inl.h and recurrent-inl.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "attnkit/error.h"
#include "attnkit/linear.h"
#include "attnkit/plan.h"
#include "src/common/parallel.h"
#include "src/common/workspace.h"
#include "src/kernels/linear/linear_plan_impl.h"
#include "src/kernels/linear/linear_reference.h"
#include "src/kernels/linear/linear_validate.h"

namespace attnkit {
namespace {

// An optional tensor that was given and has elements.
bool Present(const TensorView& t) { return t.data != nullptr && t.numel() > 0; }

// Calls of at most this many tokens per sequence run the recurrent form: a
// chunk would be mostly padding, and decode (1 token) is the common case.
constexpr int64_t kRecurrentMaxTokens = 8;
constexpr int64_t kChunkCandidates[] = {16, 32, 48, 64, 96, 128, 192, 256};

// FMA throughput of one core in GFLOP/s, from the SIMD width (2 FMA ports,
// a nominal 2.5 GHz): only used to print estimates in milliseconds.
double PeakGflopsPerThread(const CpuInfo& cpu) {
  const std::string& t = cpu.simd_target;
  const double lanes = t.rfind("AVX3", 0) == 0 ? 16 : t == "AVX2" ? 8 : 4;
  return lanes * 2 /*FMA*/ * 2 /*ports*/ * 2.5;
}

// The chunked form's cost per token of one KV head (all G query heads), in
// FLOP-equivalents at full FMA rate. The products whose depth is the chunk
// (P U, Kd^T U, and the delta rule's T R) load and store their output block
// once per call, so they run at about C / (C + 16) of the rate; the others
// (depth F) at full rate. Intra-chunk tiles grow with C, the state products do
// not: the minimum is near C = 32..64 for F = Dv = 128 (see docs/linear.md).
LinearChunkCandidate EstimateChunk(const LinearPlanImpl& p, int64_t chunk, double tokens,
                                   int threads) {
  const double G = static_cast<double>(p.spec.num_q_heads / p.spec.num_kv_heads);
  const double F = static_cast<double>(p.feature_dim), Dvp = static_cast<double>(p.dv_pad);
  const double C = static_cast<double>(chunk);
  const bool delta = p.spec.rule == LinearRule::kDelta;
  double depth_f = 2 * G * C * F + 2 * G * F * Dvp;  // Q K^T, Q S
  double depth_c = 2 * G * C * Dvp + 2 * F * Dvp;     // P U, Kd^T U
  if (delta) {
    depth_f += 2 * C * F + 2 * F * Dvp;  // K K^T, Kpos S
    depth_c += 2 * C * Dvp + C * C / 3;  // T R, the inverse
  }
  // Elementwise work per token: feature rows, transposes, output rows.
  const double rows = (G + 3) * F + (G + 2) * Dvp;
  const double cost = depth_f + depth_c * (C + 16) / C + rows;
  LinearChunkCandidate c;
  c.chunk = chunk;
  c.flops_per_token = depth_f + depth_c;
  c.est_ms = cost * tokens * static_cast<double>(p.spec.num_kv_heads) /
             (PeakGflopsPerThread(p.cpu) * 1e6 * std::max(1, threads));
  return c;
}

linear::LinearArgs MakeArgs(const LinearPlanImpl& p, const LinearTensors& t) {
  const LinearSpec& s = p.spec;
  linear::LinearArgs a;
  a.seqs = p.seqs.data();
  a.hq = s.num_q_heads;
  a.hkv = s.num_kv_heads;
  a.group = s.num_q_heads / s.num_kv_heads;
  a.dk = s.head_dim_k;
  a.dv = s.head_dim_v;
  a.f = p.feature_dim;
  a.f_pad = p.f_pad;
  a.dvs = p.state_cols;
  a.dv_pad = p.dv_pad;
  a.feature_map = s.feature_map;
  a.l2norm = s.qk_l2norm;
  a.q_factor = p.scale;
  if (s.feature_map == FeatureMap::kHedgehog) {
    const bool tied = s.hedgehog_weight_k.empty();
    a.hedgehog_wq = s.hedgehog_weight_q.data();
    a.hedgehog_bq = s.hedgehog_bias_q.empty() ? nullptr : s.hedgehog_bias_q.data();
    a.hedgehog_wk = tied ? a.hedgehog_wq : s.hedgehog_weight_k.data();
    a.hedgehog_bk = tied ? a.hedgehog_bq
                         : (s.hedgehog_bias_k.empty() ? nullptr : s.hedgehog_bias_k.data());
  }
  a.delta = s.rule == LinearRule::kDelta;
  a.gate_kind = s.gate;
  a.log_decay = p.log_decay.empty() ? nullptr : p.log_decay.data();
  a.norm = s.norm;
  a.eps = s.norm_eps;
  a.q = t.q;
  a.k = t.k;
  a.v = t.v;
  a.out = t.out;
  a.gate = t.gate;
  a.beta = t.beta;
  a.state_in = Present(t.initial_state) ? t.initial_state : TensorView{};
  a.state_out = Present(t.final_state) ? t.final_state : TensorView{};
  a.linear_weight = s.window > 0 ? s.linear_weight : 1.0f;
  a.window_weight = s.window > 0 ? s.window_weight : 0.0f;
  a.chunk = std::max<int64_t>(p.chunk, 1);
  a.l1_floats = static_cast<size_t>(p.cpu.l1d_bytes) * 3 / 4 / sizeof(float);
  return a;
}

std::string FormatBytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), bytes >= (1 << 20) ? "%.1f MiB" : "%.1f KiB",
                bytes >= (1 << 20) ? bytes / (1 << 20) : bytes / 1024);
  return buf;
}

// The softmax-window part of a hybrid layer, through the public dense API.
Plan PlanWindow(const LinearSpec& s, const LinearShape& sh, const ThreadingContext& ctx) {
  AttentionSpec d;
  d.num_q_heads = s.num_q_heads;
  d.num_kv_heads = s.num_kv_heads;
  d.head_dim_qk = s.head_dim_k;
  d.head_dim_v = s.head_dim_v;
  d.scale = s.window_scale.has_value()
                ? *s.window_scale
                : static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.head_dim_k)));
  d.mask.causal = true;
  d.mask.window_left = s.window - 1;
  AttentionShape ds;
  ds.dtype = sh.dtype;
  ds.out_dtype = DType::kF32;
  ds.batch = sh.batch;
  ds.seqlen_q = ds.seqlen_k = sh.seqlen;
  ds.cu_seqlens_q = ds.cu_seqlens_k = sh.cu_seqlens;
  return MakePlan(d, ds, ctx);
}

}  // namespace

LinearPlan MakeLinearPlan(const LinearSpec& spec, const LinearShape& shape,
                          const ThreadingContext& ctx, const LinearPlanOptions& options) {
  linear::ValidateLinearSpec(spec);
  linear::ValidateLinearShape(spec, shape);
  linear::ValidateLinearOptions(spec, shape, options);
  auto p = std::make_shared<LinearPlanImpl>();
  p->spec = spec;
  p->shape = shape;
  p->num_threads = ctx.num_threads();
  p->cpu = ctx.cpu();
  p->scale = spec.resolved_scale();
  p->feature_dim = spec.feature_dim();
  p->f_pad = linear::RoundUp(p->feature_dim, linear::kPad);
  p->state_cols = spec.state_cols();
  p->dv_pad = linear::RoundUp(p->state_cols, linear::kPad);
  for (float lambda : spec.decay) p->log_decay.push_back(std::log(lambda));

  int64_t longest = 0;
  double tokens = 0;
  for (int64_t b = 0; b < shape.batch; ++b) {
    linear::Sequence s;
    s.batch_index = shape.is_varlen() ? 0 : b;
    s.offset = shape.is_varlen() ? shape.cu_seqlens[b] : 0;
    s.n = shape.seq_len(b);
    s.state_index = b;
    p->seqs.push_back(s);
    longest = std::max(longest, s.n);
    tokens += static_cast<double>(s.n);
  }
  // Work: (sequence, KV head), longest sequences first (they bound the time).
  for (int64_t g = 0; g < spec.num_kv_heads; ++g) {
    for (size_t si = 0; si < p->seqs.size(); ++si) {
      p->items.push_back({static_cast<int32_t>(si), static_cast<int32_t>(g)});
    }
  }
  std::stable_sort(p->items.begin(), p->items.end(), [&](const auto& x, const auto& y) {
    return p->seqs[x.seq].n > p->seqs[y.seq].n;
  });
  const int threads = static_cast<int>(
      std::min<int64_t>(p->num_threads, static_cast<int64_t>(p->items.size())));

  // Form and chunk.
  p->mode = options.mode;
  if (p->mode == LinearMode::kAuto) {
    p->mode = longest <= kRecurrentMaxTokens && options.chunk == 0 ? LinearMode::kRecurrent
                                                                   : LinearMode::kChunk;
    p->reason = p->mode == LinearMode::kRecurrent
                    ? "every sequence has <= " + std::to_string(kRecurrentMaxTokens) +
                          " tokens: token by token (decode)"
                    : "prefill: chunked";
  } else {
    p->reason = std::string("forced (mode=") + Name(p->mode) + ")";
  }
  if (p->mode == LinearMode::kChunk) {
    const int64_t cap = std::max<int64_t>(linear::RoundUp(std::max<int64_t>(longest, 1), 16), 16);
    for (int64_t c : kChunkCandidates) {
      if (c <= cap) p->candidates.push_back(EstimateChunk(*p, c, tokens, threads));
    }
    std::stable_sort(p->candidates.begin(), p->candidates.end(),
                     [](const auto& x, const auto& y) { return x.est_ms < y.est_ms; });
    if (options.chunk != 0) {
      p->candidates.insert(p->candidates.begin(), EstimateChunk(*p, options.chunk, tokens, threads));
      p->reason += "; chunk forced";
    }
    p->chunk = p->candidates.front().chunk;
  } else if (p->mode == LinearMode::kParallel) {
    p->chunk = std::max<int64_t>(longest, 1);
  }
  p->kernel_name = LinearKernelName(p->mode);
  p->fns = linear::GetLinearFns();
  p->isa = p->mode == LinearMode::kReference ? "scalar" : p->fns.target;

  // Workspace: [window output][window's dense workspace][scratch per worker].
  const linear::LinearArgs a = MakeArgs(*p, LinearTensors{});
  if (p->mode == LinearMode::kChunk || p->mode == LinearMode::kParallel) {
    p->scratch_floats = linear::MakeChunkLayout(a).total;
  } else if (p->mode == LinearMode::kRecurrent) {
    p->scratch_floats = linear::MakeRecurrentLayout(a).total;
  }
  ATTNKIT_CHECK(p->scratch_floats <= (int64_t{1} << 28), "the plan needs ",
                FormatBytes(4.0 * static_cast<double>(p->scratch_floats)),
                " of scratch per thread (mode ", Name(p->mode), ", chunk ", p->chunk,
                "); use mode=chunk or a smaller chunk");
  size_t next = 0;
  if (spec.window > 0 && p->mode != LinearMode::kReference) {
    p->window_plan = PlanWindow(spec, shape, ThreadingContext(p->num_threads, p->cpu));
    p->window_out_floats = spec.num_q_heads * spec.head_dim_v *
                           (shape.is_varlen() ? shape.total() : shape.batch * shape.seqlen);
    p->window_out_offset = next;
    next += AlignUp(4 * static_cast<size_t>(p->window_out_floats));
    p->window_workspace_offset = next;
    next += AlignUp(p->window_plan.workspace_bytes());
  }
  p->scratch_offset = next;
  next += static_cast<size_t>(p->num_threads) * AlignUp(4 * static_cast<size_t>(p->scratch_floats));
  p->workspace_bytes = next;
  return LinearPlan(std::move(p));
}

void RunLinear(const LinearPlan& plan, const LinearTensors& t, std::span<std::byte> workspace) {
  ATTNKIT_CHECK(plan.valid(), "RunLinear: the plan is empty (make it with MakeLinearPlan)");
  const LinearPlanImpl& p = plan.impl();
  linear::ValidateLinearTensors(p.spec, p.shape, t);
  ATTNKIT_CHECK(workspace.size() >= p.workspace_bytes, "RunLinear: workspace has ",
                workspace.size(), " bytes, the plan needs ", p.workspace_bytes);
  ATTNKIT_CHECK(p.workspace_bytes == 0 || workspace.data() != nullptr,
                "RunLinear: workspace pointer is null");

  if (p.mode == LinearMode::kReference) {
    const linear::ReferenceOutput r =
        linear::LinearReference(p.spec, p.shape, t, linear::ReferenceForm::kRecurrent);
    const int64_t dv = p.spec.head_dim_v, rows = t.q.shape[2], hq = p.spec.num_q_heads;
    for (int64_t b = 0; b < t.q.shape[0]; ++b)
      for (int64_t h = 0; h < hq; ++h)
        for (int64_t n = 0; n < rows; ++n)
          for (int64_t i = 0; i < dv; ++i) {
            const int64_t at = b * t.out.strides[0] + h * t.out.strides[1] + n * t.out.strides[2] + i;
            StoreFromF32(t.out.data, t.out.dtype, at,
                         static_cast<float>(r.out[((b * hq + h) * rows + n) * dv + i]));
          }
    if (Present(t.final_state)) {
      const TensorView& s = t.final_state;
      for (int64_t a = 0; a < s.shape[0]; ++a)
        for (int64_t g = 0; g < s.shape[1]; ++g)
          for (int64_t c = 0; c < s.shape[2]; ++c)
            for (int64_t j = 0; j < s.shape[3]; ++j) {
              static_cast<float*>(s.data)[a * s.strides[0] + g * s.strides[1] + c * s.strides[2] + j] =
                  static_cast<float>(r.state[((a * s.shape[1] + g) * s.shape[2] + c) * s.shape[3] + j]);
            }
    }
    return;
  }

  linear::LinearArgs a = MakeArgs(p, t);
  std::byte* base = workspace.data();
  if (p.window_plan.valid()) {
    float* win = reinterpret_cast<float*>(base + p.window_out_offset);
    AttentionTensors at;
    at.q = t.q;
    at.k = t.k;
    at.v = t.v;
    at.out = TensorView::Attention(win, DType::kF32, Layout::kBHND, t.q.shape[0],
                                   p.spec.num_q_heads, t.q.shape[2], p.spec.head_dim_v);
    Run(p.window_plan, at,
        workspace.subspan(p.window_workspace_offset, p.window_plan.workspace_bytes()));
    a.window_out = win;
  }
  float* scratch = reinterpret_cast<float*>(base + p.scratch_offset);
  const size_t stride = AlignUp(4 * static_cast<size_t>(p.scratch_floats)) / 4;
  const linear::SequenceFn fn = p.mode == LinearMode::kRecurrent ? p.fns.recurrent : p.fns.chunked;
  ParallelFor(p.num_threads, static_cast<int64_t>(p.items.size()), [&](int worker, int64_t i) {
    fn(a, p.items[i], scratch + static_cast<size_t>(worker) * stride);
  });
}

LinearShape LinearShapeOf(const LinearTensors& t, std::vector<int64_t> cu_seqlens) {
  ATTNKIT_CHECK(t.q.rank == 4, "q must be rank-4 [B, H, N, D], got ", t.q.ShapeString());
  LinearShape s;
  s.dtype = t.q.dtype;
  s.out_dtype = t.out.dtype;
  if (cu_seqlens.empty()) {
    s.batch = t.q.shape[0];
    s.seqlen = t.q.shape[2];
  } else {
    s.batch = static_cast<int64_t>(cu_seqlens.size()) - 1;
    s.cu_seqlens = std::move(cu_seqlens);
  }
  return s;
}

void LinearAttention(const LinearSpec& spec, const LinearTensors& tensors,
                     const ThreadingContext& ctx, std::vector<int64_t> cu_seqlens,
                     const LinearPlanOptions& options) {
  const LinearPlan plan =
      MakeLinearPlan(spec, LinearShapeOf(tensors, std::move(cu_seqlens)), ctx, options);
  AlignedWorkspace workspace(plan.workspace_bytes());
  RunLinear(plan, tensors, workspace.span());
}

// ---------------------------------------------------------------- LinearPlan

size_t LinearPlan::workspace_bytes() const { return impl_ ? impl_->workspace_bytes : 0; }
int LinearPlan::num_threads() const { return impl_ ? impl_->num_threads : 0; }
LinearMode LinearPlan::mode() const { return impl_ ? impl_->mode : LinearMode::kAuto; }
int64_t LinearPlan::chunk() const { return impl_ ? impl_->chunk : 0; }
const std::string& LinearPlan::kernel_name() const {
  static const std::string kNone = "(invalid plan)";
  return impl_ ? impl_->kernel_name : kNone;
}
const LinearSpec& LinearPlan::spec() const {
  ATTNKIT_CHECK(impl_ != nullptr, "LinearPlan::spec: the plan is empty (make it with MakeLinearPlan)");
  return impl_->spec;
}
const LinearShape& LinearPlan::shape() const {
  ATTNKIT_CHECK(impl_ != nullptr, "LinearPlan::shape: the plan is empty (make it with MakeLinearPlan)");
  return impl_->shape;
}

std::string LinearPlan::Explain() const {
  if (!impl_) return "(invalid plan)\n";
  const LinearPlanImpl& p = *impl_;
  const LinearSpec& s = p.spec;
  std::ostringstream os;
  os << "problem   : linear attention, " << (p.shape.is_varlen() ? "varlen " : "") << "batch "
     << p.shape.batch << ", Hq " << s.num_q_heads << ", Hkv " << s.num_kv_heads << " (group "
     << s.num_q_heads / s.num_kv_heads << "), Dk " << s.head_dim_k << ", Dv " << s.head_dim_v
     << ", dtype " << Name(p.shape.dtype) << " -> " << Name(p.shape.out_dtype) << ", tokens "
     << p.shape.total() << "\n";
  os << "variant   : rule " << Name(s.rule) << ", feature_map " << Name(s.feature_map) << " (F "
     << p.feature_dim << ")" << (s.qk_l2norm ? ", qk l2norm" : "") << ", decay "
     << (s.decay.empty() ? "none" : "per head") << ", gate " << Name(s.gate) << ", norm "
     << Name(s.norm) << ", scale " << p.scale;
  if (s.window > 0) {
    os << ", hybrid: " << s.linear_weight << " x linear + " << s.window_weight
       << " x softmax window " << s.window;
  }
  os << "\nmachine   : " << p.num_threads << " threads; " << p.cpu.ToString() << "\n";
  os << "kernel    : " << p.kernel_name << " [" << p.isa << "]: " << p.reason << "\n";
  if (p.mode == LinearMode::kChunk || p.mode == LinearMode::kParallel) {
    os << "chunk     : " << p.chunk << " tokens; state " << p.feature_dim << " x " << p.state_cols
       << " f32 per KV head\n";
  }
  os << "partition : " << p.items.size() << " work items (sequence x KV head), dynamic, longest first\n";
  os << "workspace : " << FormatBytes(static_cast<double>(p.workspace_bytes)) << " = "
     << p.num_threads << " x scratch " << FormatBytes(4.0 * static_cast<double>(p.scratch_floats));
  if (p.window_plan.valid()) {
    os << " + window output " << FormatBytes(4.0 * static_cast<double>(p.window_out_floats))
       << " + dense workspace " << FormatBytes(static_cast<double>(p.window_plan.workspace_bytes()))
       << " (window kernel " << p.window_plan.kernel_name() << ")";
  }
  os << "\n";
  if (!p.candidates.empty()) {
    os << "candidates (cost model, best first):\n  chunk  flop/token  est_ms\n";
    for (size_t i = 0; i < p.candidates.size(); ++i) {
      const LinearChunkCandidate& c = p.candidates[i];
      char line[96];
      std::snprintf(line, sizeof(line), "  %5lld  %10.0f  %6.3f%s\n", static_cast<long long>(c.chunk),
                    c.flops_per_token, c.est_ms, i == 0 ? "   <- chosen" : "");
      os << line;
    }
  }
  return os.str();
}

}  // namespace attnkit
