// SPDX-License-Identifier: Apache-2.0
// Shape-file parser (see shape_file.h) and the lookup of the shipped
// bench/shapes directory.
#include "src/harness/shape_file.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "attnkit/error.h"
#include "src/plan/validate.h"

#ifndef ATTNKIT_SOURCE_DIR
#define ATTNKIT_SOURCE_DIR ""
#endif

namespace attnkit::harness {
namespace {

namespace fs = std::filesystem;

// Largest accepted size of any one dimension: keeps products far from overflow.
constexpr int64_t kMaxDim = int64_t{1} << 31;

// Errors carry "origin:line: " in front.
struct Where {
  const std::string& origin;
  int line;
};

template <typename... Args>
[[noreturn]] void Fail(const Where& w, Args&&... args) {
  detail::Throw(w.origin, ":", w.line, ": ", std::forward<Args>(args)...);
}

int64_t ParseInt(const Where& w, const std::string& key, const std::string& text, int64_t min) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || text[0] == '+' ||
      std::isspace(static_cast<unsigned char>(text[0]))) {
    Fail(w, "'", key, "=", text, "': '", text, "' is not an integer");
  }
  if (v < min || v > kMaxDim) {
    Fail(w, "'", key, "=", text, "': must be in [", min, ", ", kMaxDim, "]");
  }
  return v;
}

float ParsePositiveFloat(const Where& w, const std::string& key, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    Fail(w, "'", key, "=", text, "': '", text, "' is not a number");
  }
  if (!(std::isfinite(v) && v > 0)) Fail(w, "'", key, "=", text, "': must be finite and > 0");
  return v;
}

int64_t ParseSide(const Where& w, const std::string& whole, const std::string& text) {
  if (text == "inf") return kUnbounded;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    Fail(w, "'window=", whole, "': '", text, "' is not an integer or 'inf'");
  }
  if (v < 0) Fail(w, "'window=", whole, "': window sides must be >= 0 (or 'inf'), got ", v);
  return v;
}

std::vector<int64_t> ParseLengths(const Where& w, const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(ParseInt(w, "varlen", item, 0));
  if (out.empty() || text.back() == ',') {
    Fail(w, "'varlen=", text, "': expected a comma-separated list of lengths, e.g. 128,512,37");
  }
  return out;
}

DType ParseType(const Where& w, const std::string& key, const std::string& text) {
  if (text == "f32") return DType::kF32;
  if (text == "bf16") return DType::kBF16;
  if (text == "f16") return DType::kF16;
  Fail(w, "'", key, "=", text, "': unknown dtype (allowed: f32, bf16, f16)");
}

NamedCase ParseLine(const Where& w, const std::string& line) {
  static const std::set<std::string> kKeys = {"name",    "b",     "hq",        "hkv",   "nq",
                                              "nk",      "d",     "dqk",       "dv",    "window",
                                              "softcap", "dtype", "out_dtype", "varlen"};
  static const std::set<std::string> kFlags = {"causal", "alibi", "sinks"};
  std::map<std::string, std::string> kv;
  std::set<std::string> flags;
  std::istringstream tokens(line);
  std::string tok;
  while (tokens >> tok) {
    const size_t eq = tok.find('=');
    if (eq == std::string::npos) {
      if (kKeys.count(tok)) Fail(w, "'", tok, "' needs a value ('", tok, "=...')");
      if (!kFlags.count(tok)) {
        Fail(w, "unknown flag '", tok,
             "' (flags: causal, alibi, sinks; keys: name, b, hq, hkv, nq, "
             "nk, d, dqk, dv, window, softcap, dtype, out_dtype, varlen)");
      }
      if (!flags.insert(tok).second) Fail(w, "flag '", tok, "' given twice");
      continue;
    }
    const std::string key = tok.substr(0, eq), value = tok.substr(eq + 1);
    if (!kKeys.count(key)) {
      if (kFlags.count(key)) Fail(w, "'", key, "' is a flag and takes no value");
      Fail(w, "unknown key '", key,
           "' (keys: name, b, hq, hkv, nq, nk, d, dqk, dv, window, "
           "softcap, dtype, out_dtype, varlen; flags: causal, alibi, sinks)");
    }
    if (value.empty()) Fail(w, "'", key, "=' has an empty value");
    if (!kv.emplace(key, value).second) Fail(w, "key '", key, "' given twice");
  }
  auto has = [&](const char* k) { return kv.count(k) != 0; };
  auto integer = [&](const char* k, int64_t min) { return ParseInt(w, k, kv.at(k), min); };

  if (!has("name")) Fail(w, "missing required key 'name'");
  if (!has("hq")) Fail(w, "missing required key 'hq'");
  if (!has("d") && !has("dqk")) Fail(w, "missing required key 'd' (or 'dqk')");
  if (has("d") && (has("dqk") || has("dv"))) {
    Fail(w, "'d' sets both head dims: give either d=N or dqk=N [dv=N], not both");
  }
  if (has("varlen")) {
    for (const char* k : {"b", "nq", "nk"}) {
      if (has(k)) Fail(w, "'", k, "' cannot be combined with 'varlen' (the list sets the sizes)");
    }
  } else if (!has("nq")) {
    Fail(w, "missing required key 'nq'");
  }

  NamedCase nc;
  nc.name = kv.at("name");
  nc.origin = w.origin + ":" + std::to_string(w.line);
  Case& c = nc.c;
  AttentionSpec& s = c.spec;
  s.num_q_heads = integer("hq", 1);
  s.num_kv_heads = has("hkv") ? integer("hkv", 1) : s.num_q_heads;
  s.head_dim_qk = has("d") ? integer("d", 1) : integer("dqk", 1);
  s.head_dim_v = has("d") ? s.head_dim_qk : (has("dv") ? integer("dv", 1) : s.head_dim_qk);
  if (has("varlen")) {
    c.varlen_q = ParseLengths(w, kv.at("varlen"));
    c.varlen_k = c.varlen_q;
  } else {
    c.batch = has("b") ? integer("b", 1) : 1;
    c.seqlen_q = integer("nq", 1);
    c.seqlen_k = has("nk") ? integer("nk", 1) : c.seqlen_q;
  }
  s.mask.causal = flags.count("causal") != 0;
  if (has("window")) {
    const std::string& text = kv.at("window");
    const size_t comma = text.find(',');
    if (comma == std::string::npos) Fail(w, "'window=", text, "': expected L,R (e.g. 4095,0)");
    s.mask.window_left = ParseSide(w, text, text.substr(0, comma));
    s.mask.window_right = ParseSide(w, text, text.substr(comma + 1));
  }
  if (has("softcap")) s.softcap = ParsePositiveFloat(w, "softcap", kv.at("softcap"));
  s.alibi = flags.count("alibi") != 0;
  s.has_sinks = flags.count("sinks") != 0;
  if (has("dtype")) c.dtype = ParseType(w, "dtype", kv.at("dtype"));
  if (has("out_dtype")) c.out_dtype = ParseType(w, "out_dtype", kv.at("out_dtype"));

  // Let the library's own validation speak, with the line in front.
  try {
    ValidateSpec(s);
    ValidateShape(s, c.Shape());
  } catch (const Error& e) {
    Fail(w, e.what());
  }
  return nc;
}

}  // namespace

std::vector<NamedCase> ParseShapes(std::string_view text, const std::string& origin) {
  std::vector<NamedCase> out;
  std::map<std::string, int> first_line;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Where w{origin, number};
    NamedCase nc = ParseLine(w, line);
    const auto [it, fresh] = first_line.emplace(nc.name, number);
    if (!fresh) Fail(w, "duplicate name '", nc.name, "' (first used on line ", it->second, ")");
    out.push_back(std::move(nc));
  }
  return out;
}

std::vector<NamedCase> ReadShapeFile(const std::string& path) {
  std::ifstream f(path);
  ATTNKIT_CHECK(f.good(), "cannot read shape file '", path, "'");
  std::stringstream ss;
  ss << f.rdbuf();
  std::vector<NamedCase> cases = ParseShapes(ss.str(), path);
  ATTNKIT_CHECK(!cases.empty(), "shape file '", path, "' lists no case");
  return cases;
}

std::string ShapesDir() {
  std::vector<fs::path> tries;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    tries.push_back(dir / ".." / "share" / "attnkit" / "shapes");
    for (int up = 0; up <= 5 && !dir.empty(); ++up) {
      tries.push_back(dir / "bench" / "shapes");
      if (dir == dir.parent_path()) break;
      dir = dir.parent_path();
    }
  }
  if (std::string(ATTNKIT_SOURCE_DIR).size() > 0) {
    tries.push_back(fs::path(ATTNKIT_SOURCE_DIR) / "bench" / "shapes");
  }
  for (const fs::path& p : tries) {
    if (fs::is_directory(p, ec)) return fs::weakly_canonical(p, ec).string();
  }
  return "";
}

std::string ResolveShapeFile(const std::string& arg) {
  std::error_code ec;
  if (fs::is_regular_file(arg, ec)) return arg;
  std::string tried = "'" + arg + "'";
  const std::string dir = ShapesDir();
  if (!dir.empty()) {
    for (const std::string& name : {arg, arg + ".txt"}) {
      const fs::path p = fs::path(dir) / name;
      if (fs::is_regular_file(p, ec)) return p.string();
      tried += ", '" + p.string() + "'";
    }
  }
  detail::Throw("shape file not found (tried ", tried, ")",
                dir.empty() ? "; the shipped bench/shapes directory was not found either" : "");
}

}  // namespace attnkit::harness
