// SPDX-License-Identifier: Apache-2.0
// Per-family parts of the attnkit._C extension: each family binds its functions
// in python/src/<family>_ext.cc; NB_MODULE in attnkit_ext.cc calls them all.
#ifndef ATTNKIT_PYTHON_BINDINGS_H_
#define ATTNKIT_PYTHON_BINDINGS_H_

#include <nanobind/nanobind.h>

namespace attnkit_py {
void BindDecode(nanobind::module_& m);  // decode_ext.cc
void BindSparse(nanobind::module_& m);  // sparse_ext.cc
void BindLinear(nanobind::module_& m);  // linear_ext.cc
}  // namespace attnkit_py

#endif  // ATTNKIT_PYTHON_BINDINGS_H_
