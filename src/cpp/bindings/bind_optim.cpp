// Multi-tensor optimiser steps: one call checks every list, collects the pointers, releases the
// GIL once and runs one kernel per dtype over all the tensors (kernels/optim.h).
//
// Everything is checked before anything is written, so a bad list leaves every array as it
// was. Arrays updated in place must be writeable C-contiguous float32/float64 arrays of the
// same shape and dtype as their parameter (never converted: an update of a temporary copy
// would be lost). No array written may overlap any other array of the call.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "bindings/common.h"
#include "kernels/optim.h"

namespace fastdl::bind {

namespace {

// One list argument: its name, the Python object, whether its arrays are written.
struct ListArg {
  const char* name;
  py::handle obj;
  bool writeable;
};

// "argument 'grads[3]'": messages say "fn(): argument 'x' must <expected>, got <actual>" as
// everywhere in fastdl (python/fastdl/ops/_checks.py: arg_error).
std::string item_name(const char* list, size_t i) {
  return std::string("argument '") + list + "[" + std::to_string(i) + "]'";
}

// The list's items as arrays (borrowed through the list, which the caller keeps alive).
std::vector<py::array> arrays_of(const char* fn, const ListArg& arg) {
  PyObject* o = arg.obj.ptr();
  if (!PyList_Check(o) && !PyTuple_Check(o)) {
    throw py::type_error(std::string(fn) + "(): argument '" + arg.name +
                         "' must be a list or tuple of numpy arrays, got " +
                         std::string(py::str(py::type::handle_of(arg.obj).attr("__name__"))));
  }
  const bool is_list = PyList_Check(o);
  const Py_ssize_t n = is_list ? PyList_GET_SIZE(o) : PyTuple_GET_SIZE(o);
  std::vector<py::array> out;
  out.reserve(size_t(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    py::handle h(is_list ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i));
    if (!py::isinstance<py::array>(h)) {
      throw py::type_error(std::string(fn) + "(): " + item_name(arg.name, size_t(i)) +
                           " must be a numpy.ndarray, got " +
                           std::string(py::str(py::type::handle_of(h).attr("__name__"))));
    }
    out.push_back(py::reinterpret_borrow<py::array>(h));
  }
  return out;
}

using Cols = std::vector<std::vector<py::array>>;

struct Span {
  uintptr_t lo, hi;
  bool writeable;
  int col;
  size_t idx;
};

// Checks the parallel lists `args` (args[0] = params): equal lengths; each params[i] a
// writeable C-contiguous float32/float64 array; every other list's item i an array of the same
// dtype and shape, C-contiguous, writeable when the list is updated; no written array
// overlapping any other. Returns cols[c][i]; f64[i] tells params[i]'s dtype.
Cols check_lists(const char* fn, const std::vector<ListArg>& args, std::vector<char>& f64) {
  Cols cols;
  for (const ListArg& a : args) cols.push_back(arrays_of(fn, a));
  const size_t n = cols[0].size();
  for (size_t c = 1; c < cols.size(); ++c) {
    if (cols[c].size() != n) {
      throw py::value_error(std::string(fn) + "(): argument '" + args[c].name + "' must have " +
                            std::to_string(n) + " arrays, one per item of '" + args[0].name +
                            "', got " + std::to_string(cols[c].size()));
    }
  }
  const py::dtype &f32t = dtype_of<float>(), &f64t = dtype_of<double>();
  f64.assign(n, 0);
  std::vector<Span> spans;
  spans.reserve(n * cols.size());
  for (size_t i = 0; i < n; ++i) {
    const py::array& p = cols[0][i];
    // Names are built only for a message: this loop runs for every array of every step.
    auto pname = [&] { return item_name(args[0].name, i); };
    if (dtype_is(p, f64t)) {
      f64[i] = 1;
    } else if (!dtype_is(p, f32t)) {
      throw py::type_error(std::string(fn) + "(): " + pname() +
                           " must have dtype float32 or float64, got " + dtype_str(p));
    }
    const py::dtype& dt = f64[i] ? f64t : f32t;
    for (size_t c = 0; c < cols.size(); ++c) {
      const py::array& a = cols[c][i];
      auto name = [&] { return item_name(args[c].name, i); };
      if (c > 0 && !dtype_is(a, dt)) {
        throw py::type_error(std::string(fn) + "(): " + name() + " must have dtype " +
                             std::string(py::str(dt)) + " (that of " + pname() + "), got " +
                             dtype_str(a));
      }
      if (c > 0 &&
          (a.ndim() != p.ndim() || !std::equal(a.shape(), a.shape() + a.ndim(), p.shape()))) {
        throw py::value_error(std::string(fn) + "(): " + name() + " must have shape " +
                              shape_str(p) + " (that of " + pname() + "), got " + shape_str(a));
      }
      if (!(a.flags() & py::array::c_style)) {
        throw py::value_error(std::string(fn) + "(): " + name() +
                              " must be C-contiguous, got a strided array of shape " +
                              shape_str(a));
      }
      if (args[c].writeable && !a.writeable()) {
        throw py::value_error(std::string(fn) + "(): " + name() +
                              " must be writeable (it is updated in place), got a read-only "
                              "array");
      }
      if (a.size() > 0) {
        const auto lo = reinterpret_cast<uintptr_t>(a.data());
        spans.push_back({lo, lo + uintptr_t(a.nbytes()), args[c].writeable, int(c), i});
      }
    }
  }
  // Sweep by start address: an array overlaps an earlier one iff it starts before the largest
  // end seen so far (among written arrays, for a read-only one).
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.lo < b.lo; });
  const Span* far_any = nullptr;
  const Span* far_written = nullptr;
  for (const Span& s : spans) {
    const Span* hit = s.writeable ? far_any : far_written;
    if (hit && s.lo < hit->hi) {
      throw py::value_error(std::string(fn) + "(): " + item_name(args[hit->col].name, hit->idx) +
                            " and " + item_name(args[s.col].name, s.idx) +
                            " must not share memory (arrays updated in place), got overlapping "
                            "arrays");
    }
    if (!far_any || s.hi > far_any->hi) far_any = &s;
    if (s.writeable && (!far_written || s.hi > far_written->hi)) far_written = &s;
  }
  return cols;
}

// Appends a state list updated in place that the setting `why` needs: ValueError when None.
// `like` indexes the list in args it mirrors (named in the message).
void add_state_list(const char* fn, std::vector<ListArg>& args, const char* name,
                    const py::object& obj, const char* why, size_t like) {
  if (obj.is_none()) {
    throw py::value_error(std::string(fn) + "(): argument '" + name + "' must be a list like '" +
                          args[like].name + "' (" + why + " needs it), got None");
  }
  args.push_back({name, obj, true});
}

template <class T>
T* ptr(const py::array& a) {
  return static_cast<T*>(const_cast<void*>(a.data()));
}

// The kernel's per-tensor structs for the checked lists, one vector per dtype: each dtype is
// one kernel call over its own virtual index space, so offsets run separately per dtype.
// make(tag, i, n, offset) builds item i's struct (tag: float{} or double{}).
template <template <class> class Tensor, class Make>
std::pair<std::vector<Tensor<float>>, std::vector<Tensor<double>>> per_dtype(
    const Cols& cols, const std::vector<char>& f64, Make&& make) {
  std::pair<std::vector<Tensor<float>>, std::vector<Tensor<double>>> out;
  int64_t off32 = 0, off64 = 0;
  for (size_t i = 0; i < f64.size(); ++i) {
    const int64_t n = cols[0][i].size();
    if (f64[i]) {
      out.second.push_back(make(double{}, i, n, off64));
      off64 += n;
    } else {
      out.first.push_back(make(float{}, i, n, off32));
      off32 += n;
    }
  }
  return out;
}

// The same for kernels that take both dtypes in one call (NormTensor, ScaleTensor): one index
// space; make(i, n, offset, f64) builds item i's struct.
template <class Tensor, class Make>
std::vector<Tensor> one_space(const Cols& cols, const std::vector<char>& f64, Make&& make) {
  std::vector<Tensor> out;
  int64_t off = 0;
  for (size_t i = 0; i < f64.size(); ++i) {
    const int64_t n = cols[0][i].size();
    out.push_back(make(i, n, off, bool(f64[i])));
    off += n;
  }
  return out;
}

void check_hyper(const char* fn, const char* name, double v, double lo, bool lo_open, double hi,
                 bool hi_open) {
  const bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (!ok) {
    std::string range = std::string(lo_open ? "(" : "[") +
                        py::str(py::float_(lo)).cast<std::string>() + ", " +
                        py::str(py::float_(hi)).cast<std::string>() + (hi_open ? ")" : "]");
    throw py::value_error(std::string(fn) + "(): argument '" + name + "' must be in " + range +
                          ", got " + py::str(py::float_(v)).cast<std::string>());
  }
}

constexpr double kInf = HUGE_VAL;

void adam_step(const py::object& params, const py::object& grads, const py::object& exp_avgs,
               const py::object& exp_avg_sqs, const py::object& max_exp_avg_sqs, int64_t step,
               double lr, double beta1, double beta2, double eps, double weight_decay,
               bool decoupled, bool amsgrad, bool maximize) {
  const char* fn = "adam_step";
  if (step < 1) {
    throw py::value_error(std::string(fn) + "(): argument 'step' must be >= 1 (the number of " +
                          "this step, counting from 1), got " + std::to_string(step));
  }
  check_hyper(fn, "lr", lr, 0, false, kInf, true);
  check_hyper(fn, "beta1", beta1, 0, false, 1, true);
  check_hyper(fn, "beta2", beta2, 0, false, 1, true);
  check_hyper(fn, "eps", eps, 0, false, kInf, true);
  check_hyper(fn, "weight_decay", weight_decay, 0, false, kInf, true);
  std::vector<ListArg> args = {{"params", params, true},
                               {"grads", grads, false},
                               {"exp_avgs", exp_avgs, true},
                               {"exp_avg_sqs", exp_avg_sqs, true}};
  if (amsgrad) add_state_list(fn, args, "max_exp_avg_sqs", max_exp_avg_sqs, "amsgrad=True", 3);
  std::vector<char> f64;
  const auto cols = check_lists(fn, args, f64);

  // Bias corrections once per step, in double (as PyTorch does), then rounded to the dtype.
  AdamConsts c;
  c.beta1 = beta1;
  c.beta2 = beta2;
  c.eps = eps;
  c.weight_decay = decoupled ? 0.0 : weight_decay;
  c.decay_factor = decoupled ? 1.0 - lr * weight_decay : 1.0;
  c.step_size = lr / (1.0 - std::pow(beta1, double(step)));
  c.bias_corr2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  c.amsgrad = amsgrad;
  c.grad_sign = maximize ? -1.0 : 1.0;

  const auto [t32, t64] =
      per_dtype<AdamTensor>(cols, f64, [&](auto tag, size_t i, int64_t n, int64_t off) {
        using T = decltype(tag);
        return AdamTensor<T>{ptr<T>(cols[0][i]),
                             ptr<T>(cols[1][i]),
                             ptr<T>(cols[2][i]),
                             ptr<T>(cols[3][i]),
                             amsgrad ? ptr<T>(cols[4][i]) : nullptr,
                             n,
                             off};
      });
  py::gil_scoped_release nogil;
  const OptimKernels& k = optim();
  if (!t32.empty()) k.adam_f32(t32.data(), int64_t(t32.size()), c);
  if (!t64.empty()) k.adam_f64(t64.data(), int64_t(t64.size()), c);
}

void sgd_step(const py::object& params, const py::object& grads, const py::object& momentum_buffers,
              double lr, double momentum, double dampening, bool nesterov, double weight_decay,
              int init, bool maximize) {
  const char* fn = "sgd_step";
  check_hyper(fn, "lr", lr, 0, false, kInf, true);
  check_hyper(fn, "momentum", momentum, 0, false, kInf, true);
  check_hyper(fn, "dampening", dampening, -kInf, false, kInf, true);
  check_hyper(fn, "weight_decay", weight_decay, 0, false, kInf, true);
  if (init < 0 || init > 2) {
    throw py::value_error(std::string(fn) + "(): argument 'init' must be 0, 1 or 2, got " +
                          std::to_string(init));
  }
  if (nesterov && (momentum <= 0.0 || dampening != 0.0)) {
    throw py::value_error(std::string(fn) +
                          "(): argument 'nesterov' must be False unless momentum > 0 and "
                          "dampening == 0, got True with momentum " +
                          py::str(py::float_(momentum)).cast<std::string>() + ", dampening " +
                          py::str(py::float_(dampening)).cast<std::string>());
  }
  const bool use_buf = momentum != 0.0;
  std::vector<ListArg> args = {{"params", params, true}, {"grads", grads, false}};
  if (use_buf) add_state_list(fn, args, "momentum_buffers", momentum_buffers, "momentum != 0", 0);
  std::vector<char> f64;
  const auto cols = check_lists(fn, args, f64);

  SgdConsts c;
  c.lr = lr;
  c.momentum = momentum;
  c.dampening = dampening;
  c.weight_decay = weight_decay;
  c.grad_sign = maximize ? -1.0 : 1.0;
  c.nesterov = nesterov;
  c.init = static_cast<BufInit>(init);
  const auto [t32, t64] =
      per_dtype<SgdTensor>(cols, f64, [&](auto tag, size_t i, int64_t n, int64_t off) {
        using T = decltype(tag);
        return SgdTensor<T>{ptr<T>(cols[0][i]), ptr<T>(cols[1][i]),
                            use_buf ? ptr<T>(cols[2][i]) : nullptr, n, off};
      });
  py::gil_scoped_release nogil;
  const OptimKernels& k = optim();
  if (!t32.empty()) k.sgd_f32(t32.data(), int64_t(t32.size()), c);
  if (!t64.empty()) k.sgd_f64(t64.data(), int64_t(t64.size()), c);
}

// grad_norm's reduction: arrays of either float dtype, C-contiguous, only read.
double sum_abs_pow(const py::object& arrays, double p) {
  const char* fn = "grad_norm";
  if (!(p >= 0.0)) {
    throw py::value_error(std::string(fn) + "(): argument 'norm_type' must be >= 0 or inf, got " +
                          py::str(py::float_(p)).cast<std::string>());
  }
  std::vector<char> f64;
  const auto cols = check_lists(fn, {{"arrays", arrays, false}}, f64);
  const auto ts = one_space<NormTensor>(cols, f64, [&](size_t i, int64_t n, int64_t off, bool d) {
    return NormTensor{cols[0][i].data(), n, off, d};
  });
  double r;
  {
    py::gil_scoped_release nogil;
    r = optim().sum_abs_pow(ts.data(), int64_t(ts.size()), p);
  }
  if (r == -1.0) throw std::bad_alloc();
  return r;
}

// clip_grad_norm_'s rescale: writeable C-contiguous arrays that do not share memory.
void scale(const py::object& arrays, double factor) {
  const char* fn = "scale_";
  std::vector<char> f64;
  const auto cols = check_lists(fn, {{"arrays", arrays, true}}, f64);
  const auto ts = one_space<ScaleTensor>(cols, f64, [&](size_t i, int64_t n, int64_t off, bool d) {
    return ScaleTensor{ptr<char>(cols[0][i]), n, off, d};
  });
  py::gil_scoped_release nogil;
  optim().scale(ts.data(), int64_t(ts.size()), factor);
}

}  // namespace

void init_optim(py::module_& m) {
  m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs").none(true), py::arg("step"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled"), py::arg("amsgrad"), py::arg("maximize") = false,
        "One Adam/AdamW/AMSGrad step over lists of arrays, updated in place.");
  m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"),
        py::arg("momentum_buffers").none(true), py::arg("lr"), py::arg("momentum"),
        py::arg("dampening"), py::arg("nesterov"), py::arg("weight_decay"), py::arg("init"),
        py::arg("maximize") = false,
        "One SGD step over lists of arrays; init: 0 read buffers, 1 buf = grad, 2 buf = 0.");
  m.def("sum_abs_pow", &sum_abs_pow, py::arg("arrays"), py::arg("p"),
        "Sum of |x|^p over all arrays (max |x| for p = inf, count of nonzeros for p = 0).");
  m.def("scale_", &scale, py::arg("arrays"), py::arg("factor"),
        "x *= factor for every array, in place.");
}

}  // namespace fastdl::bind
