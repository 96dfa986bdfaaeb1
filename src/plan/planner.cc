// SPDX-License-Identifier: Apache-2.0
// MakePlan / Run / Attention: validation, kernel selection from the registry,
// and the printable account of a plan (Plan::Explain).
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "attnkit/error.h"
#include "attnkit/plan.h"
#include "src/common/workspace.h"
#include "src/plan/registry.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace {

bool Accepts(const KernelEntry& e, DType dtype) {
  return std::find(e.dtypes.begin(), e.dtypes.end(), dtype) != e.dtypes.end();
}

std::string WindowSide(int64_t v) { return v == kUnbounded ? "inf" : std::to_string(v); }

std::string FormatBytes(double bytes) {
  char buf[32];
  if (bytes >= 1 << 20) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", bytes / 1024);
  }
  return buf;
}

}  // namespace

Plan MakePlan(const AttentionSpec& spec, const AttentionShape& shape, const ThreadingContext& ctx,
              const PlanOptions& options) {
  ValidateSpec(spec);
  ValidateShape(spec, shape);

  auto p = std::make_shared<PlanImpl>();
  p->spec = spec;
  p->shape = shape;
  p->num_threads = ctx.num_threads();
  p->cpu = ctx.cpu();
  p->scale = spec.resolved_scale();
  if (spec.alibi) p->alibi_slopes = spec.alibi_slopes.empty() ? AlibiSlopes(spec.num_q_heads) : spec.alibi_slopes;
  const auto bound = [](int64_t v) { return v >= kWindowUnboundedAbove ? kUnbounded : v; };
  p->window_left = bound(spec.mask.window_left);
  p->window_right = bound(spec.mask.effective_right());

  // Selection: a forced entry, or, among the non-reference entries that accept
  // the problem, the one the cost model expects to be fastest.
  if (!options.kernel.empty()) {
    const KernelEntry* e = FindKernel(options.kernel);
    if (e == nullptr) {
      std::string names;
      for (const KernelEntry& k : Registry()) names += std::string(names.empty() ? "" : ", ") + k.name;
      detail::Throw("unknown kernel '", options.kernel, "' (registered: ", names, ")");
    }
    ATTNKIT_CHECK(Accepts(*e, shape.dtype), "kernel '", e->name, "' does not accept dtype ",
                  Name(shape.dtype));
    const std::string why = e->why_unsupported(spec, shape);
    ATTNKIT_CHECK(why.empty(), "kernel '", e->name, "' cannot run this problem: ", why);
    p->kernel = e;
    p->kernel_name = e->name;
    e->plan(*p, options);
    return Plan(std::move(p));
  }
  std::shared_ptr<PlanImpl> best;
  std::vector<std::pair<std::string, double>> considered;
  std::vector<std::string> rejected;
  for (const KernelEntry& e : Registry()) {
    if (e.is_reference) continue;
    const std::string why = Accepts(e, shape.dtype) ? e.why_unsupported(spec, shape)
                                                    : "dtype " + std::string(Name(shape.dtype));
    if (!why.empty()) {
      rejected.push_back(std::string(e.name) + ": " + why);
      continue;
    }
    auto candidate = std::make_shared<PlanImpl>(*p);
    candidate->kernel = &e;
    candidate->kernel_name = e.name;
    e.plan(*candidate, options);
    considered.emplace_back(e.name, candidate->est_ms);
    if (best == nullptr || candidate->est_ms < best->est_ms) best = std::move(candidate);
  }
  ATTNKIT_CHECK(best != nullptr, "no registered kernel supports this problem");
  std::stable_sort(considered.begin(), considered.end(), [](const auto& a, const auto& b) {
    return a.second < b.second;
  });
  best->considered = std::move(considered);
  best->rejected = std::move(rejected);
  return Plan(std::move(best));
}

size_t Plan::workspace_bytes() const { return impl_ ? impl_->workspace_bytes : 0; }
int Plan::num_threads() const { return impl_ ? impl_->num_threads : 0; }
const AttentionSpec& Plan::spec() const {
  ATTNKIT_CHECK(impl_ != nullptr, "Plan::spec: the plan is empty (make it with MakePlan)");
  return impl_->spec;
}
const AttentionShape& Plan::shape() const {
  ATTNKIT_CHECK(impl_ != nullptr, "Plan::shape: the plan is empty (make it with MakePlan)");
  return impl_->shape;
}
const std::string& Plan::kernel_name() const {
  static const std::string kNone = "(invalid plan)";
  return impl_ ? impl_->kernel_name : kNone;
}

std::string Plan::Explain() const {
  if (!impl_) return "(invalid plan)\n";
  const PlanImpl& p = *impl_;
  const AttentionSpec& s = p.spec;
  std::ostringstream os;
  os << "problem   : " << (p.shape.is_varlen() ? "varlen " : "") << "batch " << p.shape.batch
     << ", Hq " << s.num_q_heads << ", Hkv " << s.num_kv_heads << " (group "
     << s.num_q_heads / s.num_kv_heads << "), Dqk " << s.head_dim_qk << ", Dv " << s.head_dim_v
     << ", dtype " << Name(p.shape.dtype) << " -> " << Name(p.shape.out_dtype) << "\n";
  if (!p.shape.is_varlen()) {
    os << "lengths   : Nq " << p.shape.seqlen_q << ", Nk " << p.shape.seqlen_k << "\n";
  } else {
    os << "lengths   : total Nq " << p.shape.total_q() << ", total Nk " << p.shape.total_k() << "\n";
  }
  os << "mask      : " << (s.mask.causal ? "causal (bottom-right)" : "none")
     << ", window [" << WindowSide(p.window_left) << ", " << WindowSide(p.window_right) << "]"
     << (s.softcap > 0 ? ", softcap " + std::to_string(s.softcap) : "")
     << (s.alibi ? ", alibi" : "") << (s.has_sinks ? ", sinks" : "")
     << (s.has_bias ? ", bias" : "") << ", scale " << p.scale << "\n";
  os << "machine   : " << p.num_threads << " threads; " << p.cpu.ToString() << "\n";
  os << "kernel    : " << p.kernel_name << " [" << p.isa << "]\n";
  for (const auto& [name, ms] : p.considered) {
    if (name != p.kernel_name) os << "  also considered: " << name << " (est " << ms << " ms)\n";
  }
  for (const std::string& r : p.rejected) os << "  rejected: " << r << "\n";
  if (std::string(p.kernel->family) == "dense") {
    os << "tiles     : block_q " << p.block_q << " x block_k " << p.block_k << " ("
       << p.block_q * (s.num_q_heads / s.num_kv_heads) << " rows: all query heads of a KV head), dv_pad "
       << p.dv_pad << ", V "
       << (!p.pack_v ? "read in place"
                     : p.products == dense::Products::kBF16 ? "packed as bf16 pairs" : "packed to f32")
       << "\n";
    os << "partition : " << p.items.size() << " work items (sequence x KV head x query tile), "
       << "dynamic, longest first; " << p.pack_items.size() << " pack items\n";
    os << "workspace : " << FormatBytes(static_cast<double>(p.workspace_bytes)) << " = K^T "
       << FormatBytes(4.0 * p.packed_k_floats) << " + V " << FormatBytes(4.0 * p.packed_v_floats)
       << " + " << p.num_threads << " x scratch " << FormatBytes(4.0 * p.scratch_floats) << "\n";
    if (p.tuned_from_cache) {
      os << "autotune  : tiles from the autotune cache for this shape\n";
    } else if (!p.tuning.empty()) {
      os << "autotune  : measured";
      for (const PlanImpl::Timed& t : p.tuning) {
        os << " " << t.block_q << "x" << t.block_k << "=" << t.ms << "ms";
      }
      os << "\n";
    }
    os << "candidates (cost model, best first):\n";
    os << "  block_q block_k  est_ms  working_set  fits_L2\n";
    const size_t shown = std::min<size_t>(p.candidates.size(), 8);
    for (size_t i = 0; i < shown; ++i) {
      const TileCandidate& c = p.candidates[i];
      char line[128];
      std::snprintf(line, sizeof(line), "  %7lld %7lld %7.3f  %11s  %s%s\n",
                    static_cast<long long>(c.block_q), static_cast<long long>(c.block_k), c.est_ms,
                    FormatBytes(static_cast<double>(c.working_set)).c_str(),
                    c.fits_l2 ? "yes" : "no", i == 0 ? "   <- chosen" : "");
      os << line;
    }
  } else {
    os << "workspace : " << FormatBytes(static_cast<double>(p.workspace_bytes)) << "\n";
  }
  return os.str();
}

void Run(const Plan& plan, const AttentionTensors& tensors, std::span<std::byte> workspace) {
  ATTNKIT_CHECK(plan.valid(), "Run: the plan is empty (make it with MakePlan)");
  const PlanImpl& p = plan.impl();
  ValidateTensors(p.spec, p.shape, tensors);
  ATTNKIT_CHECK(workspace.size() >= p.workspace_bytes, "Run: workspace has ", workspace.size(),
                " bytes, the plan needs ", p.workspace_bytes);
  ATTNKIT_CHECK(p.workspace_bytes == 0 || workspace.data() != nullptr,
                "Run: workspace pointer is null");
  p.kernel->run(p, tensors, workspace);
}

AttentionShape ShapeOf(const AttentionTensors& t, std::vector<int64_t> cu_seqlens_q,
                       std::vector<int64_t> cu_seqlens_k) {
  ATTNKIT_CHECK(t.q.rank == 4 && t.k.rank == 4, "q and k must be rank-4 [B, H, N, D], got q ",
                t.q.ShapeString(), ", k ", t.k.ShapeString());
  ATTNKIT_CHECK(cu_seqlens_q.empty() == cu_seqlens_k.empty(),
                "give both cu_seqlens_q and cu_seqlens_k, or neither");
  AttentionShape s;
  s.dtype = t.q.dtype;
  s.out_dtype = t.out.dtype;
  if (cu_seqlens_q.empty()) {
    s.batch = t.q.shape[0];
    s.seqlen_q = t.q.shape[2];
    s.seqlen_k = t.k.shape[2];
  } else {
    s.batch = static_cast<int64_t>(cu_seqlens_q.size()) - 1;
    s.cu_seqlens_q = std::move(cu_seqlens_q);
    s.cu_seqlens_k = std::move(cu_seqlens_k);
  }
  return s;
}

void Attention(const AttentionSpec& spec, const AttentionTensors& tensors,
               const ThreadingContext& ctx, std::vector<int64_t> cu_seqlens_q,
               std::vector<int64_t> cu_seqlens_k, const PlanOptions& options) {
  const Plan plan = MakePlan(
      spec, ShapeOf(tensors, std::move(cu_seqlens_q), std::move(cu_seqlens_k)), ctx, options);
  AlignedWorkspace workspace(plan.workspace_bytes());
  Run(plan, tensors, workspace.span());
}

}  // namespace attnkit
