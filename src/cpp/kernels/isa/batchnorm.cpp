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
//
// Where the time goes at (4096, 1024) float32 (16 MiB per array; 2026-11-27, 2 threads, hot
// loop): stats 0.22 ms, output pass 0.45 ms (bound by the streaming stores, ~37 GB/s), grad sums
// 0.68 ms (x and dy, 32 MiB, no longer fit the L3 together), dx pass 1.18 ms; 2.5-2.7 ms in all.
// At 1024 rows, where all four arrays fit the L3, the same step takes 0.31 ms: the cost is DRAM
// traffic. Tried and rejected, measured in one process: (1) channel panels (both passes over a
// block of channels small enough for the L3, then the next block): 1.1-1.5x slower at every
// panel size from 2 to 16 MiB, with or without software prefetch; rows read in 1-2 KiB pieces
// 4 KiB apart lose the prefetchers and use a quarter of the cache sets. (2) float32 group sums
// instead of widening each value to double: no gain at DRAM sizes, and the variance stopped
// being correctly rounded (a test checks it). (3) plain stores for the 16 MiB outputs: faster
// in a hot loop (2.47 vs 2.75 ms), 8% slower interleaved with other work (the bench's case).
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

// Partial statistics of chunk (r, b): for each channel of the block, the shift k (the chunk's
// first value of the channel), the mean d of x - k and the sum of squared deviations M2. The
// shift bounds the cancellation in M2 = S2 - S1^2 / count by the chunk's own spread; keeping
// k and d apart lets the merge take the chunk means relative to one reference per channel, so
// data with an offset far above its spread (1e15 + noise in float64) loses nothing there.
template <class T>
void stats_chunk(const Grid& g, const T* x, int64_t r, int64_t b, double* pk, double* pd,
                 double* pm2) {
  const int64_t n0 = g.n0(r), rows = g.n1(r) - n0, c0 = g.c0(b), nc = g.c1(b) - c0, L = g.l;
  const int64_t ld = g.c * L;
  const T* base = x + n0 * ld + c0 * L;
  const double inv_cnt = 1.0 / double(rows * L);
  double* ok = pk + r * g.c + c0;
  double* od = pd + r * g.c + c0;
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
      ok[cc] = k[cc * L];
      od[cc] = d;
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
    ok[cc] = kc;
    od[cc] = d;
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

// Per-channel coefficients of an elementwise pass (arrays of C values each); p4 only for the
// ops with kScaled.
template <class T>
struct Coef {
  const T* p0;
  const T* p1;
  const T* p2;
  const T* p3;
  const T* p4;
};

// The output passes: y = ((x - p0) - p1) * p2 + p3 (mean split into hi p0 + lo p1, so x - mean
// stays accurate when |mean| >> std) and dx = p1 * ((dy - p3) - p2 * (x - p0)) (centred first,
// so dx stays accurate when it is much smaller than p1 * dy). In place (y = x, dx = dy) is fine.
// ScaledApplyOp takes x times p4, a power of two: 1 for ordinary channels, which gives the same
// bits as ApplyOp; a call uses it only when some channel's x - mean could overflow T. DxOp
// always works on halves (p0, p3 halved, p1 doubled): dy - mean(dy) and x - mean cannot
// overflow then, and with FMA (dy * 0.5 - p3) costs what dy - p3 did, for the same bits.
struct ApplyOp {
  static constexpr bool kScaled = false;
  template <class T>
  static T f(T x, T, T p0, T p1, T p2, T p3, T) {
    return ((x - p0) - p1) * p2 + p3;
  }
};
struct ScaledApplyOp {
  static constexpr bool kScaled = true;
  template <class T>
  static T f(T x, T, T p0, T p1, T p2, T p3, T p4) {
    return ((x * p4 - p0) - p1) * p2 + p3;
  }
};
// The eval pass: y = ((x / 2 - p0) - p1) * p2 + p3 with p0 = mean / 2, p2 = 2 * scale. Halved,
// x - mean cannot overflow whatever the running mean (eval sees no statistics of x to decide
// per channel, as the training pass does); with FMA it costs what x - p0 did, for the same bits
// outside the subnormal range.
struct HalfApplyOp {
  static constexpr bool kScaled = false;
  template <class T>
  static T f(T x, T, T p0, T p1, T p2, T p3, T) {
    return ((x * T(0.5) - p0) - p1) * p2 + p3;
  }
};
struct DxOp {
  static constexpr bool kScaled = false;
  template <class T>
  static T f(T x, T dy, T p0, T p1, T p2, T p3, T) {
    const T h = T(0.5);
    return p1 * ((dy * h - p3) - p2 * (x * h - p0));
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
    constexpr int kP = Op::kScaled ? 5 : 4;
    alignas(64) T e[kP][spaced<T>(kBlockPos)];
    const T* src[5] = {cf.p0, cf.p1, cf.p2, cf.p3, cf.p4};
    const T* p[5] = {cf.p0 + c0, cf.p1 + c0, cf.p2 + c0, cf.p3 + c0, nullptr};
    if (Op::kScaled) p[4] = cf.p4 + c0;
    if (L > 1) {
      for (int q = 0; q < kP; ++q) {
        for (int64_t j = 0; j < np; ++j) e[q][j] = src[q][c0 + j / L];
        p[q] = e[q];
      }
    }
    const T* __restrict q0 = p[0];
    const T* __restrict q1 = p[1];
    const T* __restrict q2 = p[2];
    const T* __restrict q3 = p[3];
    const T* __restrict q4 = p[4];
    T* ob = out + off;
    alignas(64) T st[kBlockPos];
    for (int64_t rr = 0; rr < rows; ++rr) {
      const T* xs = xb + rr * ld;
      const T* gs = gb + rr * ld;
      T* o = stream ? st : ob + rr * ld;
      if constexpr (Op::kScaled) {
        for (int64_t i = 0; i < np; ++i)
          o[i] = Op::f(xs[i], gs[i], q0[i], q1[i], q2[i], q3[i], q4[i]);
      } else {
        for (int64_t i = 0; i < np; ++i)
          o[i] = Op::f(xs[i], gs[i], q0[i], q1[i], q2[i], q3[i], T(1));
      }
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
      const T q4 = Op::kScaled ? cf.p4[c] : T(1);
      for (int64_t l0 = 0; l0 < L; l0 += kBlockPos) {
        const int64_t nl = min64(kBlockPos, L - l0);
        const T* xs = xb + o0 + l0;
        const T* gs = gb + o0 + l0;
        T* os = out + off + o0 + l0;
        T* o = stream ? st : os;
        for (int64_t i = 0; i < nl; ++i) o[i] = Op::f(xs[i], gs[i], q0, q1, q2, q3, q4);
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

// ---- the exact path for one channel ---------------------------------------------------------
//
// The one-pass sums above are in double. For float32 input they cannot overflow or lose
// anything to underflow; for float64 input with |x - mean| beyond ~1e154 the squares overflow
// (and the products dy * (x - mean) of the backward can). Such channels, and channels holding
// NaN or Inf, are detected from the merged result (non-finite) and only they are redone here,
// reading the channel's values again: first their largest magnitude, then sums of values
// scaled by a power of two. The extra passes are strided and serial per channel, which does
// not matter for a path that ordinary data never takes.

// Visits the M = N * L values of channel ch in a fixed order while f returns true; false when
// f stopped it (a NaN settles the answer at once: a diverged model's all-NaN batch stays cheap).
template <class T, class F>
inline bool each_value(const T* x, int64_t n, int64_t c, int64_t l, int64_t ch, F&& f) {
  const int64_t ld = c * l;
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * ld + ch * l;
    for (int64_t j = 0; j < l; ++j)
      if (!f(row[j])) return false;
  }
  return true;
}

// e with amax < 2^e, at least -1020: values times 2^-e lie below 1 in magnitude (their sums
// cannot overflow), and 2^-e stays finite for subnormal or zero maxima.
inline int bound_exp(double amax) {
  int e = 0;
  std::frexp(amax, &e);
  return e > -1020 ? e : -1020;
}

// Sum of squares kept as scale^2 * ssq, rescaled as larger values arrive (the LAPACK
// xLASSQ scheme): neither overflows nor underflows whatever the magnitudes.
struct ScaledSsq {
  double scale = 0.0, ssq = 1.0;
  void add(double v) {
    v = std::fabs(v);
    if (v == 0.0) return;
    if (scale < v) {
      const double q = scale / v;
      ssq = 1.0 + ssq * q * q;
      scale = v;
    } else {
      const double q = v / scale;
      ssq += q * q;
    }
  }
};

// Statistics of one channel as the output pass needs them: mean = hi + lo, the biased
// variance (inf when it exceeds double), invstd, and a bound on max |x - mean|.
struct ChannelStats {
  double hi, lo, var, invstd, dev;
};

// The exact statistics of channel ch: NaN/Inf inputs give NumPy's mean (NaN, or +-inf) and NaN
// variance; finite inputs the two-pass mean and variance of values scaled to avoid overflow.
template <class T>
ChannelStats exact_stats(const T* x, int64_t n, int64_t c, int64_t l, int64_t ch, double eps) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const double M = double(n) * double(l);
  bool nan = false, pinf = false, ninf = false;
  double amax = 0.0;
  each_value(x, n, c, l, ch, [&](T v) {
    const double d = double(v);
    if (std::isnan(d))
      nan = true;
    else if (std::isinf(d))
      (d > 0 ? pinf : ninf) = true;
    else
      amax = std::fmax(amax, std::fabs(d));
    return !nan && !(pinf && ninf);  // the mean is NaN whatever follows
  });
  if (nan || pinf || ninf) {
    const double mean = (nan || (pinf && ninf)) ? kNaN : (pinf ? HUGE_VAL : -HUGE_VAL);
    return {mean, 0.0, kNaN, kNaN, kNaN};
  }
  const double s = std::ldexp(1.0, -bound_exp(amax));  // |x * s| < 1
  double sum = 0.0;
  each_value(x, n, c, l, ch, [&](T v) {
    sum += double(v) * s;
    return true;
  });
  const double mean = sum / M / s;
  // Deviations halved (x / 2 - mean / 2 cannot overflow); their sum (scaled by s) corrects
  // the mean (the corrected two-pass algorithm), their squares go through ScaledSsq.
  const double hm = 0.5 * mean;
  double S = 0.0;
  ScaledSsq q;
  each_value(x, n, c, l, ch, [&](T v) {
    const double h = 0.5 * double(v) - hm;
    S += h * s;
    q.add(h);
    return true;
  });
  const double hs = q.scale;  // half deviations in units of hs: sum of squares hs^2 * ssq
  double u = 0.0;
  if (hs > 0.0) {
    const double sn = S / (hs * s);
    u = (q.ssq - sn * sn / M) / M;
    if (u < 0.0) u = 0.0;
  }
  const double hsd = hs * std::sqrt(u);  // half the standard deviation (2 hsd may overflow)
  const double var = 4.0 * hsd * hsd;    // inf or 0 out of double's range, as the true value
  // 1 / sqrt(var + eps) without forming var: 0.5 / (hsd * sqrt(1 + eps / (4 hsd^2)))
  const double r = hsd > 0.0 ? 0.25 * eps / hsd / hsd : HUGE_VAL;
  const double invstd =
      r <= 0x1p100 ? 0.5 / (hsd * std::sqrt(1.0 + r)) : 1.0 / std::sqrt(var + eps);
  return {mean, 2.0 * S / M / s, var, invstd, 2.0 * hs};  // 2 * hs may be inf: only compared
}

// Sums of the backward for one channel: sum dy = sdy * 2^edy, sum dy * (x - mean) =
// sdx * 2^edx. Only for channels whose one-pass sums overflowed with finite inputs.
struct GradSums {
  double sdy, sdx;
  int edy, edx;
};

template <class T>
bool exact_grad_sums(const T* dy, const T* x, double mean, int64_t n, int64_t c, int64_t l,
                     int64_t ch, GradSums& out) {
  double gmax = 0.0, hmax = 0.0;
  const double hm = 0.5 * mean;
  auto scan_dy = [&](T v) {
    gmax = std::fmax(gmax, std::fabs(double(v)));
    return bool(std::isfinite(double(v)));
  };
  auto scan_x = [&](T v) {
    hmax = std::fmax(hmax, std::fabs(0.5 * double(v) - hm));
    return bool(std::isfinite(double(v)));
  };
  // NaN/Inf inputs (found at the first one): the one-pass sums are the answer.
  if (!std::isfinite(mean) || !each_value(dy, n, c, l, ch, scan_dy) ||
      !each_value(x, n, c, l, ch, scan_x))
    return false;
  const int eg = bound_exp(gmax), eh = bound_exp(hmax);
  const double sg = std::ldexp(1.0, -eg), sh = std::ldexp(1.0, -eh);
  double s1 = 0.0, s2 = 0.0;  // terms below 1 in magnitude: no overflow
  const int64_t ld = c * l;
  for (int64_t i = 0; i < n; ++i) {
    const T* gr = dy + i * ld + ch * l;
    const T* xr = x + i * ld + ch * l;
    for (int64_t j = 0; j < l; ++j) {
      const double gv = double(gr[j]) * sg;
      s1 += gv;
      s2 += gv * ((0.5 * double(xr[j]) - hm) * sh);
    }
  }
  out = {s1, s2, eg, eg + eh + 1};
  return true;
}

// ---- entry points -------------------------------------------------------------------------

// Coefficients of the forward output pass for channel c from its statistics. x - mean can
// overflow T only when the deviations reach T's range; such channels (and float32 channels
// whose invstd is subnormal, which would cost y its precision) get the scaled form.
template <class T>
void set_forward_coef(T* coef, int64_t S, int64_t c, const ChannelStats& st, double w, T bias) {
  constexpr double kMax = double(std::numeric_limits<T>::max());
  constexpr double kMin = double(std::numeric_limits<T>::min());
  constexpr double kScale = 1.0 / 256.0;
  const bool scaled = st.dev > 0.5 * kMax || (st.invstd > 0.0 && st.invstd < 256.0 * kMin);
  const double s = scaled ? kScale : 1.0;
  const double hi = st.hi * s, lo = st.lo * s;
  const T h = T(hi + lo);
  coef[c] = h;
  coef[S + c] = T((hi - double(h)) + lo);
  coef[2 * S + c] = T(st.invstd * w / s);
  coef[3 * S + c] = bias;
  coef[4 * S + c] = T(s);
}

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
  Scratch<double> part(3 * g.nr * C);
  double* pk = part.p;
  double* pd = part.p + g.nr * C;
  double* pm2 = part.p + 2 * g.nr * C;
  for_chunks(g, bytes, false,
             [&](int64_t r, int64_t b) { stats_chunk(g, a.x, r, b, pk, pd, pm2); });

  // Coefficients of the output pass, in T: mean split into hi + lo, scale, shift, x's scale.
  const int64_t S = spaced<T>(C);
  Scratch<T> coef_buf(5 * S);
  T* coef = coef_buf.p;
  Scratch<unsigned char> redo(C);  // channels for exact_stats
  const double eps = a.eps, mom = a.momentum, unbias = M > 1 ? double(M) / double(M - 1) : 0.0;
  auto finish = [&](int64_t c, const ChannelStats& st) {
    const double mean = st.hi + st.lo;
    a.mean[c] = T(mean);
    a.invstd[c] = T(st.invstd);
    if (a.var) a.var[c] = T(st.var);
    if (a.running_mean) a.running_mean[c] = T((1.0 - mom) * double(a.running_mean[c]) + mom * mean);
    if (a.running_var)
      a.running_var[c] = T((1.0 - mom) * double(a.running_var[c]) + mom * st.var * unbias);
    set_forward_coef(coef, S, c, st, a.weight ? double(a.weight[c]) : 1.0,
                     a.bias ? a.bias[c] : T(0));
  };
  parallel_for(C, kChannelGrain, g.nr * C * 16, [&](int64_t c0, int64_t c1) {
    // Chan's merge of the chunk partials, in chunk order, into row 0. Chunk means are taken
    // relative to K = chunk 0's mean (kept in pk, the running relative mean in pd): for data
    // near K, k_r - K is exact and the merge works on the small relative means. The weights
    // depend only on the chunk sizes, so the channel loop vectorises.
    for (int64_t c = c0; c < c1; ++c) {
      const double k = pk[c], K = k + pd[c];
      pd[c] = (k - K) + pd[c];
      pk[c] = K;
    }
    double na = double(g.n1(0) - g.n0(0)) * double(a.l);
    for (int64_t r = 1; r < g.nr; ++r) {
      const double nb = double(g.n1(r) - g.n0(r)) * double(a.l), nt = na + nb;
      const double f = nb / nt, h = na * nb / nt;
      const double* rk = pk + r * C;
      const double* rd = pd + r * C;
      const double* r2 = pm2 + r * C;
      for (int64_t c = c0; c < c1; ++c) {
        const double d = ((rk[c] - pk[c]) + rd[c]) - pd[c];
        pd[c] += d * f;
        pm2[c] += r2[c] + d * d * h;
      }
      na = nt;
    }
    for (int64_t c = c0; c < c1; ++c) {
      const double m2 = pm2[c], var = m2 / double(M);
      // Non-finite: overflow or NaN/Inf input. A variance so small that its squares may have
      // underflowed matters only with eps ~ 0.
      redo.p[c] =
          !std::isfinite(pk[c] + pd[c]) || !std::isfinite(m2) || (eps < 0x1p-900 && var < 0x1p-960);
      if (redo.p[c]) continue;
      finish(c, {pk[c], pd[c], var, 1.0 / std::sqrt(var + eps), std::sqrt(m2)});
    }
  });
  int64_t nredo = 0;
  for (int64_t c = 0; c < C; ++c) nredo += redo.p[c];
  if (nredo > 0) {
    parallel_for(C, 1, nredo * M * 24, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        if (redo.p[c]) finish(c, exact_stats(a.x, a.n, C, a.l, c, eps));
    });
  }
  if (a.y) {
    bool scaled = false;
    for (int64_t c = 0; c < C && !scaled; ++c) scaled = coef[4 * S + c] != T(1);
    const bool st = bytes >= kStreamBytes;
    const Coef<T> cf{coef, coef + S, coef + 2 * S, coef + 3 * S, coef + 4 * S};
    if (scaled) {
      for_chunks(g, 2 * bytes, true, [&](int64_t r, int64_t b) {
        out_chunk<ScaledApplyOp>(g, a.x, a.x, a.y, cf, r, b, st);
      });
    } else {
      for_chunks(g, 2 * bytes, true,
                 [&](int64_t r, int64_t b) { out_chunk<ApplyOp>(g, a.x, a.x, a.y, cf, r, b, st); });
    }
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
  for (int64_t c = 0; c < C; ++c) {  // HalfApplyOp's coefficients; halving is exact
    coef[c] = T(0.5 * double(a.mean[c]));
    coef[S + c] = T(0);
    coef[2 * S + c] =
        T(2.0 * (a.weight ? double(a.weight[c]) : 1.0) / std::sqrt(double(a.var[c]) + a.eps));
    coef[3 * S + c] = a.bias ? a.bias[c] : T(0);
  }
  const Coef<T> cf{coef, coef + S, coef + 2 * S, coef + 3 * S, nullptr};
  const int64_t bytes = M * C * int64_t(sizeof(T));
  const bool st = bytes >= kStreamBytes;
  for_chunks(g, 2 * bytes, false,
             [&](int64_t r, int64_t b) { out_chunk<HalfApplyOp>(g, a.x, a.x, a.y, cf, r, b, st); });
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
  Scratch<unsigned char> redo(C);  // channels for exact_grad_sums
  // Outputs and dx coefficients of channel c from sum dy = sdy * 2^edy and sum dy * (x - mean)
  // = sdx * 2^edx (exponents 0 on the one-pass path, where this is plain arithmetic). Products
  // are ordered so that invstd^2 is never formed (it underflows for |x| ~ 1e160 in float64).
  auto finish = [&](int64_t c, double sdy, int edy, double sdx, int edx) {
    const double invstd = double(a.invstd[c]);
    double db, dw, dwm, bm;  // sum dy, sum dy * xhat, and both over M
    if (edy == 0 && edx == 0) {
      db = sdy;
      dw = sdx * invstd;
      dwm = dw / double(M);
      bm = sdy / double(M);
    } else {
      int ei = 0;
      const double fi = std::frexp(invstd, &ei);
      db = std::ldexp(sdy, edy);
      dw = std::ldexp(sdx * fi, edx + ei);
      dwm = std::ldexp(sdx * fi / double(M), edx + ei);
      bm = std::ldexp(sdy / double(M), edy);
    }
    if (a.dbias) a.dbias[c] = T(db);
    if (a.dweight) a.dweight[c] = T(dw);
    const double ca = (a.weight ? double(a.weight[c]) : 1.0) * invstd;
    // Training: DxOp's halved coefficients. Eval: dx = ca * dy through ApplyOp (below).
    coef[c] = T(0.5 * double(a.mean[c]));
    coef[S + c] = a.training ? T(2.0 * ca) : T(ca);
    coef[2 * S + c] = a.training ? T(dwm * invstd) : T(0);
    coef[3 * S + c] = a.training ? T(0.5 * bm) : T(0);
  };
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
      const double sdy = sums ? psdy[c] : 0.0, sdx = sums ? psdx[c] : 0.0;
      redo.p[c] = !std::isfinite(sdy) || !std::isfinite(sdx);  // overflow, or NaN/Inf input
      finish(c, sdy, 0, sdx, 0);
    }
  });
  int64_t nredo = 0;
  for (int64_t c = 0; c < C; ++c) nredo += redo.p[c];
  if (nredo > 0) {
    parallel_for(C, 1, nredo * M * 24, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        GradSums gs;
        if (redo.p[c] && exact_grad_sums(a.dy, a.x, double(a.mean[c]), a.n, C, a.l, c, gs))
          finish(c, gs.sdy, gs.edy, gs.sdx, gs.edx);
      }
    });
  }
  const bool st = bytes >= kStreamBytes;
  if (a.dx && a.training) {
    const Coef<T> cf{coef, coef + S, coef + 2 * S, coef + 3 * S, nullptr};
    for_chunks(g, 3 * bytes, true,
               [&](int64_t r, int64_t b) { out_chunk<DxOp>(g, a.x, a.dy, a.dx, cf, r, b, st); });
  } else if (a.dx) {  // eval: dx = A * dy, the output pass with mean 0, shift 0 on dy
    const Coef<T> cf{coef + 2 * S, coef + 2 * S, coef + S, coef + 2 * S, nullptr};
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
