// SPDX-License-Identifier: Apache-2.0
// Structured attention inputs (see structured_inputs.h). Each pattern lives in
// its own dimensions of q and k, so patterns do not leak into each other:
//   dim 0        sink: k_j = 1 for j < 4; q_i = a_sink / scale
//   dim 1        vertical lines: k_j = u_j in [0.8, 1] on the KV head's line
//                keys; q_i = a_vert / scale
//   dims 2-5     needles: key span m gets the unit code w_m, its query span
//                gets a_needle / scale x w_m
//   next 2F      local band: rotary codes k_j = (cos j t_f, sin j t_f) / sqrt F,
//                q_i = a_local / scale x (cos i t_f, sin i t_f) / sqrt F, so the
//                logit is a_local x mean_f cos((i - j) t_f): a band of width
//                ~128 (t_f = pi (f + 1/2) / (128 F)), far-field std a_local / sqrt(2F)
//   the rest     Gaussian background, scaled so that its logits have std 1.
// v is N(0, 1). scale = 1 / sqrt(head_dim), the default softmax scale.
#include "src/harness/structured_inputs.h"

#include <algorithm>
#include <cmath>

#include "attnkit/error.h"

namespace attnkit::harness {
namespace {

class Rng {  // splitmix64 + Box-Muller, as in inputs.cc
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 7) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  int64_t Below(int64_t n) { return static_cast<int64_t>(Uniform() * static_cast<double>(n)); }
  double Normal() {
    const double u1 = 1.0 - Uniform(), u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

constexpr int64_t kSinkKeys = 4, kNeedleKeys = 16, kNeedleQueries = 64, kNeedleDims = 4;
constexpr double kBandWidth = 128;

int64_t FrequencyPairs(int64_t d) { return std::min<int64_t>(16, (d - 10) / 4); }

}  // namespace

double BackgroundKeyMass(double local, int64_t d) {
  const double f = static_cast<double>(std::max<int64_t>(1, FrequencyPairs(d)));
  return std::exp(0.5 * (1.0 + local * local / (2.0 * f)));
}

StructuredAmplitudes AmplitudesOf(HeadKind kind, StructuredSuite suite, int64_t n, int64_t d) {
  const double log_n = std::log(static_cast<double>(n));
  StructuredAmplitudes a;
  switch (kind) {
    case HeadKind::kSink: a = StructuredAmplitudes{log_n + 4, 0, 3, 0}; break;
    case HeadKind::kVertical: a = StructuredAmplitudes{log_n + 2, log_n + 2, 3, 0}; break;
    case HeadKind::kLocal: a = StructuredAmplitudes{log_n + 1, 0, 5, 0}; break;
    case HeadKind::kRetrieval: a = StructuredAmplitudes{log_n + 2, 0, 3, log_n + 5}; break;
    case HeadKind::kMixed: a = StructuredAmplitudes{log_n + 2, log_n + 1, 4, log_n + 3}; break;
    case HeadKind::kNoise: return a;
  }
  if (suite == StructuredSuite::kCalibrated) {
    // The last row sees n background keys of mass BackgroundKeyMass each; the
    // sink alone (kSinkKeys keys of logit a.sink) must carry (1 - share) / share
    // times that, so the structured part (sink and the rest) carries >= 1 - share.
    const double share = kCalibratedBackgroundShare;
    const double background = static_cast<double>(n) * BackgroundKeyMass(a.local, d);
    a.sink = std::max(a.sink, std::log(background * (1 - share) / share / kSinkKeys));
  }
  return a;
}

const char* Name(StructuredSuite suite) {
  return suite == StructuredSuite::kHard ? "hard" : "calibrated";
}

StructuredSuite ParseStructuredSuite(const std::string& name) {
  if (name == "hard") return StructuredSuite::kHard;
  if (name == "calibrated") return StructuredSuite::kCalibrated;
  ATTNKIT_CHECK(false, "unknown structured suite '", name, "' (hard | calibrated)");
  return StructuredSuite::kHard;
}

const char* Name(HeadKind kind) {
  switch (kind) {
    case HeadKind::kSink: return "sink";
    case HeadKind::kVertical: return "vertical";
    case HeadKind::kLocal: return "local";
    case HeadKind::kRetrieval: return "retrieval";
    case HeadKind::kMixed: return "mixed";
    case HeadKind::kNoise: return "noise";
  }
  return "?";
}

StructuredInputs MakeStructuredInputs(const StructuredSpec& s) {
  ATTNKIT_CHECK(s.batch >= 1 && s.heads_q >= 1 && s.heads_kv >= 1 && s.seqlen >= 1,
                "MakeStructuredInputs: batch, heads and seqlen must be >= 1");
  ATTNKIT_CHECK(s.heads_q % s.heads_kv == 0, "MakeStructuredInputs: heads_q (", s.heads_q,
                ") must be a multiple of heads_kv (", s.heads_kv, ")");
  ATTNKIT_CHECK(s.head_dim >= 16 && s.head_dim <= 1024,
                "MakeStructuredInputs: head_dim must be in [16, 1024], got ", s.head_dim);
  const int64_t n = s.seqlen, d = s.head_dim, group = s.heads_q / s.heads_kv;
  const int64_t f_pairs = FrequencyPairs(d);
  const int64_t local0 = 2 + kNeedleDims, noise0 = local0 + 2 * f_pairs, noise_dims = d - noise0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  // Background: scale * sum over noise_dims of q k with q, k ~ N(0, v^2) has std 1.
  const double v_noise = std::sqrt(1.0 / (scale * std::sqrt(static_cast<double>(noise_dims))));
  const std::vector<HeadKind>& kinds = s.kinds.empty() ? kDefaultMix : s.kinds;

  StructuredInputs out;
  const size_t esize = SizeOf(s.dtype);
  out.q.assign(static_cast<size_t>(s.batch * s.heads_q * n * d) * esize, 0);
  out.k.assign(static_cast<size_t>(s.batch * s.heads_kv * n * d) * esize, 0);
  out.v.assign(static_cast<size_t>(s.batch * s.heads_kv * n * d) * esize, 0);
  out.out.assign(static_cast<size_t>(s.batch * s.heads_q * n * d) * 4, 0);
  AttentionTensors& t = out.tensors;
  t.q = TensorView::Attention(out.q.data(), s.dtype, Layout::kBHND, s.batch, s.heads_q, n, d);
  t.k = TensorView::Attention(out.k.data(), s.dtype, Layout::kBHND, s.batch, s.heads_kv, n, d);
  t.v = TensorView::Attention(out.v.data(), s.dtype, Layout::kBHND, s.batch, s.heads_kv, n, d);
  t.out = TensorView::Attention(out.out.data(), DType::kF32, Layout::kBHND, s.batch, s.heads_q, n, d);

  Rng rng(s.seed);
  std::vector<double> theta(static_cast<size_t>(f_pairs));
  for (int64_t f = 0; f < f_pairs; ++f) {
    theta[static_cast<size_t>(f)] = 3.141592653589793 * (f + 0.5) / (kBandWidth * f_pairs);
  }
  const double code_norm = 1.0 / std::sqrt(static_cast<double>(f_pairs));
  std::vector<float> row(static_cast<size_t>(d));
  out.vertical_keys.resize(static_cast<size_t>(s.heads_kv));
  out.needles.resize(static_cast<size_t>(s.heads_kv));

  for (int64_t g = 0; g < s.heads_kv; ++g) {
    // Planted structure of this KV head (the same in every batch element).
    std::vector<double> line_weight(static_cast<size_t>(n), 0.0);
    const int64_t lines = std::max<int64_t>(4, n / 1024);
    for (int64_t i = 0; i < lines && n > 16; ++i) {
      const int64_t key = 16 + rng.Below(n - 16);
      line_weight[static_cast<size_t>(key)] = 0.8 + 0.2 * rng.Uniform();
      out.vertical_keys[static_cast<size_t>(g)].push_back(key);
    }
    std::sort(out.vertical_keys[static_cast<size_t>(g)].begin(), out.vertical_keys[static_cast<size_t>(g)].end());
    // Needles: key span [j0, j0 + 16), its query span [i0, i0 + 64) later on.
    std::vector<int64_t> key_code(static_cast<size_t>(n), -1), query_code(static_cast<size_t>(n), -1);
    std::vector<std::vector<double>> codes;
    const int64_t spare = n - kNeedleKeys - kNeedleQueries - 64;
    for (int64_t m = 0; spare > 0 && m < std::max<int64_t>(2, n / 2048); ++m) {
      const int64_t j0 = rng.Below(spare);
      const int64_t i0 = j0 + kNeedleKeys + 64 + rng.Below(spare - j0 + 1);
      std::vector<double> w(kNeedleDims);
      double norm = 0;
      for (double& x : w) {
        x = rng.Normal();
        norm += x * x;
      }
      for (double& x : w) x /= std::sqrt(norm);
      codes.push_back(w);
      for (int64_t j = j0; j < j0 + kNeedleKeys; ++j) key_code[static_cast<size_t>(j)] = m;
      for (int64_t i = i0; i < std::min(n, i0 + kNeedleQueries); ++i) query_code[static_cast<size_t>(i)] = m;
      out.needles[static_cast<size_t>(g)].push_back({i0, j0});
    }

    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t j = 0; j < n; ++j) {  // keys and values
        std::fill(row.begin(), row.end(), 0.0f);
        row[0] = j < kSinkKeys ? 1.0f : 0.0f;
        row[1] = static_cast<float>(line_weight[static_cast<size_t>(j)]);
        if (key_code[static_cast<size_t>(j)] >= 0) {
          const auto& w = codes[static_cast<size_t>(key_code[static_cast<size_t>(j)])];
          for (int64_t c = 0; c < kNeedleDims; ++c) row[static_cast<size_t>(2 + c)] = static_cast<float>(w[c]);
        }
        for (int64_t f = 0; f < f_pairs; ++f) {
          const double a = static_cast<double>(j) * theta[static_cast<size_t>(f)];
          row[static_cast<size_t>(local0 + 2 * f)] = static_cast<float>(code_norm * std::cos(a));
          row[static_cast<size_t>(local0 + 2 * f + 1)] = static_cast<float>(code_norm * std::sin(a));
        }
        for (int64_t c = noise0; c < d; ++c) row[static_cast<size_t>(c)] = static_cast<float>(v_noise * rng.Normal());
        const int64_t at = ((b * s.heads_kv + g) * n + j) * d;
        for (int64_t c = 0; c < d; ++c) {
          StoreFromF32(out.k.data(), s.dtype, at + c, row[static_cast<size_t>(c)]);
          StoreFromF32(out.v.data(), s.dtype, at + c, static_cast<float>(rng.Normal()));
        }
      }
      for (int64_t hh = 0; hh < group; ++hh) {  // queries of every head of the group
        const int64_t h = g * group + hh;
        const StructuredAmplitudes a = AmplitudesOf(kinds[static_cast<size_t>(h) % kinds.size()], s.suite, n, d);
        for (int64_t i = 0; i < n; ++i) {
          std::fill(row.begin(), row.end(), 0.0f);
          row[0] = static_cast<float>(a.sink / scale);
          row[1] = static_cast<float>(a.vertical / scale);
          if (a.needle > 0 && query_code[static_cast<size_t>(i)] >= 0) {
            const auto& w = codes[static_cast<size_t>(query_code[static_cast<size_t>(i)])];
            for (int64_t c = 0; c < kNeedleDims; ++c) {
              row[static_cast<size_t>(2 + c)] = static_cast<float>(a.needle / scale * w[c]);
            }
          }
          for (int64_t f = 0; f < f_pairs; ++f) {
            const double ang = static_cast<double>(i) * theta[static_cast<size_t>(f)];
            const double amp = a.local / scale * code_norm;
            row[static_cast<size_t>(local0 + 2 * f)] = static_cast<float>(amp * std::cos(ang));
            row[static_cast<size_t>(local0 + 2 * f + 1)] = static_cast<float>(amp * std::sin(ang));
          }
          for (int64_t c = noise0; c < d; ++c) row[static_cast<size_t>(c)] = static_cast<float>(v_noise * rng.Normal());
          const int64_t at = ((b * s.heads_q + h) * n + i) * d;
          for (int64_t c = 0; c < d; ++c) StoreFromF32(out.q.data(), s.dtype, at + c, row[static_cast<size_t>(c)]);
        }
      }
    }
  }
  return out;
}

}  // namespace attnkit::harness
