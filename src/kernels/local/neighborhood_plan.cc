// SPDX-License-Identifier: Apache-2.0
// Neighbourhood attention entry points (attnkit/local.h): validation, the
// per-(batch, KV head) packing of key lines, and the parallel loop over query
// lines; na1d / na2d / na3d are thin wrappers over the rank-generic call.
#include <algorithm>
#include <string>
#include <vector>

#include "attnkit/error.h"
#include "attnkit/local.h"
#include "src/common/parallel.h"
#include "src/kernels/local/neighborhood.h"
#include "src/plan/validate.h"

namespace attnkit {
namespace local {
namespace {

int64_t RoundUp16(int64_t x) { return (x + 15) / 16 * 16; }

// Lanes of the widest x86 target (AVX-512 f32): sizes the logits scratch.
constexpr int64_t kMaxLanes = 16;

}  // namespace

int64_t LineScratchFloats(const LineArgs& a) {
  int64_t keys = 1, outer_keys = 1;
  for (int i = 0; i < a.rank; ++i) keys *= a.axes[static_cast<size_t>(i)].kernel;
  for (int i = 0; i + 1 < a.rank; ++i) outer_keys *= a.axes[static_cast<size_t>(i)].kernel;
  return a.dqk * a.lp + keys * kMaxLanes + a.dv_pad + RoundUp16(a.dqk) + 2 * outer_keys + 16;
}

// Validation of the spec and tensors shared by neighbourhood and window attention.
void CheckLocalSpec(const char* who, const AttentionSpec& spec, const AttentionTensors& t,
                    int64_t tokens) {
  ValidateSpec(spec);
  ATTNKIT_CHECK(!spec.mask.causal && !spec.mask.has_window(), who,
                ": spec.mask must be off (the neighbourhood is the mask; use the per-axis "
                "causal flags)");
  ATTNKIT_CHECK(spec.softcap == 0.0f && !spec.alibi && !spec.has_sinks && !spec.has_bias, who,
                ": soft-cap, ALiBi, sinks and additive biases are not supported");
  ATTNKIT_CHECK(t.q.rank == 4 && t.k.rank == 4, who, ": q and k must be [B, H, N, D], got ",
                t.q.ShapeString(), " and ", t.k.ShapeString());
  ATTNKIT_CHECK(t.q.shape[2] == tokens && t.k.shape[2] == tokens, who,
                ": q and k must have N = ", tokens, " tokens (the grid), got ", t.q.ShapeString(),
                " and ", t.k.ShapeString());
  ValidateTensors(spec, ShapeOf(t), t);
}

}  // namespace local

int64_t NeighborhoodParams::tokens() const {
  int64_t n = 1;
  for (int i = 0; i < rank && i < kMaxSpatialRank; ++i) n *= extent[static_cast<size_t>(i)];
  return n;
}

void ValidateNeighborhoodParams(const NeighborhoodParams& p) {
  ATTNKIT_CHECK(p.rank >= 1 && p.rank <= kMaxSpatialRank, "rank must be 1, 2 or 3, got ", p.rank);
  for (int i = 0; i < p.rank; ++i) {
    const size_t a = static_cast<size_t>(i);
    const int64_t l = p.extent[a], k = p.kernel_size[a], r = p.dilation[a], s = p.stride[a];
    ATTNKIT_CHECK(l >= 1, "extent[", i, "] must be >= 1, got ", l);
    ATTNKIT_CHECK(r >= 1, "dilation[", i, "] must be >= 1, got ", r);
    ATTNKIT_CHECK(k >= 1, "kernel_size[", i, "] must be >= 1, got ", k);
    ATTNKIT_CHECK(k * r <= l, "kernel_size[", i, "] x dilation[", i, "] = ", k, " x ", r,
                  " is larger than the input extent[", i, "] = ", l);
    ATTNKIT_CHECK(s >= 1 && s <= k, "stride[", i, "] must be in [1, kernel_size[", i, "] = ", k,
                  "], got ", s);
  }
}

void NeighborhoodAttention(const NeighborhoodParams& params, const AttentionSpec& spec,
                           const AttentionTensors& t, const ThreadingContext& ctx) {
  ValidateNeighborhoodParams(params);
  local::CheckLocalSpec("NeighborhoodAttention", spec, t, params.tokens());
  local::LineArgs a;
  a.rank = params.rank;
  for (int i = 0; i < params.rank; ++i) {
    const size_t x = static_cast<size_t>(i);
    a.axes[x] = local::Axis{params.extent[x], params.kernel_size[x], params.dilation[x],
                            params.stride[x], params.causal[x]};
  }
  const local::Axis& lane = a.axes[static_cast<size_t>(a.rank - 1)];
  a.dqk = spec.head_dim_qk;
  a.dv = spec.head_dim_v;
  a.dv_pad = local::RoundUp16(a.dv);
  a.max_ls = local::SubLength(lane, 0);
  a.lp = local::RoundUp16(a.max_ls) + local::RoundUp16(lane.kernel) + 16;
  a.scale_log2 = spec.resolved_scale() * 1.4426950408889634f;
  a.q = t.q;
  a.out = t.out;
  a.lse = spec.return_lse ? t.lse : TensorView{};

  const int64_t lines = local::NumLines(a), batch = t.q.shape[0];
  const int64_t group = spec.num_q_heads / spec.num_kv_heads;
  std::vector<float> kt(static_cast<size_t>(lines * a.dqk * a.lp));
  std::vector<float> vp(static_cast<size_t>(lines * a.max_ls * a.dv_pad));
  a.kt = kt.data();
  a.vp = vp.data();
  const int64_t scratch_floats = local::LineScratchFloats(a);
  std::vector<float> scratch(static_cast<size_t>(scratch_floats * ctx.num_threads()));
  const local::NeighborhoodFns fns = local::GetNeighborhoodFns();
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t g = 0; g < spec.num_kv_heads; ++g) {
      ParallelFor(ctx.num_threads(), lines, [&](int, int64_t line) {
        fns.pack(a, t.k, t.v, b, g, line, kt.data(), vp.data());
      });
      ParallelFor(ctx.num_threads(), group * lines, [&](int worker, int64_t item) {
        fns.line(a, b, g * group + item / lines, item % lines,
                 scratch.data() + static_cast<size_t>(worker) * scratch_floats);
      });
    }
  }
}

namespace {
template <int kRank>
NeighborhoodParams ParamsOf(const NaArgs<kRank>& args) {
  NeighborhoodParams p;
  p.rank = kRank;
  for (int i = 0; i < kRank; ++i) {
    const size_t a = static_cast<size_t>(i);
    p.extent[a] = args.extent[a];
    p.kernel_size[a] = args.kernel_size[a];
    p.dilation[a] = args.dilation[a];
    p.stride[a] = args.stride[a];
    p.causal[a] = args.causal[a];
  }
  return p;
}
}  // namespace

void Na1d(const NaArgs<1>& args, const AttentionSpec& spec, const AttentionTensors& t,
          const ThreadingContext& ctx) {
  NeighborhoodAttention(ParamsOf(args), spec, t, ctx);
}
void Na2d(const NaArgs<2>& args, const AttentionSpec& spec, const AttentionTensors& t,
          const ThreadingContext& ctx) {
  NeighborhoodAttention(ParamsOf(args), spec, t, ctx);
}
void Na3d(const NaArgs<3>& args, const AttentionSpec& spec, const AttentionTensors& t,
          const ThreadingContext& ctx) {
  NeighborhoodAttention(ParamsOf(args), spec, t, ctx);
}

}  // namespace attnkit
