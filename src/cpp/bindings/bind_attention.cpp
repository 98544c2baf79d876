// Fused attention forward/backward on C-contiguous float32/float64 arrays.
//
// The Python layer (fastdl.ops.attention) flattens batch/head dimensions: q (Nq, Tq, D),
// k (Nk, Tk, D), v (Nv, Tk, Dv), an optional mask (Nm, Mq, Mk) with Mq in {1, Tq} and Mk in
// {1, Tk}, and one int64 plane index per problem for each of them.
#include "bindings/common.h"
#include "kernels/attention.h"

namespace fastdl::bind {

namespace {

void check_index(const py::array& idx, int64_t bh, int64_t planes, const char* fn,
                 const char* arg) {
  check<int64_t>(idx, fn, arg);
  check_shape(idx, {bh}, fn, arg);
  const int64_t* p = static_cast<const int64_t*>(idx.data());
  for (int64_t i = 0; i < bh; ++i) {
    if (p[i] < 0 || p[i] >= planes) {
      throw py::value_error(std::string(fn) + "(): argument '" + arg + "' holds " +
                            std::to_string(p[i]) + ", outside [0, " + std::to_string(planes) + ")");
    }
  }
}

void check_ndim(const py::array& a, int nd, const char* fn, const char* arg) {
  if (a.ndim() != nd) {
    throw py::value_error(std::string(fn) + "(): argument '" + arg + "' must be " +
                          std::to_string(nd) + "-d, got shape " + shape_str(a));
  }
}

// Validates shapes and indices shared by forward and backward; fills the problem.
AttentionProblem problem(const char* fn, const py::array& q, const py::array& k, const py::array& v,
                         const py::object& mask_obj, const py::array& qi, const py::array& ki,
                         const py::array& vi, const py::object& mi_obj, bool causal, double scale,
                         int64_t bh, bool f64, py::array& mask) {
  check_ndim(q, 3, fn, "q");
  check_ndim(k, 3, fn, "k");
  check_ndim(v, 3, fn, "v");
  AttentionProblem p;
  p.bh = bh;
  p.tq = q.shape(1);
  p.d = q.shape(2);
  p.tk = k.shape(1);
  p.dv = v.shape(2);
  if (k.shape(2) != p.d) {
    throw py::value_error(std::string(fn) + "(): q " + shape_str(q) + " and k " + shape_str(k) +
                          " must have the same feature size D");
  }
  if (v.shape(1) != p.tk) {
    throw py::value_error(std::string(fn) + "(): k " + shape_str(k) + " and v " + shape_str(v) +
                          " must have the same number of keys Tk");
  }
  check_index(qi, bh, q.shape(0), fn, "q_index");
  check_index(ki, bh, k.shape(0), fn, "k_index");
  check_index(vi, bh, v.shape(0), fn, "v_index");
  p.q_index = static_cast<const int64_t*>(qi.data());
  p.k_index = static_cast<const int64_t*>(ki.data());
  p.v_index = static_cast<const int64_t*>(vi.data());
  p.causal = causal;
  p.scale = scale;
  if (!mask_obj.is_none()) {
    mask = py::cast<py::array>(mask_obj);
    check_ndim(mask, 3, fn, "mask");
    if (has_dtype<bool>(mask)) {
      check<bool>(mask, fn, "mask");
      p.mask_kind = MaskKind::boolean;
    } else {
      if (f64)
        check<double>(mask, fn, "mask");
      else
        check<float>(mask, fn, "mask");
      p.mask_kind = MaskKind::additive;
    }
    p.mask_rows = mask.shape(1);
    p.mask_cols = mask.shape(2);
    if ((p.mask_rows != 1 && p.mask_rows != p.tq) || (p.mask_cols != 1 && p.mask_cols != p.tk)) {
      throw py::value_error(std::string(fn) +
                            "(): mask planes must be (1 or Tq=" + std::to_string(p.tq) +
                            ", 1 or Tk=" + std::to_string(p.tk) + "), got " + shape_str(mask));
    }
    if (mi_obj.is_none()) {
      throw py::value_error(std::string(fn) + "(): a mask needs 'mask_index'");
    }
    const py::array mi = py::cast<py::array>(mi_obj);
    check_index(mi, bh, mask.shape(0), fn, "mask_index");
    p.mask_index = static_cast<const int64_t*>(mi.data());
  }
  return p;
}

void forward(const py::array& q, const py::array& k, const py::array& v, const py::object& mask_obj,
             const py::array& qi, const py::array& ki, const py::array& vi,
             const py::object& mi_obj, bool causal, double scale, py::array& out, py::array& lse) {
  const char* fn = "attention_forward";
  const bool f64 = is_f64(q, fn, "q");
  check_ndim(out, 3, fn, "out");
  const int64_t bh = out.shape(0);
  py::array mask;
  const AttentionProblem p =
      problem(fn, q, k, v, mask_obj, qi, ki, vi, mi_obj, causal, scale, bh, f64, mask);
  check_shape(out, {bh, p.tq, p.dv}, fn, "out");
  check_shape(lse, {bh, p.tq}, fn, "lse");
  const void* mp = p.mask_kind == MaskKind::none ? nullptr : mask.data();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* qp = in_ptr<T>(q, fn, "q");
    const T* kp = in_ptr<T>(k, fn, "k");
    const T* vp = in_ptr<T>(v, fn, "v");
    T* op = out_ptr<T>(out, fn, "out");
    T* lp = out_ptr<T>(lse, fn, "lse");
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) {
      attention().forward_f32(p, qp, kp, vp, mp, op, lp);
    } else {
      attention().forward_f64(p, qp, kp, vp, mp, op, lp);
    }
  };
  if (f64)
    run(double{});
  else
    run(float{});
}

void backward(const py::array& grad, const py::array& q, const py::array& k, const py::array& v,
              const py::array& out, const py::array& lse, const py::object& mask_obj,
              const py::array& qi, const py::array& ki, const py::array& vi,
              const py::object& mi_obj, bool causal, double scale, py::array& dq, py::array& dk,
              py::array& dv) {
  const char* fn = "attention_backward";
  const bool f64 = is_f64(q, fn, "q");
  check_ndim(out, 3, fn, "out");
  const int64_t bh = out.shape(0);
  py::array mask;
  const AttentionProblem p =
      problem(fn, q, k, v, mask_obj, qi, ki, vi, mi_obj, causal, scale, bh, f64, mask);
  check_shape(out, {bh, p.tq, p.dv}, fn, "out");
  check_shape(grad, {bh, p.tq, p.dv}, fn, "grad");
  check_shape(lse, {bh, p.tq}, fn, "lse");
  check_shape(dq, {bh, p.tq, p.d}, fn, "dq");
  check_shape(dk, {bh, p.tk, p.d}, fn, "dk");
  check_shape(dv, {bh, p.tk, p.dv}, fn, "dv");
  const void* mp = p.mask_kind == MaskKind::none ? nullptr : mask.data();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* gp = in_ptr<T>(grad, fn, "grad");
    const T* qp = in_ptr<T>(q, fn, "q");
    const T* kp = in_ptr<T>(k, fn, "k");
    const T* vp = in_ptr<T>(v, fn, "v");
    const T* op = in_ptr<T>(out, fn, "out");
    const T* lp = in_ptr<T>(lse, fn, "lse");
    T* dqp = out_ptr<T>(dq, fn, "dq");
    T* dkp = out_ptr<T>(dk, fn, "dk");
    T* dvp = out_ptr<T>(dv, fn, "dv");
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) {
      attention().backward_f32(p, gp, qp, kp, vp, op, lp, mp, dqp, dkp, dvp);
    } else {
      attention().backward_f64(p, gp, qp, kp, vp, op, lp, mp, dqp, dkp, dvp);
    }
  };
  if (f64)
    run(double{});
  else
    run(float{});
}

}  // namespace

void init_attention(py::module_& m) {
  m.def("attention_forward", &forward, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask").none(true), py::arg("q_index"), py::arg("k_index"), py::arg("v_index"),
        py::arg("mask_index").none(true), py::arg("is_causal"), py::arg("scale"), py::arg("out"),
        py::arg("lse"),
        "out = softmax(q k^T scale + mask) v per problem; lse = log-sum-exp of each row.");
  m.def("attention_backward", &backward, py::arg("grad"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("mask").none(true), py::arg("q_index"),
        py::arg("k_index"), py::arg("v_index"), py::arg("mask_index").none(true),
        py::arg("is_causal"), py::arg("scale"), py::arg("dq"), py::arg("dk"), py::arg("dv"),
        "dq, dk, dv of attention per problem (not yet summed).");
}

}  // namespace fastdl::bind
