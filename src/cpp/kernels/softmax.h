// Softmax and log-softmax along one axis, forward and backward.
//
// Arrays are C-contiguous and viewed as (outer, n, inner): the reduction runs over n, so the
// last axis is inner == 1 and any other axis needs no transpose. Every output element is
// computed by exactly one chunk, so results are the same bits for any thread count.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace fastdl {

struct SoftmaxKernels {
  // y = softmax(x) (log == false) or log_softmax(x) (log == true) over n. y may alias x.
  void (*forward_f32)(bool log, const float* x, float* y, int64_t outer, int64_t n, int64_t inner);
  void (*forward_f64)(bool log, const double* x, double* y, int64_t outer, int64_t n,
                      int64_t inner);
  // From the forward output y: softmax: dx = y * (g - sum(g * y));
  // log_softmax: dx = g - exp(y) * sum(g). dx may alias g.
  void (*backward_f32)(bool log, const float* g, const float* y, float* dx, int64_t outer,
                       int64_t n, int64_t inner);
  void (*backward_f64)(bool log, const double* g, const double* y, double* dx, int64_t outer,
                       int64_t n, int64_t inner);
};

FASTDL_DECLARE_TABLE(SoftmaxKernels, softmax_kernels)

#ifndef FASTDL_ISA_NS
inline const SoftmaxKernels& softmax() { return FASTDL_SELECT(softmax_kernels); }
#endif

}  // namespace fastdl
