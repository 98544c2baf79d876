// matmul with np.matmul semantics (1-d, 2-d, batched with broadcasting) and the fused
// bias + activation epilogue, on float32/float64 arrays of any element strides.
//
// Unlike the other families, the operands are not required to be C-contiguous: the kernel reads
// element strides, so a.T and other views run without a copy. Byte strides that are not a
// multiple of the item size are a ValueError here (fastdl.ops converts those once).
#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "kernels/matmul.h"

namespace fastdl::bind {

namespace {

constexpr const char* kFn = "matmul";
// Multiply-adds below which the kernel runs without releasing the GIL (see run()): ~2 us.
constexpr int64_t kSmallGilWork = int64_t(1) << 19;

// Shapes and strides on the stack (NumPy allows at most 64 dimensions): this binding runs for
// every Linear layer of a training step, so it avoids heap work on small calls.
struct Dims {
  int64_t v[64];
  int64_t n = 0;
  int64_t operator[](int64_t i) const { return v[i]; }
  int64_t& operator[](int64_t i) { return v[i]; }
  void push(int64_t x) { v[n++] = x; }
  bool operator==(const Dims& o) const {
    if (n != o.n) return false;
    for (int64_t i = 0; i < n; ++i)
      if (v[i] != o.v[i]) return false;
    return true;
  }
};

std::string fmt(const Dims& s) {
  std::string out = "(";
  for (int64_t i = 0; i < s.n; ++i) {
    out += std::to_string(s[i]);
    if (s.n == 1 || i + 1 < s.n) out += ",";
    if (i + 1 < s.n) out += " ";
  }
  return out + ")";
}

// The array's header fields, read directly: pybind11's shape(i)/strides(i) check the index on
// every call, and these run for each dimension of three arrays per matmul call.
struct Header {
  int nd;
  const Py_intptr_t* dims;
  const Py_intptr_t* strides;
  uintptr_t data;
};

Header header(const py::array& a) {
  const auto* p = py::detail::array_proxy(a.ptr());
  return {p->nd, p->dimensions, p->strides, reinterpret_cast<uintptr_t>(p->data)};
}

Dims shape_dims(const py::array& a) {
  const Header h = header(a);
  Dims d;
  for (int i = 0; i < h.nd; ++i) d.push(h.dims[i]);
  return d;
}

// Element strides of `a` (dtype T); ValueError when a byte stride is not a multiple of the
// item size. T is a template parameter so the divisions are shifts.
template <class T>
Dims elem_strides(const py::array& a, const char* arg) {
  constexpr int64_t item = sizeof(T);
  const Header h = header(a);
  Dims s;
  for (int i = 0; i < h.nd; ++i) {
    const int64_t bs = h.strides[i];
    if (bs % item != 0) {
      throw py::value_error(std::string(kFn) + "(): argument '" + arg + "' has byte strides " +
                            "that are not a multiple of its item size (" + std::to_string(item) +
                            "); pass a copy made with np.ascontiguousarray");
    }
    s.push(bs / item);
  }
  return s;
}

// [lo, hi) bytes that an array of item size `item` may touch; empty arrays touch nothing.
bool extent(const Header& a, int64_t item, uintptr_t& lo, uintptr_t& hi) {
  intptr_t l = 0, h = 0;
  for (int i = 0; i < a.nd; ++i) {
    if (a.dims[i] == 0) return false;
    const intptr_t span = intptr_t(a.dims[i] - 1) * intptr_t(a.strides[i]);
    (span < 0 ? l : h) += span;
  }
  lo = a.data + l;
  hi = a.data + h + item;
  return true;
}

// `out` shares a byte with x or y (all three of item size `item`).
bool overlaps_either(const py::array& out, const py::array& x, const py::array& y, int64_t item) {
  uintptr_t ol, oh, l, h;
  if (!extent(header(out), item, ol, oh)) return false;
  if (extent(header(x), item, l, h) && ol < h && l < oh) return true;
  return extent(header(y), item, l, h) && ol < h && l < oh;
}

// `out_obj` as the output array, after checking it is a writeable C-contiguous ndarray of
// dtype T and shape `oshape` that does not overlap a or b.
template <class T>
py::array checked_out(const py::object& out_obj, const Dims& oshape, const Dims& ash,
                      const Dims& bsh, const py::array& a, const py::array& b) {
  if (!py::isinstance<py::array>(out_obj)) {
    throw py::type_error(std::string(kFn) + "(): argument 'out' must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::handle_of(out_obj).attr("__name__"))));
  }
  auto out = py::reinterpret_borrow<py::array>(out_obj);
  if (!has_dtype<T>(out)) {
    throw py::value_error(std::string(kFn) + "(): argument 'out' must have dtype " +
                          std::string(py::str(py::dtype::of<T>())) + ", got " + dtype_str(out));
  }
  if (!(shape_dims(out) == oshape)) {
    throw py::value_error(std::string(kFn) + "(): argument 'out' must have shape " + fmt(oshape) +
                          " for 'a' " + fmt(ash) + " and 'b' " + fmt(bsh) + ", got " +
                          shape_str(out));
  }
  if (!(out.flags() & py::array::c_style) || !out.writeable()) {
    throw py::value_error(std::string(kFn) +
                          "(): argument 'out' must be a writeable C-contiguous array");
  }
  if (overlaps_either(out, a, b, int64_t(sizeof(T)))) {
    throw py::value_error(std::string(kFn) + "(): argument 'out' overlaps an input");
  }
  return out;
}

template <class T>
py::array run(const py::array& a, const py::array& b, const py::object& out_obj,
              const py::object& bias_obj, Act act) {
  const Dims ash = shape_dims(a), bsh = shape_dims(b);
  const Dims ast = elem_strides<T>(a, "a"), bst = elem_strides<T>(b, "b");
  const int64_t and_ = a.ndim(), bnd = b.ndim();
  const bool a1 = and_ == 1, b1 = bnd == 1;
  const int64_t m = a1 ? 1 : ash[and_ - 2], k = ash[and_ - 1];
  const int64_t kb = b1 ? bsh[0] : bsh[bnd - 2], n = b1 ? 1 : bsh[bnd - 1];
  if (k != kb) {
    throw py::value_error(std::string(kFn) + "(): inner dimensions do not match: 'a' has shape " +
                          fmt(ash) + " and 'b' has shape " + fmt(bsh) + " (" + std::to_string(k) +
                          " != " + std::to_string(kb) + ")");
  }
  int64_t rsa = a1 ? 0 : ast[and_ - 2], csa = ast[and_ - 1];
  const int64_t rsb = b1 ? bst[0] : bst[bnd - 2], csb = b1 ? 0 : bst[bnd - 1];

  // Broadcast the batch dimensions (all but the last two; 1-d operands have none).
  const int64_t anb = a1 ? 0 : and_ - 2, bnb = b1 ? 0 : bnd - 2;
  const int64_t nb = std::max(anb, bnb);
  Dims bshape, astb, bstb, aext;
  bshape.n = astb.n = bstb.n = aext.n = nb;
  for (int64_t d = 0; d < nb; ++d) {
    astb[d] = bstb[d] = 0;
    const int64_t da = d - (nb - anb), db = d - (nb - bnb);
    const int64_t sa = da >= 0 ? ash[da] : 1, sb = db >= 0 ? bsh[db] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      throw py::value_error(std::string(kFn) + "(): batch dimensions of 'a' " + fmt(ash) +
                            " and 'b' " + fmt(bsh) + " cannot be broadcast together");
    }
    bshape[d] = sa == 1 ? sb : sa;
    aext[d] = sa;
    if (sa != 1) astb[d] = ast[da];
    if (sb != 1) bstb[d] = bst[db];
  }
  Dims oshape = bshape;
  if (!a1) oshape.push(m);
  if (!b1) oshape.push(n);
  int64_t batch = 1;
  for (int64_t d = 0; d < nb; ++d) batch *= bshape[d];

  // Not default-constructed: py::array() allocates an empty float64 array (~60 ns a call).
  py::array out = out_obj.is_none() ? empty_array(dtype_of<T>(), int(oshape.n), oshape.v)
                                    : checked_out<T>(out_obj, oshape, ash, bsh, a, b);
  const T* bias = nullptr;
  if (!bias_obj.is_none()) {
    py::array bias_arr = py::cast<py::array>(bias_obj);
    check<T>(bias_arr, kFn, "bias");
    if (bias_arr.ndim() != 1 || bias_arr.shape(0) != n) check_shape(bias_arr, {n}, kFn, "bias");
    bias = static_cast<const T*>(bias_arr.data());
  }

  // A batch of 'a' over a shared 'b' whose batch and row dimensions form one strided run is a
  // single (batch * m) x k product: one large GEMM instead of many small ones.
  int64_t mm = m;
  bool folded = false;
  if (batch > 1 && !a1) {
    bool b_shared = true, a_full = true;
    for (int64_t d = 0; d < nb; ++d) {
      if (bstb[d] != 0) b_shared = false;
      if (aext[d] != bshape[d]) a_full = false;
    }
    if (b_shared && a_full) {
      int64_t row = rsa;
      if (m == 1) {  // the row stride is free: take the innermost batch stride
        for (int64_t d = nb - 1; d >= 0; --d)
          if (bshape[d] != 1) {
            row = astb[d];
            break;
          }
      }
      int64_t span = m;
      bool ok = true;
      for (int64_t d = nb - 1; d >= 0 && ok; --d) {
        if (bshape[d] == 1) continue;
        ok = astb[d] == row * span;
        span *= bshape[d];
      }
      if (ok) {
        folded = true;
        mm = m * batch;
        rsa = row;
      }
    }
  }
  std::vector<int64_t> aoff, boff;
  if (batch > 1 && !folded) {
    aoff.resize(batch);
    boff.resize(batch);
    Dims idx;
    idx.n = nb;
    for (int64_t d = 0; d < nb; ++d) idx[d] = 0;
    int64_t ao = 0, bo = 0;
    for (int64_t t = 0; t < batch; ++t) {
      aoff[t] = ao;
      boff[t] = bo;
      for (int64_t d = nb - 1; d >= 0; --d) {  // odometer increment
        if (++idx[d] < bshape[d]) {
          ao += astb[d];
          bo += bstb[d];
          break;
        }
        ao -= astb[d] * (bshape[d] - 1);
        bo -= bstb[d] * (bshape[d] - 1);
        idx[d] = 0;
      }
    }
  }
  const int64_t nbatch = folded ? 1 : batch;
  const T* ap = static_cast<const T*>(a.data());
  const T* bp = static_cast<const T*>(b.data());
  T* cp = static_cast<T*>(out.mutable_data());
  const int64_t* ao = aoff.empty() ? nullptr : aoff.data();
  const int64_t* bo = boff.empty() ? nullptr : boff.data();
  auto kernel = [&] {
    if constexpr (sizeof(T) == 4) {
      fastdl::matmul().gemm_f32(nbatch, ao, bo, mm, n, k, ap, rsa, csa, bp, rsb, csb, cp, bias,
                                act);
    } else {
      fastdl::matmul().gemm_f64(nbatch, ao, bo, mm, n, k, ap, rsa, csa, bp, rsb, csb, cp, bias,
                                act);
    }
  };
  // Products of a few microseconds keep the GIL: releasing and retaking it costs ~40 ns, 2-10%
  // of such a call (n <= 64, the small MLP layers), and another Python thread could do little
  // in the gap. Larger products release it.
  if (double(batch) * double(m) * double(n) * double(k) < double(kSmallGilWork)) {
    kernel();
  } else {
    py::gil_scoped_release nogil;
    kernel();
  }
  return out;
}

py::array matmul(const py::array& a, const py::array& b, const py::object& out,
                 const py::object& bias, int act_id) {
  if (act_id < 0 || act_id > 3) {
    throw py::value_error(std::string(kFn) + "(): activation id must be 0..3, got " +
                          std::to_string(act_id));
  }
  const bool f64 = is_f64(a, kFn, "a");
  if (!same_dtype(a, b)) {
    throw py::type_error(std::string(kFn) + "(): arguments 'a' (" + dtype_str(a) + ") and 'b' (" +
                         dtype_str(b) + ") must have the same dtype");
  }
  if (a.ndim() == 0 || b.ndim() == 0) {
    throw py::value_error(std::string(kFn) + "(): arguments must be at least 1-d, got 'a' " +
                          shape_str(a) + " and 'b' " + shape_str(b) + " (use * for scalars)");
  }
  const Act act = static_cast<Act>(act_id);
  return f64 ? run<double>(a, b, out, bias, act) : run<float>(a, b, out, bias, act);
}

// The pybind11-dispatched matmul, which the fast entry below hands anything unusual.
PyObject* g_checked = nullptr;

// Inside a catch block of a C entry point: the C++ exception being handled as the Python error
// (no exception may leave a function Python calls).
void set_python_error() {
  try {
    throw;
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "matmul(): unknown C++ exception");
  }
}

// The entry point Python calls: ndarray operands passed positionally skip pybind11's argument
// dispatch (0.06-0.07 us of 0.27 at n=8; 2.30 -> 2.24 us at n=64), then run the same checks.
// Anything else (keywords, other types) goes through the pybind11 function unchanged.
PyObject* matmul_entry(PyObject*, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  const Py_ssize_t n = PyVectorcall_NARGS(nargsf);
  const bool fast = !kwnames && n >= 2 && n <= 5 && py::isinstance<py::array>(args[0]) &&
                    py::isinstance<py::array>(args[1]) && (n < 5 || PyLong_CheckExact(args[4]));
  int overflow = 0;
  const long act_id = n > 4 && fast ? PyLong_AsLongAndOverflow(args[4], &overflow) : 0;
  if (!fast || overflow || act_id < INT_MIN || act_id > INT_MAX) {
    return PyObject_Vectorcall(g_checked, args, nargsf, kwnames);
  }
  try {
    const auto a = py::reinterpret_borrow<py::array>(args[0]);
    const auto b = py::reinterpret_borrow<py::array>(args[1]);
    const auto out = py::reinterpret_borrow<py::object>(n > 2 ? args[2] : Py_None);
    const auto bias = py::reinterpret_borrow<py::object>(n > 3 ? args[3] : Py_None);
    return matmul(a, b, out, bias, int(act_id)).release().ptr();
  } catch (...) {
    set_python_error();
  }
  return nullptr;
}

PyMethodDef g_entry_def = {
    "matmul", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&matmul_entry)),
    METH_FASTCALL | METH_KEYWORDS,
    "matmul(a, b, out=None, bias=None, act=0)\n\nact(a @ b + bias) with np.matmul semantics; a "
    "and b share a dtype (float32/float64), any element strides; out (optional) C-contiguous, "
    "not overlapping a or b."};

// fastdl.ops.matmul(a, b, out=None) itself, as a builtin made by _fast_matmul(general): ndarray
// operands reach the kernel without a Python frame (0.035 us of a 0.22 us call at n = 8, and
// of every Tensor @). Anything else, and any TypeError or ValueError the kernel raises, goes
// to `general` (ops.matmul's Python path, which converts, promotes, handles an `out`
// overlapping an input and words the errors), with the arguments as given.
PyObject* g_general = nullptr;

PyObject* public_entry(PyObject*, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  const Py_ssize_t n = PyVectorcall_NARGS(nargsf);
  PyObject* out = n == 3 ? args[2] : Py_None;
  bool fast = (n == 2 || n == 3) && !kwnames;
  if (n == 2 && kwnames && PyTuple_GET_SIZE(kwnames) == 1) {  // out=...
    // Keyword names in calls from Python code are interned: a pointer test first.
    static PyObject* const s_out = PyUnicode_InternFromString("out");
    PyObject* key = PyTuple_GET_ITEM(kwnames, 0);
    fast =
        key == s_out || (PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, "out") == 0);
    out = args[2];
  }
  if (fast && py::isinstance<py::array>(args[0]) && py::isinstance<py::array>(args[1])) {
    try {
      const auto a = py::reinterpret_borrow<py::array>(args[0]);
      const auto b = py::reinterpret_borrow<py::array>(args[1]);
      return matmul(a, b, py::reinterpret_borrow<py::object>(out), py::none(), 0).release().ptr();
    } catch (py::type_error&) {
    } catch (py::value_error&) {
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_TypeError) && !e.matches(PyExc_ValueError)) {
        e.restore();
        return nullptr;
      }
    } catch (...) {
      set_python_error();
      return nullptr;
    }
  }
  return PyObject_Vectorcall(g_general, args, nargsf, kwnames);
}

}  // namespace

void init_matmul(py::module_& m) {
  // The builtin takes the general path's name, module and docstring, so the Python source
  // stays the one place they are written. Made once per import of fastdl.ops.matmul: the
  // method table and docstring are kept for the life of the process.
  m.def(
      "_fast_matmul",
      [](py::object general) {
        if (!PyCallable_Check(general.ptr())) {
          throw py::type_error("_fast_matmul(): argument 'general' must be callable");
        }
        const py::object doc = general.attr("__doc__");
        auto* text = new std::string("matmul(a, b, out=None)\n--\n\n" +
                                     (doc.is_none() ? std::string() : std::string(py::str(doc))));
        auto* def = new PyMethodDef{
            "matmul", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&public_entry)),
            METH_FASTCALL | METH_KEYWORDS, text->c_str()};
        PyObject* f = PyCFunction_NewEx(def, nullptr, general.attr("__module__").ptr());
        if (!f) throw py::error_already_set();
        Py_XSETREF(g_general, general.inc_ref().ptr());
        return py::reinterpret_steal<py::object>(f);
      },
      py::arg("general"));
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out").none(true) = py::none(),
        py::arg("bias").none(true) = py::none(), py::arg("act") = 0);
  g_checked = py::object(m.attr("matmul")).release().ptr();  // kept for the module's life
  PyObject* f = PyCFunction_NewEx(&g_entry_def, nullptr, m.attr("__name__").ptr());
  if (!f) throw py::error_already_set();
  m.add_object("matmul", py::reinterpret_steal<py::object>(f), /*overwrite=*/true);
}

}  // namespace fastdl::bind
