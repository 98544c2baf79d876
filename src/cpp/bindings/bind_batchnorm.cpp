// Batch normalisation forward (training / eval) and backward on C-contiguous float32/float64
// arrays of shape (N, C) or (N, C, L). Outputs are caller-allocated; None = absent.
#include "bindings/common.h"
#include "kernels/batchnorm.h"

namespace fastdl::bind {

namespace {

struct Dims {
  int64_t n, c, l;
};

// Names of the arrays that may be exactly in place (compared by address in check_apart).
constexpr const char* kX = "x";
constexpr const char* kY = "y";
constexpr const char* kGrad = "grad";
constexpr const char* kDx = "grad_x";

Dims dims_of(const py::array& x, const char* fn) {
  if (x.ndim() != 2 && x.ndim() != 3) {
    throw py::value_error(std::string(fn) +
                          "(): argument 'x' must be 2-d (N, C) or 3-d (N, C, L), got shape " +
                          shape_str(x));
  }
  return {int64_t(x.shape(0)), int64_t(x.shape(1)), x.ndim() == 3 ? int64_t(x.shape(2)) : 1};
}

// The ndarray itself (never a converted copy: outputs must be written where the caller sees).
py::array as_array(const py::object& o, const char* fn, const char* arg) {
  if (!py::isinstance<py::array>(o)) {
    throw py::type_error(std::string(fn) + "(): argument '" + arg +
                         "' must be a numpy.ndarray or None, got " +
                         std::string(py::str(py::type::of(o).attr("__name__"))));
  }
  return py::reinterpret_borrow<py::array>(o);
}

// A (C,) array of dtype T, or null for None.
template <class T>
const T* opt_in(const py::object& o, int64_t c, const char* fn, const char* arg) {
  if (o.is_none()) return nullptr;
  py::array a = as_array(o, fn, arg);
  check_shape(a, {c}, fn, arg);
  return in_ptr<T>(a, fn, arg);
}

template <class T>
T* opt_out(const py::object& o, const std::vector<int64_t>& shape, const char* fn,
           const char* arg) {
  if (o.is_none()) return nullptr;
  py::array a = as_array(o, fn, arg);
  check_shape(a, shape, fn, arg);
  return out_ptr<T>(a, fn, arg);
}

// One argument of a call for the overlap check; None (absent) is skipped.
struct Named {
  const char* name;
  py::handle obj;
};

// The kernels write straight into their outputs, and the statistics or sums are written
// before the output pass reads the inputs again: each output must be apart from every other
// array of the call, except that output `alias_out` may be exactly input `alias_in` (y = x,
// grad_x = grad: the output pass reads each element before writing it). Call after the
// arguments' types are checked.
void check_apart(const char* fn, std::initializer_list<Named> outs,
                 std::initializer_list<Named> ins, const char* alias_out, const char* alias_in) {
  // Byte ranges first: the common case is integer compares only (no array temporaries).
  struct Span {
    const Named* a;
    uintptr_t lo, hi;
  };
  auto spans = [](std::initializer_list<Named> list, Span* out) {
    int n = 0;
    for (const Named& a : list) {
      if (a.obj.is_none()) continue;
      const auto arr = py::reinterpret_borrow<py::array>(a.obj);
      const auto lo = reinterpret_cast<uintptr_t>(arr.data());
      if (arr.nbytes() > 0) out[n++] = {&a, lo, lo + uintptr_t(arr.nbytes())};
    }
    return n;
  };
  Span so[8], si[8];
  if (outs.size() > 8 || ins.size() > 8) throw std::logic_error("check_apart: too many arrays");
  const int no = spans(outs, so), ni = spans(ins, si);
  auto arr = [](const Named* a) { return py::reinterpret_borrow<py::array>(a->obj); };
  auto meet = [](const Span& a, const Span& b) { return a.lo < b.hi && b.lo < a.hi; };
  for (int i = 0; i < no; ++i) {
    for (int j = i + 1; j < no; ++j)
      if (meet(so[i], so[j]))
        check_no_overlap(arr(so[i].a), so[i].a->name, arr(so[j].a), so[j].a->name, fn);
    for (int k = 0; k < ni; ++k) {
      if (!meet(so[i], si[k])) continue;
      const bool alias = so[i].a->name == alias_out && si[k].a->name == alias_in;  // literals
      check_no_overlap(arr(so[i].a), so[i].a->name, arr(si[k].a), si[k].a->name, fn, alias);
    }
  }
}

void train(const py::array& x, const py::object& weight, const py::object& bias,
           const py::object& y, py::array& mean, py::array& invstd, const py::object& running_mean,
           const py::object& running_var, double eps, double momentum, const py::object& var) {
  const char* fn = "batch_norm_train";
  const Dims d = dims_of(x, fn);
  const bool f64 = is_f64(x, fn, "x");
  check_shape(mean, {d.c}, fn, "mean");
  check_shape(invstd, {d.c}, fn, "invstd");
  if (!running_var.is_none() && d.n * d.l == 1) {
    throw py::value_error(std::string(fn) +
                          "(): expected more than 1 value per channel to update running_var, "
                          "got x of shape " +
                          shape_str(x));
  }
  auto run = [&](auto tag) {
    using T = decltype(tag);
    BatchNormTrainArgs<T> a{};
    a.x = in_ptr<T>(x, fn, "x");
    a.weight = opt_in<T>(weight, d.c, fn, "weight");
    a.bias = opt_in<T>(bias, d.c, fn, "bias");
    a.y = opt_out<T>(y, shape_of(x), fn, "y");
    a.mean = out_ptr<T>(mean, fn, "mean");
    a.invstd = out_ptr<T>(invstd, fn, "invstd");
    a.var = opt_out<T>(var, {d.c}, fn, "var");
    a.running_mean = opt_out<T>(running_mean, {d.c}, fn, "running_mean");
    a.running_var = opt_out<T>(running_var, {d.c}, fn, "running_var");
    a.eps = eps;
    a.momentum = momentum;
    a.n = d.n;
    a.c = d.c;
    a.l = d.l;
    check_apart(fn,
                {{kY, y},
                 {"mean", mean},
                 {"invstd", invstd},
                 {"var", var},
                 {"running_mean", running_mean},
                 {"running_var", running_var}},
                {{kX, x}, {"weight", weight}, {"bias", bias}}, kY, kX);
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) {
      batchnorm().train_f32(a);
    } else {
      batchnorm().train_f64(a);
    }
  };
  if (f64)
    run(double{});
  else
    run(float{});
}

void eval(const py::array& x, const py::array& mean, const py::array& var, const py::object& weight,
          const py::object& bias, py::array& y, double eps) {
  const char* fn = "batch_norm_eval";
  const Dims d = dims_of(x, fn);
  const bool f64 = is_f64(x, fn, "x");
  check_same_shape(x, y, fn, "x", "y");
  check_shape(mean, {d.c}, fn, "running_mean");
  check_shape(var, {d.c}, fn, "running_var");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    BatchNormEvalArgs<T> a{};
    a.x = in_ptr<T>(x, fn, "x");
    a.mean = in_ptr<T>(mean, fn, "running_mean");
    a.var = in_ptr<T>(var, fn, "running_var");
    a.weight = opt_in<T>(weight, d.c, fn, "weight");
    a.bias = opt_in<T>(bias, d.c, fn, "bias");
    a.y = out_ptr<T>(y, fn, "y");
    a.eps = eps;
    a.n = d.n;
    a.c = d.c;
    a.l = d.l;
    check_apart(
        fn, {{kY, y}},
        {{kX, x}, {"running_mean", mean}, {"running_var", var}, {"weight", weight}, {"bias", bias}},
        kY, kX);
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) {
      batchnorm().eval_f32(a);
    } else {
      batchnorm().eval_f64(a);
    }
  };
  if (f64)
    run(double{});
  else
    run(float{});
}

void backward(const py::array& grad, const py::array& x, const py::array& mean,
              const py::array& invstd, const py::object& weight, const py::object& dx,
              const py::object& dweight, const py::object& dbias, bool training) {
  const char* fn = "batch_norm_backward";
  const Dims d = dims_of(x, fn);
  const bool f64 = is_f64(x, fn, "x");
  check_same_shape(x, grad, fn, "x", "grad");
  check_shape(mean, {d.c}, fn, "mean");
  check_shape(invstd, {d.c}, fn, "invstd");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    BatchNormBackwardArgs<T> a{};
    a.dy = in_ptr<T>(grad, fn, "grad");
    a.x = in_ptr<T>(x, fn, "x");
    a.mean = in_ptr<T>(mean, fn, "mean");
    a.invstd = in_ptr<T>(invstd, fn, "invstd");
    a.weight = opt_in<T>(weight, d.c, fn, "weight");
    a.dx = opt_out<T>(dx, shape_of(x), fn, "grad_x");
    a.dweight = opt_out<T>(dweight, {d.c}, fn, "grad_weight");
    a.dbias = opt_out<T>(dbias, {d.c}, fn, "grad_bias");
    a.training = training;
    a.n = d.n;
    a.c = d.c;
    a.l = d.l;
    check_apart(fn, {{kDx, dx}, {"grad_weight", dweight}, {"grad_bias", dbias}},
                {{kGrad, grad}, {kX, x}, {"mean", mean}, {"invstd", invstd}, {"weight", weight}},
                kDx, kGrad);
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) {
      batchnorm().backward_f32(a);
    } else {
      batchnorm().backward_f64(a);
    }
  };
  if (f64)
    run(double{});
  else
    run(float{});
}

}  // namespace

void init_batchnorm(py::module_& m) {
  m.def("batch_norm_train", &train, py::arg("x").noconvert(), py::arg("weight").none(true),
        py::arg("bias").none(true), py::arg("y").none(true), py::arg("mean").noconvert(),
        py::arg("invstd").noconvert(), py::arg("running_mean").none(true),
        py::arg("running_var").none(true), py::arg("eps"), py::arg("momentum"),
        py::arg("var").none(true) = py::none(),
        "Training batch norm over (N, C[, L]): writes y (None: statistics only), mean, invstd "
        "and var (biased, when given); updates the running statistics in place when given.");
  m.def("batch_norm_eval", &eval, py::arg("x").noconvert(), py::arg("running_mean").noconvert(),
        py::arg("running_var").noconvert(), py::arg("weight").none(true),
        py::arg("bias").none(true), py::arg("y").noconvert(), py::arg("eps"),
        "Eval batch norm with given statistics: y = (x - mean) / sqrt(var + eps) * w + b.");
  m.def("batch_norm_backward", &backward, py::arg("grad").noconvert(), py::arg("x").noconvert(),
        py::arg("mean").noconvert(), py::arg("invstd").noconvert(), py::arg("weight").none(true),
        py::arg("grad_x").none(true), py::arg("grad_weight").none(true),
        py::arg("grad_bias").none(true), py::arg("training"),
        "Batch norm backward: grad_x (training or eval formula), grad_weight, grad_bias; "
        "None skips an output.");
}

}  // namespace fastdl::bind
