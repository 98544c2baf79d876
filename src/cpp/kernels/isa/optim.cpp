// Fused optimiser updates and the gradient norm, compiled once per instruction set (see
// README.md here). The tensors of one call form one virtual index space cut into fixed chunks
// (kernels/optim.h); each element is visited once, so the updates are the same bits for any
// thread count, and the norm combines per-chunk partial sums in chunk order.
#include "kernels/optim.h"

#include <cmath>
#include <cstdlib>

#include "kernels/parallel.h"

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

// Elements per chunk: large enough that a chunk costs far more than its scheduling (~200 KB
// of traffic for Adam), small enough that 1M parameters split evenly over the threads.
constexpr int64_t kChunk = int64_t(1) << 13;

// Calls f(tensor, lo, hi) with tensor-local bounds for every piece of the virtual range
// [lo, hi) (tensors sorted by offset, laid end to end).
template <class Tensor, class F>
inline void for_pieces(const Tensor* ts, int64_t count, int64_t lo, int64_t hi, F&& f) {
  int64_t a = 0, b = count;  // last tensor whose offset <= lo
  while (b - a > 1) {
    const int64_t mid = a + (b - a) / 2;
    if (ts[mid].offset <= lo)
      a = mid;
    else
      b = mid;
  }
  for (int64_t i = a; i < count && ts[i].offset < hi; ++i) {
    const int64_t s = (lo > ts[i].offset ? lo : ts[i].offset) - ts[i].offset;
    const int64_t end = ts[i].offset + ts[i].n;
    const int64_t e = (hi < end ? hi : end) - ts[i].offset;
    if (e > s) f(ts[i], s, e);
  }
}

template <class Tensor>
inline int64_t total_of(const Tensor* ts, int64_t count) {
  return count > 0 ? ts[count - 1].offset + ts[count - 1].n : 0;
}

// ---------------------------------------------------------------------------------------
// Adam / AdamW / AMSGrad, PyTorch's fused CPU formula in the parameter's precision:
//   g = -g                                  (maximize)
//   p *= 1 - lr*wd                          (AdamW)
//   g += wd*p                               (Adam with L2 weight decay)
//   m = lerp(m, g, 1-beta1);  v = beta2*v + (1-beta2)*g*g;  vmax = max(vmax, v)  (amsgrad)
//   p -= step_size*m / (sqrt(v or vmax)/sqrt(1-beta2^t) + eps),  step_size = lr/(1-beta1^t)
// One pass: read p, g, m, v (vmax); write p, m, v (vmax).
template <class T, bool kL2, bool kDecay, bool kAms>
void adam_piece(const AdamTensor<T>& t, int64_t s, int64_t e, const AdamConsts& c) {
  T* __restrict p = t.param + s;
  const T* __restrict g = t.grad + s;
  T* __restrict m = t.exp_avg + s;
  T* __restrict v = t.exp_avg_sq + s;
  T* __restrict vmax = kAms ? t.max_exp_avg_sq + s : nullptr;
  const int64_t n = e - s;
  // m moves towards g by w = 1 - beta1, as torch.lerp: from m when w < 1/2, else from g.
  const T w = T(1.0 - c.beta1), w_from_g = T(1) - w;
  const bool from_m = w < T(0.5);
  const T b2 = T(c.beta2), ib2 = T(1.0 - c.beta2);
  const T eps = T(c.eps), wd = T(c.weight_decay), decay = T(c.decay_factor);
  const T step_size = T(c.step_size), bc2 = T(c.bias_corr2_sqrt), sign = T(c.grad_sign);
  for (int64_t i = 0; i < n; ++i) {
    T pi = p[i];
    T gi = g[i] * sign;  // exact: sign is +-1
    if (kDecay) pi = pi * decay;
    if (kL2) gi = gi + pi * wd;
    const T diff = gi - m[i];
    const T mi = from_m ? m[i] + w * diff : gi - diff * w_from_g;
    const T vi = v[i] * b2 + ib2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    T vd = vi;
    if (kAms) {
      const T old = vmax[i];
      // np.maximum / torch.maximum: a NaN on either side propagates (a NaN already in vmax
      // would otherwise be dropped by `old >= vi`, which is false for NaN).
      vd = (old >= vi || old != old) ? old : vi;
      vmax[i] = vd;
    }
    const T denom = std::sqrt(vd) / bc2 + eps;
    p[i] = pi - step_size * mi / denom;
  }
}

template <class T, bool kL2, bool kDecay, bool kAms>
void adam_run(const AdamTensor<T>* ts, int64_t count, const AdamConsts& c) {
  const int64_t total = total_of(ts, count);
  const int64_t bytes = total * int64_t(sizeof(T)) * (kAms ? 9 : 7);
  parallel_for(total, kChunk, bytes, [&](int64_t lo, int64_t hi) {
    for_pieces(ts, count, lo, hi, [&](const AdamTensor<T>& t, int64_t s, int64_t e) {
      adam_piece<T, kL2, kDecay, kAms>(t, s, e, c);
    });
  });
}

template <class T>
void adam(const AdamTensor<T>* ts, int64_t count, const AdamConsts& c) {
  const bool l2 = c.weight_decay != 0.0, decay = c.decay_factor != 1.0;
  if (c.amsgrad) {
    if (l2)
      adam_run<T, true, false, true>(ts, count, c);
    else if (decay)
      adam_run<T, false, true, true>(ts, count, c);
    else
      adam_run<T, false, false, true>(ts, count, c);
  } else {
    if (l2)
      adam_run<T, true, false, false>(ts, count, c);
    else if (decay)
      adam_run<T, false, true, false>(ts, count, c);
    else
      adam_run<T, false, false, false>(ts, count, c);
  }
}

// ---------------------------------------------------------------------------------------
// SGD, PyTorch's order of operations:
//   g = -g (maximize);  g += wd*p;  buf = momentum*buf + (1-dampening)*g  (or the BufInit variant);
//   d = nesterov ? g + momentum*buf : buf  (d = g without momentum);  p -= lr*d
template <class T, bool kWd, bool kMom, bool kNesterov, BufInit kInit>
void sgd_piece(const SgdTensor<T>& t, int64_t s, int64_t e, const SgdConsts& c) {
  T* __restrict p = t.param + s;
  const T* __restrict g = t.grad + s;
  T* __restrict buf = kMom ? t.buf + s : nullptr;
  const int64_t n = e - s;
  const T lr = T(c.lr), mu = T(c.momentum), damp = T(1.0 - c.dampening);
  const T wd = T(c.weight_decay), sign = T(c.grad_sign);
  for (int64_t i = 0; i < n; ++i) {
    const T pi = p[i];
    T d = g[i] * sign;
    if (kWd) d = d + pi * wd;
    if (kMom) {
      T b;
      if (kInit == BufInit::copy_grad)
        b = d;
      else if (kInit == BufInit::zero)
        b = d * damp;
      else
        b = buf[i] * mu + d * damp;
      buf[i] = b;
      d = kNesterov ? d + b * mu : b;
    }
    p[i] = pi - lr * d;
  }
}

template <class T, bool kWd, bool kMom, bool kNesterov, BufInit kInit>
void sgd_run(const SgdTensor<T>* ts, int64_t count, const SgdConsts& c) {
  const int64_t total = total_of(ts, count);
  const int64_t bytes = total * int64_t(sizeof(T)) * (kMom ? 5 : 3);
  parallel_for(total, kChunk, bytes, [&](int64_t lo, int64_t hi) {
    for_pieces(ts, count, lo, hi, [&](const SgdTensor<T>& t, int64_t s, int64_t e) {
      sgd_piece<T, kWd, kMom, kNesterov, kInit>(t, s, e, c);
    });
  });
}

template <class T, bool kWd, bool kNesterov>
void sgd_momentum(const SgdTensor<T>* ts, int64_t count, const SgdConsts& c) {
  switch (c.init) {
    case BufInit::copy_grad:
      return sgd_run<T, kWd, true, kNesterov, BufInit::copy_grad>(ts, count, c);
    case BufInit::zero:
      return sgd_run<T, kWd, true, kNesterov, BufInit::zero>(ts, count, c);
    default:
      return sgd_run<T, kWd, true, kNesterov, BufInit::read>(ts, count, c);
  }
}

template <class T, bool kWd>
void sgd_wd(const SgdTensor<T>* ts, int64_t count, const SgdConsts& c) {
  if (c.momentum == 0.0) return sgd_run<T, kWd, false, false, BufInit::read>(ts, count, c);
  if (c.nesterov) return sgd_momentum<T, kWd, true>(ts, count, c);
  sgd_momentum<T, kWd, false>(ts, count, c);
}

template <class T>
void sgd(const SgdTensor<T>* ts, int64_t count, const SgdConsts& c) {
  if (c.weight_decay != 0.0)
    sgd_wd<T, true>(ts, count, c);
  else
    sgd_wd<T, false>(ts, count, c);
}

// ---------------------------------------------------------------------------------------
// Norm reductions. Each piece is reduced with kLanes independent double accumulators
// (element i goes to lane i % kLanes of its piece: enough chains to hide the add latency on
// any vector width), then the lanes are added pairwise in a fixed order: the result depends
// only on the data and the chunking, never on the threads.
constexpr int kLanes = 32;

enum class NormKind { count_nonzero, sum_abs, sum_sq, max_abs, sum_pow };

template <NormKind kKind, class T>
inline double norm_term(T x, double p) {
  switch (kKind) {
    case NormKind::count_nonzero:
      return x != T(0) ? 1.0 : 0.0;
    case NormKind::sum_abs:
    case NormKind::max_abs:
      return std::fabs(double(x));
    case NormKind::sum_sq:
      return double(x) * double(x);
    default:
      return std::pow(std::fabs(double(x)), p);
  }
}

// Running maximum in which a NaN, once seen, sticks.
inline double max_nan(double acc, double t) { return (t > acc || t != t) ? t : acc; }

template <NormKind kKind, class T>
double norm_piece(const T* x, int64_t n, double p) {
  constexpr bool kMax = kKind == NormKind::max_abs;
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const double t = norm_term<kKind>(x[i + j], p);
      acc[j] = kMax ? max_nan(acc[j], t) : acc[j] + t;
    }
  }
  for (int j = 0; i + j < n; ++j) {
    const double t = norm_term<kKind>(x[i + j], p);
    acc[j] = kMax ? max_nan(acc[j], t) : acc[j] + t;
  }
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] = kMax ? max_nan(acc[j], acc[j + w]) : acc[j] + acc[j + w];
  return acc[0];
}

template <NormKind kKind>
double norm_run(const NormTensor* ts, int64_t count, double p) {
  constexpr bool kMax = kKind == NormKind::max_abs;
  const int64_t total = total_of(ts, count);
  if (total == 0) return 0.0;
  const int64_t chunks = (total + kChunk - 1) / kChunk;
  double* part = static_cast<double*>(std::malloc(sizeof(double) * size_t(chunks)));
  if (!part) return -1.0;
  int64_t bytes = 0;
  for (int64_t i = 0; i < count; ++i) bytes += ts[i].n * (ts[i].f64 ? 8 : 4);
  parallel_for(total, kChunk, bytes, [&](int64_t lo, int64_t hi) {
    double r = 0.0;
    for_pieces(ts, count, lo, hi, [&](const NormTensor& t, int64_t s, int64_t e) {
      const double v = t.f64 ? norm_piece<kKind>(static_cast<const double*>(t.data) + s, e - s, p)
                             : norm_piece<kKind>(static_cast<const float*>(t.data) + s, e - s, p);
      r = kMax ? max_nan(r, v) : r + v;
    });
    part[lo / kChunk] = r;
  });
  double r = 0.0;
  for (int64_t k = 0; k < chunks; ++k) {
    r = kMax ? max_nan(r, part[k]) : r + part[k];
  }
  std::free(part);
  return r;
}

double sum_abs_pow(const NormTensor* ts, int64_t count, double p) {
  if (std::isinf(p)) return norm_run<NormKind::max_abs>(ts, count, p);
  if (p == 0.0) return norm_run<NormKind::count_nonzero>(ts, count, p);
  if (p == 1.0) return norm_run<NormKind::sum_abs>(ts, count, p);
  if (p == 2.0) return norm_run<NormKind::sum_sq>(ts, count, p);
  return norm_run<NormKind::sum_pow>(ts, count, p);
}

template <class T>
void scale_piece(T* x, int64_t n, T f) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * f;
}

void scale(const ScaleTensor* ts, int64_t count, double factor) {
  int64_t bytes = 0;
  for (int64_t i = 0; i < count; ++i) bytes += ts[i].n * (ts[i].f64 ? 16 : 8);
  parallel_for(total_of(ts, count), kChunk, bytes, [&](int64_t lo, int64_t hi) {
    for_pieces(ts, count, lo, hi, [&](const ScaleTensor& t, int64_t s, int64_t e) {
      if (t.f64)
        scale_piece(static_cast<double*>(t.data) + s, e - s, factor);
      else
        scale_piece(static_cast<float*>(t.data) + s, e - s, float(factor));
    });
  });
}

}  // namespace

extern const OptimKernels optim_kernels = {
    &adam<float>, &adam<double>, &sgd<float>, &sgd<double>, &sum_abs_pow, &scale,
};

}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
