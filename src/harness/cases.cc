// SPDX-License-Identifier: Apache-2.0
// Case description, checking against the fp64 reference, and the default grid.
#include "src/harness/cases.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "src/plan/registry.h"
#include "src/reference/reference.h"

namespace attnkit::harness {
namespace {

std::string Side(int64_t v) { return v == kUnbounded ? "inf" : std::to_string(v); }

// Largest relative rounding step of a dtype (half an ulp at 1.0).
double HalfUlp(DType t) {
  switch (t) {
    case DType::kBF16: return 0x1.0p-8;
    case DType::kF16: return 0x1.0p-11;
    case DType::kF32: return 0.0;
  }
  return 0.0;
}

struct Diff {
  double max_abs = 0, rel_l2 = 0;
};

Diff Compare(const reference::Result& ref, const reference::Result& got) {
  Diff d;
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.out.size(); ++i) {
    const double e = std::abs(got.out[i] - ref.out[i]);
    d.max_abs = std::max(d.max_abs, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
    num += e * e;
    den += ref.out[i] * ref.out[i];
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return d;
}

}  // namespace

const char* Name(InputKind kind) {
  switch (kind) {
    case InputKind::kGaussian: return "gauss";
    case InputKind::kOffsetK: return "offsetk";
    case InputKind::kSpikes: return "spikes";
    case InputKind::kLargeLogits: return "logits1e4";
    case InputKind::kZeroQuery: return "q0";
  }
  return "?";
}

AttentionShape Case::Shape() const {
  AttentionShape s;
  s.dtype = dtype;
  s.out_dtype = out_dtype;
  if (!is_varlen()) {
    s.batch = batch;
    s.seqlen_q = seqlen_q;
    s.seqlen_k = seqlen_k;
    return s;
  }
  s.batch = static_cast<int64_t>(varlen_q.size());
  s.cu_seqlens_q = {0};
  s.cu_seqlens_k = {0};
  for (size_t i = 0; i < varlen_q.size(); ++i) {
    s.cu_seqlens_q.push_back(s.cu_seqlens_q.back() + varlen_q[i]);
    s.cu_seqlens_k.push_back(s.cu_seqlens_k.back() + varlen_k[i]);
  }
  return s;
}

PlanOptions Case::Options() const {
  PlanOptions o;
  o.kernel = kernel;
  o.block_q = block_q;
  o.block_k = block_k;
  o.autotune = autotune;
  return o;
}

std::string Case::ToString() const {
  std::ostringstream os;
  const AttentionSpec& s = spec;
  if (is_varlen()) {
    os << "varlen(";
    for (size_t i = 0; i < varlen_q.size(); ++i) os << (i ? "," : "") << varlen_q[i] << "/" << varlen_k[i];
    os << ")";
  } else {
    os << "b" << batch << " nq" << seqlen_q << " nk" << seqlen_k;
  }
  os << " h" << s.num_q_heads << "/" << s.num_kv_heads << " d" << s.head_dim_qk;
  if (s.head_dim_v != s.head_dim_qk) os << "/" << s.head_dim_v;
  if (s.mask.causal) os << " causal";
  if (s.mask.has_window()) os << " win(" << Side(s.mask.window_left) << "," << Side(s.mask.window_right) << ")";
  if (s.softcap > 0) os << " cap" << s.softcap;
  if (s.alibi) os << (s.alibi_slopes.empty() ? " alibi" : " alibi(custom)");
  if (s.has_sinks) os << " sinks";
  if (s.has_bias) {
    os << " bias" << (bias_batch ? "B" : "1") << (bias_heads ? "H" : "1") << (bias_rows ? "N" : "1");
  }
  if (s.scale.has_value()) os << " scale" << *s.scale;
  if (s.return_lse) os << " lse";
  os << " " << attnkit::Name(dtype);
  if (out_dtype != DType::kF32) os << "->" << attnkit::Name(out_dtype);
  if (layout != Layout::kBHND) os << " " << attnkit::Name(layout);
  if (row_padding) os << " pad" << row_padding;
  if (inputs != InputKind::kGaussian) os << " " << Name(inputs);
  if (threads != 1) os << " t" << threads;
  if (!kernel.empty()) os << " k=" << kernel;
  if (block_q || block_k) os << " tile" << block_q << "x" << block_k;
  if (autotune) os << " autotune";
  return os.str();
}

double Case::DenseFlops() const {
  const AttentionShape sh = Shape();
  double pairs = 0;
  for (int64_t b = 0; b < sh.batch; ++b) pairs += static_cast<double>(sh.seq_q(b)) * sh.seq_k(b);
  return 2.0 * pairs * spec.num_q_heads * (spec.head_dim_qk + spec.head_dim_v);
}

double Case::EffectiveFlops() const {
  const AttentionShape sh = Shape();
  double pairs = 0;
  for (int64_t b = 0; b < sh.batch; ++b) pairs += static_cast<double>(VisiblePairs(spec.mask, sh.seq_q(b), sh.seq_k(b)));
  return 2.0 * pairs * spec.num_q_heads * (spec.head_dim_qk + spec.head_dim_v);
}

double Case::Bytes() const {
  const AttentionShape sh = Shape();
  const double e = static_cast<double>(SizeOf(dtype));
  return e * sh.total_q() * spec.num_q_heads * spec.head_dim_qk +
         e * sh.total_k() * spec.num_kv_heads * (spec.head_dim_qk + spec.head_dim_v) +
         static_cast<double>(SizeOf(out_dtype)) * sh.total_q() * spec.num_q_heads * spec.head_dim_v;
}

CheckResult Check(const Case& c) {
  CheckResult r;
  AttentionSpec spec = c.spec;
  spec.return_lse = true;  // always check the LSE too
  Case with_lse = c;
  with_lse.spec = spec;
  Inputs in = MakeInputs(with_lse);
  const PlanOptions options = c.Options();
  const AttentionShape shape = c.Shape();
  const Plan plan = MakePlan(spec, shape, ThreadingContext(c.threads), options);
  std::vector<std::byte> workspace(plan.workspace_bytes());
  Run(plan, in.tensors, workspace);

  const reference::Result ref = reference::Attention(spec, shape, in.tensors);
  // Read the kernel's output back in the reference's row-major layout.
  reference::Result got = ref;
  const TensorView& o = in.tensors.out;
  const TensorView& l = in.tensors.lse;
  for (int64_t b = 0; b < ref.batch; ++b)
    for (int64_t h = 0; h < ref.heads; ++h)
      for (int64_t i = 0; i < ref.rows; ++i) {
        for (int64_t d = 0; d < ref.dim; ++d) {
          got.o(b, h, i, d) = LoadAsF32(o.data, o.dtype, b * o.strides[0] + h * o.strides[1] + i * o.strides[2] + d);
        }
        got.l(b, h, i) = static_cast<const float*>(l.data)[b * l.strides[0] + h * l.strides[1] + i * l.strides[2]];
      }

  r.out_scale = 0;
  for (double v : ref.out) r.out_scale = std::max(r.out_scale, std::abs(v));
  if (r.out_scale == 0) r.out_scale = 1;
  const Diff diff = Compare(ref, got);
  r.max_abs = diff.max_abs;
  r.rel_l2 = diff.rel_l2;
  r.tolerance = (1e-5 + HalfUlp(c.out_dtype)) * r.out_scale;
  const KernelEntry* kernel = FindKernel(plan.kernel_name());
  if (kernel != nullptr && kernel->accuracy == Accuracy::kBf16Products &&
      c.inputs != InputKind::kZeroQuery) {
    // P is rounded to bf16: FlashAttention's rule, 2x a naive bf16 implementation.
    reference::Result naive = reference::NaiveAtPrecision(spec, shape, in.tensors, DType::kBF16);
    r.naive_err = Compare(ref, naive).max_abs;
    r.tolerance = std::max(r.tolerance, 2.0 * r.naive_err + HalfUlp(c.out_dtype) * r.out_scale);
  } else if (c.inputs != InputKind::kGaussian && c.inputs != InputKind::kZeroQuery) {
    // f32 rounding of huge logits is unavoidable: allow 2x a naive f32 implementation.
    reference::Result naive = reference::NaiveAtPrecision(spec, shape, in.tensors, DType::kF32);
    r.naive_err = Compare(ref, naive).max_abs;
    r.tolerance = std::max(r.tolerance, 2.0 * r.naive_err + HalfUlp(c.out_dtype) * r.out_scale);
  }

  std::ostringstream why;
  for (size_t i = 0; i < ref.lse.size(); ++i) {
    const double lr = ref.lse[i], lg = got.lse[i];
    if (std::isinf(lr) && lr < 0) {  // fully masked row: exact zeros and -inf
      bool zeros = true;
      for (int64_t d = 0; d < ref.dim; ++d) zeros = zeros && got.out[i * ref.dim + d] == 0.0;
      if (!(std::isinf(lg) && lg < 0) || !zeros) {
        why << "fully masked row " << i << " gave LSE " << lg << (zeros ? "" : " and nonzero output") << "; ";
        break;
      }
      continue;
    }
    const double e = std::abs(lg - lr) / std::max(1.0, std::abs(lr));
    r.lse_max_abs = std::max(r.lse_max_abs, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
  }
  const double lse_tol =
      c.inputs == InputKind::kGaussian || c.inputs == InputKind::kZeroQuery ? 1e-5 : 1e-4;
  if (r.lse_max_abs > lse_tol) why << "LSE error " << r.lse_max_abs << " > " << lse_tol << "; ";
  if (!(r.max_abs <= r.tolerance)) why << "max_abs " << r.max_abs << " > tolerance " << r.tolerance << "; ";
  r.failure = why.str();
  r.pass = r.failure.empty();
  return r;
}

}  // namespace attnkit::harness
