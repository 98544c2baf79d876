// Softmax / log-softmax forward and backward on C-contiguous float32/float64 arrays.
#include "bindings/common.h"
#include "kernels/softmax.h"

namespace fastdl::bind {

namespace {

struct Dims {
  int64_t outer = 1, n = 1, inner = 1;
};

// (outer, n, inner) view of `a` reduced over `axis` (already normalised to 0..ndim-1; a 0-d
// array is one reduction of length 1).
Dims dims_of(const py::array& a, int64_t axis, const char* fn) {
  const int64_t nd = a.ndim();
  Dims d;
  if (nd == 0) return d;
  if (axis < 0 || axis >= nd) {
    throw py::value_error(std::string(fn) + "(): axis " + std::to_string(axis) +
                          " is out of bounds for an array of shape " + shape_str(a));
  }
  for (int64_t i = 0; i < axis; ++i) d.outer *= a.shape(i);
  d.n = a.shape(axis);
  for (int64_t i = axis + 1; i < nd; ++i) d.inner *= a.shape(i);
  return d;
}

void forward(bool log, const py::array& x, py::array& out, int64_t axis) {
  const char* fn = log ? "log_softmax" : "softmax";
  const bool f64 = is_f64(x, fn, "x");
  check_same_shape(x, out, fn, "x", "out");
  const Dims d = dims_of(x, axis, fn);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x, fn, "x");
    T* yp = out_ptr<T>(out, fn, "out");
    check_no_overlap(out, "out", x, "x", fn, true);  // y may alias x exactly
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) {
      softmax().forward_f32(log, xp, yp, d.outer, d.n, d.inner);
    } else {
      softmax().forward_f64(log, xp, yp, d.outer, d.n, d.inner);
    }
  };
  if (f64)
    run(double{});
  else
    run(float{});
}

void backward(bool log, const py::array& grad, const py::array& y, py::array& out, int64_t axis) {
  const char* fn = log ? "log_softmax_backward" : "softmax_backward";
  const bool f64 = is_f64(y, fn, "y");
  check_same_shape(y, grad, fn, "y", "grad");
  check_same_shape(y, out, fn, "y", "out");
  const Dims d = dims_of(y, axis, fn);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* gp = in_ptr<T>(grad, fn, "grad");
    const T* yp = in_ptr<T>(y, fn, "y");
    T* dp = out_ptr<T>(out, fn, "out");
    // Each reduction is finished before its outputs are written: exactly in place is fine.
    check_no_overlap(out, "out", grad, "grad", fn, true);
    check_no_overlap(out, "out", y, "y", fn, true);
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) {
      softmax().backward_f32(log, gp, yp, dp, d.outer, d.n, d.inner);
    } else {
      softmax().backward_f64(log, gp, yp, dp, d.outer, d.n, d.inner);
    }
  };
  if (f64)
    run(double{});
  else
    run(float{});
}

}  // namespace

void init_softmax(py::module_& m) {
  m.def("softmax_forward", &forward, py::arg("log"), py::arg("x"), py::arg("out"), py::arg("axis"),
        "out = softmax(x) or log_softmax(x) along axis (0..ndim-1).");
  m.def("softmax_backward", &backward, py::arg("log"), py::arg("grad"), py::arg("y"),
        py::arg("out"), py::arg("axis"),
        "out = input gradient of softmax/log_softmax from grad and the forward output y.");
}

}  // namespace fastdl::bind
