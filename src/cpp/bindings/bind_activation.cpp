// act(x + bias) forward and backward on C-contiguous float32/float64 arrays.
#include <optional>

#include "bindings/common.h"
#include "kernels/activation.h"

namespace fastdl::bind {

namespace {

// Below this many elements the kernel takes well under a microsecond: dropping and retaking
// the GIL would cost more than another Python thread could gain from it.
constexpr int64_t kReleaseGilAbove = int64_t(1) << 14;

Act to_act(int a) {
  if (a < 0 || a > 3) throw py::value_error("activation id must be 0..3, got " + std::to_string(a));
  return static_cast<Act>(a);
}

// The caller's `out`, or a fresh array shaped like `like` when it passed None (allocating here
// costs less than a separate np.empty call, which matters on small arrays).
py::array out_or_fresh(const py::object& out_obj, const py::array& like, const char* fn,
                       const char* like_name) {
  if (out_obj.is_none()) return fresh_like(like);
  py::array out = as_array(out_obj, fn, "out");
  check_same_shape(like, out, fn, like_name, "out");
  return out;
}

// x: (..., C) when bias is given, any shape otherwise; bias: (C,); out: x's shape and dtype,
// or None for a new array. Returns out.
py::array forward(int act_id, const py::array& x, const py::object& bias_obj,
                  const py::object& out_obj) {
  const char* fn = "bias_act_forward";
  const Act act = to_act(act_id);
  const bool f64 = is_f64(x, fn, "x");
  py::array out = out_or_fresh(out_obj, x, fn, "x");
  int64_t rows = 1, cols = x.size();
  const bool has_bias = !bias_obj.is_none();
  std::optional<py::array> bias;  // py::array() would allocate an empty ndarray every call
  if (has_bias) {
    bias = as_array(bias_obj, fn, "bias");
    if (x.ndim() < 1)
      throw py::value_error(std::string(fn) + "(): x must be at least 1-d with a bias");
    cols = x.shape(x.ndim() - 1);
    rows = cols == 0 ? 0 : x.size() / cols;
    check_shape(*bias, {cols}, fn, "bias");
  }
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x, fn, "x");
    const T* bp = has_bias ? in_ptr<T>(*bias, fn, "bias") : nullptr;
    out_ptr<T>(out, fn, "out");
    // out == x is in place; any other overlap (with x, or with the bias every row reads)
    // goes through a temporary.
    const bool temp = partial_overlap(out, x) || (has_bias && overlaps(out, *bias));
    py::array dst = temp ? fresh_like(out) : out;
    T* yp = static_cast<T*>(dst.mutable_data());
    std::optional<py::gil_scoped_release> nogil;
    if (x.size() > kReleaseGilAbove) nogil.emplace();
    if constexpr (sizeof(T) == 4) {
      activation().forward_f32(act, xp, bp, yp, rows, cols);
    } else {
      activation().forward_f64(act, xp, bp, yp, rows, cols);
    }
    if (temp) copy_into(dst, out);
  };
  if (f64)
    run(double{});
  else
    run(float{});
  return out;
}

// The fast path's test and the kernel in one call: act(x) in a new array when x is a
// C-contiguous float32/float64 ndarray, else None so that the caller takes its general path
// (declining converts nothing). Saves the caller the same tests in Python.
py::object forward_if_ready(int act_id, const py::handle& x_obj) {
  if (!py::detail::npy_api::get().PyArray_Check_(x_obj.ptr())) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(x_obj);
  if (!(x.flags() & py::array::c_style)) return py::none();
  if (!has_dtype<float>(x) && !has_dtype<double>(x)) {
    return py::none();
  }
  return forward(act_id, x, py::none(), py::none());
}

// y, dy, dx: same shape (dx None for a new array); dbias: (C,) for a (..., C) y, or None.
// Returns dx.
py::array backward(int act_id, const py::array& y, const py::array& dy, const py::object& dx_obj,
                   const py::object& dbias_obj) {
  const char* fn = "bias_act_backward";
  const Act act = to_act(act_id);
  const bool f64 = is_f64(y, fn, "y");
  check_same_shape(y, dy, fn, "y", "grad");
  py::array dx = out_or_fresh(dx_obj, y, fn, "y");
  int64_t rows = 1, cols = y.size();
  const bool has_dbias = !dbias_obj.is_none();
  std::optional<py::array> dbias;  // as in forward: no empty ndarray when there is no bias
  if (has_dbias) {
    dbias = as_array(dbias_obj, fn, "grad_bias");
    if (y.ndim() < 1)
      throw py::value_error(std::string(fn) + "(): y must be at least 1-d with a bias");
    cols = y.shape(y.ndim() - 1);
    rows = cols == 0 ? 0 : y.size() / cols;
    check_shape(*dbias, {cols}, fn, "grad_bias");
  }
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* yp = in_ptr<T>(y, fn, "y");
    const T* gp = in_ptr<T>(dy, fn, "grad");
    out_ptr<T>(dx, fn, "out");
    if (has_dbias) out_ptr<T>(*dbias, fn, "grad_bias");
    // out == grad or out == y is in place; other overlaps go through temporaries.
    const bool temp = partial_overlap(dx, y) || partial_overlap(dx, dy);
    const bool btemp =
        has_dbias && (overlaps(*dbias, dx) || overlaps(*dbias, y) || overlaps(*dbias, dy));
    py::array dst = temp ? fresh_like(dx) : dx;
    std::optional<py::array> bdst;
    if (has_dbias) bdst = btemp ? fresh_like(*dbias) : *dbias;
    T* xp = static_cast<T*>(dst.mutable_data());
    T* bp = has_dbias ? static_cast<T*>(bdst->mutable_data()) : nullptr;
    std::optional<py::gil_scoped_release> nogil;
    if (y.size() > kReleaseGilAbove) nogil.emplace();
    if constexpr (sizeof(T) == 4) {
      activation().backward_f32(act, yp, gp, xp, bp, rows, cols);
    } else {
      activation().backward_f64(act, yp, gp, xp, bp, rows, cols);
    }
    if (temp) copy_into(dst, dx);
    if (btemp) copy_into(*bdst, *dbias);
  };
  if (f64)
    run(double{});
  else
    run(float{});
  return dx;
}

}  // namespace

void init_activation(py::module_& m) {
  m.def("bias_act_forward", &forward, py::arg("act"), py::arg("x"),
        py::arg("bias").none(true) = py::none(), py::arg("out").none(true) = py::none(),
        "out = act(x + bias); bias may be None; out None allocates. Returns out.");
  m.def("bias_act_forward_if_ready", &forward_if_ready, py::arg("act"), py::arg("x"),
        "act(x) in a new array if x is a C-contiguous float32/float64 ndarray, else None.");
  m.def("bias_act_backward", &backward, py::arg("act"), py::arg("y"), py::arg("grad"),
        py::arg("out").none(true) = py::none(), py::arg("grad_bias").none(true) = py::none(),
        "out = grad * act'(y) from the forward output y; grad_bias = out summed over rows. "
        "out None allocates. Returns out.");
}

}  // namespace fastdl::bind
