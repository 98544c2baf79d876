#include "bindings/common.h"

#include <cstdint>
#include <cstring>
#include <utility>

namespace fastdl::bind {

std::vector<int64_t> shape_of(const py::array& a) {
  std::vector<int64_t> s(a.ndim());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[i] = a.shape(i);
  return s;
}

static std::pair<uintptr_t, uintptr_t> byte_range(const py::array& a) {
  const auto lo = reinterpret_cast<uintptr_t>(a.data());
  return {lo, lo + static_cast<uintptr_t>(a.nbytes())};
}

bool overlaps(const py::array& a, const py::array& b) {
  const auto [alo, ahi] = byte_range(a);
  const auto [blo, bhi] = byte_range(b);
  return alo < bhi && blo < ahi;
}

bool partial_overlap(const py::array& out, const py::array& in) {
  return overlaps(out, in) && !(out.data() == in.data() && out.nbytes() == in.nbytes());
}

void check_no_overlap(const py::array& out, const char* out_name, const py::array& other,
                      const char* other_name, const char* fn, bool in_place_ok) {
  if (out.nbytes() == 0 || other.nbytes() == 0 || !overlaps(out, other)) return;
  if (in_place_ok && !partial_overlap(out, other)) return;
  throw py::value_error(std::string(fn) + "(): argument '" + out_name +
                        "' shares memory with argument '" + other_name + "'" +
                        (in_place_ok ? " without being the same array (only exactly in place "
                                       "is allowed)"
                                     : "; pass separate arrays"));
}

py::array fresh_like(const py::array& a) {
  return empty_array(a.dtype(), int(a.ndim()), a.shape());
}

void copy_into(const py::array& src, py::array& dst) {
  if (src.nbytes() > 0) std::memcpy(dst.mutable_data(), src.data(), src.nbytes());
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

py::array as_array(const py::object& obj, const char* fn, const char* arg) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(fn) + "(): argument '" + arg +
                         "' must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  return py::reinterpret_borrow<py::array>(obj);
}

bool is_f64(const py::array& a, const char* fn, const char* arg) {
  if (has_dtype<float>(a)) return false;
  if (has_dtype<double>(a)) return true;
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
