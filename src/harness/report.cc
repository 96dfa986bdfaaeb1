// SPDX-License-Identifier: Apache-2.0
// Tables and progress bars (see report.h).
#include "src/harness/report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "attnkit/error.h"

namespace attnkit::harness {
namespace {

bool LooksNumeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string CsvCell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

Format ParseFormat(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  detail::Throw("unknown format '", name, "' (allowed: table, csv, json)");
}

void Table::AddRow(std::vector<std::string> cells) {
  ATTNKIT_CHECK(cells.size() == headers_.size(), "Table::AddRow: ", cells.size(),
                " cells for ", headers_.size(), " columns");
  rows_.push_back(std::move(cells));
}

std::string Table::Render(Format format) const {
  std::string out;
  if (format == Format::kCsv) {
    auto line = [&](const std::vector<std::string>& r) {
      for (size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + CsvCell(r[i]);
      out += "\n";
    };
    line(headers_);
    for (const auto& r : rows_) line(r);
    return out;
  }
  if (format == Format::kJson) {
    out += "[\n";
    for (size_t j = 0; j < rows_.size(); ++j) {
      out += "  {";
      for (size_t i = 0; i < headers_.size(); ++i) {
        const std::string& v = rows_[j][i];
        out += (i ? ", " : "") + ("\"" + JsonEscape(headers_[i]) + "\": ") +
               (LooksNumeric(v) ? v : "\"" + JsonEscape(v) + "\"");
      }
      out += j + 1 < rows_.size() ? "},\n" : "}\n";
    }
    return out + "]\n";
  }
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& r : rows_)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r, bool header) {
    for (size_t i = 0; i < r.size(); ++i) {
      const size_t pad = width[i] - r[i].size();
      const bool right = !header && LooksNumeric(r[i]);
      out += (i ? "  " : "") + (right ? std::string(pad, ' ') + r[i] : r[i] + std::string(pad, ' '));
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  };
  line(headers_, true);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
  for (const auto& r : rows_) line(r, false);
  return out;
}

std::string Sig(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::Step(const std::string& note) {
  ++done_;
  Draw(note);
}

void Progress::Draw(const std::string& note) {
  const int64_t decile = total_ > 0 ? done_ * 10 / total_ : 10;
  if (!tty_ && decile == last_printed_ && done_ != total_) return;
  last_printed_ = decile;
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done_ / total_) : kWidth;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string bar(static_cast<size_t>(filled), '#');
  bar += std::string(static_cast<size_t>(kWidth - filled), '.');
  std::string shown = note.size() > 50 ? note.substr(0, 47) + "..." : note;
  std::fprintf(stderr, "%s[%s] %lld/%lld %s %5.1fs %s%s", tty_ ? "\r\033[K" : "", bar.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), label_.c_str(), secs,
               shown.c_str(), tty_ ? "" : "\n");
  std::fflush(stderr);
}

void Progress::Done() {
  if (finished_) return;
  finished_ = true;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

Progress::~Progress() { Done(); }

}  // namespace attnkit::harness
