// y = act(y + bias) applied in place to a strided block: the activation pass, and the
// epilogue the matmul kernel runs on each output tile while it is still in cache.
// Declared here, defined in activation.cpp of the same ISA build.
#pragma once

#include <cstdint>

#include "kernels/activation.h"

namespace fastdl {
namespace FASTDL_ISA_NS {

void bias_act_block_f32(Act act, float* y, int64_t ldy, const float* bias, int64_t rows,
                        int64_t cols);
void bias_act_block_f64(Act act, double* y, int64_t ldy, const double* bias, int64_t rows,
                        int64_t cols);

}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
