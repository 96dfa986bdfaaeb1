// SPDX-License-Identifier: Apache-2.0
// The strict .npy reader and the writer (see npy.h). The header is a Python
// dict literal, parsed here by a small recursive-descent parser.
#include "src/io/npy.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>

#include "attnkit/dtype.h"
#include "attnkit/error.h"

// Element bytes are copied as they are: the host must be little-endian like
// the only byte order this reader accepts.
static_assert(std::endian::native == std::endian::little,
              "attnkit::io assumes a little-endian host");

namespace attnkit::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes, then major, minor version
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;    // data offset alignment written (as NumPy does)
constexpr int kMaxNpyRank = 64;  // NumPy's NPY_MAXDIMS
constexpr const char* kAllowed =
    "'<f4' float32, '<f2' float16, '<f8' float64, '<i4' int32, '<i8' int64";

constexpr NpyType kAllTypes[] = {NpyType::kF32, NpyType::kF16, NpyType::kF64, NpyType::kI32,
                                 NpyType::kI64};

// A printable, bounded rendering of untrusted header text for messages.
std::string Printable(std::string_view s, size_t max_len = 60) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

uint64_t ReadLE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// One parsed value of the header dict. Only what a valid header can hold.
struct Value {
  enum Kind { kString, kBool, kTuple } kind = kString;
  std::string str;            // kString
  bool boolean = false;       // kBool
  std::vector<int64_t> ints;  // kTuple
  std::string text;           // the source text, for messages
};

// Recursive-descent parser of the header: a dict literal whose keys are
// strings and whose values are strings, True/False or tuples of integers.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  // Returns the (key, value) pairs in order; throws on any syntax error.
  std::vector<std::pair<std::string, Value>> ParseDict() {
    std::vector<std::pair<std::string, Value>> entries;
    SkipSpace();
    Expect('{', "the header must start with '{'");
    SkipSpace();
    while (Peek() != '}') {
      if (pos_ >= s_.size()) Fail("unterminated dict (no closing '}')", pos_);
      const size_t key_at = pos_;
      if (Peek() != '\'' && Peek() != '"') Fail("expected a quoted key", key_at);
      std::string key = ParseString();
      SkipSpace();
      Expect(':', "expected ':' after a key");
      SkipSpace();
      Value v = ParseValue(key);
      for (const auto& e : entries) {
        if (e.first == key) Fail("duplicate key '" + Printable(key) + "'", key_at);
      }
      entries.emplace_back(std::move(key), std::move(v));
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        SkipSpace();
      } else if (pos_ >= s_.size()) {
        Fail("unterminated dict (no closing '}')", pos_);
      } else if (Peek() != '}') {
        Fail("expected ',' or '}'", pos_);
      }
    }
    ++pos_;  // '}'
    SkipSpace();
    if (pos_ != s_.size()) Fail("unexpected text after the dict", pos_);
    return entries;
  }

 private:
  [[noreturn]] void Fail(const std::string& what, size_t at) const {
    detail::Throw(name_, ": header is not a valid dict literal: ", what, " at offset ", at,
                  " (header: \"", Printable(s_, 120), "\")");
  }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  void Expect(char c, const char* what) {
    if (pos_ >= s_.size()) Fail(std::string(what) + ", found the end of the header", pos_);
    if (s_[pos_] != c) Fail(what, pos_);
    ++pos_;
  }

  std::string ParseString() {
    const char quote = s_[pos_++];
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') Fail("escape sequences are not supported in strings", pos_);
      if (s_[pos_] == '\n') Fail("unterminated string", start - 1);
      ++pos_;
    }
    if (pos_ >= s_.size()) Fail("unterminated string", start - 1);
    std::string out(s_.substr(start, pos_ - start));
    ++pos_;  // closing quote
    return out;
  }

  bool Match(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    const size_t end = pos_ + word.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }

  Value ParseValue(const std::string& key) {
    Value v;
    const size_t start = pos_;
    const char c = Peek();
    if (c == '\'' || c == '"') {
      v.kind = Value::kString;
      v.str = ParseString();
    } else if (Match("True")) {
      v.kind = Value::kBool;
      v.boolean = true;
    } else if (Match("False")) {
      v.kind = Value::kBool;
      v.boolean = false;
    } else if (c == '(') {
      v.kind = Value::kTuple;
      ParseTuple(v.ints, key);
    } else if (c == '[' && key == "descr") {
      detail::Throw(
          name_, ": structured dtypes (a list descr) are not supported (allowed: ", kAllowed, ")");
    } else if (c == '[' && key == "shape") {
      detail::Throw(name_, ": bad shape: expected a tuple of integers, got a list");
    } else if (pos_ >= s_.size()) {
      Fail("expected a value, found the end of the header", pos_);
    } else if (key == "shape") {
      size_t end = pos_;
      while (end < s_.size() && s_[end] != ',' && s_[end] != '}') ++end;
      detail::Throw(name_, ": bad shape: expected a tuple of integers, got '",
                    Printable(s_.substr(pos_, end - pos_)), "'");
    } else {
      Fail(std::string("unexpected character '") + Printable(std::string_view(&s_[pos_], 1)) +
               "' (values must be strings, True/False or tuples of integers)",
           pos_);
    }
    v.text = std::string(s_.substr(start, pos_ - start));
    return v;
  }

  // "(" [int ("," int)* [","]] ")"; a 1-tuple needs its trailing comma.
  void ParseTuple(std::vector<int64_t>& ints, const std::string& key) {
    const size_t start = pos_;
    ++pos_;  // '('
    SkipSpace();
    bool trailing_comma = false;
    while (Peek() != ')') {
      if (pos_ >= s_.size()) Fail("unterminated tuple", start);
      const size_t at = pos_;
      bool negative = false;
      if (Peek() == '-' || Peek() == '+') negative = s_[pos_++] == '-';
      if (!std::isdigit(static_cast<unsigned char>(Peek()))) {
        const size_t end = std::min(s_.find(')', at), s_.size());
        detail::Throw(name_, ": bad ", key, " tuple: '", Printable(s_.substr(at, end - at)),
                      "' is not an integer");
      }
      uint64_t value = 0;
      bool overflow = false;
      while (std::isdigit(static_cast<unsigned char>(Peek()))) {
        value = value * 10 + static_cast<uint64_t>(s_[pos_++] - '0');
        if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      }
      if (negative && value != 0) {
        detail::Throw(name_, ": bad ", key, " tuple: dimension -", value,
                      " is negative (dimensions must be >= 0)");
      }
      if (overflow) {
        detail::Throw(name_, ": bad ", key, " tuple: dimension '",
                      Printable(s_.substr(at, pos_ - at)), "' is too large");
      }
      ints.push_back(static_cast<int64_t>(value));
      SkipSpace();
      trailing_comma = false;
      if (Peek() == ',') {
        ++pos_;
        trailing_comma = true;
        SkipSpace();
      } else if (Peek() != ')') {
        if (pos_ >= s_.size()) Fail("unterminated tuple", start);
        detail::Throw(name_, ": bad ", key, " tuple: unexpected character '",
                      Printable(std::string_view(&s_[pos_], 1)), "' at offset ", pos_,
                      " (expected ',' or ')')");
      }
    }
    ++pos_;  // ')'
    if (ints.size() == 1 && !trailing_comma) {
      detail::Throw(name_, ": bad ", key, " tuple: '", Printable(s_.substr(start, pos_ - start)),
                    "' is a parenthesised integer, not a tuple (a 1-tuple needs a trailing "
                    "comma, e.g. (",
                    ints[0], ",))");
    }
  }

  std::string_view s_;
  const std::string& name_;
  size_t pos_ = 0;
};

NpyType ParseDescr(const std::string& descr, const std::string& name) {
  for (NpyType t : kAllTypes) {
    if (descr == Descr(t)) return t;
  }
  if (descr.size() >= 2 &&
      (descr[0] == '>' || descr[0] == '!' || descr[0] == '|' || descr[0] == '=')) {
    const std::string little = "<" + descr.substr(1);
    for (NpyType t : kAllTypes) {
      if (little != Descr(t)) continue;
      if (descr[0] == '>' || descr[0] == '!') {
        detail::Throw(name, ": big-endian dtype '", Printable(descr),
                      "' is not supported: only little-endian data is read (allowed: ", kAllowed,
                      "); convert with arr.astype('", little, "')");
      }
      detail::Throw(name, ": dtype '", Printable(descr), "' has byte order '", descr[0],
                    "', which is not allowed for a ", SizeOf(t),
                    "-byte type: write it explicitly little-endian (allowed: ", kAllowed, ")");
    }
  }
  detail::Throw(name, ": unsupported dtype '", Printable(descr), "' (allowed: ", kAllowed, ")");
}

}  // namespace

size_t SizeOf(NpyType t) {
  switch (t) {
    case NpyType::kF16:
      return 2;
    case NpyType::kF32:
    case NpyType::kI32:
      return 4;
    case NpyType::kF64:
    case NpyType::kI64:
      return 8;
  }
  return 0;
}

const char* Name(NpyType t) {
  switch (t) {
    case NpyType::kF32:
      return "float32";
    case NpyType::kF16:
      return "float16";
    case NpyType::kF64:
      return "float64";
    case NpyType::kI32:
      return "int32";
    case NpyType::kI64:
      return "int64";
  }
  return "?";
}

const char* Descr(NpyType t) {
  switch (t) {
    case NpyType::kF32:
      return "<f4";
    case NpyType::kF16:
      return "<f2";
    case NpyType::kF64:
      return "<f8";
    case NpyType::kI32:
      return "<i4";
    case NpyType::kI64:
      return "<i8";
  }
  return "?";
}

bool IsFloat(NpyType t) { return t == NpyType::kF32 || t == NpyType::kF16 || t == NpyType::kF64; }

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::string NpyArray::ShapeString() const {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::vector<float> NpyArray::ToF32() const {
  const size_t n = static_cast<size_t>(numel());
  ATTNKIT_CHECK(data.size() == n * SizeOf(type), "NpyArray holds ", data.size(),
                " bytes, but shape ", ShapeString(), " of ", Name(type), " needs ",
                n * SizeOf(type));
  std::vector<float> out(n);
  const uint8_t* p = data.data();
  for (size_t i = 0; i < n; ++i) {
    switch (type) {
      case NpyType::kF32:
        std::memcpy(&out[i], p + 4 * i, 4);
        break;
      case NpyType::kF16: {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = F16ToF32(h);
        break;
      }
      case NpyType::kF64: {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
        break;
      }
      case NpyType::kI32: {
        int32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        out[i] = static_cast<float>(v);
        break;
      }
      case NpyType::kI64: {
        int64_t v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<float>(v);
        break;
      }
    }
  }
  return out;
}

std::vector<int64_t> NpyArray::ToI64() const {
  ATTNKIT_CHECK(type == NpyType::kI32 || type == NpyType::kI64, "array of dtype ", Name(type),
                " is not an integer array (allowed: int32, int64)");
  const size_t n = static_cast<size_t>(numel());
  ATTNKIT_CHECK(data.size() == n * SizeOf(type), "NpyArray holds ", data.size(),
                " bytes, but shape ", ShapeString(), " of ", Name(type), " needs ",
                n * SizeOf(type));
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (type == NpyType::kI32) {
      int32_t v;
      std::memcpy(&v, data.data() + 4 * i, 4);
      out[i] = v;
    } else {
      std::memcpy(&out[i], data.data() + 8 * i, 8);
    }
  }
  return out;
}

NpyArray NpyArray::FromF32(std::vector<int64_t> shape, const float* values) {
  NpyArray a;
  a.type = NpyType::kF32;
  a.shape = std::move(shape);
  a.data.resize(static_cast<size_t>(a.numel()) * 4);
  if (!a.data.empty()) std::memcpy(a.data.data(), values, a.data.size());
  return a;
}

NpyArray NpyArray::FromI64(std::vector<int64_t> shape, const int64_t* values) {
  NpyArray a;
  a.type = NpyType::kI64;
  a.shape = std::move(shape);
  a.data.resize(static_cast<size_t>(a.numel()) * 8);
  if (!a.data.empty()) std::memcpy(a.data.data(), values, a.data.size());
  return a;
}

namespace {

// The fixed-size start of a file: magic (6), major (1), minor (1), header
// length (2 bytes in v1, 4 in v2/v3), all little-endian.
struct Preamble {
  size_t prefix = 0;  // bytes before the header text
  uint64_t header_len = 0;
};

// `head`: the first min(12, file size) bytes; `file_size`: the whole file.
Preamble ParsePreamble(std::string_view head, uint64_t file_size, const std::string& name) {
  ATTNKIT_CHECK(file_size > 0, name, ": bad magic: the file is empty (not a .npy file)");
  const size_t magic_have = std::min(head.size(), kMagicLen);
  ATTNKIT_CHECK(head.substr(0, magic_have) == std::string_view(kMagic, magic_have), name,
                ": bad magic: not a .npy file (expected the bytes \\x93NUMPY, found \"",
                Printable(head.substr(0, kMagicLen)), "\")");
  ATTNKIT_CHECK(file_size >= kMagicLen + 2, name, ": truncated header: the file has only ",
                file_size, " bytes, too short for the magic and version");
  const int major = static_cast<unsigned char>(head[6]);
  const int minor = static_cast<unsigned char>(head[7]);
  ATTNKIT_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, name,
                ": unsupported .npy format version ", major, ".", minor,
                " (supported: 1.0, 2.0, 3.0)");
  const int len_bytes = major == 1 ? 2 : 4;
  Preamble p;
  p.prefix = kMagicLen + 2 + static_cast<size_t>(len_bytes);
  ATTNKIT_CHECK(file_size >= p.prefix, name, ": truncated header: the file has only ", file_size,
                " bytes, too short for the ", len_bytes, "-byte header length of format version ",
                major, ".0");
  p.header_len = ReadLE(head.data() + kMagicLen + 2, len_bytes);
  ATTNKIT_CHECK(p.header_len <= file_size - p.prefix, name, ": truncated header: the header ",
                "length field says ", p.header_len, " bytes, but only ", file_size - p.prefix,
                " bytes follow");
  return p;
}

// Parses the header dict into an array with type and shape but no data, and
// returns the number of data bytes the shape needs.
uint64_t ParseHeader(std::string_view header, const std::string& name, NpyArray& a) {
  // {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
  HeaderParser parser(header, name);
  const auto entries = parser.ParseDict();
  const Value* descr = nullptr;
  const Value* fortran = nullptr;
  const Value* shape = nullptr;
  for (const auto& [key, value] : entries) {
    if (key == "descr") {
      descr = &value;
    } else if (key == "fortran_order") {
      fortran = &value;
    } else if (key == "shape") {
      shape = &value;
    } else {
      detail::Throw(name, ": header has the unexpected key '", Printable(key),
                    "' (a .npy header has exactly the keys 'descr', 'fortran_order', 'shape')");
    }
  }
  for (const auto& [ptr, key] : {std::pair{descr, "descr"}, std::pair{fortran, "fortran_order"},
                                 std::pair{shape, "shape"}}) {
    ATTNKIT_CHECK(ptr != nullptr, name, ": header is missing the key '", key,
                  "' (a .npy header has exactly the keys 'descr', 'fortran_order', 'shape')");
  }
  ATTNKIT_CHECK(descr->kind == Value::kString, name, ": header 'descr' must be a string, got ",
                Printable(descr->text));
  ATTNKIT_CHECK(fortran->kind == Value::kBool, name,
                ": header 'fortran_order' must be True or False, got ", Printable(fortran->text));
  ATTNKIT_CHECK(shape->kind == Value::kTuple, name,
                ": bad shape: expected a tuple of integers, got ", Printable(shape->text));

  a.type = ParseDescr(descr->str, name);
  ATTNKIT_CHECK(!fortran->boolean, name,
                ": fortran_order is True: only C-order arrays are supported (save "
                "np.ascontiguousarray(arr) instead)");
  ATTNKIT_CHECK(static_cast<int>(shape->ints.size()) <= kMaxNpyRank, name, ": bad shape: rank ",
                shape->ints.size(), " exceeds ", kMaxNpyRank);
  a.shape = shape->ints;

  // numel * itemsize, without overflow.
  for (int64_t s : a.shape) {
    if (s == 0) return 0;
  }
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t need = SizeOf(a.type);
  for (int64_t s : a.shape) {
    ATTNKIT_CHECK(static_cast<uint64_t>(s) <= limit / need, name, ": bad shape ", a.ShapeString(),
                  ": the array would need more than 2^63 bytes");
    need *= static_cast<uint64_t>(s);
  }
  return need;
}

// The data must be exactly `need` bytes; `have` is what follows the header.
void CheckDataSize(uint64_t need, uint64_t have, const NpyArray& a, const std::string& name) {
  ATTNKIT_CHECK(have >= need, name, ": truncated: expected ", need, " bytes of data, found ", have,
                " (shape ", a.ShapeString(), " of ", Name(a.type), ")");
  ATTNKIT_CHECK(have == need, name, ": trailing bytes after the data: expected ", need,
                " bytes of data, found ", have, " (", have - need, " extra bytes; shape ",
                a.ShapeString(), " of ", Name(a.type), ")");
}

// Closes a FILE* on every path out of ReadNpy.
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Reads exactly `n` bytes or throws.
void ReadExactly(std::FILE* f, void* dst, size_t n, const std::string& path) {
  const size_t got = n == 0 ? 0 : std::fread(dst, 1, n, f);
  if (got != n) {
    const int err = errno;
    detail::Throw(path, ": cannot read: ",
                  std::ferror(f) ? std::strerror(err) : "the file shrank while being read");
  }
}

}  // namespace

NpyArray ParseNpy(std::string_view bytes, const std::string& name) {
  const Preamble p = ParsePreamble(bytes.substr(0, 12), bytes.size(), name);
  NpyArray a;
  const uint64_t need = ParseHeader(bytes.substr(p.prefix, p.header_len), name, a);
  CheckDataSize(need, bytes.size() - p.prefix - p.header_len, a, name);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data() + p.prefix + p.header_len);
  a.data.assign(data, data + need);
  return a;
}

NpyArray ReadNpy(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr) {
    const int err = errno;
    detail::Throw(path, ": cannot open: ", std::strerror(err));
  }
  struct stat st;
  if (fstat(fileno(f.get()), &st) != 0) {
    const int err = errno;
    detail::Throw(path, ": cannot stat: ", std::strerror(err));
  }
  ATTNKIT_CHECK(!S_ISDIR(st.st_mode), path, ": cannot read: it is a directory");
  if (!S_ISREG(st.st_mode)) {
    // A pipe or device: size unknown, so read it whole, then parse.
    std::string bytes;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) bytes.append(buf, n);
    if (std::ferror(f.get())) {
      const int err = errno;
      detail::Throw(path, ": cannot read: ", std::strerror(err));
    }
    return ParseNpy(bytes, path);
  }
  // A regular file: read the header, then the data straight into the array.
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char head[12] = {};
  const size_t head_len = static_cast<size_t>(std::min<uint64_t>(size, sizeof(head)));
  ReadExactly(f.get(), head, head_len, path);
  const Preamble p = ParsePreamble(std::string_view(head, head_len), size, path);
  std::string header(static_cast<size_t>(p.header_len), '\0');
  ATTNKIT_CHECK(std::fseek(f.get(), static_cast<long>(p.prefix), SEEK_SET) == 0, path,
                ": cannot seek: ", std::strerror(errno));
  ReadExactly(f.get(), header.data(), header.size(), path);
  NpyArray a;
  const uint64_t need = ParseHeader(header, path, a);
  CheckDataSize(need, size - p.prefix - p.header_len, a, path);
  a.data.resize(static_cast<size_t>(need));
  ReadExactly(f.get(), a.data.data(), a.data.size(), path);
  return a;
}

std::string SerializeNpy(const NpyArray& array, int major_version) {
  ATTNKIT_CHECK(major_version >= 1 && major_version <= 3,
                "SerializeNpy: major_version must be 1, 2 or 3, got ", major_version);
  for (int64_t s : array.shape) {
    ATTNKIT_CHECK(s >= 0, "SerializeNpy: negative dimension in shape ", array.ShapeString());
  }
  const size_t need = static_cast<size_t>(array.numel()) * SizeOf(array.type);
  ATTNKIT_CHECK(array.data.size() == need, "SerializeNpy: array holds ", array.data.size(),
                " bytes, but shape ", array.ShapeString(), " of ", Name(array.type), " needs ",
                need);
  // The same dict text NumPy writes: a 1-tuple keeps its trailing comma.
  std::ostringstream dict;
  dict << "{'descr': '" << Descr(array.type) << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < array.shape.size(); ++i) dict << (i ? ", " : "") << array.shape[i];
  if (array.shape.size() == 1) dict << ',';
  dict << "), }";
  std::string header = dict.str();

  int major = major_version;
  size_t prefix = kMagicLen + 2 + (major == 1 ? 2 : 4);
  // Pad with spaces so that prefix + header (ending in '\n') is a multiple of 64.
  auto padded = [&](size_t pre) {
    return (pre + header.size() + 1 + kAlign - 1) / kAlign * kAlign - pre;
  };
  if (major == 1 && padded(prefix) > 0xffff) {
    major = 2;
    prefix = kMagicLen + 2 + 4;
  }
  const size_t header_len = padded(prefix);
  header.append(header_len - header.size() - 1, ' ');
  header += '\n';

  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(major);
  out += '\0';
  const int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) out += static_cast<char>((header_len >> (8 * i)) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(array.data.data()), array.data.size());
  return out;
}

void WriteNpy(const std::string& path, const NpyArray& array, int major_version) {
  const std::string bytes = SerializeNpy(array, major_version);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    const int err = errno;
    detail::Throw(path, ": cannot open for writing: ", std::strerror(err));
  }
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const int write_err = errno;
  const bool closed = std::fclose(f) == 0;
  const int close_err = errno;
  ATTNKIT_CHECK(written == bytes.size(), path, ": write failed after ", written, " of ",
                bytes.size(), " bytes: ", std::strerror(write_err));
  ATTNKIT_CHECK(closed, path, ": write failed: ", std::strerror(close_err));
}

void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  WriteNpy(path, NpyArray::FromF32(shape, data));
}

}  // namespace attnkit::io
