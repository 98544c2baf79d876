// Batch normalisation over x of shape (N, C, L) (L = 1 for (N, C)): statistics per channel c
// over the N * L values x[:, c, :], forward (training and eval) and backward.
//
// Every entry point cuts the work into chunks (a range of rows n times a block of channels)
// whose boundaries depend only on (N, C, L); per-chunk partial sums are combined in chunk
// order, so results are the same bits for any thread count.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace fastdl {

// Training forward: mean and biased variance of each channel (shifted per-chunk sums in
// double, chunks merged with Chan's formula), then y = (x - mean) * invstd * weight + bias.
template <class T>
struct BatchNormTrainArgs {
  const T* x;            // (N, C, L), C-contiguous
  const T* weight;       // (C,) or null (= 1)
  const T* bias;         // (C,) or null (= 0)
  T* y;                  // (N, C, L) or null (statistics only); may alias x
  T* mean;               // (C,) out: batch mean (NaN when N * L == 0)
  T* invstd;             // (C,) out: 1 / sqrt(biased var + eps)
  T* var;                // (C,) or null: out, the biased variance
  T* running_mean;       // (C,) or null: updated in place, (1 - m) * r + m * mean
  T* running_var;        // (C,) or null: (1 - m) * r + m * var * M / (M - 1), M = N * L
  double eps, momentum;  // momentum m; running stats are left alone when M == 0
  int64_t n, c, l;
};

// Eval forward: y = (x - mean) / sqrt(var + eps) * weight + bias with the given statistics.
template <class T>
struct BatchNormEvalArgs {
  const T* x;
  const T* mean;    // (C,)
  const T* var;     // (C,)
  const T* weight;  // (C,) or null
  const T* bias;    // (C,) or null
  T* y;             // may alias x
  double eps;
  int64_t n, c, l;
};

// Backward. With xhat = (x - mean) * invstd, M = N * L and per channel sums over (n, l)
//   dweight = sum(dy * xhat), dbias = sum(dy),
//   training: dx = weight * invstd * (dy - dbias / M - xhat * dweight / M)
//   eval (mean/invstd were constants): dx = weight * invstd * dy.
template <class T>
struct BatchNormBackwardArgs {
  const T* dy;      // (N, C, L)
  const T* x;       // (N, C, L)
  const T* mean;    // (C,) as returned by the forward (or the running mean in eval mode)
  const T* invstd;  // (C,)
  const T* weight;  // (C,) or null (= 1)
  T* dx;            // (N, C, L) or null (not wanted); may alias dy
  T* dweight;       // (C,) or null
  T* dbias;         // (C,) or null
  bool training;
  int64_t n, c, l;
};

struct BatchNormKernels {
  void (*train_f32)(const BatchNormTrainArgs<float>& a);
  void (*train_f64)(const BatchNormTrainArgs<double>& a);
  void (*eval_f32)(const BatchNormEvalArgs<float>& a);
  void (*eval_f64)(const BatchNormEvalArgs<double>& a);
  void (*backward_f32)(const BatchNormBackwardArgs<float>& a);
  void (*backward_f64)(const BatchNormBackwardArgs<double>& a);
};

FASTDL_DECLARE_TABLE(BatchNormKernels, batchnorm_kernels)

#ifndef FASTDL_ISA_NS
inline const BatchNormKernels& batchnorm() { return FASTDL_SELECT(batchnorm_kernels); }
#endif

}  // namespace fastdl
