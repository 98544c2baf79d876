// Softmax / log-softmax forward and backward, compiled once per instruction set (README.md).
#include "kernels/softmax.h"

#include <cmath>

#include "kernels/isa/vecmath.h"
#include "kernels/parallel.h"

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

// Reductions keep kLanes independent partial results (a whole number of vector registers for
// every ISA), combined in lane order: the loops vectorise without reassociating anything, and
// the result depends only on n.
template <class T>
constexpr int kLanes = 128 / int(sizeof(T));

// Pairwise (tree) combination of the lanes: log2(kLanes) vector steps instead of a serial
// chain of kLanes scalar adds, which dominated short rows.
template <class T>
T lanes_total(T* acc) {
#pragma GCC unroll 8
  for (int w = kLanes<T> / 2; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  }
  return acc[0];
}

template <class T>
T lanes_max(T* acc) {
#pragma GCC unroll 8
  for (int w = kLanes<T> / 2; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) acc[l] = acc[l + w] > acc[l] ? acc[l + w] : acc[l];
  }
  return acc[0];
}

// max(x); NaN entries are skipped here and propagate through the exp that follows.
template <class T>
T row_max(const T* x, int64_t n) {
  constexpr int L = kLanes<T>;
  T acc[L];
  for (int l = 0; l < L; ++l) acc[l] = -INFINITY;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    for (int l = 0; l < L; ++l) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
  }
  for (int l = 0; i < n; ++i, ++l) acc[l] = x[i] > acc[l] ? x[i] : acc[l];
  return lanes_max(acc);
}

template <class T>
T row_sum(const T* x, int64_t n) {
  constexpr int L = kLanes<T>;
  T acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    for (int l = 0; l < L; ++l) acc[l] += x[i + l];
  }
  for (int l = 0; i < n; ++i, ++l) acc[l] += x[i];
  return lanes_total(acc);
}

// sum(exp(x - m)) without storing the exponentials.
template <class T>
T row_sum_exp(const T* x, T m, int64_t n) {
  constexpr int L = kLanes<T>;
  T acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    for (int l = 0; l < L; ++l) acc[l] += vexp(x[i + l] - m);
  }
  for (int l = 0; i < n; ++i, ++l) acc[l] += vexp(x[i] - m);
  return lanes_total(acc);
}

template <class T>
T row_dot(const T* a, const T* b, int64_t n) {
  constexpr int L = kLanes<T>;
  T acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    for (int l = 0; l < L; ++l) acc[l] += a[i + l] * b[i + l];
  }
  for (int l = 0; i < n; ++i, ++l) acc[l] += a[i] * b[i];
  return lanes_total(acc);
}

template <class T>
void forward_row(bool log, const T* x, T* y, int64_t n) {
  const T m = row_max(x, n);
  if (log) {
    // y may alias x: the sum is taken before anything is written.
    // (x - m) - log(s), not x - (m + log(s)): exact for the largest logits even at 1e4.
    const T ls = std::log(row_sum_exp(x, m, n));
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] = vexp(x[i] - m);
  const T inv = T(1) / row_sum(y, n);
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

template <class T>
void backward_row(bool log, const T* g, const T* y, T* dx, int64_t n) {
  if (log) {
    const T s = row_sum(g, n);
    for (int64_t i = 0; i < n; ++i) dx[i] = g[i] - vexp(y[i]) * s;
    return;
  }
  const T d = row_dot(g, y, n);
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (g[i] - d);
}

// Columns per chunk when the reduced axis is not the last: each chunk walks the n rows of a
// block of contiguous columns, so the inner loops are unit-stride.
constexpr int64_t kCols = 256;

template <class T>
void forward_cols(bool log, const T* x, T* y, int64_t n, int64_t stride, int64_t w) {
  T m[kCols], s[kCols];
  for (int64_t c = 0; c < w; ++c) m[c] = -INFINITY, s[c] = T(0);
  for (int64_t j = 0; j < n; ++j) {
    const T* xr = x + j * stride;
    for (int64_t c = 0; c < w; ++c) m[c] = xr[c] > m[c] ? xr[c] : m[c];
  }
  if (log) {
    for (int64_t j = 0; j < n; ++j) {
      const T* xr = x + j * stride;
      for (int64_t c = 0; c < w; ++c) s[c] += vexp(xr[c] - m[c]);
    }
    for (int64_t c = 0; c < w; ++c) s[c] = std::log(s[c]);
    for (int64_t j = 0; j < n; ++j) {
      const T* xr = x + j * stride;
      T* yr = y + j * stride;
      for (int64_t c = 0; c < w; ++c) yr[c] = (xr[c] - m[c]) - s[c];
    }
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    const T* xr = x + j * stride;
    T* yr = y + j * stride;
    for (int64_t c = 0; c < w; ++c) {
      yr[c] = vexp(xr[c] - m[c]);
      s[c] += yr[c];
    }
  }
  for (int64_t c = 0; c < w; ++c) s[c] = T(1) / s[c];
  for (int64_t j = 0; j < n; ++j) {
    T* yr = y + j * stride;
    for (int64_t c = 0; c < w; ++c) yr[c] *= s[c];
  }
}

template <class T>
void backward_cols(bool log, const T* g, const T* y, T* dx, int64_t n, int64_t stride, int64_t w) {
  T d[kCols];
  for (int64_t c = 0; c < w; ++c) d[c] = T(0);
  for (int64_t j = 0; j < n; ++j) {
    const T* gr = g + j * stride;
    const T* yr = y + j * stride;
    if (log) {
      for (int64_t c = 0; c < w; ++c) d[c] += gr[c];
    } else {
      for (int64_t c = 0; c < w; ++c) d[c] += gr[c] * yr[c];
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    const T* gr = g + j * stride;
    const T* yr = y + j * stride;
    T* dr = dx + j * stride;
    if (log) {
      for (int64_t c = 0; c < w; ++c) dr[c] = gr[c] - vexp(yr[c]) * d[c];
    } else {
      for (int64_t c = 0; c < w; ++c) dr[c] = yr[c] * (gr[c] - d[c]);
    }
  }
}

// Short rows (a classifier's 10 logits) leave the row loops mostly in scalar tails and lane
// combines: ~50 ns a row (2048x10 log-softmax 95 us). Up to kShort elements a block of kBlock
// rows is transposed into a local buffer and reduced with the column kernels, vectorised
// across rows, then transposed back (2048x10: 18 us). Each row's result depends only on the
// row, so chunking still fixes the bits. Backward rows have no lane combine to avoid and gain
// less from it: below kShortBackward only (measured: a win at n <= 12, a loss at 16 and 24).
constexpr int64_t kShort = 32;
constexpr int64_t kShortBackward = 12;
constexpr int64_t kBlock = 64;  // rows per transposed block: buffers stay in L1

template <class T>
void gather_block(const T* x, T* buf, int64_t n, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) buf[j * kBlock + r] = x[r * n + j];
}

template <class T>
void scatter_block(const T* buf, T* y, int64_t n, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) y[r * n + j] = buf[j * kBlock + r];
}

template <class T>
void forward_short(bool log, const T* x, T* y, int64_t n, int64_t rows) {
  T buf[kShort * kBlock];
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t b = rows - r0 < kBlock ? rows - r0 : kBlock;
    gather_block(x + r0 * n, buf, n, b);
    forward_cols(log, buf, buf, n, kBlock, b);
    scatter_block(buf, y + r0 * n, n, b);
  }
}

template <class T>
void backward_short(bool log, const T* g, const T* y, T* dx, int64_t n, int64_t rows) {
  T gb[kShort * kBlock], yb[kShort * kBlock];
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t b = rows - r0 < kBlock ? rows - r0 : kBlock;
    gather_block(g + r0 * n, gb, n, b);
    gather_block(y + r0 * n, yb, n, b);
    backward_cols(log, gb, yb, gb, n, kBlock, b);
    scatter_block(gb, dx + r0 * n, n, b);
  }
}

constexpr int64_t kGrainElems = 1 << 14;  // elements per chunk, roughly

// Runs row(offset) over each of the outer*inner independent reductions of length n; for
// inner == 1 and n <= short_max, short_rows(offset, count) over runs of rows; for inner > 1,
// cols(offset, width) over blocks of up to kCols adjacent reductions.
template <class T, class Row, class Short, class Cols>
void for_each_reduction(int64_t outer, int64_t n, int64_t inner, int64_t cost_per_elem,
                        int64_t short_max, Row row, Short short_rows, Cols cols) {
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  const int64_t work = outer * n * inner * cost_per_elem;
  if (inner == 1 && n <= short_max) {
    parallel_for(outer, kGrainElems / n, work,
                 [&](int64_t lo, int64_t hi) { short_rows(lo * n, hi - lo); });
    return;
  }
  if (inner == 1) {
    const int64_t grain = n >= kGrainElems ? 1 : kGrainElems / n;
    parallel_for(outer, grain, work, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) row(r * n);
    });
    return;
  }
  const int64_t blocks = (inner + kCols - 1) / kCols;
  const int64_t per = n * (inner < kCols ? inner : kCols);
  const int64_t grain = per >= kGrainElems ? 1 : kGrainElems / per;
  parallel_for(outer * blocks, grain, work, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t o = t / blocks, c0 = (t % blocks) * kCols;
      const int64_t w = inner - c0 < kCols ? inner - c0 : kCols;
      cols(o * n * inner + c0, w);
    }
  });
}

template <class T>
void forward(bool log, const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  for_each_reduction<T>(
      outer, n, inner, 4 * int64_t(sizeof(T)), kShort,
      [&](int64_t off) { forward_row(log, x + off, y + off, n); },
      [&](int64_t off, int64_t rows) { forward_short(log, x + off, y + off, n, rows); },
      [&](int64_t off, int64_t w) { forward_cols(log, x + off, y + off, n, inner, w); });
}

template <class T>
void backward(bool log, const T* g, const T* y, T* dx, int64_t outer, int64_t n, int64_t inner) {
  for_each_reduction<T>(
      outer, n, inner, 4 * int64_t(sizeof(T)), kShortBackward,
      [&](int64_t off) { backward_row(log, g + off, y + off, dx + off, n); },
      [&](int64_t off, int64_t rows) { backward_short(log, g + off, y + off, dx + off, n, rows); },
      [&](int64_t off, int64_t w) { backward_cols(log, g + off, y + off, dx + off, n, inner, w); });
}

}  // namespace

extern const SoftmaxKernels softmax_kernels = {
    &forward<float>,
    &forward<double>,
    &backward<float>,
    &backward<double>,
};

}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
