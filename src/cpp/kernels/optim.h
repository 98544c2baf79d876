// Fused multi-tensor optimiser updates (Adam/AdamW/AMSGrad, SGD with momentum) and the
// gradient-norm / scale helpers behind clip_grad_norm_.
//
// Every entry point takes a list of tensors at once. The tensors are laid end to end in one
// virtual index space (tensor i covers [offset_i, offset_i + n_i)), cut into fixed-size chunks
// that may span tensor boundaries; the chunks are spread over the threads. So one call costs
// one parallel region whatever the number of tensors, and chunk boundaries depend only on the
// sizes, never on the thread count.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace fastdl {

// One parameter of an Adam step; all arrays hold n contiguous elements and do not overlap
// (grad may be read-only). max_exp_avg_sq is used (and must be non-null) only with amsgrad.
template <class T>
struct AdamTensor {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  T* max_exp_avg_sq;
  int64_t n;
  int64_t offset;  // start in the virtual index space: sum of n over the earlier tensors
};

// Per-step constants, computed once by the caller (bindings) from the hyperparameters.
struct AdamConsts {
  double beta1, beta2, eps;
  double weight_decay;     // L2 term added to the gradient (Adam); 0 when decoupled
  double decay_factor;     // p *= decay_factor before the update (AdamW: 1 - lr*wd); 1 otherwise
  double step_size;        // lr / (1 - beta1^step)
  double bias_corr2_sqrt;  // sqrt(1 - beta2^step)
  double grad_sign;        // -1 to maximise (PyTorch's maximize=True), else 1
  bool amsgrad;
};

// One parameter of an SGD step; buf is null when momentum == 0.
template <class T>
struct SgdTensor {
  T* param;
  const T* grad;
  T* buf;
  int64_t n;
  int64_t offset;
};

// How the momentum buffer's previous contents enter the update.
enum class BufInit : int {
  read = 0,       // buf = momentum*buf + (1 - dampening)*g
  copy_grad = 1,  // buf = g (PyTorch's first step: the buffer is created from the gradient)
  zero = 2,       // buf = (1 - dampening)*g (the buffer's history is zero)
};

struct SgdConsts {
  double lr, momentum, dampening, weight_decay;
  double grad_sign;  // -1 to maximise, else 1
  bool nesterov;
  BufInit init;
};

// A read-only array of either dtype, for the norm; `f64` says which pointer type data has.
struct NormTensor {
  const void* data;
  int64_t n;
  int64_t offset;
  bool f64;
};

// An array to scale in place.
struct ScaleTensor {
  void* data;
  int64_t n;
  int64_t offset;
  bool f64;
};

struct OptimKernels {
  // One Adam step over all tensors (total elements = offset + n of the last).
  void (*adam_f32)(const AdamTensor<float>* ts, int64_t count, const AdamConsts& c);
  void (*adam_f64)(const AdamTensor<double>* ts, int64_t count, const AdamConsts& c);
  void (*sgd_f32)(const SgdTensor<float>* ts, int64_t count, const SgdConsts& c);
  void (*sgd_f64)(const SgdTensor<double>* ts, int64_t count, const SgdConsts& c);
  // Sum over all elements of |x|^p (p > 0 finite), max |x| (p = +inf) or the count of nonzero
  // elements (p = 0), accumulated in double over fixed chunks combined in chunk order. NaN
  // anywhere gives NaN. Returns -1 when scratch memory could not be allocated.
  double (*sum_abs_pow)(const NormTensor* ts, int64_t count, double p);
  // x *= factor in each array's own precision.
  void (*scale)(const ScaleTensor* ts, int64_t count, double factor);
};

FASTDL_DECLARE_TABLE(OptimKernels, optim_kernels)

#ifndef FASTDL_ISA_NS
inline const OptimKernels& optim() { return FASTDL_SELECT(optim_kernels); }
#endif

}  // namespace fastdl
