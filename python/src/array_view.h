// SPDX-License-Identifier: Apache-2.0
// Array -> attnkit::TensorView for the family bindings (decode, sparse, linear): any DLPack /
// buffer-protocol array, zero-copy, with its own axis order and strides (in elements).
#ifndef ATTNKIT_PYTHON_ARRAY_VIEW_H_
#define ATTNKIT_PYTHON_ARRAY_VIEW_H_

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <optional>
#include <sstream>
#include <string>

#include "attnkit/error.h"
#include "attnkit/tensor.h"

namespace attnkit_py {

// "float32", "uint16", ...: how a DLPack dtype is named in error messages.
inline std::string DTypeString(const nanobind::dlpack::dtype& t) {
  using Code = nanobind::dlpack::dtype_code;
  std::ostringstream os;
  switch (static_cast<Code>(t.code)) {
    case Code::Int:
      os << "int";
      break;
    case Code::UInt:
      os << "uint";
      break;
    case Code::Float:
      os << "float";
      break;
    case Code::Bfloat:
      os << "bfloat";
      break;
    case Code::Complex:
      os << "complex";
      break;
    case Code::Bool:
      os << "bool";
      break;
    default:
      os << "code" << static_cast<int>(t.code) << "_";
      break;
  }
  os << static_cast<int>(t.bits);
  if (t.lanes != 1) os << "x" << t.lanes;
  return os.str();
}

// DLPack dtype -> attnkit dtype. uint16 carries bf16 bit patterns: the Python layer passes
// ml_dtypes.bfloat16 NumPy arrays (which DLPack cannot describe) as uint16 views.
inline attnkit::DType ToDType(const nanobind::dlpack::dtype& t, const char* name) {
  using Code = nanobind::dlpack::dtype_code;
  if (t.lanes == 1) {
    const auto code = static_cast<Code>(t.code);
    if (code == Code::Float && t.bits == 32) return attnkit::DType::kF32;
    if (code == Code::Float && t.bits == 16) return attnkit::DType::kF16;
    if (code == Code::Bfloat && t.bits == 16) return attnkit::DType::kBF16;
    if (code == Code::UInt && t.bits == 16) return attnkit::DType::kBF16;
  }
  throw nanobind::type_error(("tensor '" + std::string(name) + "' has dtype " + DTypeString(t) +
                              " (allowed: float32, bfloat16, float16)")
                                 .c_str());
}

// A view of `a` (1 to 4 axes, CPU memory); an empty view when `a` is absent. A zero-size
// array gets a non-null dummy pointer, so "absent" and "empty" stay distinguishable.
inline attnkit::TensorView View(const std::optional<nanobind::ndarray<>>& a, const char* name) {
  attnkit::TensorView t;
  if (!a.has_value()) return t;
  ATTNKIT_CHECK(a->device_type() == nanobind::device::cpu::value, "tensor '", name,
                "' is not in CPU memory; attnkit runs on the CPU");
  ATTNKIT_CHECK(a->ndim() >= 1 && a->ndim() <= 4, "tensor '", name,
                "' must have 1 to 4 dimensions");
  static const float kEmpty[1] = {0.0f};
  t.data = a->size() == 0 && a->data() == nullptr ? const_cast<float*>(kEmpty) : a->data();
  t.dtype = ToDType(a->dtype(), name);
  t.rank = static_cast<int>(a->ndim());
  for (int i = 0; i < t.rank; ++i) {
    t.shape[i] = a->shape(i);
    t.strides[i] = a->stride(i);
  }
  return t;
}

}  // namespace attnkit_py

#endif  // ATTNKIT_PYTHON_ARRAY_VIEW_H_
