// SPDX-License-Identifier: Apache-2.0
// The default correctness grid (the same cases `attnkit check` runs), one test
// per case, against the fp64 reference.
#include <gtest/gtest.h>

#include <cctype>

#include "src/harness/cases.h"

namespace attnkit::harness {
namespace {

class GridTest : public ::testing::TestWithParam<Case> {};

TEST_P(GridTest, MatchesReference) {
  const Case& c = GetParam();
  const CheckResult r = Check(c);
  EXPECT_TRUE(r.pass) << c.ToString() << ": " << r.failure << " (max_abs " << r.max_abs
                      << ", rel_l2 " << r.rel_l2 << ", tol " << r.tolerance << ")";
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string s = std::to_string(info.index) + "_" + info.param.ToString();
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Default, GridTest, ::testing::ValuesIn(DefaultGrid()), CaseName);

}  // namespace
}  // namespace attnkit::harness
