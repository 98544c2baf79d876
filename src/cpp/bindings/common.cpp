#include "bindings/common.h"

namespace fastdl::bind {

std::vector<int64_t> shape_of(const py::array& a) {
  std::vector<int64_t> s(a.ndim());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[i] = a.shape(i);
  return s;
}

static std::string fmt_shape(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    out += std::to_string(s[i]);
    if (s.size() == 1 || i + 1 < s.size()) out += ",";
    if (i + 1 < s.size()) out += " ";
  }
  return out + ")";
}

std::string shape_str(const py::array& a) { return fmt_shape(shape_of(a)); }

std::string dtype_str(const py::array& a) { return std::string(py::str(a.dtype())); }

bool is_f64(const py::array& a, const char* fn, const char* arg) {
  if (a.dtype().is(py::dtype::of<float>())) return false;
  if (a.dtype().is(py::dtype::of<double>())) return true;
  throw py::type_error(std::string(fn) + "(): argument '" + arg +
                       "' must have dtype float32 or float64, got " + dtype_str(a));
}

void check_shape(const py::array& a, const std::vector<int64_t>& expected, const char* fn,
                 const char* arg) {
  if (shape_of(a) != expected) {
    throw py::value_error(std::string(fn) + "(): argument '" + arg + "' must have shape " +
                          fmt_shape(expected) + ", got " + shape_str(a));
  }
}

void check_same_shape(const py::array& a, const py::array& b, const char* fn, const char* a_name,
                      const char* b_name) {
  if (shape_of(a) != shape_of(b)) {
    throw py::value_error(std::string(fn) + "(): arguments '" + a_name + "' " + shape_str(a) +
                          " and '" + b_name + "' " + shape_str(b) + " must have the same shape");
  }
}

}  // namespace fastdl::bind
