// SPDX-License-Identifier: Apache-2.0
// The default correctness grid: structured sub-grids rather than a full
// Cartesian product, so that every size, dim, ratio, mask, modifier, dtype,
// layout, varlen pattern and input kind appears, including tile-exact, tile+-1,
// prime and tiny sizes, and rows that a mask or bias empties completely.
#include <algorithm>

#include "src/harness/cases.h"
#include "src/plan/registry.h"

namespace attnkit::harness {
namespace {

Case Base(int64_t hq, int64_t hkv, int64_t nq, int64_t nk, int64_t dqk, int64_t dv) {
  Case c;
  c.spec.num_q_heads = hq;
  c.spec.num_kv_heads = hkv;
  c.spec.head_dim_qk = dqk;
  c.spec.head_dim_v = dv;
  c.seqlen_q = nq;
  c.seqlen_k = nk;
  return c;
}

Case Causal(Case c) {
  c.spec.mask.causal = true;
  return c;
}

Case Window(Case c, int64_t left, int64_t right, bool causal = false) {
  c.spec.mask.window_left = left;
  c.spec.mask.window_right = right;
  c.spec.mask.causal = causal;
  return c;
}

}  // namespace

std::vector<Case> DefaultGrid() {
  std::vector<Case> g;
  auto add = [&](Case c) {
    c.seed = g.size() + 1;
    g.push_back(std::move(c));
  };

  // 1. Sizes: tiny, prime, tile-exact and tile +-1 (tiles are 16..256), square and Nq != Nk.
  for (int64_t n : {1, 2, 17, 63, 64, 65, 127, 128, 129, 1000}) {
    add(Base(2, 1, n, n, 64, 64));
    add(Causal(Base(2, 1, n, n, 64, 64)));
  }
  add(Causal(Base(1, 1, 2048, 2048, 16, 16)));
  add(Base(1, 1, 2048, 2048, 16, 16));
  for (auto [nq, nk] : {std::pair<int64_t, int64_t>{1, 129}, {1, 1000}, {17, 1000}, {65, 63},
                        {128, 17}, {129, 2}, {3, 2048}, {64, 65}}) {
    add(Base(2, 2, nq, nk, 32, 32));
    add(Causal(Base(2, 2, nq, nk, 32, 32)));  // Nq > Nk: the first rows see no key
  }

  // 2. Head dims, equal and different (MLA 576/512).
  for (int64_t d : {1, 8, 40, 64, 80, 96, 128, 192, 256}) {
    add(Causal(Base(2, 1, 65, 129, d, d)));
  }
  for (auto [dqk, dv] : {std::pair<int64_t, int64_t>{576, 512}, {192, 128}, {40, 80}, {1, 8}, {8, 1},
                         {128, 64}, {1024, 1024}}) {
    add(Causal(Base(2, 1, 33, 70, dqk, dv)));
  }

  // 3. GQA / MQA ratios.
  for (auto [hq, hkv] : {std::pair<int64_t, int64_t>{1, 1}, {2, 1}, {3, 1}, {4, 1}, {8, 1}, {32, 1},
                         {12, 4}, {16, 2}, {32, 8}}) {
    add(Causal(Base(hq, hkv, 63, 63, 32, 32)));
  }

  // 4. Masks: windows on either side, causal + window, rows emptied by the window.
  add(Window(Base(2, 1, 129, 129, 64, 64), 8, 0));
  add(Window(Base(2, 1, 129, 129, 64, 64), 0, 8));
  add(Window(Base(2, 1, 129, 129, 64, 64), 16, 16));
  add(Window(Base(2, 1, 65, 300, 64, 64), 3, 5));
  add(Window(Base(2, 1, 300, 300, 64, 64), 32, 32, /*causal=*/true));
  add(Window(Base(2, 1, 1000, 1000, 32, 32), 100, 0, /*causal=*/true));
  add(Window(Base(2, 1, 100, 40, 64, 64), 5, 3));          // rows with p < -3 see nothing
  add(Window(Base(2, 1, 100, 40, 64, 64), 0, 0));          // exactly one key per row, or none
  add(Window(Base(2, 1, 64, 64, 64, 64), 0, 0, true));     // diagonal only
  add(Window(Base(2, 1, 200, 200, 64, 64), 1000000, 0));   // window wider than the sequence

  // 5. Score modifiers, alone and combined.
  for (float cap : {50.0f, 2.0f}) {
    Case c = Causal(Base(4, 2, 65, 129, 64, 64));
    c.spec.softcap = cap;
    add(c);
  }
  for (int64_t hq : {8, 12}) {  // 12: non-power-of-two slope table
    Case c = Causal(Base(hq, 4, 65, 129, 64, 64));
    c.spec.alibi = true;
    add(c);
  }
  {
    Case c = Base(3, 1, 65, 65, 32, 32);  // non-causal ALiBi with custom slopes
    c.spec.alibi = true;
    c.spec.alibi_slopes = {0.5f, 0.25f, 0.125f};
    add(c);
  }
  {
    Case c = Causal(Base(4, 2, 129, 129, 64, 64));
    c.spec.has_sinks = true;
    add(c);
    add(Window(c, 4, 3));  // sinks with a two-sided window
    Case e = Causal(Base(4, 2, 100, 40, 64, 64));  // rows with no key: O = 0, LSE = sink
    e.spec.has_sinks = true;
    add(e);
  }
  for (int mode = 0; mode < 4; ++mode) {
    Case c = Causal(Base(4, 2, 65, 129, 64, 64));
    c.batch = 2;
    c.spec.has_bias = true;
    c.bias_batch = mode != 1;
    c.bias_heads = mode != 2;
    c.bias_rows = mode != 3;
    add(c);
  }
  {
    Case c = Window(Base(12, 4, 130, 257, 80, 64), 64, 16, true);  // everything at once
    c.batch = 2;
    c.spec.softcap = 30.0f;
    c.spec.alibi = true;
    c.spec.has_sinks = true;
    c.spec.has_bias = true;
    c.spec.scale = 0.3f;
    add(c);
    c.dtype = DType::kBF16;
    add(c);
  }

  // 5b. Scales that do not commute with the row max: zero (uniform weights) and
  // negative (inverted logits), with and without a modifier and a window.
  for (float scale : {0.0f, -0.7f}) {
    Case c = Causal(Base(4, 2, 65, 129, 64, 64));
    c.spec.scale = scale;
    add(c);
    add(Window(c, 9, 0, true));
    c.spec.softcap = 5.0f;
    add(c);
    c.dtype = DType::kBF16;
    add(c);
  }

  // 6. Storage dtypes and output dtypes.
  for (DType dt : {DType::kBF16, DType::kF16}) {
    add([&] { Case c = Causal(Base(8, 2, 129, 129, 128, 128)); c.dtype = dt; return c; }());
    add([&] { Case c = Base(4, 4, 65, 1000, 80, 96); c.dtype = dt; return c; }());
    add([&] { Case c = Window(Base(6, 2, 64, 200, 64, 64), 20, 0, true); c.dtype = dt; c.out_dtype = dt; return c; }());
    add([&] { Case c = Causal(Base(4, 1, 63, 63, 40, 40)); c.out_dtype = dt; return c; }());
  }

  // 7. Layouts and strides.
  for (Layout lay : {Layout::kBHND, Layout::kBNHD}) {
    for (int64_t pad : {0, 3}) {
      if (lay == Layout::kBHND && pad == 0) continue;
      Case c = Causal(Base(8, 2, 65, 129, 64, 64));
      c.batch = 2;
      c.layout = lay;
      c.row_padding = pad;
      add(c);
      c.dtype = DType::kBF16;
      add(c);
    }
  }

  // 8. Varlen: empty and length-1 sequences, Nq != Nk per sequence.
  {
    Case c = Causal(Base(4, 2, 0, 0, 64, 64));
    c.varlen_q = {5, 0, 1, 67, 130, 1};
    c.varlen_k = {9, 3, 0, 67, 200, 1};
    add(c);
    add(Window(c, 16, 0, true));
    Case n = c;
    n.spec.mask = {};
    add(n);
    c.dtype = DType::kF16;
    c.layout = Layout::kBNHD;
    add(c);
    c.spec.has_sinks = true;
    add(c);
  }

  // 9. Adversarial inputs.
  for (InputKind kind : {InputKind::kOffsetK, InputKind::kSpikes, InputKind::kLargeLogits}) {
    for (DType dt : {DType::kF32, DType::kBF16}) {
      Case c = Causal(Base(4, 2, 129, 129, 64, 64));
      c.inputs = kind;
      c.dtype = dt;
      add(c);
    }
    Case w = Window(Base(2, 1, 200, 200, 128, 128), 50, 0, true);
    w.inputs = kind;
    w.spec.softcap = 50.0f;
    add(w);
  }

  // 9b. bf16 inputs on every kernel that takes them and that this CPU can run
  // (the planner may prefer either). Kernels that round P (AVX512-BF16
  // products) are also run where P is exact (q = 0: uniform weights), so their
  // packing and indexing is checked to f32 accuracy: odd head dims and key
  // counts (pair padding), GQA, masks, tails.
  std::vector<std::string> bf16_kernels;
  for (const KernelEntry& e : Registry()) {
    if (e.is_reference || std::find(e.dtypes.begin(), e.dtypes.end(), DType::kBF16) == e.dtypes.end()) {
      continue;
    }
    AttentionShape probe;
    probe.dtype = DType::kBF16;
    if (e.why_unsupported(AttentionSpec{}, probe).empty()) bf16_kernels.push_back(e.name);
  }
  const size_t before_bf16 = g.size();
  for (size_t i = 0; i < before_bf16; ++i) {
    if (g[i].dtype != DType::kBF16 || !g[i].kernel.empty()) continue;
    for (const std::string& k : bf16_kernels) {
      Case c = g[i];
      c.kernel = k;
      add(c);
    }
  }
  for (auto [nk, dqk, dv] : {std::tuple<int64_t, int64_t, int64_t>{129, 64, 64}, {65, 3, 5},
                             {1, 1, 1}, {17, 81, 33}, {200, 128, 48}}) {
    for (const std::string& k : bf16_kernels) {
      Case c = Causal(Base(6, 2, 31, nk, dqk, dv));
      c.dtype = DType::kBF16;
      c.inputs = InputKind::kZeroQuery;
      c.kernel = k;
      add(c);
      add(Window(c, 7, 3));
      c.block_q = 5;
      c.block_k = 48;
      add(c);
    }
  }

  // 10. Tile overrides: sizes exactly at and around the forced tiles.
  for (auto [bq, bk] : {std::pair<int64_t, int64_t>{1, 16}, {7, 32}, {64, 64}, {5, 48}}) {
    for (int64_t n : {63, 64, 65}) {
      Case c = Causal(Base(2, 1, n, n + 1, 40, 24));
      c.block_q = bq;
      c.block_k = bk;
      add(c);
    }
  }

  // 11. Random combinations of everything above (fixed seed): interactions
  // that the structured sub-grids do not pair up.
  uint64_t state = 0x5eed;
  auto pick = [&](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (int i = 0; i < 120; ++i) {
    const int64_t sizes[] = {1, 2, 5, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 257};
    const int64_t dims[] = {1, 3, 8, 16, 24, 32, 40, 64, 80, 96, 128, 160, 256};
    const int64_t ratios[] = {1, 2, 3, 4, 8};
    const int64_t hkv = 1 + static_cast<int64_t>(pick(3)), ratio = ratios[pick(5)];
    Case c = Base(hkv * ratio, hkv, sizes[pick(16)], sizes[pick(16)], dims[pick(13)], dims[pick(13)]);
    c.batch = 1 + static_cast<int64_t>(pick(3));
    c.spec.mask.causal = pick(2) == 0;
    if (pick(3) == 0) c.spec.mask.window_left = static_cast<int64_t>(pick(40));
    if (pick(4) == 0) c.spec.mask.window_right = static_cast<int64_t>(pick(40));
    if (pick(4) == 0) c.spec.softcap = 1.0f + static_cast<float>(pick(50));
    c.spec.alibi = pick(4) == 0;
    c.spec.has_sinks = pick(4) == 0;
    c.spec.has_bias = pick(5) == 0;
    c.bias_heads = pick(2) == 0;
    c.bias_rows = pick(2) == 0;
    const DType dtypes[] = {DType::kF32, DType::kBF16, DType::kF16};
    c.dtype = dtypes[pick(3)];
    c.out_dtype = pick(4) == 0 ? dtypes[pick(3)] : DType::kF32;
    c.layout = pick(2) == 0 ? Layout::kBHND : Layout::kBNHD;
    c.row_padding = pick(4) == 0 ? 5 : 0;
    if (pick(3) == 0) {
      c.block_q = 1 + static_cast<int64_t>(pick(40));
      c.block_k = 16 * (1 + static_cast<int64_t>(pick(6)));
    }
    if (pick(5) == 0 && !c.spec.has_bias) {  // varlen with the same per-sequence sizes, plus empties
      c.varlen_q = {c.seqlen_q, 0, static_cast<int64_t>(pick(70)), 1};
      c.varlen_k = {c.seqlen_k, static_cast<int64_t>(pick(3)), static_cast<int64_t>(pick(70)), 0};
    }
    add(c);
  }

  // 12. Two threads on a third of everything above (results must not change).
  const size_t n = g.size();
  for (size_t i = 0; i < n; i += 3) {
    Case c = g[i];
    c.threads = 2;
    add(c);
  }
  return g;
}

}  // namespace attnkit::harness
