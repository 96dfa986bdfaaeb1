// SPDX-License-Identifier: Apache-2.0
// Tests of the .npy reader/writer: round trips for every dtype and format
// version, and one test per malformed-file error, with the bytes written by hand.
#include "src/io/npy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>  // mkfifo

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "attnkit/dtype.h"
#include "attnkit/error.h"

namespace attnkit::io {
namespace {

std::string TempPath(const std::string& name) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "npy_" + info->name() + "_" + name;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

// A hand-made .npy file: magic, version, little-endian header length, header
// text (used as is: no padding added), then `data`.
std::string MakeNpy(const std::string& header, const std::string& data, int major = 1,
                    int minor = 0) {
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += static_cast<char>(minor);
  const int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string Header(const std::string& descr, const std::string& shape,
                   const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

// Expects ReadNpy(path) to throw attnkit::Error whose message contains the
// path and every one of `parts`.
void ExpectReadError(const std::string& path, const std::vector<std::string>& parts) {
  try {
    ReadNpy(path);
    FAIL() << "expected attnkit::Error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

void ExpectBytesError(const std::string& bytes, const std::vector<std::string>& parts) {
  const std::string path = TempPath("bad.npy");
  WriteBytes(path, bytes);
  ExpectReadError(path, parts);
  std::remove(path.c_str());
}

std::string F32Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// ---------------------------------------------------------------- round trips

// An array of `type` holding -0, 0.5, -1, 1.5, ... (floats) or 0, 1, -2, 3, ...
// (integers; times 10^12 for int64): exact in every type.
NpyArray Ramp(NpyType type, std::vector<int64_t> shape) {
  NpyArray a;
  a.type = type;
  a.shape = std::move(shape);
  const int64_t n = a.numel();
  a.data.resize(static_cast<size_t>(n) * SizeOf(type));
  for (int64_t i = 0; i < n; ++i) {
    const double x = (i % 2 ? 1.0 : -1.0) * static_cast<double>(i) * 0.5;
    uint8_t* p = a.data.data() + i * SizeOf(type);
    switch (type) {
      case NpyType::kF32: {
        const float f = static_cast<float>(x);
        std::memcpy(p, &f, 4);
        break;
      }
      case NpyType::kF16: {
        const uint16_t h = F32ToF16(static_cast<float>(x));
        std::memcpy(p, &h, 2);
        break;
      }
      case NpyType::kF64:
        std::memcpy(p, &x, 8);
        break;
      case NpyType::kI32: {
        const int32_t v = static_cast<int32_t>(i * (i % 2 ? 1 : -1));
        std::memcpy(p, &v, 4);
        break;
      }
      case NpyType::kI64: {
        const int64_t v = i * (i % 2 ? 1 : -1) * 1000000000000LL;
        std::memcpy(p, &v, 8);
        break;
      }
    }
  }
  return a;
}

TEST(NpyTest, RoundTripEveryDtypeVersionAndRank) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3}, {2, 1, 3, 4}, {0, 3}};
  for (NpyType type : {NpyType::kF32, NpyType::kF16, NpyType::kF64, NpyType::kI32, NpyType::kI64}) {
    for (int version : {1, 2, 3}) {
      for (const auto& shape : shapes) {
        SCOPED_TRACE(std::string(Name(type)) + " v" + std::to_string(version) + " rank " +
                     std::to_string(shape.size()));
        const NpyArray a = Ramp(type, shape);
        const std::string path = TempPath("rt.npy");
        WriteNpy(path, a, version);
        const std::string bytes = SerializeNpy(a, version);
        // Version byte, 64-byte aligned data, header ending in '\n'.
        EXPECT_EQ(bytes[6], static_cast<char>(version));
        const size_t data_at = bytes.size() - a.data.size();
        EXPECT_EQ(data_at % 64, 0u);
        EXPECT_EQ(bytes[data_at - 1], '\n');
        const NpyArray b = ReadNpy(path);
        EXPECT_EQ(b.type, type);
        EXPECT_EQ(b.shape, shape);
        EXPECT_EQ(b.data, a.data);
      }
    }
  }
  std::remove(TempPath("rt.npy").c_str());
}

TEST(NpyTest, WriterHeaderMatchesNumpy) {
  // Byte for byte what numpy.save writes for np.array([1, 2, 3], np.float32).
  const std::vector<float> v = {1, 2, 3};
  const std::string bytes = SerializeNpy(NpyArray::FromF32({3}, v.data()));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  // 10 + 57 + 1 bytes round up to 128: header length 118 = 0x76.
  const std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict +
                               std::string(128 - 10 - dict.size() - 1, ' ') + "\n" + F32Bytes(v);
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(ParseNpy(bytes, "mem").ToF32(), v);
  // Rank 4 and version 2 (4-byte header length).
  const std::vector<float> w(6, 0.5f);
  const std::string b2 = SerializeNpy(NpyArray::FromF32({1, 2, 1, 3}, w.data()), 2);
  EXPECT_EQ(b2.substr(0, 12), std::string("\x93NUMPY\x02\x00\x74\x00\x00\x00", 12));
  EXPECT_NE(b2.find("'shape': (1, 2, 1, 3), }"), std::string::npos);
}

TEST(NpyTest, MaximumRankRoundTrips) {
  const NpyArray a = Ramp(NpyType::kF32, std::vector<int64_t>(64, 1));
  const std::string path = TempPath("r64.npy");
  WriteNpy(path, a);
  EXPECT_EQ(ReadNpy(path).shape, a.shape);
  std::remove(path.c_str());
}

TEST(NpyTest, ConversionsToF32AndI64) {
  const NpyArray f16 = Ramp(NpyType::kF16, {4});
  EXPECT_EQ(f16.ToF32(), (std::vector<float>{-0.0f, 0.5f, -1.0f, 1.5f}));
  const NpyArray f64 = Ramp(NpyType::kF64, {3});
  EXPECT_EQ(f64.ToF32(), (std::vector<float>{-0.0f, 0.5f, -1.0f}));
  const NpyArray i32 = Ramp(NpyType::kI32, {3});
  EXPECT_EQ(i32.ToI64(), (std::vector<int64_t>{0, 1, -2}));
  EXPECT_EQ(i32.ToF32(), (std::vector<float>{0, 1, -2}));
  const NpyArray i64 = Ramp(NpyType::kI64, {2});
  EXPECT_EQ(i64.ToI64(), (std::vector<int64_t>{0, 1000000000000LL}));
  EXPECT_THROW(f16.ToI64(), Error);
  const int64_t cu[] = {0, 3, 7};
  EXPECT_EQ(NpyArray::FromI64({3}, cu).ToI64(), (std::vector<int64_t>{0, 3, 7}));
}

TEST(NpyTest, AcceptsHandWrittenHeaderVariants) {
  // Double quotes, no trailing comma, no padding, extra spaces, unaligned data.
  const std::vector<float> v = {1.5f, -2.0f};
  const std::string h = "{ \"shape\" : ( 2 , ) , \"fortran_order\":False,\"descr\":\"<f4\"}";
  for (int major : {1, 2, 3}) {
    const NpyArray a = ParseNpy(MakeNpy(h, F32Bytes(v), major), "mem");
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(a.ToF32(), v);
  }
  // A scalar: shape ().
  const NpyArray s = ParseNpy(MakeNpy(Header("<f4", "()"), F32Bytes({7.0f})), "mem");
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.ToF32(), std::vector<float>{7.0f});
}

// ---------------------------------------------------------------- one test per error

TEST(NpyTest, ErrorMissingFile) {
  const std::string path = TempPath("does_not_exist.npy");
  std::remove(path.c_str());
  ExpectReadError(path, {"cannot open", "No such file"});
}

TEST(NpyTest, ErrorDirectoryIsNotAFile) { ExpectReadError(::testing::TempDir(), {"cannot"}); }

TEST(NpyTest, ReadsFromAPipe) {
  // Not a regular file: read whole, then parsed (the size is not known up front).
  const std::string path = TempPath("fifo.npy");
  std::remove(path.c_str());
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const std::string bytes = SerializeNpy(NpyArray::FromF32({2, 3}, v.data()), 2);
  std::thread writer([&] { WriteBytes(path, bytes); });
  NpyArray a;
  std::string error;
  try {
    a = ReadNpy(path);
  } catch (const Error& e) {
    error = e.what();
  }
  writer.join();
  ASSERT_EQ(error, "");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.ToF32(), v);
  std::remove(path.c_str());
}

TEST(NpyTest, ErrorEmptyFile) { ExpectBytesError("", {"bad magic", "empty"}); }

TEST(NpyTest, ErrorBadMagic) {
  ExpectBytesError("PK\x03\x04 this is a zip file", {"bad magic", "not a .npy file"});
  ExpectBytesError(MakeNpy(Header("<f4", "(1,)"), F32Bytes({1})).replace(1, 1, "X"), {"bad magic"});
}

TEST(NpyTest, ErrorUnsupportedVersion) {
  ExpectBytesError(MakeNpy(Header("<f4", "(1,)"), F32Bytes({1}), 4),
                   {"unsupported .npy format version 4.0", "1.0, 2.0, 3.0"});
  ExpectBytesError(MakeNpy(Header("<f4", "(1,)"), F32Bytes({1}), 1, 1), {"version 1.1"});
  ExpectBytesError(MakeNpy(Header("<f4", "(1,)"), F32Bytes({1}), 0), {"version 0.0"});
}

TEST(NpyTest, ErrorTruncatedHeader) {
  const std::string full = MakeNpy(Header("<f4", "(1,)"), F32Bytes({1}));
  ExpectBytesError(full.substr(0, 4), {"truncated header"});  // inside the magic
  ExpectBytesError(full.substr(0, 7), {"truncated header"});  // no minor version
  ExpectBytesError(full.substr(0, 9), {"truncated header", "header length"});
  ExpectBytesError(full.substr(0, 30), {"truncated header", "only 20 bytes follow"});
  const std::string v2 = MakeNpy(Header("<f4", "(1,)"), F32Bytes({1}), 2);
  ExpectBytesError(v2.substr(0, 10), {"truncated header", "4-byte header length"});
}

TEST(NpyTest, ErrorHeaderNotADict) {
  ExpectBytesError(MakeNpy("descr=<f4\n", ""), {"not a valid dict", "must start with '{'"});
  ExpectBytesError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", ""),
                   {"not a valid dict", "unterminated dict"});
  ExpectBytesError(MakeNpy("{'descr': '<f4' 'fortran_order': False}", ""),
                   {"not a valid dict", "expected ',' or '}'"});
  ExpectBytesError(MakeNpy("{descr: '<f4'}", ""), {"not a valid dict", "quoted key"});
  ExpectBytesError(MakeNpy("{'descr': '<f4, 'shape': ()}", ""), {"not a valid dict"});
  ExpectBytesError(MakeNpy("{'descr': '<f4', 'fortran_order': None, 'shape': ()}", ""),
                   {"not a valid dict", "unexpected character 'N'"});
  ExpectBytesError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", ""),
                   {"not a valid dict", "after the dict"});
  ExpectBytesError(
      MakeNpy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", ""),
      {"duplicate key 'descr'"});
  ExpectBytesError(MakeNpy(std::string("{'descr': '<f4'\0", 16), ""), {"not a valid dict"});
}

TEST(NpyTest, ErrorMissingOrUnexpectedKeys) {
  ExpectBytesError(MakeNpy("{'descr': '<f4', 'shape': (1,)}", F32Bytes({1})),
                   {"missing the key 'fortran_order'"});
  ExpectBytesError(MakeNpy("{'fortran_order': False, 'shape': (1,)}", F32Bytes({1})),
                   {"missing the key 'descr'"});
  ExpectBytesError(MakeNpy("{'descr': '<f4', 'fortran_order': False}", F32Bytes({1})),
                   {"missing the key 'shape'"});
  ExpectBytesError(MakeNpy("{}", ""), {"missing the key"});
  ExpectBytesError(
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 'x'}", ""),
      {"unexpected key 'extra'"});
  ExpectBytesError(MakeNpy("{'descr': True, 'fortran_order': False, 'shape': (1,)}", ""),
                   {"'descr' must be a string"});
  ExpectBytesError(MakeNpy("{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}", ""),
                   {"'fortran_order' must be True or False"});
}

TEST(NpyTest, ErrorFortranOrder) {
  ExpectBytesError(MakeNpy(Header("<f4", "(2, 2)", "True"), F32Bytes({1, 2, 3, 4})),
                   {"fortran_order is True", "C-order"});
}

TEST(NpyTest, ErrorBigEndianDtype) {
  ExpectBytesError(MakeNpy(Header(">f4", "(1,)"), F32Bytes({1})),
                   {"big-endian dtype '>f4'", "allowed: '<f4' float32"});
  ExpectBytesError(MakeNpy(Header(">i8", "(1,)"), std::string(8, '\0')),
                   {"big-endian dtype '>i8'", "'<i8' int64"});
  ExpectBytesError(MakeNpy(Header("|f4", "(1,)"), F32Bytes({1})), {"byte order '|'", "allowed"});
}

TEST(NpyTest, ErrorUnsupportedDtype) {
  for (const char* d : {"<u1", "|u1", "|b1", "<c8", "<i2", "<f16", "<U3", "O", "float32"}) {
    ExpectBytesError(
        MakeNpy(Header(d, "(1,)"), std::string(4, '\0')),
        {std::string("unsupported dtype '") + d + "'",
         "allowed: '<f4' float32, '<f2' float16, '<f8' float64, '<i4' int32, '<i8' int64"});
  }
  ExpectBytesError(MakeNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", ""),
                   {"structured dtypes", "allowed"});
}

TEST(NpyTest, ErrorBadShapeTuple) {
  ExpectBytesError(MakeNpy(Header("<f4", "(-1, 2)"), ""), {"bad shape", "-1 is negative"});
  ExpectBytesError(MakeNpy(Header("<f4", "(2.5,)"), ""), {"bad shape", "expected ',' or ')'"});
  ExpectBytesError(MakeNpy(Header("<f4", "(a, 2)"), ""), {"bad shape", "'a, 2' is not an integer"});
  ExpectBytesError(MakeNpy(Header("<f4", "(3)"), ""), {"bad shape", "trailing comma"});
  ExpectBytesError(MakeNpy(Header("<f4", "[3]"), ""), {"bad shape", "list"});
  ExpectBytesError(MakeNpy(Header("<f4", "3"), ""), {"bad shape", "tuple of integers"});
  ExpectBytesError(MakeNpy(Header("<f4", "'3'"), ""), {"bad shape", "tuple of integers"});
  ExpectBytesError(MakeNpy(Header("<f4", "(99999999999999999999,)"), ""),
                   {"bad shape", "too large"});
  ExpectBytesError(MakeNpy(Header("<f4", "(4294967296, 4294967296)"), ""),
                   {"bad shape", "2^63 bytes"});
  ExpectBytesError(MakeNpy(Header("<f4", "(1, 2"), ""), {"bad shape", "is not an integer"});
  ExpectBytesError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2", ""),
                   {"not a valid dict", "unterminated tuple"});
  std::string rank65 = "(";
  for (int i = 0; i < 65; ++i) rank65 += "1, ";
  ExpectBytesError(MakeNpy(Header("<f4", rank65 + ")"), F32Bytes({1})), {"bad shape", "rank 65"});
}

TEST(NpyTest, ErrorTruncatedData) {
  ExpectBytesError(MakeNpy(Header("<f4", "(2, 3)"), F32Bytes({1, 2, 3, 4, 5})),
                   {"truncated: expected 24 bytes of data, found 20"});
  ExpectBytesError(MakeNpy(Header("<f8", "(1,)"), ""),
                   {"truncated: expected 8 bytes of data, found 0"});
  // A real file cut short by the writer (a crash, a full disk).
  const std::vector<float> v(100, 1.0f);
  const std::string full = SerializeNpy(NpyArray::FromF32({10, 10}, v.data()), 3);
  ExpectBytesError(full.substr(0, full.size() - 1),
                   {"truncated: expected 400 bytes of data, found 399"});
}

TEST(NpyTest, ErrorTrailingBytes) {
  ExpectBytesError(
      MakeNpy(Header("<f4", "(2,)"), F32Bytes({1, 2, 3})),
      {"trailing bytes after the data: expected 8 bytes of data, found 12", "4 extra bytes"});
  ExpectBytesError(MakeNpy(Header("<f4", "(0,)"), "x"), {"trailing bytes", "found 1"});
}

TEST(NpyTest, ErrorWriteToMissingDirectory) {
  const std::vector<float> v = {1};
  const std::string path = ::testing::TempDir() + "no_such_dir_attnkit/x.npy";
  try {
    WriteNpy(path, {1}, v.data());
    FAIL() << "expected attnkit::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot open for writing"), std::string::npos);
  }
}

TEST(NpyTest, ErrorWriterRejectsInconsistentArray) {
  NpyArray a;
  a.shape = {2, 2};
  a.data.resize(3);
  EXPECT_THROW(SerializeNpy(a), Error);
  EXPECT_THROW(SerializeNpy(Ramp(NpyType::kF32, {1}), 4), Error);
}

}  // namespace
}  // namespace attnkit::io
