// Matrix multiplication C = A B with an optional fused epilogue C = act(C + bias), for
// float32/float64 operands of any element strides.
#pragma once

#include <cstdint>

#include "kernels/activation.h"
#include "kernels/dispatch.h"

namespace fastdl {

// One call multiplies `batch` pairs of matrices:
//   C_t[i, j] = act(sum_p A_t[i, p] B_t[p, j] + bias[j])   for t < batch, i < m, j < n, p < k
// A_t[i, p] = a[a_off[t] + i * a_rs + p * a_cs], B_t[p, j] = b[b_off[t] + p * b_rs + j * b_cs]
// (element strides, any sign, 0 allowed for broadcasting); a_off/b_off may be null when
// batch == 1. C is C-contiguous: C_t[i, j] = c[(t * m + i) * n + j], and must not overlap A or B.
// bias has n elements or is null. Threads split C into blocks fixed by (m, n, k); each element
// is summed over p in one fixed order, so every thread count gives the same bits.
struct MatmulKernels {
  void (*gemm_f32)(int64_t batch, const int64_t* a_off, const int64_t* b_off, int64_t m, int64_t n,
                   int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                   int64_t b_rs, int64_t b_cs, float* c, const float* bias, Act act);
  void (*gemm_f64)(int64_t batch, const int64_t* a_off, const int64_t* b_off, int64_t m, int64_t n,
                   int64_t k, const double* a, int64_t a_rs, int64_t a_cs, const double* b,
                   int64_t b_rs, int64_t b_cs, double* c, const double* bias, Act act);
};

FASTDL_DECLARE_TABLE(MatmulKernels, matmul_kernels)

#ifndef FASTDL_ISA_NS
inline const MatmulKernels& matmul() { return FASTDL_SELECT(matmul_kernels); }
#endif

}  // namespace fastdl
