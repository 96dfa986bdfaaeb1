// SPDX-License-Identifier: Apache-2.0
// Swin window / shifted-window attention (attnkit/local.h) on top of the dense
// kernel: tokens are gathered window by window from the rolled map into a
// batch of [windows, Hq, M_y M_x, D] f32 sequences, attention runs through the
// public dense API with an additive bias (region mask of shifted windows and
// the relative position bias), and the outputs are scattered back (rolled back).
#include <limits>
#include <vector>

#include "attnkit/error.h"
#include "attnkit/local.h"
#include "src/common/parallel.h"

namespace attnkit {
namespace local {
void CheckLocalSpec(const char* who, const AttentionSpec& spec, const AttentionTensors& t,
                    int64_t tokens);  // neighborhood_plan.cc
}  // namespace local

void ValidateWindowParams(const WindowParams& p) {
  ATTNKIT_CHECK(p.height >= 1 && p.width >= 1, "height and width must be >= 1, got ", p.height,
                " and ", p.width);
  const int64_t extent[2] = {p.height, p.width};
  const char* names[2] = {"height", "width"};
  for (int a = 0; a < 2; ++a) {
    const int64_t m = p.window[static_cast<size_t>(a)], s = p.shift[static_cast<size_t>(a)];
    ATTNKIT_CHECK(m >= 1 && m <= extent[a], "window[", a, "] must be in [1, ", names[a], " = ",
                  extent[a], "], got ", m);
    ATTNKIT_CHECK(extent[a] % m == 0, names[a], " (", extent[a], ") must be a multiple of window[",
                  a, "] (", m, ")");
    ATTNKIT_CHECK(s >= 0 && s < m, "shift[", a, "] must be in [0, window[", a, "] = ", m,
                  "), got ", s);
  }
}

void WindowAttention(const WindowParams& p, const AttentionSpec& spec, const AttentionTensors& t,
                     const std::vector<float>& rel_pos_bias, const ThreadingContext& ctx) {
  ValidateWindowParams(p);
  local::CheckLocalSpec("WindowAttention", spec, t, p.height * p.width);
  const int64_t my = p.window[0], mx = p.window[1], sy = p.shift[0], sx = p.shift[1];
  const int64_t hq = spec.num_q_heads, hkv = spec.num_kv_heads;
  const int64_t dqk = spec.head_dim_qk, dv = spec.head_dim_v;
  const int64_t nwx = p.width / mx, nw = (p.height / my) * nwx, m2 = my * mx;
  const int64_t batch = t.q.shape[0], wb = batch * nw;
  const int64_t table = (2 * my - 1) * (2 * mx - 1);
  const bool rpb = !rel_pos_bias.empty();
  ATTNKIT_CHECK(!rpb || static_cast<int64_t>(rel_pos_bias.size()) == hq * table,
                "rel_pos_bias must have num_q_heads x (2 window_y - 1) x (2 window_x - 1) = ", hq,
                " x ", 2 * my - 1, " x ", 2 * mx - 1, " = ", hq * table, " entries, got ",
                rel_pos_bias.size());
  const bool shifted = sy > 0 || sx > 0;

  // Token of window-local position i of window w: its place on the rolled map,
  // rolled back (shifted[y'][x'] = original[(y' + sy) % H][(x' + sx) % W]).
  const auto token = [&](int64_t w, int64_t i) {
    const int64_t y = ((w / nwx) * my + i / mx + sy) % p.height;
    const int64_t x = ((w % nwx) * mx + i % mx + sx) % p.width;
    return y * p.width + x;
  };
  // Swin's region label of a rolled-map position: 3 x 3 regions when shifted.
  const auto region = [](int64_t c, int64_t extent, int64_t m, int64_t s) -> int64_t {
    if (s == 0) return 0;
    return c < extent - m ? 0 : (c < extent - s ? 1 : 2);
  };

  // Gather q, k, v (f32, BHND) window by window.
  std::vector<float> qw(static_cast<size_t>(wb * hq * m2 * dqk)), kw(static_cast<size_t>(wb * hkv * m2 * dqk));
  std::vector<float> vw(static_cast<size_t>(wb * hkv * m2 * dv)), ow(static_cast<size_t>(wb * hq * m2 * dv));
  std::vector<float> lw(spec.return_lse ? static_cast<size_t>(wb * hq * m2) : 0);
  const auto gather = [&](const TensorView& src, int64_t heads, int64_t dim, std::vector<float>& dst) {
    ParallelFor(ctx.num_threads(), wb, [&](int, int64_t bw) {
      const int64_t b = bw / nw, w = bw % nw;
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < m2; ++i) {
          const int64_t off = b * src.strides[0] + h * src.strides[1] + token(w, i) * src.strides[2];
          float* out = dst.data() + ((bw * heads + h) * m2 + i) * dim;
          for (int64_t c = 0; c < dim; ++c) out[c] = LoadAsF32(src.data, src.dtype, off + c);
        }
      }
    });
  };
  gather(t.q, hq, dqk, qw);
  gather(t.k, hkv, dqk, kw);
  gather(t.v, hkv, dv, vw);

  // Bias [wb | 1, hq | 1, m2, m2]: -inf across regions, plus the table.
  std::vector<float> bias;
  const int64_t bias_b = shifted ? wb : 1, bias_h = rpb ? hq : 1;
  if (shifted || rpb) {
    bias.assign(static_cast<size_t>(bias_b * bias_h * m2 * m2), 0.0f);
    for (int64_t bw = 0; bw < bias_b; ++bw) {
      const int64_t w = bw % nw, y0 = (w / nwx) * my, x0 = (w % nwx) * mx;
      for (int64_t h = 0; h < bias_h; ++h) {
        for (int64_t i = 0; i < m2; ++i) {
          for (int64_t j = 0; j < m2; ++j) {
            float v = 0.0f;
            const int64_t iy = i / mx, ix = i % mx, jy = j / mx, jx = j % mx;
            if (region(y0 + iy, p.height, my, sy) != region(y0 + jy, p.height, my, sy) ||
                region(x0 + ix, p.width, mx, sx) != region(x0 + jx, p.width, mx, sx)) {
              v = -std::numeric_limits<float>::infinity();
            } else if (rpb) {
              v = rel_pos_bias[static_cast<size_t>(h * table + (iy - jy + my - 1) * (2 * mx - 1) +
                                                   (ix - jx + mx - 1))];
            }
            bias[static_cast<size_t>(((bw * bias_h + h) * m2 + i) * m2 + j)] = v;
          }
        }
      }
    }
  }

  AttentionSpec s = spec;
  s.has_bias = !bias.empty();
  AttentionTensors wt;
  wt.q = TensorView::Attention(qw.data(), DType::kF32, Layout::kBHND, wb, hq, m2, dqk);
  wt.k = TensorView::Attention(kw.data(), DType::kF32, Layout::kBHND, wb, hkv, m2, dqk);
  wt.v = TensorView::Attention(vw.data(), DType::kF32, Layout::kBHND, wb, hkv, m2, dv);
  wt.out = TensorView::Attention(ow.data(), DType::kF32, Layout::kBHND, wb, hq, m2, dv);
  if (spec.return_lse) wt.lse = TensorView::Contiguous(lw.data(), DType::kF32, {wb, hq, m2});
  if (s.has_bias) wt.bias = TensorView::Contiguous(bias.data(), DType::kF32, {bias_b, bias_h, m2, m2});
  Attention(s, wt, ctx);

  // Scatter back to the original token order, rounding once to the output dtype.
  ParallelFor(ctx.num_threads(), wb, [&](int, int64_t bw) {
    const int64_t b = bw / nw, w = bw % nw;
    for (int64_t h = 0; h < hq; ++h) {
      for (int64_t i = 0; i < m2; ++i) {
        const int64_t n = token(w, i);
        const float* src = ow.data() + ((bw * hq + h) * m2 + i) * dv;
        const int64_t off = b * t.out.strides[0] + h * t.out.strides[1] + n * t.out.strides[2];
        for (int64_t c = 0; c < dv; ++c) StoreFromF32(t.out.data, t.out.dtype, off + c, src[c]);
        if (spec.return_lse) {
          static_cast<float*>(t.lse.data)[b * t.lse.strides[0] + h * t.lse.strides[1] +
                                          n * t.lse.strides[2]] = lw[static_cast<size_t>((bw * hq + h) * m2 + i)];
        }
      }
    }
  });
}

}  // namespace attnkit
