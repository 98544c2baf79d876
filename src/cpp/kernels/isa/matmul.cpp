// GEMM, compiled once per instruction set (see README.md here).
//
// BLIS-style loops around a register-blocked micro-kernel:
//   chunk of C (rows x cols, the unit of threading)
//     jc: NC columns   pc: KC of the inner dimension (B block packed, or read in place)
//       ic: MC rows (A block packed only when neither of its strides is 1)
//         ir: MR rows (one A micro-panel, kept in L1 across jr)
//           jr: NR columns -> micro-kernel: MR x NR accumulators in registers over kc steps
// The micro-kernel reads A through (row stride, column stride) and B rows through a row stride
// with unit column stride, so packing is an optimisation, not a requirement: small problems
// and B with unit column stride skip it. K is blocked identically on every path and never split
// between threads, so each C element sees the same sequence of FMAs whatever the thread count.
#include "kernels/matmul.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "kernels/isa/epilogue.h"
#include "kernels/parallel.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

// ---------------------------------------------------------------------------------------------
// Vector abstraction: R is a register of L lanes; M is a lane mask ("first n lanes").

template <class T>
struct Vec;

#if defined(__AVX512F__)
// 32 zmm: 12 x 2 accumulators + 2 B vectors + a broadcast.
constexpr int kMR = 12;
constexpr int kNV = 2;

template <>
struct Vec<float> {
  using R = __m512;
  using M = __mmask16;
  static constexpr int L = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R set1(float v) { return _mm512_set1_ps(v); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static M mask(int64_t n) { return n >= L ? M(0xFFFF) : (n <= 0 ? M(0) : M((1u << n) - 1)); }
  static R mload(M m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static void mstore(float* p, M m, R v) { _mm512_mask_storeu_ps(p, m, v); }
};

template <>
struct Vec<double> {
  using R = __m512d;
  using M = __mmask8;
  static constexpr int L = 8;
  static R zero() { return _mm512_setzero_pd(); }
  static R set1(double v) { return _mm512_set1_pd(v); }
  static R load(const double* p) { return _mm512_loadu_pd(p); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static M mask(int64_t n) { return n >= L ? M(0xFF) : (n <= 0 ? M(0) : M((1u << n) - 1)); }
  static R mload(M m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, R v) { _mm512_storeu_pd(p, v); }
  static void mstore(double* p, M m, R v) { _mm512_mask_storeu_pd(p, m, v); }
};

#elif defined(__AVX2__)
// 16 ymm: 6 x 2 accumulators + 2 B vectors + a broadcast.
constexpr int kMR = 6;
constexpr int kNV = 2;

template <>
struct Vec<float> {
  using R = __m256;
  using M = __m256i;
  static constexpr int L = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R set1(float v) { return _mm256_set1_ps(v); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static M mask(int64_t n) {
    const int32_t c = n >= L ? L : (n <= 0 ? 0 : int32_t(n));
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R mload(M m, const float* p) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static void mstore(float* p, M m, R v) { _mm256_maskstore_ps(p, m, v); }
};

template <>
struct Vec<double> {
  using R = __m256d;
  using M = __m256i;
  static constexpr int L = 4;
  static R zero() { return _mm256_setzero_pd(); }
  static R set1(double v) { return _mm256_set1_pd(v); }
  static R load(const double* p) { return _mm256_loadu_pd(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static M mask(int64_t n) {
    const int64_t c = n >= L ? L : (n <= 0 ? 0 : n);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(c), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static R mload(M m, const double* p) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, R v) { _mm256_storeu_pd(p, v); }
  static void mstore(double* p, M m, R v) { _mm256_maskstore_pd(p, m, v); }
};

#else
// Portable: scalar "vectors"; the compiler may still vectorise across the tile.
constexpr int kMR = 4;
constexpr int kNV = 4;

template <class T>
struct Vec {
  using R = T;
  using M = bool;
  static constexpr int L = 1;
  static R zero() { return T(0); }
  static R set1(T v) { return v; }
  static R load(const T* p) { return *p; }
  static R fma(R a, R b, R c) { return a * b + c; }
  static R add(R a, R b) { return a + b; }
  static M mask(int64_t n) { return n > 0; }
  static R mload(M m, const T* p) { return m ? *p : T(0); }
  static void store(T* p, R v) { *p = v; }
  static void mstore(T* p, M m, R v) {
    if (m) *p = v;
  }
};
#endif

template <class T>
constexpr int kNR = kNV * Vec<T>::L;

// Local, not std::min/std::swap: out-of-line std templates could be merged across ISA builds.
inline int64_t imin(int64_t x, int64_t y) { return x < y ? x : y; }

// Cache blocking (the bench machine is a Zen 5 EPYC: 48 KiB L1d, 1 MiB L2 per core). The A
// micro-panel (MR x KC: 24 KiB fp32 at KC 512) stays in L1 while the B block (KC x NC, 512 KiB)
// streams from L2. Tuned by thread CPU time on the bench shapes: KC 384 -> 512 and NC 512 -> 256
// gained 2-4% at n = 512..2048 fp32; fp64 KC 192 -> 256 gained 3-6%.
template <class T>
struct Blocking {
  static constexpr int64_t KC = sizeof(T) == 4 ? 512 : 256;
  static constexpr int64_t MC = kMR * (sizeof(T) == 4 ? 16 : 8);
  static constexpr int64_t NC = 256;
};

// K is cut into equal blocks of at most KC (784 -> 2 x 392, not 512 + 272): a short last block
// pays the C load/store of a full block for a fraction of the FMAs. A function of k alone, so
// the summation order does not depend on the thread count.
inline int64_t k_block(int64_t k, int64_t kc_max) {
  if (k <= kc_max) return k;  // one block (the common small case): no division
  const int64_t blocks = (k + kc_max - 1) / kc_max;
  return (k + blocks - 1) / blocks;
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel: C[0:M, 0:ncols] (+)= A[0:M, 0:kc] B[0:kc, 0:ncols], NV vectors per row.
// A[i, p] = a[i * rsa + p * csa] (packed: rsa = 1, csa = kMR); B[p, j] = b[p * rsb + j].
// ncols <= NV * L; columns past ncols are neither read (masked loads) nor written.

template <class T>
using Ukr = void (*)(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, int64_t rsb,
                     T* c, int64_t ldc, int64_t ncols, bool accumulate);

template <class T, int M, int NV, bool PackedA, bool Masked>
inline __attribute__((always_inline)) void ukr_loop(int64_t kc, const T* a, int64_t rsa,
                                                    int64_t csa, const T* b, int64_t rsb,
                                                    typename Vec<T>::R (&acc)[M][NV],
                                                    const typename Vec<T>::M (&mk)[NV]) {
  using V = Vec<T>;
  using R = typename V::R;
  if constexpr (PackedA) {
    rsa = 1;
    csa = kMR;
  }
  // One pointer per 4 rows, each row reached as base + {0, 1, 2, 3} * rsa: x86 addressing
  // covers that with rsa and 3 * rsa in registers. Twelve separate row offsets did not fit
  // beside the loop state and were reloaded from the stack every step (+3-8% at n >= 256).
  constexpr int Q = (M + 3) / 4;
  const int64_t rs3 = 3 * rsa;
  const T* ap[Q];
#pragma GCC unroll 4
  for (int q = 0; q < Q; ++q) ap[q] = a + 4 * q * rsa;
  for (int64_t p = 0; p < kc; ++p) {
    R bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      bv[v] = Masked ? V::mload(mk[v], b + v * V::L) : V::load(b + v * V::L);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const T* row = ap[i / 4];
      const int r = i % 4;
      const R ai = V::set1(r == 0 ? row[0] : r == 1 ? row[rsa] : r == 2 ? row[2 * rsa] : row[rs3]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(ai, bv[v], acc[i][v]);
    }
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) ap[q] += csa;
    b += rsb;
  }
}

template <class T, int M, int NV, bool PackedA>
void ukr(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, int64_t rsb, T* c,
         int64_t ldc, int64_t ncols, bool accumulate) {
  using V = Vec<T>;
  using R = typename V::R;
  typename V::M mk[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) mk[v] = V::mask(ncols - v * V::L);
  const bool full = ncols == NV * V::L;
  R acc[M][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      T* cp = c + i * ldc + v * V::L;
      acc[i][v] = !accumulate ? V::zero() : (full ? V::load(cp) : V::mload(mk[v], cp));
    }
  }
  if (full) {
    ukr_loop<T, M, NV, PackedA, false>(kc, a, rsa, csa, b, rsb, acc, mk);
  } else {
    ukr_loop<T, M, NV, PackedA, true>(kc, a, rsa, csa, b, rsb, acc, mk);
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      T* cp = c + i * ldc + v * V::L;
      if (full) {
        V::store(cp, acc[i][v]);
      } else {
        V::mstore(cp, mk[v], acc[i][v]);
      }
    }
  }
}

// Micro-kernels for every edge shape: index (rows - 1) * kNV + (vectors - 1).
template <class F, int N>
struct FnTable {
  F f[N];
};

template <class T, bool PackedA, size_t... I>
constexpr FnTable<Ukr<T>, sizeof...(I)> make_ukrs(std::index_sequence<I...>) {
  return {{&ukr<T, int(I / kNV) + 1, int(I % kNV) + 1, PackedA>...}};
}

template <class T, bool PackedA>
constexpr FnTable<Ukr<T>, kMR * kNV> kUkrs =
    make_ukrs<T, PackedA>(std::make_index_sequence<kMR * kNV>{});

// ---------------------------------------------------------------------------------------------
// Packing. A block (mc x kc) -> panels of kMR rows: dst[panel][p][i] (rows past mc not written;
// the micro-kernel for that edge reads only its rows). B block (kc x nc) -> panels of NR
// columns: dst[panel][p][j], padded with zeros to NR so full-width loads stay in the buffer.

template <class T>
void pack_a(T* dst, const T* a, int64_t rsa, int64_t csa, int64_t mc, int64_t kc) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
    const int64_t h = mc - i0 < kMR ? mc - i0 : kMR;
    const T* src = a + i0 * rsa;
    T* d = dst + i0 * kc;
    if (rsa == 1 && h == kMR) {  // columns of A contiguous (A^T row-major): copy runs
      for (int64_t p = 0; p < kc; ++p) {
        const T* s = src + p * csa;
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i) d[p * kMR + i] = s[i];
      }
    } else {
      for (int64_t i = 0; i < h; ++i) {
        const T* s = src + i * rsa;
        for (int64_t p = 0; p < kc; ++p) d[p * kMR + i] = s[p * csa];
      }
    }
  }
}

#if defined(__AVX512F__)
// dst[i * ldd + j] = src[j * lds + i] for an L x L tile, in registers: log2(L) stages, stage b
// swapping the off-diagonal b x b blocks of every 2b x 2b block (one two-source permute per
// output register), so B^T is packed at vector speed instead of one scalar store per element.
// Each of the L source rows gives one cache line per tile, in a pattern the hardware prefetcher
// misses: the line 4 tiles ahead is prefetched (10x256x128 with B^T: 5.2 -> 4.9 us).
inline __attribute__((always_inline)) void transpose16(__m512 (&r)[16]) {
#pragma GCC unroll 4
  for (int b = 1; b < 16; b *= 2) {
    alignas(64) int32_t lo[16], hi[16];
    for (int l = 0; l < 16; ++l) {
      lo[l] = (l & b) ? 16 + l - b : l;
      hi[l] = (l & b) ? 16 + l : l + b;
    }
    const __m512i il = _mm512_load_si512(lo), ih = _mm512_load_si512(hi);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      if (i & b) continue;
      const __m512 x = _mm512_permutex2var_ps(r[i], il, r[i + b]);
      r[i + b] = _mm512_permutex2var_ps(r[i], ih, r[i + b]);
      r[i] = x;
    }
  }
}

inline void transpose_tile(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    r[i] = _mm512_loadu_ps(src + i * lds);
    _mm_prefetch(reinterpret_cast<const char*>(src + i * lds + 4 * 16), _MM_HINT_T0);
  }
  transpose16(r);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

// The first h rows of src (n <= 16 columns each, unit column stride) transposed into n rows of
// 16 at dst (row stride ldd), zeros past row h.
inline void transpose_rows(const float* src, int64_t lds, int64_t h, int64_t n, float* dst,
                           int64_t ldd) {
  const __mmask16 mk = __mmask16((1u << n) - 1);
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    r[i] = i < h ? _mm512_maskz_loadu_ps(mk, src + i * lds) : _mm512_setzero_ps();
  transpose16(r);
  for (int64_t j = 0; j < n; ++j) _mm512_storeu_ps(dst + j * ldd, r[j]);
}

inline __attribute__((always_inline)) void transpose8(__m512d (&r)[8]) {
#pragma GCC unroll 3
  for (int b = 1; b < 8; b *= 2) {
    alignas(64) int64_t lo[8], hi[8];
    for (int l = 0; l < 8; ++l) {
      lo[l] = (l & b) ? 8 + l - b : l;
      hi[l] = (l & b) ? 8 + l : l + b;
    }
    const __m512i il = _mm512_load_si512(lo), ih = _mm512_load_si512(hi);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (i & b) continue;
      const __m512d x = _mm512_permutex2var_pd(r[i], il, r[i + b]);
      r[i + b] = _mm512_permutex2var_pd(r[i], ih, r[i + b]);
      r[i] = x;
    }
  }
}

inline void transpose_tile(const double* src, int64_t lds, double* dst, int64_t ldd) {
  __m512d r[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_loadu_pd(src + i * lds);
    _mm_prefetch(reinterpret_cast<const char*>(src + i * lds + 4 * 8), _MM_HINT_T0);
  }
  transpose8(r);
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) _mm512_storeu_pd(dst + i * ldd, r[i]);
}

inline void transpose_rows(const double* src, int64_t lds, int64_t h, int64_t n, double* dst,
                           int64_t ldd) {
  const __mmask8 mk = __mmask8((1u << n) - 1);
  __m512d r[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
    r[i] = i < h ? _mm512_maskz_loadu_pd(mk, src + i * lds) : _mm512_setzero_pd();
  transpose8(r);
  for (int64_t j = 0; j < n; ++j) _mm512_storeu_pd(dst + j * ldd, r[j]);
}
#endif

// c[i * n + j] = ct[j * m + i] (i < m, j < n): the narrow A^T path's C^T written out as C.
template <class T>
void transpose_out(const T* ct, int64_t m, int64_t n, T* c) {
  int64_t i0 = 0;
#if defined(__AVX512F__)
  constexpr int L = Vec<T>::L;
  if (n <= L) {  // L rows of C per step, transposed in registers (scalar: ~1 cycle an element)
    using V = Vec<T>;
    const typename V::M mn = V::mask(n);
    typename V::R r[L];
    for (; i0 < m; i0 += L) {
      const int64_t h = imin(L, m - i0);
      const typename V::M mh = V::mask(h);
#pragma GCC unroll 16
      for (int j = 0; j < L; ++j) r[j] = j < n ? V::mload(mh, ct + j * m + i0) : V::zero();
      if constexpr (L == 16) {
        transpose16(r);
      } else {
        transpose8(r);
      }
      for (int64_t l = 0; l < h; ++l) V::mstore(c + (i0 + l) * n, mn, r[l]);
    }
  }
#endif
  for (int64_t i = i0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * n + j] = ct[j * m + i];
}

template <class T>
void pack_b(T* dst, const T* b, int64_t rsb, int64_t csb, int64_t kc, int64_t nc) {
  constexpr int NR = kNR<T>;
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t w = nc - j0 < NR ? nc - j0 : NR;
    const T* src = b + j0 * csb;
    T* d = dst + j0 * kc;
    if (csb == 1 && w == NR) {
      for (int64_t p = 0; p < kc; ++p) {
        const T* s = src + p * rsb;
#pragma GCC unroll 32
        for (int j = 0; j < NR; ++j) d[p * NR + j] = s[j];
      }
    } else {
      int64_t p0 = 0;
#if defined(__AVX512F__)
      if (rsb == 1 && w == NR) {  // B^T: columns of B contiguous, L x L tiles transposed
        constexpr int L = Vec<T>::L;
        for (; p0 + L <= kc; p0 += L)
          for (int v = 0; v < kNV; ++v)
            transpose_tile(src + v * L * csb + p0, csb, d + p0 * NR + v * L, NR);
        if (p0 < kc) {  // the last kc - p0 < L rows: masked loads (dY W^T with k = 10 was all tail)
          for (int v = 0; v < kNV; ++v)
            transpose_rows(src + v * L * csb + p0, csb, L, kc - p0, d + p0 * NR + v * L, NR);
          p0 = kc;
        }
      }
#endif
      for (int64_t p = p0; p < kc; ++p)
        for (int64_t j = w; j < NR; ++j) d[p * NR + j] = T(0);
      // Blocks of 16 rows: a column's 16 reads share a cache line when rsb == 1 (B^T), and the
      // 16 destination rows (2 KiB fp32) stay in L1 across the w columns.
      for (; p0 < kc; p0 += 16) {
        const int64_t pe = kc - p0 < 16 ? kc : p0 + 16;
        for (int64_t j = 0; j < w; ++j) {
          const T* s = src + j * csb;
          for (int64_t p = p0; p < pe; ++p) d[p * NR + j] = s[p * rsb];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Per-thread packing buffer, allocated once per thread at its largest size (never freed: the
// OpenMP pool threads live as long as the process).

struct Scratch {
  void* p;
  size_t bytes;
};
thread_local Scratch t_scratch = {nullptr, 0};

void* scratch(size_t bytes) {
  if (t_scratch.bytes < bytes) {
    std::free(t_scratch.p);
    const size_t rounded = (bytes + 63) / 64 * 64;
    t_scratch.p = std::aligned_alloc(64, rounded);
    if (!t_scratch.p) {
      // Inside an OpenMP region an exception cannot reach Python; a few hundred KiB failing
      // to allocate leaves nothing sensible to do.
      std::fputs("fastdl: out of memory for the matmul packing buffer\n", stderr);
      std::abort();
    }
    t_scratch.bytes = rounded;
  }
  return t_scratch.p;
}

// ---------------------------------------------------------------------------------------------
// Driver.

template <class T>
struct Problem {
  int64_t m, n, k;
  int64_t rsa, csa, rsb, csb;
  const T* bias;
  Act act;
  bool pack_a, pack_b;
};

template <class T>
void epilogue(Act act, T* c, int64_t ldc, const T* bias, int64_t rows, int64_t cols) {
  if constexpr (sizeof(T) == 4) {
    bias_act_block_f32(act, c, ldc, bias, rows, cols);
  } else {
    bias_act_block_f64(act, c, ldc, bias, rows, cols);
  }
}

// ---------------------------------------------------------------------------------------------
// Narrow products: lanes along k. When C has a few columns (n <= kDotN) and the rows of A are
// contiguous, lanes along n would sit mostly idle and every FMA would need its own broadcast of
// an A element (the kernel above is then load-bound: 0.3-0.8x OpenBLAS at n <= 8). Here each
// C element is a dot product of a row of A with a column of B: R rows x N columns of vector
// accumulators, each holding L partial sums over k, reduced by a fixed tree (hsum) at the end.
// A chunk of L values of k costs R + N loads for R * N FMAs. B is packed chunk-major,
// bp[(p / L) * N * L + j * L + p % L] = B[p, j], zeros past k, so the N vectors of a chunk sit at
// constant offsets from one pointer. Every C element is summed the same way whatever the rows
// around it: the bits do not depend on how rows are cut into tiles or chunks.

#if defined(__AVX512F__)
constexpr int kDotRegs = 32;
#elif defined(__AVX2__)
constexpr int kDotRegs = 16;
#else
constexpr int kDotRegs = 16;
#endif

// Widest N the dot kernels are compiled for: one output vector per row.
template <class T>
constexpr int kDotMaxN = Vec<T>::L > 1 ? Vec<T>::L : 8;
// Widest n sent to them, where they beat the broadcast kernel (thread CPU time, 128..4096 x
// 256..1024 A): with few rows per tile at large N the dot kernel is load-bound too, and its
// few A streams fall behind from L3 (AVX-512 fp32 n = 12 at 4096x1024: 0.9 ms vs 0.73).
#if defined(__AVX512F__)
template <class T>
constexpr int64_t kDotUseN = sizeof(T) == 4 ? 11 : 6;
#elif defined(__AVX2__)
template <class T>
constexpr int64_t kDotUseN = sizeof(T) == 4 ? 8 : 3;
#else
template <class T>
constexpr int64_t kDotUseN = 4;
#endif

// Rows per tile: R * N accumulators, R rows of A and one B vector in registers, R <= 8.
constexpr int dot_rows(int n) {
  const int r = (kDotRegs - 2) / (n + 1);
  return r < 1 ? 1 : (r > 8 ? 8 : r);
}

// c[j * ccs] = sum of the lanes of v[j], j < N, by a fixed tree.
#if defined(__AVX512F__)
template <int N>
inline
    __attribute__((always_inline)) void hsum_store(const __m512 (&acc)[N], float* c, int64_t ccs) {
  __m512 v[16], s[8], u[4], y[2];
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) v[j] = j < N ? acc[j] : _mm512_setzero_ps();
  // Stage 1: per 128-bit block [v0 v1 v0 v1]; 2: [v0 v1 v2 v3]; 3 and 4 add the blocks.
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
    s[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const __m512d x = _mm512_castps_pd(s[2 * i]), z = _mm512_castps_pd(s[2 * i + 1]);
    u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, z)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, z)));
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i)
    y[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 r = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
  if (ccs == 1) {
    _mm512_mask_storeu_ps(c, __mmask16((1u << N) - 1), r);
  } else {
    alignas(64) float t[16];
    _mm512_store_ps(t, r);
    for (int j = 0; j < N; ++j) c[j * ccs] = t[j];
  }
}

template <int N>
inline __attribute__((always_inline)) void hsum_store(const __m512d (&acc)[N], double* c,
                                                      int64_t ccs) {
  __m512d v[8], s[4], y[2];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) v[j] = j < N ? acc[j] : _mm512_setzero_pd();
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
    s[i] = _mm512_add_pd(_mm512_unpacklo_pd(v[2 * i], v[2 * i + 1]),
                         _mm512_unpackhi_pd(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i)
    y[i] = _mm512_add_pd(_mm512_shuffle_f64x2(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f64x2(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512d r = _mm512_add_pd(_mm512_shuffle_f64x2(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f64x2(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
  if (ccs == 1) {
    _mm512_mask_storeu_pd(c, __mmask8((1u << N) - 1), r);
  } else {
    alignas(64) double t[8];
    _mm512_store_pd(t, r);
    for (int j = 0; j < N; ++j) c[j * ccs] = t[j];
  }
}

#elif defined(__AVX2__)
template <int N>
inline
    __attribute__((always_inline)) void hsum_store(const __m256 (&acc)[N], float* c, int64_t ccs) {
  __m256 v[8], s[4], u[2];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) v[j] = j < N ? acc[j] : _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
    s[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {
    const __m256d x = _mm256_castps_pd(s[2 * i]), z = _mm256_castps_pd(s[2 * i + 1]);
    u[i] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, z)),
                         _mm256_castpd_ps(_mm256_unpackhi_pd(x, z)));
  }
  const __m256 r = _mm256_add_ps(_mm256_permute2f128_ps(u[0], u[1], 0x20),
                                 _mm256_permute2f128_ps(u[0], u[1], 0x31));
  alignas(32) float t[8];
  _mm256_store_ps(t, r);
  for (int j = 0; j < N; ++j) c[j * ccs] = t[j];
}

template <int N>
inline __attribute__((always_inline)) void hsum_store(const __m256d (&acc)[N], double* c,
                                                      int64_t ccs) {
  __m256d v[4], s[2];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) v[j] = j < N ? acc[j] : _mm256_setzero_pd();
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i)
    s[i] = _mm256_add_pd(_mm256_unpacklo_pd(v[2 * i], v[2 * i + 1]),
                         _mm256_unpackhi_pd(v[2 * i], v[2 * i + 1]));
  const __m256d r = _mm256_add_pd(_mm256_permute2f128_pd(s[0], s[1], 0x20),
                                  _mm256_permute2f128_pd(s[0], s[1], 0x31));
  alignas(32) double t[4];
  _mm256_store_pd(t, r);
  for (int j = 0; j < N; ++j) c[j * ccs] = t[j];
}

#else
template <int N, class T>
inline void hsum_store(const T (&acc)[N], T* c, int64_t ccs) {
  for (int j = 0; j < N; ++j) c[j * ccs] = acc[j];
}
#endif

// Cd[0:R, 0:N] = A[0:R, 0:k] B[0:k, 0:N] with A[r, p] = a[r * rsa + p], B packed as above and
// Cd[r, j] = c[r * crs + j * ccs].
template <class T>
using DotFn = void (*)(int64_t k, const T* a, int64_t rsa, const T* bp, T* c, int64_t crs,
                       int64_t ccs);

template <class T, int R, int N>
void dot_tile(int64_t k, const T* a, int64_t rsa, const T* bp, T* c, int64_t crs, int64_t ccs) {
  using V = Vec<T>;
  using Rg = typename V::R;
  constexpr int L = V::L;
  Rg acc[R][N];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) acc[r][j] = V::zero();
  const T* ar[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) ar[r] = a + r * rsa;
  int64_t p = 0;
  for (; p + L <= k; p += L) {
    Rg av[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      av[r] = V::load(ar[r] + p);
#if defined(__AVX512F__) || defined(__AVX2__)
      // Rows far apart are separate streams; with few of them (R = 2 at N = 10) the hardware
      // prefetcher alone left an L3-resident 4096x1024 A at 20 GB/s (8 lines ahead: 2x faster).
      _mm_prefetch(reinterpret_cast<const char*>(ar[r] + p) + 512, _MM_HINT_T0);
#endif
    }
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) {
      const Rg bv = V::load(bp + j * L);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][j] = V::fma(av[r], bv, acc[r][j]);
    }
    bp += N * L;
  }
  if (p < k) {  // the packed B is zero here; A is read only up to k
    const typename V::M mk = V::mask(k - p);
    Rg av[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) av[r] = V::mload(mk, ar[r] + p);
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) {
      const Rg bv = V::load(bp + j * L);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][j] = V::fma(av[r], bv, acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) hsum_store<N>(acc[r], c + r * crs, ccs);
}

// Index N - 1: full tiles of dot_rows(N) rows, and single rows for the ragged end.
template <class T, size_t... I>
constexpr FnTable<DotFn<T>, sizeof...(I)> make_dots(std::index_sequence<I...>) {
  return {{&dot_tile<T, dot_rows(int(I) + 1), int(I) + 1>...}};
}
template <class T, size_t... I>
constexpr FnTable<DotFn<T>, sizeof...(I)> make_dots1(std::index_sequence<I...>) {
  return {{&dot_tile<T, 1, int(I) + 1>...}};
}
template <class T>
constexpr FnTable<DotFn<T>, kDotMaxN<T>> kDots =
    make_dots<T>(std::make_index_sequence<kDotMaxN<T>>{});
template <class T>
constexpr FnTable<DotFn<T>, kDotMaxN<T>> kDots1 =
    make_dots1<T>(std::make_index_sequence<kDotMaxN<T>>{});

// B[0:k, 0:n] (B[p, j] = b[p * rsb + j * csb]) -> the chunk-major layout above: each chunk
// of L rows of B is transposed (in registers when B's rows are contiguous; the scalar loop cost
// ~1.5 cycles an element, 15% of a 128x256x8 product).
template <class T>
void pack_dot(T* dst, const T* b, int64_t rsb, int64_t csb, int64_t k, int64_t n) {
  constexpr int L = Vec<T>::L;
  for (int64_t p0 = 0; p0 < k; p0 += L) {
    const int64_t h = imin(L, k - p0);
    T* d = dst + p0 * n;
    const T* s = b + p0 * rsb;
#if defined(__AVX512F__)
    if (csb == 1 && n >= 4) {  // below 4 columns the 64 permutes cost more than scalar copies
      transpose_rows(s, rsb, h, n, d, L);
      continue;
    }
#endif
    if (rsb == 1) {  // columns of B contiguous: copies
      for (int64_t j = 0; j < n; ++j)
        for (int64_t l = 0; l < h; ++l) d[j * L + l] = s[j * csb + l];
    } else {
      for (int64_t l = 0; l < h; ++l)
        for (int64_t j = 0; j < n; ++j) d[j * L + l] = s[l * rsb + j * csb];
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t l = h; l < L; ++l) d[j * L + l] = T(0);
  }
}

// Chunks for the narrow paths (a function of the problem alone): >= ~2 MFLOP each as in
// make_grid, or >= 512 KiB of the streamed operand, since at a few FLOPs a byte (A v, v B) the
// time goes to reading it and two cores read an L3-resident matrix faster than one. At most 8,
// even, one per matrix of a batch of 8 or more; `units` caps it (tiles or panels).
inline int64_t narrow_chunks(double flops, double bytes, int64_t batch, int64_t units) {
  const double f = flops / double(1 << 21), b = bytes / double(1 << 19);
  int64_t per = int64_t(f > b ? f : b);
  if (per > 8) per = 8;
  if (per > 1) per &= ~int64_t(1);
  if (batch >= 8 || per < 1) per = 1;
  return per > units ? units : per;
}

// The work estimate parallel_for compares with kParallelWork (bytes touched or flops / 8).
inline int64_t narrow_work(double flops, double bytes, int64_t batch) {
  return int64_t((flops / 8.0 > bytes ? flops / 8.0 : bytes) * double(batch));
}

// Cd = Ad Bd for `batch` products of rows x k by k x n (n <= kDotMaxN), Ad[r, p] =
// a[r * rsa + p], Bd[p, j] = b[p * rsb + j * csb]. Cd[r, j] = c[r * crs + j * ccs] in batch t
// at c + t * cbs. With transposed_c the caller's C is Cd^T (its bias runs along r).
template <class T>
void dot_gemm(int64_t batch, const int64_t* a_off, const int64_t* b_off, int64_t rows, int64_t n,
              int64_t k, const T* a, int64_t rsa, const T* b, int64_t rsb, int64_t csb, T* c,
              int64_t crs, int64_t ccs, int64_t cbs, const T* bias, Act act, bool transposed_c) {
  constexpr int L = Vec<T>::L;
  const int R = dot_rows(int(n));
  const DotFn<T> full = kDots<T>.f[n - 1], one = kDots1<T>.f[n - 1];
  const bool epi = bias != nullptr || act != Act::none;
  const int64_t tiles = (rows + R - 1) / R;
  const double flops = 2.0 * double(rows) * double(n) * double(k);
  const double bytes = double(rows) * double(k) * double(sizeof(T));
  const int64_t per = narrow_chunks(flops, bytes, batch, tiles);
  const size_t pbytes = sizeof(T) * size_t((k + L - 1) / L * L) * size_t(n);
  const int64_t work = narrow_work(flops, bytes, batch);
  parallel_for(batch * per, 1, work, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const int64_t t = ch / per, i = ch % per;
      const int64_t r0 = i * tiles / per * R, r1 = imin(rows, (i + 1) * tiles / per * R);
      const T* at = a + (a_off ? a_off[t] : 0);
      T* bp = static_cast<T*>(scratch(pbytes));
      pack_dot(bp, b + (b_off ? b_off[t] : 0), rsb, csb, k, n);
      T* ct = c + t * cbs;
      int64_t r = r0;
      for (; r + R <= r1; r += R) {
        full(k, at + r * rsa, rsa, bp, ct + r * crs, crs, ccs);
        if (epi && !transposed_c) epilogue(act, ct + r * crs, crs, bias, R, n);
      }
      for (; r < r1; ++r) {
        one(k, at + r * rsa, rsa, bp, ct + r * crs, crs, ccs);
        if (epi && !transposed_c) epilogue(act, ct + r * crs, crs, bias, 1, n);
      }
      if (epi && transposed_c) epilogue(act, ct + r0, ccs, bias ? bias + r0 : nullptr, n, r1 - r0);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// One or two rows of C from B with contiguous rows (v B, the vector-matrix product): each row
// of B is used once, so nothing is packed or K-blocked, and the panels are wide (8 / M vectors)
// so that enough independent FMA chains hide the FMA latency (2 chains ran at a quarter of
// the FMA rate).
template <class T, int M>
void short_gemm(int64_t batch, const int64_t* a_off, const int64_t* b_off, int64_t n, int64_t k,
                const T* a, int64_t rsa, int64_t csa, const T* b, int64_t rsb, T* c, const T* bias,
                Act act) {
  constexpr int NV = 8 / M;
  constexpr int64_t W = NV * Vec<T>::L;
  const bool epi = bias != nullptr || act != Act::none;
  const int64_t panels = (n + W - 1) / W;
  const double flops = 2.0 * double(M) * double(n) * double(k);
  const double bytes = double(n) * double(k) * double(sizeof(T));
  const int64_t per = narrow_chunks(flops, bytes, batch, panels);
  const int64_t work = narrow_work(flops, bytes, batch);
  parallel_for(batch * per, 1, work, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const int64_t t = ch / per, i = ch % per;
      const int64_t j0 = i * panels / per * W, j1 = imin(n, (i + 1) * panels / per * W);
      const T* at = a + (a_off ? a_off[t] : 0);
      const T* bt = b + (b_off ? b_off[t] : 0);
      T* ct = c + t * M * n;
      for (int64_t j = j0; j < j1; j += W) {
        const int64_t w = imin(W, j1 - j);
        ukr<T, M, NV, false>(k, at, rsa, csa, bt + j, rsb, ct + j, n, w, false);
        if (epi) epilogue(act, ct + j, n, bias ? bias + j : nullptr, M, w);
      }
    }
  });
}

// One row of C from B with contiguous rows (v B): B is streamed in its own order, KB rows at a
// time across the chunk's columns, the C row (in L1) loaded and stored once per KB rows. The
// panel order of short_gemm walked B down 128-column strips, a row stride apart, and read an
// L3-resident 1024x4096 B at 0.6x NumPy's speed. Each element is still summed over p in order.
template <class T, bool Masked>
inline __attribute__((always_inline)) void row_tile(const T* a, int64_t csa, const T* b,
                                                    int64_t rsb, int kb, T* c, int64_t w,
                                                    bool first) {
  using V = Vec<T>;
  using R = typename V::R;
  constexpr int NV = 8;
  typename V::M mk[NV];
  R acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    mk[v] = V::mask(w - v * V::L);
    acc[v] = first ? V::zero() : (Masked ? V::mload(mk[v], c + v * V::L) : V::load(c + v * V::L));
  }
  for (int p = 0; p < kb; ++p) {
    const R av = V::set1(a[p * csa]);
    const T* br = b + p * rsb;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      acc[v] = V::fma(av, Masked ? V::mload(mk[v], br + v * V::L) : V::load(br + v * V::L), acc[v]);
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    if (Masked) {
      V::mstore(c + v * V::L, mk[v], acc[v]);
    } else {
      V::store(c + v * V::L, acc[v]);
    }
  }
}

// v B with at most two vectors of columns (one sample through a classifier head): one chain
// per vector would wait on the FMA latency every step, so four partial sums take the rows
// p = 0, 1, 2, 3 mod 4 and are added at the end, ((s0 + s1) + (s2 + s3)).
template <class T>
void row_narrow(int64_t n, int64_t k, const T* a, int64_t csa, const T* b, int64_t rsb, T* c) {
  using V = Vec<T>;
  using R = typename V::R;
  const typename V::M m0 = V::mask(n), m1 = V::mask(n - V::L);
  R s[4][2];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) s[q][0] = s[q][1] = V::zero();
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const R av = V::set1(a[(p + q) * csa]);
      const T* br = b + (p + q) * rsb;
      s[q][0] = V::fma(av, V::mload(m0, br), s[q][0]);
      s[q][1] = V::fma(av, V::mload(m1, br + V::L), s[q][1]);
    }
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    if (p + q < k) {
      const R av = V::set1(a[(p + q) * csa]);
      const T* br = b + (p + q) * rsb;
      s[q][0] = V::fma(av, V::mload(m0, br), s[q][0]);
      s[q][1] = V::fma(av, V::mload(m1, br + V::L), s[q][1]);
    }
  }
#pragma GCC unroll 2
  for (int v = 0; v < 2; ++v) {
    const R r = V::add(V::add(s[0][v], s[1][v]), V::add(s[2][v], s[3][v]));
    V::mstore(c + v * V::L, v == 0 ? m0 : m1, r);
  }
}

template <class T>
void row_gemm(int64_t batch, const int64_t* a_off, const int64_t* b_off, int64_t n, int64_t k,
              const T* a, int64_t csa, const T* b, int64_t rsb, T* c, const T* bias, Act act) {
  constexpr int64_t W = 8 * Vec<T>::L;
  constexpr int KB = 8;
  const bool epi = bias != nullptr || act != Act::none;
  if (n <= 2 * Vec<T>::L) {
    parallel_for(
        batch, 1, int64_t(2.0 * double(batch * n) * double(k) / 8.0), [&](int64_t lo, int64_t hi) {
          for (int64_t t = lo; t < hi; ++t) {
            T* ct = c + t * n;
            row_narrow(n, k, a + (a_off ? a_off[t] : 0), csa, b + (b_off ? b_off[t] : 0), rsb, ct);
            if (epi) epilogue(act, ct, n, bias, 1, n);
          }
        });
    return;
  }
  const int64_t panels = (n + W - 1) / W;
  const double flops = 2.0 * double(n) * double(k);
  const double bytes = double(n) * double(k) * double(sizeof(T));
  const int64_t per = narrow_chunks(flops, bytes, batch, panels);
  const int64_t work = narrow_work(flops, bytes, batch);
  parallel_for(batch * per, 1, work, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const int64_t t = ch / per, i = ch % per;
      const int64_t j0 = i * panels / per * W, j1 = imin(n, (i + 1) * panels / per * W);
      const T* at = a + (a_off ? a_off[t] : 0);
      const T* bt = b + (b_off ? b_off[t] : 0);
      T* ct = c + t * n;
      for (int64_t p0 = 0; p0 < k; p0 += KB) {
        const int kb = int(imin(KB, k - p0));
        const T* ap = at + p0 * csa;
        const T* bp = bt + p0 * rsb;
        int64_t j = j0;
        for (; j + W <= j1; j += W)
          row_tile<T, false>(ap, csa, bp + j, rsb, kb, ct + j, W, p0 == 0);
        if (j < j1) row_tile<T, true>(ap, csa, bp + j, rsb, kb, ct + j, j1 - j, p0 == 0);
      }
      if (epi) epilogue(act, ct + j0, n, bias ? bias + j0 : nullptr, 1, j1 - j0);
    }
  });
}

// C[m0:m1, n0:n1] for one matrix of the batch.
template <class T>
void run_block(const Problem<T>& P, const T* a, const T* b, T* c, int64_t m0, int64_t m1,
               int64_t n0, int64_t n1) {
  using BK = Blocking<T>;
  constexpr int NR = kNR<T>;
  constexpr int L = Vec<T>::L;
  const int64_t ldc = P.n;
  const bool epi = P.bias != nullptr || P.act != Act::none;
  T* bbuf = nullptr;
  T* abuf = nullptr;
  if (P.pack_a || P.pack_b) {
    // B block rounded up to whole NR panels, then the A block.
    constexpr int64_t bsize = BK::KC * ((BK::NC + NR - 1) / NR * NR);
    T* base = static_cast<T*>(scratch(sizeof(T) * (bsize + BK::MC * BK::KC)));
    bbuf = base;
    abuf = base + bsize;
  }
  const Ukr<T>* ukrs = P.pack_a ? kUkrs<T, true>.f : kUkrs<T, false>.f;
  const int64_t kcb = k_block(P.k, BK::KC);
  for (int64_t jc = n0; jc < n1; jc += BK::NC) {
    const int64_t nc = n1 - jc < BK::NC ? n1 - jc : BK::NC;
    for (int64_t pc = 0; pc < P.k; pc += kcb) {
      const int64_t kc = P.k - pc < kcb ? P.k - pc : kcb;
      const bool first = pc == 0, last = pc + kc == P.k;
      const T* bblk = b + pc * P.rsb + jc * P.csb;
      if (P.pack_b) pack_b(bbuf, bblk, P.rsb, P.csb, kc, nc);
      const int64_t rsb = P.pack_b ? NR : P.rsb;
      for (int64_t ic = m0; ic < m1; ic += BK::MC) {
        const int64_t mc = m1 - ic < BK::MC ? m1 - ic : BK::MC;
        const T* ablk = a + ic * P.rsa + pc * P.csa;
        if (P.pack_a) pack_a(abuf, ablk, P.rsa, P.csa, mc, kc);
        // ir outer: the A micro-panel stays in L1 while the B block streams from L2.
        for (int64_t ir = 0; ir < mc; ir += kMR) {
          const int64_t h = mc - ir < kMR ? mc - ir : kMR;
          const T* ap = P.pack_a ? abuf + ir * kc : ablk + ir * P.rsa;
          const Ukr<T>* row = ukrs + (h - 1) * kNV;
          T* crow = c + (ic + ir) * ldc + jc;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t w = nc - jr < NR ? nc - jr : NR;
            const int nv = int((w + L - 1) / L);
            const T* bp = P.pack_b ? bbuf + jr * kc : bblk + jr;
            row[nv - 1](kc, ap, P.rsa, P.csa, bp, rsb, crow + jr, ldc, w, !first);
            if (last && epi) {
              epilogue(P.act, crow + jr, ldc, P.bias ? P.bias + jc + jr : nullptr, h, w);
            }
          }
        }
      }
    }
  }
}

// How C is cut into chunks for threads: a function of the problem alone (never of the thread
// count). Each chunk packs the B columns it owns, so with packed B the split is along n (no
// panel packed twice); otherwise along m, or along both when m halves badly (below).
struct Grid {
  int64_t mtiles, ntiles;  // MR-row and NR-column tiles of C
  int64_t pm, pn;          // chunks along m and n; chunk i spans tiles [i*t/p, (i+1)*t/p)
  bool n_major;            // chunks numbered n-block by n-block (else m-block by m-block)
};

// |second half - first half| / total when t tiles of `size` (the last one ragged, `extent`
// in all) are cut at tile t / 2: how unevenly two threads share a split along this axis.
inline double half_imbalance(int64_t extent, int64_t t, int64_t size) {
  const int64_t first = t / 2 * size;
  const int64_t d = extent - 2 * first;
  return double(d < 0 ? -d : d) / double(extent);
}

template <class T>
Grid make_grid(int64_t m, int64_t n, int64_t k, int64_t batch, bool pack_b) {
  constexpr int NR = kNR<T>;
  const double flops = 2.0 * double(m) * double(n) * double(k);
  // Chunks of >= ~2 MFLOP (~10 us on one core), at most 8 per matrix; batches split by matrix.
  int64_t want = int64_t(flops / double(1 << 21));
  if (want > 8) want = 8;
  if (want > 1) want &= ~int64_t(1);  // even: two threads get equal shares
  if (batch >= 8 || want < 1) want = 1;
  Grid g;
  g.mtiles = (m + kMR - 1) / kMR;
  g.ntiles = (n + NR - 1) / NR;
  if (pack_b) {
    g.pn = want < g.ntiles ? want : g.ntiles;
    g.pm = (want + g.pn - 1) / g.pn;
    if (g.pm > g.mtiles) g.pm = g.mtiles;
    g.n_major = false;
  } else if (want >= 4 && g.ntiles % 2 == 0 &&
             half_imbalance(m, g.mtiles, kMR) > half_imbalance(n, g.ntiles, NR) + 0.02) {
    // B read in place, and m cuts unevenly in two (128 rows = 60 + 68 in 12-row tiles) while
    // n does not: two n halves, each cut along m, numbered n half by n half so that a static
    // two-thread schedule gives each thread one n half. 128x784x256: the slower thread's share
    // 108-114 -> 103-110 us (thread CPU time).
    g.pn = 2;
    g.pm = imin(want / 2, g.mtiles);
    g.n_major = true;
  } else {
    g.pm = want < g.mtiles ? want : g.mtiles;
    g.pn = (want + g.pm - 1) / g.pm;
    if (g.pn > g.ntiles) g.pn = g.ntiles;
    g.n_major = false;
  }
  return g;
}

template <class T>
void gemm(int64_t batch, const int64_t* a_off, const int64_t* b_off, int64_t m, int64_t n,
          int64_t k, const T* a, int64_t rsa, int64_t csa, const T* b, int64_t rsb, int64_t csb,
          T* c, const T* bias, Act act) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (k <= 0) {
    const int64_t total = batch * m * n;
    for (int64_t i = 0; i < total; ++i) c[i] = T(0);
    if (bias || act != Act::none) epilogue(act, c, n, bias, batch * m, n);
    return;
  }
  // Narrow C with contiguous rows of A (x W for a small layer, A v): lanes along k. For one or
  // two rows from a row-major B the short path below needs no packing.
  if (n <= kDotUseN<T> && csa == 1 && (m > 2 || n == 1 || csb != 1)) {
    dot_gemm<T>(batch, a_off, b_off, m, n, k, a, rsa, b, rsb, csb, c, n, 1, m * n, bias, act,
                false);
    return;
  }
  // A few rows of C with contiguous columns of B (v W^T): C^T = B^T A^T the same way (unless
  // C is one or two columns of a row-major A^T: packing it would cost more than the product).
  if (m <= kDotUseN<T> && rsb == 1 && (n > 2 || m == 1 || rsa != 1)) {
    dot_gemm<T>(batch, b_off, a_off, n, m, k, b, csb, a, csa, rsa, c, 1, n, m * n, bias, act, true);
    return;
  }
  // Narrow C (a few columns) with A stored transposed, as in x^T dY for a small layer: the
  // vector lanes would be mostly idle along n, so compute C^T = B^T A^T, whose rows run along
  // m and whose B operand (A^T) has contiguous rows, into a buffer, and transpose it out.
  if (batch == 1 && n > 1 && 2 * n <= kNR<T> && m >= 4 * kNR<T> && rsa == 1 && csa != 1) {
    const size_t bytes = (size_t(m) * size_t(n) * sizeof(T) + 63) / 64 * 64;
    T* ct = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (ct) {
      gemm<T>(1, nullptr, nullptr, n, m, k, b, csb, rsb, a, csa, rsa, ct, nullptr, Act::none);
      transpose_out(ct, m, n, c);
      std::free(ct);
      if (bias || act != Act::none) epilogue(act, c, n, bias, m, n);
      return;
    }
  }
  // C = A B with one column is C^T = B^T A^T with one row (A's columns contiguous here, else
  // the dot path took it): the lanes then run along m. C^T has C's bytes; the one-element bias
  // is added after.
  if (n == 1 && m > 1) {
    gemm<T>(batch, b_off, a_off, 1, m, k, b, csb, rsb, a, csa, rsa, c, nullptr, Act::none);
    if (bias || act != Act::none) epilogue(act, c, 1, bias, batch * m, 1);
    return;
  }
  if (m == 1) rsa = 1;  // one row: its stride is never used
  if (n == 1) csb = 1;  // one column: likewise
  // One or two rows from B with contiguous rows: wide panels, nothing packed.
  if (m <= 2 && csb == 1) {
    if (m == 1) {
      row_gemm<T>(batch, a_off, b_off, n, k, a, csa, b, rsb, c, bias, act);
    } else {
      short_gemm<T, 2>(batch, a_off, b_off, n, k, a, rsa, csa, b, rsb, c, bias, act);
    }
    return;
  }
  Problem<T> P{m, n, k, rsa, csa, rsb, csb, bias, act, false, false};
  // The micro-kernel only broadcasts single elements of A, so A is read in place unless
  // neither of its strides is 1 (then each cache line would serve one element). B is packed
  // when its rows are not contiguous, or when they are far apart (a page per row).
  const int64_t es = int64_t(sizeof(T));
  P.pack_a = rsa != 1 && csa != 1;
  P.pack_b = csb != 1 || rsb * es > 2048;
  const Grid g = make_grid<T>(m, n, k, batch, P.pack_b);
  const int64_t per = g.pm * g.pn;
  constexpr int64_t NR = kNR<T>;
  const double flops = 2.0 * double(m) * double(n) * double(k) * double(batch);
  // parallel_for compares work with kParallelWork; one chunk of work stays serial anyway.
  const int64_t work = int64_t(flops / 8.0);
  parallel_for(batch * per, 1, work, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      // One chunk per matrix: no index arithmetic (its divisions were ~10% of a 16x16 call).
      if (per == 1) {
        const T* at = a + (a_off ? a_off[ch] : 0);
        run_block(P, at, b + (b_off ? b_off[ch] : 0), c + ch * m * n, 0, m, 0, n);
        continue;
      }
      const int64_t t = ch / per, r = ch % per;
      const int64_t im = g.n_major ? r % g.pm : r / g.pn;
      const int64_t in = g.n_major ? r / g.pm : r % g.pn;
      const int64_t m0 = im * g.mtiles / g.pm * kMR, n0 = in * g.ntiles / g.pn * NR;
      const int64_t m1 = imin(m, (im + 1) * g.mtiles / g.pm * kMR);
      const int64_t n1 = imin(n, (in + 1) * g.ntiles / g.pn * NR);
      const T* at = a + (a_off ? a_off[t] : 0);
      const T* bt = b + (b_off ? b_off[t] : 0);
      run_block(P, at, bt, c + t * m * n, m0, m1, n0, n1);
    }
  });
}

}  // namespace

extern const MatmulKernels matmul_kernels = {
    &gemm<float>,
    &gemm<double>,
};

}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
