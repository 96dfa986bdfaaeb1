// SPDX-License-Identifier: Apache-2.0
// LinearSpec helpers: names of the enums and their parsers, the resolved scale,
// feature and state widths, and the published per-head decay tables. No kernels.
#include <cmath>
#include <string>

#include "attnkit/error.h"
#include "attnkit/linear.h"
#include "attnkit/spec.h"

namespace attnkit {
namespace {

template <typename E, size_t kN>
E ParseName(const std::string& name, const char* what, const E (&values)[kN]) {
  std::string allowed;
  for (E v : values) {
    if (name == Name(v)) return v;
    allowed += std::string(allowed.empty() ? "" : ", ") + Name(v);
  }
  detail::Throw("unknown ", what, " '", name, "' (allowed: ", allowed, ")");
}

}  // namespace

const char* Name(FeatureMap m) {
  switch (m) {
    case FeatureMap::kIdentity: return "identity";
    case FeatureMap::kEluPlusOne: return "elu+1";
    case FeatureMap::kRelu: return "relu";
    case FeatureMap::kHedgehog: return "hedgehog";
    case FeatureMap::kBased: return "based";
  }
  return "?";
}

const char* Name(LinearNorm n) {
  switch (n) {
    case LinearNorm::kNone: return "none";
    case LinearNorm::kDenominator: return "denominator";
    case LinearNorm::kRmsNorm: return "rmsnorm";
    case LinearNorm::kLayerNorm: return "layernorm";
  }
  return "?";
}

const char* Name(LinearGate g) {
  switch (g) {
    case LinearGate::kNone: return "none";
    case LinearGate::kScalar: return "scalar";
    case LinearGate::kChannel: return "channel";
  }
  return "?";
}

const char* Name(LinearRule r) {
  switch (r) {
    case LinearRule::kAdditive: return "additive";
    case LinearRule::kDelta: return "delta";
  }
  return "?";
}

const char* Name(LinearMode m) {
  switch (m) {
    case LinearMode::kAuto: return "auto";
    case LinearMode::kChunk: return "chunk";
    case LinearMode::kRecurrent: return "recurrent";
    case LinearMode::kParallel: return "parallel";
    case LinearMode::kReference: return "reference";
  }
  return "?";
}

FeatureMap ParseFeatureMap(const std::string& name) {
  static const FeatureMap kAll[] = {FeatureMap::kIdentity, FeatureMap::kEluPlusOne,
                                    FeatureMap::kRelu, FeatureMap::kHedgehog, FeatureMap::kBased};
  return ParseName(name, "feature_map", kAll);
}

LinearNorm ParseLinearNorm(const std::string& name) {
  static const LinearNorm kAll[] = {LinearNorm::kNone, LinearNorm::kDenominator,
                                    LinearNorm::kRmsNorm, LinearNorm::kLayerNorm};
  return ParseName(name, "norm", kAll);
}

LinearMode ParseLinearMode(const std::string& name) {
  static const LinearMode kAll[] = {LinearMode::kAuto, LinearMode::kChunk, LinearMode::kRecurrent,
                                    LinearMode::kParallel, LinearMode::kReference};
  return ParseName(name, "mode", kAll);
}

float LinearSpec::resolved_scale() const {
  if (scale.has_value()) return *scale;
  return head_dim_k > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_k)))
                        : 1.0f;
}

int64_t LinearSpec::feature_dim() const {
  switch (feature_map) {
    case FeatureMap::kHedgehog: return 2 * head_dim_k;
    case FeatureMap::kBased: return 1 + head_dim_k + head_dim_k * head_dim_k;
    default: return head_dim_k;
  }
}

int64_t LinearSpec::state_cols() const {
  return head_dim_v + (norm == LinearNorm::kDenominator ? 1 : 0);
}

std::vector<float> LightningDecays(int64_t num_heads) {
  std::vector<float> out;
  for (float slope : AlibiSlopes(num_heads)) out.push_back(static_cast<float>(std::exp(-static_cast<double>(slope))));
  return out;
}

std::vector<float> RetNetDecays(int64_t num_heads) {
  ATTNKIT_CHECK(num_heads >= 1, "RetNetDecays: num_heads must be >= 1, got ", num_heads);
  std::vector<float> out;
  for (int64_t h = 0; h < num_heads; ++h) {
    out.push_back(static_cast<float>(1.0 - std::exp2(-5.0 - static_cast<double>(h))));
  }
  return out;
}

}  // namespace attnkit
