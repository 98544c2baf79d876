// Activations and the fused bias-add + activation: y = act(x + bias), and its backward.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace fastdl {

// Shared with Python (fastdl.ops.activation) and with the matmul epilogue.
enum class Act : int { none = 0, relu = 1, sigmoid = 2, tanh = 3 };

struct ActivationKernels {
  // y[r, c] = act(x[r, c] + bias[c]) over a C-contiguous rows x cols block; bias may be null.
  // y may alias x.
  void (*forward_f32)(Act act, const float* x, const float* bias, float* y, int64_t rows,
                      int64_t cols);
  void (*forward_f64)(Act act, const double* x, const double* bias, double* y, int64_t rows,
                      int64_t cols);
  // dx = dy * act'(.) computed from the forward output y; when dbias is not null also
  // dbias[c] = sum_r dx[r, c] (summed in row order: the same bits for any thread count).
  // dx may alias dy.
  void (*backward_f32)(Act act, const float* y, const float* dy, float* dx, float* dbias,
                       int64_t rows, int64_t cols);
  void (*backward_f64)(Act act, const double* y, const double* dy, double* dx, double* dbias,
                       int64_t rows, int64_t cols);
};

FASTDL_DECLARE_TABLE(ActivationKernels, activation_kernels)

#ifndef FASTDL_ISA_NS
inline const ActivationKernels& activation() { return FASTDL_SELECT(activation_kernels); }
#endif

}  // namespace fastdl
