// SPDX-License-Identifier: Apache-2.0
// attnkit::Error: the one exception type thrown for invalid input at the API edge.
// Kernels never throw; everything is validated before a kernel runs.
#ifndef ATTNKIT_ERROR_H_
#define ATTNKIT_ERROR_H_

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace attnkit {

// Thrown for every invalid or unsupported input. The message names the argument
// and, where there is a fixed set, the allowed values.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
[[noreturn]] void Throw(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  throw Error(os.str());
}
}  // namespace detail

}  // namespace attnkit

// ATTNKIT_CHECK(cond, "message parts", value, ...) throws attnkit::Error when
// `cond` is false. The parts are streamed into one message.
#define ATTNKIT_CHECK(cond, ...)                    \
  do {                                              \
    if (!(cond)) ::attnkit::detail::Throw(__VA_ARGS__); \
  } while (0)

#endif  // ATTNKIT_ERROR_H_
