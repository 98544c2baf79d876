// Activation forward/backward, compiled once per instruction set (see README.md here).
#include "kernels/activation.h"

#include "kernels/isa/epilogue.h"
#include "kernels/isa/vecmath.h"
#include "kernels/parallel.h"

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

// One row segment: y[i] = act(x[i] + bias[i]) (bias may be null). Written as plain loops
// with the activation hoisted out so each loop vectorises.
template <class T>
void forward_row(Act act, const T* x, const T* bias, T* y, int64_t n) {
  switch (act) {
    case Act::none:
      if (bias) {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] + bias[i];
      } else if (y != x) {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i];
      }
      return;
    case Act::relu:
      if (bias) {
        for (int64_t i = 0; i < n; ++i) {
          const T v = x[i] + bias[i];
          y[i] = v < T(0) ? T(0) : v;  // NaN passes through, as in np.maximum
        }
      } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
      }
      return;
    case Act::sigmoid:
      if (bias) {
        for (int64_t i = 0; i < n; ++i) y[i] = vsigmoid(x[i] + bias[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) y[i] = vsigmoid(x[i]);
      }
      return;
    case Act::tanh:
      if (bias) {
        for (int64_t i = 0; i < n; ++i) y[i] = vtanh(x[i] + bias[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) y[i] = vtanh(x[i]);
      }
      return;
  }
}

template <class T>
void backward_row(Act act, const T* y, const T* dy, T* dx, int64_t n) {
  switch (act) {
    case Act::none:
      if (dx != dy) {
        for (int64_t i = 0; i < n; ++i) dx[i] = dy[i];
      }
      return;
    case Act::relu:
      for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
      return;
    case Act::sigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (y[i] * (T(1) - y[i]));
      return;
    case Act::tanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
      return;
  }
}

constexpr int64_t kFlatGrain = 1 << 14;  // elements per chunk for elementwise work

template <class T>
void forward(Act act, const T* x, const T* bias, T* y, int64_t rows, int64_t cols) {
  const int64_t total = rows * cols;
  if (total <= 0) return;  // also keeps cols == 0 out of the grain division below
  if (!bias) {
    parallel_for(total, kFlatGrain, total * int64_t(sizeof(T)) * 2, [&](int64_t lo, int64_t hi) {
      forward_row(act, x + lo, (const T*)nullptr, y + lo, hi - lo);
    });
    return;
  }
  const int64_t grain = cols >= kFlatGrain ? 1 : kFlatGrain / cols;
  parallel_for(rows, grain, total * int64_t(sizeof(T)) * 2, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) forward_row(act, x + r * cols, bias, y + r * cols, cols);
  });
}

constexpr int64_t kColBlock = 256;  // columns per chunk when reducing dbias

template <class T>
void backward(Act act, const T* y, const T* dy, T* dx, T* dbias, int64_t rows, int64_t cols) {
  const int64_t total = rows * cols;
  const int64_t bytes = total * int64_t(sizeof(T)) * 3;
  if (!dbias) {
    parallel_for(total, kFlatGrain, bytes, [&](int64_t lo, int64_t hi) {
      backward_row(act, y + lo, dy + lo, dx + lo, hi - lo);
    });
    return;
  }
  // Each chunk owns a block of columns and walks every row: each dbias[c] is summed in row
  // order by exactly one thread.
  parallel_for(cols, kColBlock, bytes, [&](int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    T* acc = dbias + c0;
    for (int64_t c = 0; c < w; ++c) acc[c] = T(0);
    for (int64_t r = 0; r < rows; ++r) {
      T* dxr = dx + r * cols + c0;
      backward_row(act, y + r * cols + c0, dy + r * cols + c0, dxr, w);
      for (int64_t c = 0; c < w; ++c) acc[c] += dxr[c];
    }
  });
}

template <class T>
void bias_act_block(Act act, T* y, int64_t ldy, const T* bias, int64_t rows, int64_t cols) {
  if (act == Act::none && !bias) return;
  for (int64_t r = 0; r < rows; ++r) forward_row(act, y + r * ldy, bias, y + r * ldy, cols);
}

}  // namespace

void bias_act_block_f32(Act act, float* y, int64_t ldy, const float* bias, int64_t rows,
                        int64_t cols) {
  bias_act_block(act, y, ldy, bias, rows, cols);
}
void bias_act_block_f64(Act act, double* y, int64_t ldy, const double* bias, int64_t rows,
                        int64_t cols) {
  bias_act_block(act, y, ldy, bias, rows, cols);
}

extern const ActivationKernels activation_kernels = {
    &forward<float>,
    &forward<double>,
    &backward<float>,
    &backward<double>,
};

}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
