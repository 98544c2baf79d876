// Batch normalisation forward/backward, compiled once per instruction set (see README.md here).
//
// Layout: x is (N, C, L), C-contiguous; channel c owns x[:, c, :]. Work is cut into chunks of
// `rows` consecutive n times a block of channels (Grid). Each chunk of a reduction pass writes
// one partial per channel; partials are merged in chunk order, so the bits never depend on the
// thread count. Two inner-loop shapes:
//   - short L (< kSegMinL, including (N, C)): a row of the chunk is C*L contiguous positions;
//     per-position accumulators (in L1) vectorise across positions, rows stream in order;
//   - long L: each channel's slab x[n0:n1, c, :] is reduced with the same per-position
//     accumulators, L positions at a time (up to kBlockPos), then folded.
// The reduction passes read a group of rows at a time, one row from each of R equal blocks of
// the chunk, so each read stream is sequential. Passes that write (y, dx) visit chunks in
// reverse order (the chunks the reduction pass touched last may still be in L3) and write
// large outputs with streaming stores.
#include "kernels/batchnorm.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>

#include "kernels/isa/stream.h"
#include "kernels/parallel.h"

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

constexpr int64_t kSegMinL = 16;         // L from which segments are reduced along L
constexpr int64_t kBlockPos = 1024;      // positions per block (short L): 3 x 8 KiB in L1
constexpr int64_t kSegPos = 4096;        // values per row of a block (long L)
constexpr int64_t kSegMaxChannels = 64;  // channels per block (long L)
// Values per chunk (1 MiB of float, the L2): longer read streams per group than 256 KiB chunks
// (fwd+bwd 0.84-0.95x the time at both (65536, 256) and (4096, 1024), per-round ratios).
constexpr int64_t kChunkElems = int64_t(1) << 18;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

struct Grid {
  int64_t n, c, l;
  bool seg;
  int64_t cb;    // channels per block
  int64_t rows;  // rows n per chunk
  int64_t nr;    // row chunks
  int64_t nb;    // channel blocks
  int64_t chunks() const { return nr * nb; }
  int64_t n0(int64_t r) const { return r * rows; }
  int64_t n1(int64_t r) const { return min64(n0(r) + rows, n); }
  int64_t c0(int64_t b) const { return b * cb; }
  int64_t c1(int64_t b) const { return min64(c0(b) + cb, c); }
};

// Depends on (n, c, l) only: this is what makes the results thread-count independent.
Grid make_grid(int64_t n, int64_t c, int64_t l) {
  Grid g;
  g.n = n;
  g.c = c;
  g.l = l;
  g.seg = l >= kSegMinL;
  g.cb = g.seg ? clamp64(kSegPos / l, 1, kSegMaxChannels) : kBlockPos / l;
  g.cb = clamp64(g.cb, 1, c);
  g.rows = clamp64(kChunkElems / (g.cb * l), 1, n > 0 ? n : 1);
  g.nr = (n + g.rows - 1) / g.rows;
  g.nb = (c + g.cb - 1) / g.cb;
  return g;
}

// Scratch owned by one kernel call (malloc: no std containers in per-ISA code).
template <class U>
struct Scratch {
  U* p = nullptr;
  explicit Scratch(int64_t count) {
    const size_t bytes = (sizeof(U) * size_t(count > 0 ? count : 1) + 63) / 64 * 64;
    p = static_cast<U*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// Stride for arrays stored back to back and read together in one loop: rounded to whole cache
// lines plus three more, so they do not sit at the same offset modulo 4 KiB (loads from
// 4 KiB-aliased addresses measured up to 1.5x slower here).
template <class T>
constexpr int64_t spaced(int64_t n) {
  constexpr int64_t line = 64 / int64_t(sizeof(T));
  return (n + line - 1) / line * line + 3 * line;
}
constexpr int64_t kPosStride = spaced<double>(kBlockPos);

// ---- pass kernels, short L: one row = np contiguous positions -----------------------------

// Rows are reduced in groups: each accumulator is loaded and stored once per group. Eight rows
// for the statistics (1.3x faster than four here, four 1.4x faster than one) and four for the
// gradient sums (eight rows of two arrays, 16 streams, measured 1.3x slower): both read eight
// row streams at a time.
constexpr int kStatsGroup = 8;
constexpr int kGradGroup = 4;

// s1[j] += sum_q (x[q, j] - k[j]), s2[j] += sum_q (x[q, j] - k[j])^2 over R rows ld apart.
template <int R, class T>
inline void stats_group(const T* x, int64_t ld, int64_t np, const double* __restrict k,
                        double* __restrict s1, double* __restrict s2) {
  const T* xr[R];
  for (int q = 0; q < R; ++q) xr[q] = x + q * ld;
  for (int64_t j = 0; j < np; ++j) {
    const double kj = k[j];
    double a1 = 0.0, a2 = 0.0;
#pragma GCC unroll 8
    for (int q = 0; q < R; ++q) {
      const double v = double(xr[q][j]) - kj;
      a1 += v;
      a2 += v * v;
    }
    s1[j] += a1;
    s2[j] += a2;
  }
}

// The R rows of a group are taken from R equal blocks of the chunk's rows (row t of each),
// not R adjacent rows: each of the R read streams then runs sequentially through its block,
// which the hardware prefetchers follow, instead of restarting every row (1 KiB at C = 256).
template <class T>
void stats_rows(const T* x, int64_t ld, int64_t rows, int64_t np, const double* k, double* s1,
                double* s2) {
  const int64_t sub = rows / kStatsGroup;
  for (int64_t t = 0; t < sub; ++t) stats_group<kStatsGroup>(x + t * ld, sub * ld, np, k, s1, s2);
  for (int64_t r = sub * kStatsGroup; r < rows; ++r) stats_group<1>(x + r * ld, ld, np, k, s1, s2);
}

// sdy[j] += sum_q dy[q, j], sdx[j] += sum_q dy[q, j] * (x[q, j] - m[j]) over R rows.
template <int R, class T>
inline void grad_sums_group(const T* dy, const T* x, int64_t ld, int64_t np,
                            const double* __restrict m, double* __restrict sdy,
                            double* __restrict sdx) {
  const T* gr[R];
  const T* xr[R];
  for (int q = 0; q < R; ++q) {
    gr[q] = dy + q * ld;
    xr[q] = x + q * ld;
  }
  for (int64_t j = 0; j < np; ++j) {
    const double mj = m[j];
    double a1 = 0.0, a2 = 0.0;
#pragma GCC unroll 8
    for (int q = 0; q < R; ++q) {
      const double d = gr[q][j];
      a1 += d;
      a2 += d * (double(xr[q][j]) - mj);
    }
    sdy[j] += a1;
    sdx[j] += a2;
  }
}

template <class T>
void grad_sums_rows(const T* dy, const T* x, int64_t ld, int64_t rows, int64_t np, const double* m,
                    double* sdy, double* sdx) {
  const int64_t sub = rows / kGradGroup;  // streams through blocks, as stats_rows
  for (int64_t t = 0; t < sub; ++t)
    grad_sums_group<kGradGroup>(dy + t * ld, x + t * ld, sub * ld, np, m, sdy, sdx);
  for (int64_t r = sub * kGradGroup; r < rows; ++r)
    grad_sums_group<1>(dy + r * ld, x + r * ld, ld, np, m, sdy, sdx);
}

// ---- chunk drivers ------------------------------------------------------------------------

// Partial statistics of chunk (r, b): for each channel of the block, the chunk mean and the
// sum of squared deviations M2. Sums are shifted by the chunk's first value of the channel,
// so the cancellation in M2 = S2 - S1^2 / count is bounded by the chunk's own spread.
template <class T>
void stats_chunk(const Grid& g, const T* x, int64_t r, int64_t b, double* pmean, double* pm2) {
  const int64_t n0 = g.n0(r), rows = g.n1(r) - n0, c0 = g.c0(b), nc = g.c1(b) - c0, L = g.l;
  const int64_t ld = g.c * L;
  const T* base = x + n0 * ld + c0 * L;
  const double inv_cnt = 1.0 / double(rows * L);
  double* om = pmean + r * g.c + c0;
  double* o2 = pm2 + r * g.c + c0;
  if (!g.seg) {
    alignas(64) double acc[3][kPosStride];
    double* k = acc[0];
    double* s1 = acc[1];
    double* s2 = acc[2];
    const int64_t np = nc * L;
    for (int64_t j = 0; j < np; ++j) {
      k[j] = double(base[(j / L) * L]);
      s1[j] = 0.0;
      s2[j] = 0.0;
    }
    stats_rows(base, ld, rows, np, k, s1, s2);
    for (int64_t cc = 0; cc < nc; ++cc) {
      double t1 = 0.0, t2 = 0.0;
      for (int64_t l = 0; l < L; ++l) {
        t1 += s1[cc * L + l];
        t2 += s2[cc * L + l];
      }
      const double d = t1 * inv_cnt;
      const double m2 = t2 - t1 * d;
      om[cc] = k[cc * L] + d;
      o2[cc] = m2 < 0.0 ? 0.0 : m2;  // rounding can go below 0; NaN must stay NaN
    }
    return;
  }
  // Long L: each channel's (rows, L) slab in pieces of up to kBlockPos positions.
  alignas(64) double acc[3][kPosStride];
  double* k = acc[0];
  double* s1 = acc[1];
  double* s2 = acc[2];
  for (int64_t cc = 0; cc < nc; ++cc) {
    const double kc = double(base[cc * L]);
    double t1 = 0.0, t2 = 0.0;
    for (int64_t l0 = 0; l0 < L; l0 += kBlockPos) {
      const int64_t np = min64(kBlockPos, L - l0);
      for (int64_t j = 0; j < np; ++j) {
        k[j] = kc;
        s1[j] = 0.0;
        s2[j] = 0.0;
      }
      stats_rows(base + cc * L + l0, ld, rows, np, k, s1, s2);
      for (int64_t j = 0; j < np; ++j) {
        t1 += s1[j];
        t2 += s2[j];
      }
    }
    const double d = t1 * inv_cnt;
    const double m2 = t2 - t1 * d;
    om[cc] = kc + d;
    o2[cc] = m2 < 0.0 ? 0.0 : m2;  // rounding can go below 0; NaN must stay NaN
  }
}

// Partial gradient sums of chunk (r, b): sum dy and sum dy * (x - mean) per channel.
template <class T>
void grad_sums_chunk(const Grid& g, const T* dy, const T* x, const T* mean, int64_t r, int64_t b,
                     double* psdy, double* psdx) {
  const int64_t n0 = g.n0(r), rows = g.n1(r) - n0, c0 = g.c0(b), nc = g.c1(b) - c0, L = g.l;
  const int64_t ld = g.c * L;
  const int64_t off = n0 * ld + c0 * L;
  double* o1 = psdy + r * g.c + c0;
  double* o2 = psdx + r * g.c + c0;
  if (!g.seg) {
    alignas(64) double acc[3][kPosStride];
    double* m = acc[0];
    double* s1 = acc[1];
    double* s2 = acc[2];
    const int64_t np = nc * L;
    for (int64_t j = 0; j < np; ++j) {
      m[j] = double(mean[c0 + j / L]);
      s1[j] = 0.0;
      s2[j] = 0.0;
    }
    grad_sums_rows(dy + off, x + off, ld, rows, np, m, s1, s2);
    for (int64_t cc = 0; cc < nc; ++cc) {
      double t1 = 0.0, t2 = 0.0;
      for (int64_t l = 0; l < L; ++l) {
        t1 += s1[cc * L + l];
        t2 += s2[cc * L + l];
      }
      o1[cc] = t1;
      o2[cc] = t2;
    }
    return;
  }
  alignas(64) double acc[3][kPosStride];
  double* m = acc[0];
  double* s1 = acc[1];
  double* s2 = acc[2];
  for (int64_t cc = 0; cc < nc; ++cc) {
    const double mc = double(mean[c0 + cc]);
    double t1 = 0.0, t2 = 0.0;
    for (int64_t l0 = 0; l0 < L; l0 += kBlockPos) {
      const int64_t np = min64(kBlockPos, L - l0);
      for (int64_t j = 0; j < np; ++j) {
        m[j] = mc;
        s1[j] = 0.0;
        s2[j] = 0.0;
      }
      grad_sums_rows(dy + off + cc * L + l0, x + off + cc * L + l0, ld, rows, np, m, s1, s2);
      for (int64_t j = 0; j < np; ++j) {
        t1 += s1[j];
        t2 += s2[j];
      }
    }
    o1[cc] = t1;
    o2[cc] = t2;
  }
}

// Per-channel coefficients of an elementwise pass (arrays of C values each).
template <class T>
struct Coef {
  const T* p0;
  const T* p1;
  const T* p2;
  const T* p3;
};

// The output passes: y = ((x - p0) - p1) * p2 + p3 (mean split into hi p0 + lo p1, so x - mean
// stays accurate when |mean| >> std) and dx = p1 * ((dy - p3) - p2 * (x - p0)) (centred first,
// so dx stays accurate when it is much smaller than p1 * dy). In place (y = x, dx = dy) is fine.
struct ApplyOp {
  template <class T>
  static T f(T x, T, T p0, T p1, T p2, T p3) {
    return ((x - p0) - p1) * p2 + p3;
  }
};
struct DxOp {
  template <class T>
  static T f(T x, T dy, T p0, T p1, T p2, T p3) {
    return p1 * ((dy - p3) - p2 * (x - p0));
  }
};

// Outputs of at least this many bytes (half the 32 MiB L3 of the machine measured) are written
// with streaming stores (stream.h): with the inputs the pass reads they exceed the L3 anyway,
// and skipping the read-for-ownership saves a third of an output pass's traffic (standalone
// output pass at 64 MiB: 2.7 ms vs 3.4 ms; fwd+bwd 4096 x 1024: 2.6 vs 2.8 ms).
constexpr int64_t kStreamBytes = int64_t(16) << 20;

// One output pass over chunk (r, b): out = Op::f(x, g, coefficients of the channel); g is only
// read by DxOp (pass x for ApplyOp). `stream`: computed a row at a time into a staging buffer,
// then streamed out.
template <class Op, class T>
void out_chunk(const Grid& g, const T* x, const T* gr, T* out, const Coef<T>& cf, int64_t r,
               int64_t b, bool stream) {
  const int64_t n0 = g.n0(r), rows = g.n1(r) - n0, c0 = g.c0(b), nc = g.c1(b) - c0, L = g.l;
  const int64_t ld = g.c * L, np = nc * L;
  const int64_t off = n0 * ld + c0 * L;
  const T* xb = x + off;
  const T* gb = gr + off;
  if (!g.seg) {
    // Coefficients per position (expanded once per chunk when L > 1): the row loop vectorises.
    alignas(64) T e[4][spaced<T>(kBlockPos)];
    const T* p[4] = {cf.p0 + c0, cf.p1 + c0, cf.p2 + c0, cf.p3 + c0};
    if (L > 1) {
      for (int64_t j = 0; j < np; ++j) {
        const int64_t c = c0 + j / L;
        e[0][j] = cf.p0[c];
        e[1][j] = cf.p1[c];
        e[2][j] = cf.p2[c];
        e[3][j] = cf.p3[c];
      }
      for (int q = 0; q < 4; ++q) p[q] = e[q];
    }
    const T* __restrict q0 = p[0];
    const T* __restrict q1 = p[1];
    const T* __restrict q2 = p[2];
    const T* __restrict q3 = p[3];
    T* ob = out + off;
    alignas(64) T st[kBlockPos];
    for (int64_t rr = 0; rr < rows; ++rr) {
      const T* xs = xb + rr * ld;
      const T* gs = gb + rr * ld;
      T* o = stream ? st : ob + rr * ld;
      for (int64_t i = 0; i < np; ++i) o[i] = Op::f(xs[i], gs[i], q0[i], q1[i], q2[i], q3[i]);
      if (stream) stream_copy(ob + rr * ld, st, np);
    }
    if (stream) stream_fence();
    return;
  }
  // Long L: each (n, c) run of L values shares one channel's coefficients.
  alignas(64) T st[kBlockPos];
  for (int64_t rr = 0; rr < rows; ++rr)
    for (int64_t cc = 0; cc < nc; ++cc) {
      const int64_t c = c0 + cc, o0 = rr * ld + cc * L;
      const T q0 = cf.p0[c], q1 = cf.p1[c], q2 = cf.p2[c], q3 = cf.p3[c];
      for (int64_t l0 = 0; l0 < L; l0 += kBlockPos) {
        const int64_t nl = min64(kBlockPos, L - l0);
        const T* xs = xb + o0 + l0;
        const T* gs = gb + o0 + l0;
        T* os = out + off + o0 + l0;
        T* o = stream ? st : os;
        for (int64_t i = 0; i < nl; ++i) o[i] = Op::f(xs[i], gs[i], q0, q1, q2, q3);
        if (stream) stream_copy(os, st, nl);
      }
    }
  if (stream) stream_fence();
}

// Runs f(r, b) over every chunk; `reverse` visits them last to first (see the file comment).
template <class F>
void for_chunks(const Grid& g, int64_t work, bool reverse, F&& f) {
  const int64_t total = g.chunks();
  parallel_for(total, 1, work, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t j = reverse ? total - 1 - i : i;
      f(j / g.nb, j % g.nb);
    }
  });
}

constexpr int64_t kChannelGrain = 256;  // channels per chunk when merging partials

// ---- entry points -------------------------------------------------------------------------

template <class T>
void train(const BatchNormTrainArgs<T>& a) {
  const int64_t C = a.c, M = a.n * a.l;
  if (C <= 0) return;
  if (M <= 0) {  // no values: statistics undefined (as np.mean of nothing), nothing to write
    for (int64_t c = 0; c < C; ++c) {
      a.mean[c] = a.invstd[c] = std::numeric_limits<T>::quiet_NaN();
      if (a.var) a.var[c] = std::numeric_limits<T>::quiet_NaN();
    }
    return;
  }
  const Grid g = make_grid(a.n, C, a.l);
  const int64_t bytes = M * C * int64_t(sizeof(T));
  Scratch<double> part(2 * g.nr * C);
  double* pmean = part.p;
  double* pm2 = part.p + g.nr * C;
  for_chunks(g, bytes, false, [&](int64_t r, int64_t b) { stats_chunk(g, a.x, r, b, pmean, pm2); });

  // Coefficients of the output pass, in T: mean split into hi + lo, scale, shift.
  const int64_t S = spaced<T>(C);
  Scratch<T> coef_buf(4 * S);
  T* coef = coef_buf.p;
  const Coef<T> cf{coef, coef + S, coef + 2 * S, coef + 3 * S};
  const double eps = a.eps, mom = a.momentum, unbias = M > 1 ? double(M) / double(M - 1) : 0.0;
  parallel_for(C, kChannelGrain, g.nr * C * 16, [&](int64_t c0, int64_t c1) {
    // Chan's merge of the chunk partials, in chunk order, into row 0 of the partials. The
    // weights depend only on the chunk sizes, so the channel loop vectorises.
    double na = double(g.n1(0) - g.n0(0)) * double(a.l);
    for (int64_t r = 1; r < g.nr; ++r) {
      const double nb = double(g.n1(r) - g.n0(r)) * double(a.l), nt = na + nb;
      const double f = nb / nt, h = na * nb / nt;
      const double* rm = pmean + r * C;
      const double* r2 = pm2 + r * C;
      for (int64_t c = c0; c < c1; ++c) {
        const double d = rm[c] - pmean[c];
        pmean[c] += d * f;
        pm2[c] += r2[c] + d * d * h;
      }
      na = nt;
    }
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = pmean[c], var = pm2[c] / double(M);
      const double invstd = 1.0 / std::sqrt(var + eps);
      const T mh = T(mean);
      a.mean[c] = mh;
      a.invstd[c] = T(invstd);
      if (a.var) a.var[c] = T(var);
      if (a.running_mean)
        a.running_mean[c] = T((1.0 - mom) * double(a.running_mean[c]) + mom * mean);
      if (a.running_var)
        a.running_var[c] = T((1.0 - mom) * double(a.running_var[c]) + mom * var * unbias);
      coef[c] = mh;
      coef[S + c] = T(mean - double(mh));
      coef[2 * S + c] = T(invstd * (a.weight ? double(a.weight[c]) : 1.0));
      coef[3 * S + c] = a.bias ? a.bias[c] : T(0);
    }
  });
  if (a.y) {
    const bool st = bytes >= kStreamBytes;
    for_chunks(g, 2 * bytes, true,
               [&](int64_t r, int64_t b) { out_chunk<ApplyOp>(g, a.x, a.x, a.y, cf, r, b, st); });
  }
}

template <class T>
void eval(const BatchNormEvalArgs<T>& a) {
  const int64_t C = a.c, M = a.n * a.l;
  if (C <= 0 || M <= 0) return;
  const Grid g = make_grid(a.n, C, a.l);
  const int64_t S = spaced<T>(C);
  Scratch<T> coef_buf(4 * S);
  T* coef = coef_buf.p;
  for (int64_t c = 0; c < C; ++c) {
    coef[c] = a.mean[c];
    coef[S + c] = T(0);
    coef[2 * S + c] =
        T((a.weight ? double(a.weight[c]) : 1.0) / std::sqrt(double(a.var[c]) + a.eps));
    coef[3 * S + c] = a.bias ? a.bias[c] : T(0);
  }
  const Coef<T> cf{coef, coef + S, coef + 2 * S, coef + 3 * S};
  const int64_t bytes = M * C * int64_t(sizeof(T));
  const bool st = bytes >= kStreamBytes;
  for_chunks(g, 2 * bytes, false,
             [&](int64_t r, int64_t b) { out_chunk<ApplyOp>(g, a.x, a.x, a.y, cf, r, b, st); });
}

template <class T>
void backward(const BatchNormBackwardArgs<T>& a) {
  const int64_t C = a.c, M = a.n * a.l;
  if (C <= 0) return;
  if (M <= 0) {  // sums over nothing
    for (int64_t c = 0; c < C; ++c) {
      if (a.dweight) a.dweight[c] = T(0);
      if (a.dbias) a.dbias[c] = T(0);
    }
    return;
  }
  const Grid g = make_grid(a.n, C, a.l);
  const int64_t bytes = M * C * int64_t(sizeof(T));
  const bool sums = a.dweight || a.dbias || (a.dx && a.training);
  Scratch<double> part(sums ? 2 * g.nr * C : 1);
  double* psdy = part.p;
  double* psdx = sums ? part.p + g.nr * C : part.p;
  if (sums) {
    for_chunks(g, 2 * bytes, false, [&](int64_t r, int64_t b) {
      grad_sums_chunk(g, a.dy, a.x, a.mean, r, b, psdy, psdx);
    });
  }
  const int64_t S = spaced<T>(C);
  Scratch<T> coef_buf(4 * S);
  T* coef = coef_buf.p;
  parallel_for(C, kChannelGrain, g.nr * C * 16, [&](int64_t c0, int64_t c1) {
    if (sums) {
      for (int64_t r = 1; r < g.nr; ++r) {  // partials summed in chunk order
        const double* q1 = psdy + r * C;
        const double* q2 = psdx + r * C;
        for (int64_t c = c0; c < c1; ++c) {
          psdy[c] += q1[c];
          psdx[c] += q2[c];
        }
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      const double invstd = double(a.invstd[c]);
      const double sdy = sums ? psdy[c] : 0.0, sdx = sums ? psdx[c] : 0.0;
      if (a.dbias) a.dbias[c] = T(sdy);
      if (a.dweight) a.dweight[c] = T(sdx * invstd);
      const double ca = (a.weight ? double(a.weight[c]) : 1.0) * invstd;
      coef[c] = a.mean[c];
      coef[S + c] = T(ca);
      coef[2 * S + c] = a.training ? T(invstd * invstd * sdx / double(M)) : T(0);
      coef[3 * S + c] = a.training ? T(sdy / double(M)) : T(0);
    }
  });
  const bool st = bytes >= kStreamBytes;
  if (a.dx && a.training) {
    const Coef<T> cf{coef, coef + S, coef + 2 * S, coef + 3 * S};
    for_chunks(g, 3 * bytes, true,
               [&](int64_t r, int64_t b) { out_chunk<DxOp>(g, a.x, a.dy, a.dx, cf, r, b, st); });
  } else if (a.dx) {  // eval: dx = A * dy, the output pass with mean 0, shift 0 on dy
    const Coef<T> cf{coef + 2 * S, coef + 2 * S, coef + S, coef + 2 * S};
    for_chunks(g, 2 * bytes, true, [&](int64_t r, int64_t b) {
      out_chunk<ApplyOp>(g, a.dy, a.dy, a.dx, cf, r, b, st);
    });
  }
}

}  // namespace

extern const BatchNormKernels batchnorm_kernels = {
    &train<float>, &train<double>, &eval<float>, &eval<double>, &backward<float>, &backward<double>,
};

}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
