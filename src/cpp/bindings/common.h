// Argument checks shared by every bind_<family>.cpp.
//
// Bindings never convert: Python (fastdl.ops) converts once, explicitly, and passes arrays that
// are already C-contiguous float32/float64. These checks are the last line of defence, so a
// direct call to fastdl._core with a wrong array is a TypeError/ValueError, not a crash or a
// write into a temporary.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fastdl::bind {

namespace py = pybind11;

std::string shape_str(const py::array& a);
std::string dtype_str(const py::array& a);

// The dtype of `a`, borrowed (a.dtype() costs a reference count round trip).
inline PyObject* descr_of(const py::array& a) { return py::detail::array_proxy(a.ptr())->descr; }

// Identity is the fast test; equivalence catches equal dtype objects that are not NumPy's
// singletons (arrays that came through pickle or joblib).
inline bool dtype_is(const py::array& a, const py::dtype& d) {
  PyObject* ad = descr_of(a);
  return ad == d.ptr() || py::reinterpret_borrow<py::dtype>(ad).equal(d);
}

inline bool same_dtype(const py::array& a, const py::array& b) {
  return dtype_is(a, py::reinterpret_borrow<py::dtype>(descr_of(b)));
}

// NumPy's descriptor for T, fetched once: py::dtype::of<T>() asks NumPy on every call, a few
// nanoseconds each on the per-call path of every kernel.
template <class T>
const py::dtype& dtype_of() {
  static const py::dtype* d = new py::dtype(py::dtype::of<T>());  // never freed: outlives exit
  return *d;
}

// `a` has dtype T.
template <class T>
inline bool has_dtype(const py::array& a) {
  return dtype_is(a, dtype_of<T>());
}

// The array's dtype is float32 (returns false) or float64 (returns true); TypeError otherwise.
bool is_f64(const py::array& a, const char* fn, const char* arg);

// TypeError unless `a` has dtype T; ValueError unless C-contiguous (and writeable if asked).
template <class T>
void check(const py::array& a, const char* fn, const char* arg, bool writeable = false) {
  if (!py::isinstance<py::array_t<T>>(a) || !has_dtype<T>(a)) {
    throw py::type_error(std::string(fn) + "(): argument '" + arg + "' must have dtype " +
                         std::string(py::str(py::dtype::of<T>())) + ", got " + dtype_str(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(fn) + "(): argument '" + arg +
                          "' must be C-contiguous, got a strided array of shape " + shape_str(a));
  }
  if (writeable && !a.writeable()) {
    throw py::value_error(std::string(fn) + "(): argument '" + arg + "' must be writeable");
  }
}

template <class T>
const T* in_ptr(const py::array& a, const char* fn, const char* arg) {
  check<T>(a, fn, arg);
  return static_cast<const T*>(a.data());
}

template <class T>
T* out_ptr(py::array& a, const char* fn, const char* arg) {
  check<T>(a, fn, arg, true);
  return static_cast<T*>(a.mutable_data());
}

// The object itself as an array, TypeError unless it is a numpy.ndarray (never converts:
// a converted output would be a temporary the caller never sees).
py::array as_array(const py::object& obj, const char* fn, const char* arg);

// ValueError unless a.shape == expected.
void check_shape(const py::array& a, const std::vector<int64_t>& expected, const char* fn,
                 const char* arg);
// ValueError unless a and b have the same shape.
void check_same_shape(const py::array& a, const py::array& b, const char* fn, const char* a_name,
                      const char* b_name);

std::vector<int64_t> shape_of(const py::array& a);

// True when the byte ranges of `a` and `b` intersect.
bool overlaps(const py::array& a, const py::array& b);
// True when `out` shares memory with `in` without being exactly the same buffer. For an
// elementwise kernel the exact alias is an in-place call and fine; a partial overlap makes the
// result depend on the order elements are visited, so the kernel writes into a temporary
// that is copied to `out` afterwards (see fresh_like / copy_into).
bool partial_overlap(const py::array& out, const py::array& in);
// For kernels that write straight into their outputs (no temporary): ValueError naming fn and
// both arguments when `out` shares memory with `other`, unless in_place_ok and `out` is exactly
// `other` (same start and size: the kernel's documented in-place call). Empty arrays never
// overlap.
void check_no_overlap(const py::array& out, const char* out_name, const py::array& other,
                      const char* other_name, const char* fn, bool in_place_ok = false);
// A new C-contiguous array with a's shape and dtype (memory from empty_array).
py::array fresh_like(const py::array& a);
// A new uninitialised C-contiguous array; from 1 MiB its memory comes from the block cache
// (kernels/buffer_pool.h, bind_buffer_pool.cpp). Every output a binding allocates goes here.
py::array empty_array(const py::dtype& dt, int nd, const py::ssize_t* shape);
// Copies src's bytes into dst (same nbytes, both C-contiguous); call without the GIL is fine.
void copy_into(const py::array& src, py::array& dst);

// One init function per kernel family, called from module.cpp.
void init_runtime(py::module_& m);
void init_activation(py::module_& m);
void init_matmul(py::module_& m);
void init_batchnorm(py::module_& m);
void init_optim(py::module_& m);
void init_attention(py::module_& m);
void init_softmax(py::module_& m);
void init_buffer_pool(py::module_& m);

}  // namespace fastdl::bind
