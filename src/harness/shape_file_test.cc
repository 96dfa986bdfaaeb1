// SPDX-License-Identifier: Apache-2.0
// Tests of the shape-file parser: good files, every error path with its
// file:line message, and that the shipped bench/shapes files all parse.
#include "src/harness/shape_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "attnkit/error.h"

namespace attnkit::harness {
namespace {

// Expects ParseShapes(text) to throw an Error whose message contains `where`
// (e.g. "t.txt:2: ") and `what`.
void ExpectError(const std::string& text, const std::string& where, const std::string& what) {
  SCOPED_TRACE(text);
  try {
    ParseShapes(text, "t.txt");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(where, 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(ShapeFile, ParsesKeysFlagsAndDefaults) {
  const std::string text =
      "# a comment line\n"
      "\n"
      "name=llama/prefill-4096 b=1 hq=32 hkv=8 nq=4096 d=128 causal   # trailing comment\n"
      "  name=mini hq=4 nq=17 nk=33 dqk=40 dv=24 window=16,inf softcap=50 alibi sinks dtype=bf16"
      " out_dtype=f16\n"
      "name=mha hq=12 nq=197 d=64 b=8\r\n"
      "name=packed hq=2 hkv=1 varlen=5,0,9 d=16 causal\n";
  const std::vector<NamedCase> cases = ParseShapes(text, "t.txt");
  ASSERT_EQ(cases.size(), 4u);

  const NamedCase& a = cases[0];
  EXPECT_EQ(a.name, "llama/prefill-4096");
  EXPECT_EQ(a.origin, "t.txt:3");
  EXPECT_EQ(a.c.batch, 1);
  EXPECT_EQ(a.c.spec.num_q_heads, 32);
  EXPECT_EQ(a.c.spec.num_kv_heads, 8);
  EXPECT_EQ(a.c.seqlen_q, 4096);
  EXPECT_EQ(a.c.seqlen_k, 4096);
  EXPECT_EQ(a.c.spec.head_dim_qk, 128);
  EXPECT_EQ(a.c.spec.head_dim_v, 128);
  EXPECT_TRUE(a.c.spec.mask.causal);
  EXPECT_FALSE(a.c.spec.mask.has_window());
  EXPECT_EQ(a.c.dtype, DType::kF32);

  const NamedCase& b = cases[1];
  EXPECT_EQ(b.name, "mini");
  EXPECT_EQ(b.c.spec.num_kv_heads, 4);  // defaults to hq
  EXPECT_EQ(b.c.seqlen_q, 17);
  EXPECT_EQ(b.c.seqlen_k, 33);
  EXPECT_EQ(b.c.spec.head_dim_qk, 40);
  EXPECT_EQ(b.c.spec.head_dim_v, 24);
  EXPECT_EQ(b.c.spec.mask.window_left, 16);
  EXPECT_EQ(b.c.spec.mask.window_right, kUnbounded);
  EXPECT_FALSE(b.c.spec.mask.causal);
  EXPECT_EQ(b.c.spec.softcap, 50.0f);
  EXPECT_TRUE(b.c.spec.alibi);
  EXPECT_TRUE(b.c.spec.has_sinks);
  EXPECT_EQ(b.c.dtype, DType::kBF16);
  EXPECT_EQ(b.c.out_dtype, DType::kF16);

  EXPECT_EQ(cases[2].c.batch, 8);
  EXPECT_EQ(cases[2].c.spec.num_kv_heads, 12);

  const NamedCase& p = cases[3];
  EXPECT_TRUE(p.c.is_varlen());
  EXPECT_EQ(p.c.varlen_q, (std::vector<int64_t>{5, 0, 9}));
  EXPECT_EQ(p.c.varlen_k, p.c.varlen_q);
}

TEST(ShapeFile, EmptyTextGivesNoCases) {
  EXPECT_TRUE(ParseShapes("# only comments\n\n   \n", "t.txt").empty());
}

TEST(ShapeFile, EveryErrorNamesFileAndLine) {
  const std::string ok = "name=x hq=2 nq=8 d=16\n";
  // Missing required keys.
  ExpectError("hq=2 nq=8 d=16", "t.txt:1: ", "missing required key 'name'");
  ExpectError(ok + "name=y nq=8 d=16", "t.txt:2: ", "missing required key 'hq'");
  ExpectError("name=y hq=2 d=16", "t.txt:1: ", "missing required key 'nq'");
  ExpectError("name=y hq=2 nq=8", "t.txt:1: ", "missing required key 'd'");
  // Unknown keys and flags, misuse of flags and keys.
  ExpectError(ok + "\n# c\nname=y hq=2 nq=8 d=16 heads=4", "t.txt:4: ", "unknown key 'heads'");
  ExpectError("name=y hq=2 nq=8 d=16 casual", "t.txt:1: ", "unknown flag 'casual'");
  ExpectError("name=y hq=2 nq=8 d=16 causal=1", "t.txt:1: ", "'causal' is a flag");
  ExpectError("name=y hq=2 nq=8 d=16 softcap", "t.txt:1: ", "'softcap' needs a value");
  ExpectError("name=y hq=2 nq=8 d=16 nk=", "t.txt:1: ", "empty value");
  // Repeats.
  ExpectError("name=y hq=2 nq=8 d=16 nq=9", "t.txt:1: ", "key 'nq' given twice");
  ExpectError("name=y hq=2 nq=8 d=16 causal causal", "t.txt:1: ", "flag 'causal' given twice");
  ExpectError(ok + "name=x hq=4 nq=8 d=16",
              "t.txt:2: ", "duplicate name 'x' (first used on line 1)");
  // Bad numbers.
  ExpectError("name=y hq=2 nq=8k d=16", "t.txt:1: ", "'8k' is not an integer");
  ExpectError("name=y hq=2 nq=8 d=1.5", "t.txt:1: ", "'1.5' is not an integer");
  ExpectError("name=y hq=0 nq=8 d=16", "t.txt:1: ", "'hq=0': must be in [1, ");
  ExpectError("name=y hq=2 nq=-4 d=16", "t.txt:1: ", "'nq=-4': must be in [1, ");
  ExpectError("name=y hq=2 nq=99999999999999999999 d=16", "t.txt:1: ", "is not an integer");
  ExpectError("name=y hq=2 nq=8 d=16 softcap=abc", "t.txt:1: ", "'abc' is not a number");
  ExpectError("name=y hq=2 nq=8 d=16 softcap=-3", "t.txt:1: ", "must be finite and > 0");
  ExpectError("name=y hq=2 nq=8 d=16 softcap=inf", "t.txt:1: ", "must be finite and > 0");
  ExpectError("name=y hq=2 nq=8 d=16 window=16", "t.txt:1: ", "expected L,R");
  ExpectError("name=y hq=2 nq=8 d=16 window=-1,0", "t.txt:1: ", "must be >= 0");
  ExpectError("name=y hq=2 nq=8 d=16 window=4,x", "t.txt:1: ", "'x' is not an integer or 'inf'");
  ExpectError("name=y hq=2 nq=8 d=16 dtype=fp8", "t.txt:1: ", "unknown dtype");
  ExpectError("name=y hq=2 d=16 varlen=4,,5", "t.txt:1: ", "is not an integer");
  ExpectError("name=y hq=2 d=16 varlen=4,5,", "t.txt:1: ", "comma-separated");
  // Conflicting keys.
  ExpectError("name=y hq=2 nq=8 d=16 dqk=16", "t.txt:1: ", "not both");
  ExpectError("name=y hq=2 nq=8 d=16 varlen=4,5", "t.txt:1: ", "cannot be combined with 'varlen'");
  // Problems the library rejects, reported with the line.
  ExpectError("name=y hq=6 hkv=4 nq=8 d=16", "t.txt:1: ", "multiple of num_kv_heads");
  ExpectError("name=y hq=2 nq=8 d=2048", "t.txt:1: ", "head_dim_qk must be in");
}

TEST(ShapeFile, ReadErrors) {
  EXPECT_THROW(ReadShapeFile("/nonexistent/shapes.txt"), Error);
  const std::string path = testing::TempDir() + "attnkit_empty_shapes.txt";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("# nothing\n", f);
    std::fclose(f);
  }
  EXPECT_THROW(ReadShapeFile(path), Error);
  std::remove(path.c_str());
  EXPECT_THROW(ResolveShapeFile("no-such-model"), Error);
}

TEST(ShapeFile, ShippedShapeFilesParse) {
  const std::string dir = ShapesDir();
  ASSERT_FALSE(dir.empty()) << "bench/shapes not found";
  EXPECT_EQ(ResolveShapeFile("llama3-8b"), dir + "/llama3-8b.txt");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".txt") continue;
    ++files;
    SCOPED_TRACE(entry.path().string());
    const std::vector<NamedCase> cases = ReadShapeFile(entry.path().string());
    EXPECT_FALSE(cases.empty());
  }
  EXPECT_GE(files, 6);
}

}  // namespace
}  // namespace attnkit::harness
