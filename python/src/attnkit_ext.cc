// SPDX-License-Identifier: Apache-2.0
// attnkit._C: nanobind bindings over the public C++ API (Plan, Run, ALiBi table, CPU facts).
// Arrays arrive through DLPack or the buffer protocol and are wrapped, never copied, here.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "attnkit/attnkit.h"
#include "python/src/array_view.h"
#include "python/src/bindings.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace attnkit_py {
namespace {

using attnkit::DType;
using attnkit::TensorView;

// Inputs are only read (read-only NumPy arrays are accepted); outputs are written.
using InArray = nb::ndarray<nb::ro>;
using OutArray = nb::ndarray<>;

// How a Python array maps onto a logical attnkit tensor.
enum class Role {
  kAttention,  // fixed: 4-D in the plan's layout; varlen: 3-D (tokens and heads, in layout order)
  kLse,        // fixed: [B, Hq, Nq]; varlen: [Hq, total_q]
  kVector,     // [Hq]
  kBias,       // [B|1, Hq|1, Nq|1, Nk], always in this order
};

std::string ShapeString(size_t ndim, const int64_t* shape) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < ndim; ++i) os << (i ? ", " : "") << shape[i];
  os << (ndim == 1 ? ",)" : ")");
  return os.str();
}

// Wraps `a` as a logical attnkit tensor without copying; strides stay the caller's.
template <class Array>
TensorView View(const Array& a, const char* name, Role role, bool bnhd, bool varlen) {
  ATTNKIT_CHECK(a.device_type() == nb::device::cpu::value, "tensor '", name,
                "' is not in CPU memory (DLPack device type ", a.device_type(),
                "); attnkit runs on the CPU: move it there first (e.g. tensor.cpu())");
  int want = 4;
  const char* axes = bnhd ? "(batch, seqlen, heads, head_dim)" : "(batch, heads, seqlen, head_dim)";
  switch (role) {
    case Role::kAttention:
      want = varlen ? 3 : 4;
      if (varlen) {
        axes = bnhd ? "(total_tokens, heads, head_dim)" : "(heads, total_tokens, head_dim)";
      }
      break;
    case Role::kLse:
      want = varlen ? 2 : 3;
      axes = varlen ? "(num_q_heads, total_q)" : "(batch, num_q_heads, seqlen_q)";
      break;
    case Role::kVector:
      want = 1;
      axes = "(num_q_heads,)";
      break;
    case Role::kBias:
      want = 4;
      axes = "(batch|1, num_q_heads|1, seqlen_q|1, seqlen_k)";
      break;
  }
  const size_t ndim = a.ndim();
  ATTNKIT_CHECK(static_cast<int>(ndim) == want, "tensor '", name, "' must have ", want,
                " dimensions ", axes, ", got shape ", ShapeString(ndim, a.shape_ptr()));
  TensorView t;
  t.dtype = ToDType(a.dtype(), name);
  // DLPack allows a null pointer for an empty tensor; attnkit treats null as "missing".
  static const float kEmpty[1] = {0.0f};
  t.data = a.size() == 0 && a.data() == nullptr
               ? const_cast<float*>(kEmpty)
               : const_cast<void*>(static_cast<const void*>(a.data()));
  const int64_t* sh = a.shape_ptr();
  const int64_t* st = a.stride_ptr();
  // perm[i] = axis of `a` that becomes logical axis i; -1 = a new axis of size 1.
  int perm[4] = {0, 1, 2, 3};
  switch (role) {
    case Role::kAttention:
      if (!varlen) {
        if (bnhd) perm[1] = 2, perm[2] = 1;  // (B, N, H, D) -> [B, H, N, D]
      } else if (bnhd) {
        perm[0] = -1, perm[1] = 1, perm[2] = 0, perm[3] = 2;  // (T, H, D) -> [1, H, T, D]
      } else {
        perm[0] = -1, perm[1] = 0, perm[2] = 1, perm[3] = 2;  // (H, T, D) -> [1, H, T, D]
      }
      break;
    case Role::kLse:
      if (varlen) perm[0] = -1, perm[1] = 0, perm[2] = 1;  // (H, T) -> [1, H, T]
      break;
    default:
      break;
  }
  t.rank = role == Role::kLse ? 3 : role == Role::kVector ? 1 : 4;
  for (int i = 0; i < t.rank; ++i) {
    t.shape[i] = perm[i] < 0 ? 1 : sh[perm[i]];
    t.strides[i] = perm[i] < 0 ? 0 : st[perm[i]];
  }
  if (a.size() == 0) {  // strides of an empty array mean nothing (exporters may give 0): pack them
    int64_t stride = 1;
    for (int d = t.rank - 1; d >= 0; --d) {
      t.strides[d] = stride;
      stride *= std::max<int64_t>(t.shape[d], 1);
    }
  }
  return t;
}

// A 64-byte aligned byte buffer.
class Workspace {
 public:
  explicit Workspace(size_t bytes) : buf_(bytes == 0 ? 0 : bytes + 64) {}
  std::span<std::byte> span() {
    if (buf_.empty()) return {};
    const auto addr = reinterpret_cast<uintptr_t>(buf_.data());
    const size_t pad = (64 - addr % 64) % 64;
    return {buf_.data() + pad, buf_.size() - 64};
  }

 private:
  std::vector<std::byte> buf_;
};

// A made plan with its own workspace. Immutable except for the workspace,
// which one Run at a time may use (others get a temporary one).
struct Planned {
  attnkit::Plan plan;
  bool varlen;
  Workspace workspace;
  std::mutex workspace_mu;
  Planned(attnkit::Plan p, bool is_varlen)
      : plan(std::move(p)), varlen(is_varlen), workspace(plan.workspace_bytes()) {}
};

// attnkit._C.Plan: an AttentionSpec plus, after plan(), a Plan for one shape.
class PyPlan {
 public:
  PyPlan(int64_t num_q_heads, int64_t num_kv_heads, int64_t head_dim_qk, int64_t head_dim_v,
         std::optional<double> scale, bool causal, int64_t window_left, int64_t window_right,
         double softcap, bool alibi, std::vector<float> alibi_slopes, bool has_sinks, bool has_bias,
         bool return_lse, int threads, const std::string& layout, const std::string& kernel,
         int64_t block_q, int64_t block_k, bool autotune)
      : ctx_(threads) {
    spec_.num_q_heads = num_q_heads;
    spec_.num_kv_heads = num_kv_heads;
    spec_.head_dim_qk = head_dim_qk;
    spec_.head_dim_v = head_dim_v;
    if (scale.has_value()) spec_.scale = static_cast<float>(*scale);
    spec_.mask.causal = causal;
    // FlashAttention's -1 means "no bound"; any other negative is rejected by MakePlan.
    spec_.mask.window_left = window_left == -1 ? attnkit::kUnbounded : window_left;
    spec_.mask.window_right = window_right == -1 ? attnkit::kUnbounded : window_right;
    spec_.softcap = static_cast<float>(softcap);
    spec_.alibi = alibi;
    spec_.alibi_slopes = std::move(alibi_slopes);
    spec_.has_sinks = has_sinks;
    spec_.has_bias = has_bias;
    spec_.return_lse = return_lse;
    bnhd_ = attnkit::ParseLayout(layout) == attnkit::Layout::kBNHD;
    options_.kernel = kernel;
    options_.block_q = block_q;
    options_.block_k = block_k;
    options_.autotune = autotune;
  }

  void MakePlan(int64_t batch, int64_t seqlen_q, int64_t seqlen_k,
                std::vector<int64_t> cu_seqlens_q, std::vector<int64_t> cu_seqlens_k,
                const std::string& dtype, const std::string& out_dtype) {
    attnkit::AttentionShape shape;
    shape.dtype = attnkit::ParseDType(dtype);
    shape.out_dtype = attnkit::ParseDType(out_dtype);
    ATTNKIT_CHECK(cu_seqlens_q.empty() == cu_seqlens_k.empty(),
                  "give both cu_seqlens_q and cu_seqlens_k, or neither");
    if (cu_seqlens_q.empty()) {
      shape.batch = batch;
      shape.seqlen_q = seqlen_q;
      shape.seqlen_k = seqlen_k;
    } else {
      shape.batch = static_cast<int64_t>(cu_seqlens_q.size()) - 1;
      shape.cu_seqlens_q = std::move(cu_seqlens_q);
      shape.cu_seqlens_k = std::move(cu_seqlens_k);
    }
    const bool varlen = shape.is_varlen();
    planned_ = std::make_shared<Planned>(attnkit::MakePlan(spec_, shape, ctx_, options_), varlen);
  }

  void Run(const InArray& q, const InArray& k, const InArray& v, const OutArray& out,
           const std::optional<OutArray>& lse, const std::optional<InArray>& sinks,
           const std::optional<InArray>& bias) {
    // Copied with the GIL held: a concurrent plan() replaces planned_, never what it points to.
    std::shared_ptr<Planned> p = planned_;
    ATTNKIT_CHECK(p != nullptr, "Plan.run: the plan has no shape yet; call plan() first");
    const bool varlen = p->varlen;
    attnkit::AttentionTensors t;
    t.q = View(q, "q", Role::kAttention, bnhd_, varlen);
    t.k = View(k, "k", Role::kAttention, bnhd_, varlen);
    t.v = View(v, "v", Role::kAttention, bnhd_, varlen);
    t.out = View(out, "out", Role::kAttention, bnhd_, varlen);
    if (lse.has_value()) t.lse = View(*lse, "lse", Role::kLse, bnhd_, varlen);
    if (sinks.has_value()) t.sinks = View(*sinks, "sinks", Role::kVector, bnhd_, varlen);
    if (bias.has_value()) t.bias = View(*bias, "bias", Role::kBias, bnhd_, varlen);
    // The arrays are kept alive by this call's arguments while the GIL is released.
    nb::gil_scoped_release release;
    std::unique_lock<std::mutex> lock(p->workspace_mu, std::try_to_lock);
    if (lock.owns_lock()) {
      attnkit::Run(p->plan, t, p->workspace.span());
    } else {  // another thread is running this plan: use a workspace of our own
      Workspace own(p->plan.workspace_bytes());
      attnkit::Run(p->plan, t, own.span());
    }
  }

  std::string Explain() const { return planned_ ? planned_->plan.Explain() : "(not planned)\n"; }
  size_t workspace_bytes() const { return planned_ ? planned_->plan.workspace_bytes() : 0; }
  std::string kernel_name() const { return planned_ ? planned_->plan.kernel_name() : ""; }
  int num_threads() const { return ctx_.num_threads(); }
  bool planned() const { return planned_ != nullptr; }
  bool varlen() const { return planned_ && planned_->varlen; }
  std::string layout() const { return bnhd_ ? "bnhd" : "bhnd"; }

 private:
  attnkit::AttentionSpec spec_;
  attnkit::PlanOptions options_;
  attnkit::ThreadingContext ctx_;
  bool bnhd_ = true;
  std::shared_ptr<Planned> planned_;
};

}  // namespace
}  // namespace attnkit_py

NB_MODULE(_C, m) {
  using attnkit_py::PyPlan;
  m.doc() = "attnkit's C++ core (private: use the attnkit package)";
  m.attr("__version__") = attnkit::kVersion;

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const attnkit::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  nb::class_<PyPlan>(m, "Plan")
      .def(nb::init<int64_t, int64_t, int64_t, int64_t, std::optional<double>, bool, int64_t,
                    int64_t, double, bool, std::vector<float>, bool, bool, bool, int,
                    const std::string&, const std::string&, int64_t, int64_t, bool>(),
           "num_q_heads"_a, "num_kv_heads"_a, "head_dim_qk"_a, "head_dim_v"_a,
           "scale"_a = nb::none(), "causal"_a = false, "window_left"_a = -1, "window_right"_a = -1,
           "softcap"_a = 0.0, "alibi"_a = false, "alibi_slopes"_a = std::vector<float>(),
           "has_sinks"_a = false, "has_bias"_a = false, "return_lse"_a = false, "threads"_a = 0,
           "layout"_a = "bnhd", "kernel"_a = "", "block_q"_a = 0, "block_k"_a = 0,
           "autotune"_a = false)
      .def("plan", &PyPlan::MakePlan, "batch"_a = 1, "seqlen_q"_a = 0, "seqlen_k"_a = 0,
           "cu_seqlens_q"_a = std::vector<int64_t>(), "cu_seqlens_k"_a = std::vector<int64_t>(),
           "dtype"_a = "f32", "out_dtype"_a = "f32")
      .def("run", &PyPlan::Run, "q"_a, "k"_a, "v"_a, "out"_a, "lse"_a = nb::none(),
           "sinks"_a = nb::none(), "bias"_a = nb::none())
      .def("explain", &PyPlan::Explain)
      .def_prop_ro("workspace_bytes", &PyPlan::workspace_bytes)
      .def_prop_ro("kernel_name", &PyPlan::kernel_name)
      .def_prop_ro("num_threads", &PyPlan::num_threads)
      .def_prop_ro("planned", &PyPlan::planned)
      .def_prop_ro("varlen", &PyPlan::varlen)
      .def_prop_ro("layout", &PyPlan::layout);

  m.def("alibi_slopes", &attnkit::AlibiSlopes, "num_heads"_a);
  m.def("cpu_info", [] { return attnkit::CpuInfo::Detect().ToString(); });
  m.def("hardware_threads", [] { return attnkit::CpuInfo::Detect().hardware_threads; });
  m.def("list_kernels", [] {
    nb::list result;
    for (const attnkit::KernelInfo& k : attnkit::ListKernels()) {
      nb::list dtypes;
      for (attnkit::DType d : k.dtypes) dtypes.append(std::string(attnkit::Name(d)));
      nb::dict e;
      e["name"] = k.name;
      e["family"] = k.family;
      e["dtypes"] = dtypes;
      e["description"] = k.description;
      result.append(e);
    }
    return result;
  });

  // Family functions (decode, sparse, linear), each bound in its own file.
  attnkit_py::BindDecode(m);
  attnkit_py::BindSparse(m);
  attnkit_py::BindLinear(m);
}

