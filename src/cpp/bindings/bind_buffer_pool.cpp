// NumPy arrays whose memory comes from the block cache (kernels/buffer_pool.h).
//
// A pooled array does not own its data: its `base` is a small _core._CacheBlock object holding
// the block, whose destructor gives the block back. Views, slices and reshapes of the array
// have the array as their base, buffer exports (memoryview) hold it too, so a block is reused
// only once nothing can reach its memory. A type of our own (not a capsule) lets Python tell
// an array that owns a block from a view of someone else's memory by `type(a.base)` (the
// autograd engine adopts the former as a gradient without copying, as it does arrays that own
// their data).
#include <cstdlib>
#include <string>

#include "bindings/common.h"
#include "kernels/buffer_pool.h"

namespace fastdl::bind {

namespace {

struct Block {
  PyObject_HEAD void* p;
  size_t n;
};

void block_dealloc(PyObject* self) {
  auto* b = reinterpret_cast<Block*>(self);
  if (b->p) pool::release(b->p, b->n);
  PyTypeObject* tp = Py_TYPE(self);
  PyObject_Free(self);
  Py_DECREF(tp);  // instances of a heap type hold a reference to it
}

PyObject* block_repr(PyObject* self) {
  auto* b = reinterpret_cast<Block*>(self);
  return PyUnicode_FromFormat("<fastdl cache block of %zu bytes at %p>", b->n, b->p);
}

PyType_Slot block_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(block_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(block_repr)},
    {Py_tp_doc, const_cast<char*>("Memory of pooled arrays (their .base); returns to fastdl's "
                                  "block cache when the last array using it is gone.")},
    {0, nullptr}};

#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
constexpr unsigned kBlockFlags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION;
#else
constexpr unsigned kBlockFlags = Py_TPFLAGS_DEFAULT;  // an instance made from Python holds null
#endif

PyType_Spec block_spec = {"fastdl._core._CacheBlock", sizeof(Block), 0, kBlockFlags, block_slots};

PyTypeObject* block_type = nullptr;  // set by init_buffer_pool; lives as long as the module

// Plain numbers only: uninitialised memory must never be read as object pointers, and
// structured or string dtypes are not what kernels return.
bool poolable(PyObject* descr) {
  const auto dt = py::reinterpret_borrow<py::dtype>(descr);
  switch (dt.kind()) {
    case 'b':
    case 'i':
    case 'u':
    case 'f':
    case 'c':
    case 'm':
    case 'M':
      return !dt.has_fields();
    default:
      return false;
  }
}

// The number of bytes of the array, or 0 when it would overflow (NumPy then raises).
size_t nbytes_of(PyObject* descr, int nd, const Py_intptr_t* dims) {
  size_t n = static_cast<size_t>(py::reinterpret_borrow<py::dtype>(descr).itemsize());
  for (int i = 0; i < nd; ++i) {
    if (__builtin_mul_overflow(n, static_cast<size_t>(dims[i]), &n)) return 0;
  }
  return n;
}

// A new C-contiguous array; steals `descr` (as PyArray_NewFromDescr does). Pooled memory from
// pool::kMinBytes, NumPy's own allocation below (and for dtypes that must be initialised).
PyObject* new_empty(PyObject* descr, int nd, const Py_intptr_t* dims) {
  auto& api = py::detail::npy_api::get();
  size_t block = 0;
  void* p = nullptr;
  const size_t n = poolable(descr) ? nbytes_of(descr, nd, dims) : 0;
  if (n >= pool::kMinBytes) p = pool::acquire(n, &block);
  if (!p) {
    return api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, nd, const_cast<Py_intptr_t*>(dims),
                                     nullptr, nullptr, 0, nullptr);
  }
  auto* owner = PyObject_New(Block, block_type);
  if (!owner) {
    pool::release(p, block);
    Py_DECREF(descr);
    return nullptr;
  }
  owner->p = p;
  owner->n = block;
  PyObject* arr = api.PyArray_NewFromDescr_(
      api.PyArray_Type_, descr, nd, const_cast<Py_intptr_t*>(dims), nullptr, p,
      py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_WRITEABLE_,
      nullptr);
  if (!arr) {
    Py_DECREF(owner);
    return nullptr;
  }
  if (api.PyArray_SetBaseObject_(arr, reinterpret_cast<PyObject*>(owner)) != 0) {
    Py_DECREF(arr);  // the base was stolen, even on failure
    return nullptr;
  }
  return arr;
}

// _core.empty(shape, dtype): shape an int or a sequence of ints, dtype anything np.dtype takes.
// A METH_FASTCALL function rather than a pybind11 one: it replaces np.empty on every output,
// small ones included, so it must cost no more than np.empty's own call (~0.1 us).
PyObject* py_empty(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_Format(PyExc_TypeError, "empty(): takes 2 arguments (shape, dtype), got %zd", nargs);
    return nullptr;
  }
  constexpr int kMaxDims = 64;  // NumPy 2's NPY_MAXDIMS
  Py_intptr_t dims[kMaxDims];
  int nd = 0;
  PyObject* shape = args[0];
  if (PyLong_Check(shape) || (PyIndex_Check(shape) && !PySequence_Check(shape))) {
    dims[0] = PyNumber_AsSsize_t(shape, PyExc_ValueError);
    if (dims[0] == -1 && PyErr_Occurred()) return nullptr;
    nd = 1;
  } else {
    PyObject* seq = PySequence_Fast(shape,
                                    "empty(): argument 'shape' must be an int or a "
                                    "sequence of ints");
    if (!seq) return nullptr;
    const Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    if (len > kMaxDims) {
      Py_DECREF(seq);
      PyErr_Format(PyExc_ValueError, "empty(): at most %d dimensions, got %zd", kMaxDims, len);
      return nullptr;
    }
    for (Py_ssize_t i = 0; i < len; ++i) {
      dims[i] = PyNumber_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i), PyExc_ValueError);
      if (dims[i] == -1 && PyErr_Occurred()) {
        Py_DECREF(seq);
        return nullptr;
      }
    }
    Py_DECREF(seq);
    nd = static_cast<int>(len);
  }
  for (int i = 0; i < nd; ++i) {
    if (dims[i] < 0) {
      PyErr_SetString(PyExc_ValueError, "empty(): negative dimensions are not allowed");
      return nullptr;
    }
  }
  auto& api = py::detail::npy_api::get();
  PyObject* descr = nullptr;
  if (!api.PyArray_DescrConverter_(args[1], &descr)) return nullptr;
  return new_empty(descr, nd, dims);
}

PyMethodDef empty_def = {
    "empty", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_empty)), METH_FASTCALL,
    "empty(shape, dtype, /)\n--\n\n"
    "A new uninitialised C-contiguous array like np.empty; from 1 MiB its memory comes from\n"
    "fastdl's block cache and returns there when the array and all its views are gone."};

// FASTDL_CACHE_BYTES: a byte count, optionally with a K/M/G suffix (powers of 1024).
size_t limit_from_env() {
  const char* s = std::getenv("FASTDL_CACHE_BYTES");
  if (!s || !*s) return pool::default_limit();
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  unsigned shift = 0;
  if (end != s && *end) {
    switch (*end) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        shift = 64;
    }
    ++end;
    if (*end == 'i' || *end == 'I') ++end;
    if (*end == 'b' || *end == 'B') ++end;
  }
  if (end == s || *end || *s == '-' || shift == 64 || (shift && v >> (64 - shift))) {
    throw py::value_error(
        "FASTDL_CACHE_BYTES must be a byte count such as 0, 1073741824, 512M or 2G, got '" +
        std::string(s) + "'");
  }
  return static_cast<size_t>(v << shift);
}

py::dict stats_dict() {
  const pool::Stats s = pool::stats();
  py::dict d;
  d["enabled"] = s.limit > 0;
  d["limit_bytes"] = s.limit;
  d["min_bytes"] = pool::kMinBytes;
  d["hugepages"] = s.hugepages;
  d["live_bytes"] = s.live_bytes;
  d["live_blocks"] = s.live_blocks;
  d["peak_live_bytes"] = s.peak_live_bytes;
  d["cached_bytes"] = s.cached_bytes;
  d["cached_blocks"] = s.cached_blocks;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["unmapped"] = s.unmapped;
  return d;
}

}  // namespace

py::array empty_array(const py::dtype& dt, int nd, const py::ssize_t* shape) {
  PyObject* r = new_empty(dt.inc_ref().ptr(), nd, shape);
  if (!r) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(r);
}

void init_buffer_pool(py::module_& m) {
  pool::set_limit(limit_from_env());
  block_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&block_spec));
  if (!block_type) throw py::error_already_set();
  m.add_object("_CacheBlock",
               py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(block_type)));
  m.add_object("empty", py::reinterpret_steal<py::object>(
                            PyCFunction_NewEx(&empty_def, nullptr, m.attr("__name__").ptr())));
  m.def("_pool_stats", &stats_dict, "Counters of the block cache (see kernels/buffer_pool.h).");
  m.def("_pool_empty_cache", &pool::empty_cache, "Unmaps every cached block; returns the bytes.");
  m.def(
      "_pool_set_limit",
      [](py::ssize_t bytes) {
        if (bytes < 0) {
          throw py::value_error("_pool_set_limit(): argument 'bytes' must be >= 0, got " +
                                std::to_string(bytes));
        }
        return pool::set_limit(static_cast<size_t>(bytes));
      },
      py::arg("bytes"), "Sets the cache limit (0 disables the pool); returns the previous one.");
  m.def("_pool_set_hugepages", &pool::set_hugepages, py::arg("on"),
        "Whether new blocks of 4 MiB or more are advised for transparent huge pages.");
  m.def("_pool_reset_counters", &pool::reset_counters);
}

}  // namespace fastdl::bind
