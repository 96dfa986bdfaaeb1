// SPDX-License-Identifier: Apache-2.0
// Output helpers shared by `attnkit check | bench | tour`: a table that renders
// as aligned text, CSV or JSON, and a progress bar on stderr.
#ifndef ATTNKIT_HARNESS_REPORT_H_
#define ATTNKIT_HARNESS_REPORT_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace attnkit::harness {

enum class Format { kTable, kCsv, kJson };
Format ParseFormat(const std::string& name);  // "table" | "csv" | "json"; throws Error

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells);  // throws Error if the width differs
  size_t rows() const { return rows_.size(); }
  // kTable: columns padded to width, numbers right-aligned. kJson: an array of
  // objects keyed by header, numeric-looking cells unquoted.
  std::string Render(Format format) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// printf-style "%.*g" / fixed formatting without iostream state.
std::string Sig(double v, int digits = 3);    // 3 significant digits: "0.000123", "1.23e+04"
std::string Fixed(double v, int decimals = 2);

// A one-line progress bar on stderr ("[#####.....] 12/40 label"), redrawn in
// place when stderr is a terminal, else printed every ~10% so logs stay short.
class Progress {
 public:
  Progress(std::string label, int64_t total);
  void Step(const std::string& note = "");
  void Done();
  ~Progress();

 private:
  void Draw(const std::string& note);
  std::string label_;
  int64_t total_, done_ = 0;
  int64_t last_printed_ = -1;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace attnkit::harness

#endif  // ATTNKIT_HARNESS_REPORT_H_
