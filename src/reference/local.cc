// SPDX-License-Identifier: Apache-2.0
// fp64 local-attention oracles (see local.h): explicit masks, then the exact
// reference attention with an additive 0 / -inf bias.
#include "src/reference/local.h"

#include <algorithm>
#include <limits>

namespace attnkit::reference {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Does query index i see key index j along one axis? Written from NATTEN's
// reference mask (natten/cuda/reference/mask.hpp: get_win_start / get_win_end)
// in sub-grid coordinates, independently of the kernel's helpers.
bool AxisSees(int64_t length, int64_t kernel, int64_t dilation, int64_t stride, bool causal,
              int64_t i, int64_t j) {
  if (i % dilation != j % dilation) return false;
  const int64_t residue = i % dilation;
  int64_t ls = 0;  // length of the residue class
  for (int64_t t = residue; t < length; t += dilation) ++ls;
  const int64_t x = i / dilation, y = j / dilation;
  int64_t start, end;
  if (causal) {
    const int64_t leader = std::min(x - x % stride + stride - 1, ls - 1);
    start = std::max<int64_t>(0, leader - kernel + 1);
    end = std::min(x + 1, ls);
  } else {
    const int64_t left = kernel / 2, right = kernel - left - 1;
    const int64_t leader = std::min(x - x % stride + stride / 2, ls - 1);
    start = std::max<int64_t>(0, leader - left);
    if (leader + right >= ls) start += ls - right - leader - 1;
    end = start + kernel;
  }
  return y >= start && y < end;
}

Result WithBias(const AttentionSpec& spec, const AttentionTensors& in, std::vector<float>& bias,
                int64_t bias_heads) {
  AttentionSpec s = spec;
  s.has_bias = true;
  AttentionTensors t = in;
  const int64_t n = in.q.shape[2];
  t.bias = TensorView::Contiguous(bias.data(), DType::kF32, {1, bias_heads, n, n});
  AttentionShape shape;
  shape.dtype = in.q.dtype;
  shape.out_dtype = in.out.dtype;
  shape.batch = in.q.shape[0];
  shape.seqlen_q = shape.seqlen_k = n;
  return Attention(s, shape, t);
}

}  // namespace

std::vector<uint8_t> NeighborhoodMask(const NeighborhoodParams& p) {
  const int64_t n = p.tokens();
  std::vector<uint8_t> mask(static_cast<size_t>(n * n), 1);
  int64_t inner = n;  // tokens per step of axis a (row-major)
  for (int a = 0; a < p.rank; ++a) {
    const size_t ax = static_cast<size_t>(a);
    inner /= p.extent[ax];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t ci = (i / inner) % p.extent[ax];
      for (int64_t j = 0; j < n; ++j) {
        const int64_t cj = (j / inner) % p.extent[ax];
        if (!AxisSees(p.extent[ax], p.kernel_size[ax], p.dilation[ax], p.stride[ax], p.causal[ax],
                      ci, cj)) {
          mask[static_cast<size_t>(i * n + j)] = 0;
        }
      }
    }
  }
  return mask;
}

Result NeighborhoodAttention(const NeighborhoodParams& params, const AttentionSpec& spec,
                             const AttentionTensors& in) {
  const std::vector<uint8_t> mask = NeighborhoodMask(params);
  std::vector<float> bias(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) bias[i] = mask[i] ? 0.0f : kNegInf;
  return WithBias(spec, in, bias, 1);
}

Result WindowAttention(const WindowParams& p, const AttentionSpec& spec, const AttentionTensors& in,
                       const std::vector<float>& rel_pos_bias) {
  const int64_t h = p.height, w = p.width, n = h * w;
  const int64_t my = p.window[0], mx = p.window[1], sy = p.shift[0], sx = p.shift[1];
  const int64_t heads = rel_pos_bias.empty() ? 1 : spec.num_q_heads;
  std::vector<float> bias(static_cast<size_t>(heads * n * n), kNegInf);
  // Position of token t on the rolled map (rolled[y'][x'] = map[(y' + sy) % h][(x' + sx) % w]).
  const auto rolled = [&](int64_t t, int64_t& yr, int64_t& xr) {
    yr = ((t / w) - sy + h) % h;
    xr = ((t % w) - sx + w) % w;
  };
  // Swin's img_mask: slices (0, -M), (-M, -s), (-s, None) per axis, when shifted.
  const auto label = [](int64_t c, int64_t extent, int64_t m, int64_t s) -> int64_t {
    if (s == 0) return 0;
    if (c >= extent - s) return 2;
    return c >= extent - m ? 1 : 0;
  };
  for (int64_t i = 0; i < n; ++i) {
    int64_t yi, xi;
    rolled(i, yi, xi);
    for (int64_t j = 0; j < n; ++j) {
      int64_t yj, xj;
      rolled(j, yj, xj);
      if (yi / my != yj / my || xi / mx != xj / mx) continue;  // another window
      if (label(yi, h, my, sy) != label(yj, h, my, sy) || label(xi, w, mx, sx) != label(xj, w, mx, sx)) {
        continue;  // another region of the rolled map
      }
      for (int64_t hh = 0; hh < heads; ++hh) {
        float v = 0.0f;
        if (!rel_pos_bias.empty()) {
          const int64_t dy = yi % my - yj % my, dx = xi % mx - xj % mx;
          v = rel_pos_bias[static_cast<size_t>((hh * (2 * my - 1) + dy + my - 1) * (2 * mx - 1) +
                                               dx + mx - 1)];
        }
        bias[static_cast<size_t>((hh * n + i) * n + j)] = v;
      }
    }
  }
  return WithBias(spec, in, bias, heads);
}

}  // namespace attnkit::reference
