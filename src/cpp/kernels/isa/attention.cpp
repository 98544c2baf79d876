// Flash-style attention forward and backward, compiled once per instruction set (README.md).
//
// Every product is C (+)= A B with A read one scalar at a time (any strides, so P^T and dS^T
// need no transpose) and B read in whole vectors along its rows. B operands are packed once per
// call so their rows are a whole number of vectors: K^T and V^T in key blocks (up to kBk keys, zero
// padded), and K, Q, V, dO with their feature dimension padded when it is not a multiple of
// the vector width.
#include "kernels/attention.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/isa/vecmath.h"
#include "kernels/parallel.h"

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kNV = 4;  // 6 x 4 accumulators + 4 B vectors + 1 broadcast of 32 registers
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
constexpr int kNV = 2;  // 6 x 2 + 2 + 1 of 16 registers
#else
constexpr int kVecBytes = 16;
constexpr int kNV = 2;
#endif
constexpr int kMR = 6;       // rows of C per micro-tile
constexpr int64_t kBq = 64;  // queries per block
constexpr int64_t kBk = 64;  // keys per block (a multiple of kNV vectors for every ISA)

template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes)));
};
template <class T>
using Vec = typename VecOf<T>::type;
template <class T>
constexpr int kL = kVecBytes / int(sizeof(T));

template <class T>
inline Vec<T> vload(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <class T>
inline void vstore(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof(v));
}

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// C[r, c] (+)= sum_k A[r * ars + k * acs] * B[k * ldb + c] for r < MR, c < NV vectors.
template <class T, int MR, int NV>
void micro(int64_t kc, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c,
           int64_t ldc, bool accumulate) {
  constexpr int L = kL<T>;
  Vec<T> acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = accumulate ? vload(c + r * ldc + v * L) : Vec<T>{};
  }
  for (int64_t k = 0; k < kc; ++k) {
    Vec<T> bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = vload(b + k * ldb + v * L);
    const T* ak = a + k * acs;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const T x = ak[r * ars];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] += x * bv[v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) vstore(c + r * ldc + v * L, acc[r][v]);
  }
}

template <class T, int MR, int NV = kNV>
void micro_nv(int nv, int64_t kc, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb,
              T* c, int64_t ldc, bool accumulate) {
  if (nv == NV) return micro<T, MR, NV>(kc, a, ars, acs, b, ldb, c, ldc, accumulate);
  if constexpr (NV > 1) micro_nv<T, MR, NV - 1>(nv, kc, a, ars, acs, b, ldb, c, ldc, accumulate);
}

template <class T, int MR = kMR>
void micro_mr(int mr, int nv, int64_t kc, const T* a, int64_t ars, int64_t acs, const T* b,
              int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  if (mr == MR) return micro_nv<T, MR>(nv, kc, a, ars, acs, b, ldb, c, ldc, accumulate);
  if constexpr (MR > 1) micro_mr<T, MR - 1>(mr, nv, kc, a, ars, acs, b, ldb, c, ldc, accumulate);
}

// C (m x n) (+)= A (m x kc) B (kc x n); n is a multiple of the vector width (B, C padded).
// Columns outermost, so one B panel (kc x kNV vectors) stays in L1 across all rows.
template <class T>
void gemm(int64_t m, int64_t n, int64_t kc, const T* a, int64_t ars, int64_t acs, const T* b,
          int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  constexpr int64_t L = kL<T>;
  for (int64_t j = 0; j < n; j += kNV * L) {
    const int nv = int(min64(kNV * L, n - j) / L);
    for (int64_t i = 0; i < m; i += kMR) {
      const int mr = int(min64(kMR, m - i));
      micro_mr<T>(mr, nv, kc, a + i * ars, ars, acs, b + j, ldb, c + i * ldc + j, ldc, accumulate);
    }
  }
}

template <class T>
T hmax(Vec<T> v) {
  T m = v[0];
  for (int l = 1; l < kL<T>; ++l) m = v[l] > m ? v[l] : m;
  return m;
}
template <class T>
T hsum(Vec<T> v) {
  T s = v[0];
  for (int l = 1; l < kL<T>; ++l) s += v[l];
  return s;
}

// Scratch memory: std::aligned_alloc, freed on scope exit. No throw inside parallel regions:
// a failed allocation there sets a flag checked afterwards.
struct Buffer {
  void* p = nullptr;
  explicit Buffer(int64_t bytes) {
    if (bytes > 0) p = std::aligned_alloc(64, size_t(round_up(bytes, 64)));
  }
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

template <class T>
struct Plan {
  const AttentionProblem& p;
  T scale;
  int64_t nqb, nkb;
  int64_t dp, dvp;  // feature dims padded to the vector width
  int64_t bk;       // keys per block: kBk, or fewer (a whole number of vectors) for short keys
};

template <class T>
Plan<T> make_plan(const AttentionProblem& p) {
  constexpr int64_t L = kL<T>;
  const int64_t bk = min64(kBk, round_up(p.tk > 0 ? p.tk : 1, L));
  return Plan<T>{p,
                 T(p.scale),
                 (p.tq + kBq - 1) / kBq,
                 (p.tk + bk - 1) / bk,
                 round_up(p.d, L),
                 round_up(p.dv, L),
                 bk};
}

// K^T of one plane in key blocks of bk: dst[kb][c][j] = src[kb * bk + j][c], zero past n rows.
template <class T>
void pack_blocks_t(const T* src, int64_t n, int64_t cols, T* dst, int64_t nblocks, int64_t bk) {
  for (int64_t kb = 0; kb < nblocks; ++kb) {
    T* blk = dst + kb * cols * bk;
    const int64_t j0 = kb * bk, w = min64(bk, n - j0);
    for (int64_t c = 0; c < cols; ++c) {
      T* row = blk + c * bk;
      for (int64_t j = 0; j < w; ++j) row[j] = src[(j0 + j) * cols + c];
      for (int64_t j = w; j < bk; ++j) row[j] = T(0);
    }
  }
}

// rows x cols -> rows x colsp, zero padded.
template <class T>
void pack_pad(const T* src, int64_t rows, int64_t cols, T* dst, int64_t colsp) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * colsp, src + r * cols, size_t(cols) * sizeof(T));
    for (int64_t c = cols; c < colsp; ++c) dst[r * colsp + c] = T(0);
  }
}

// Packs `planes` planes of rows x cols each, in parallel over planes.
template <class T>
void pack_all(const T* src, int64_t planes, int64_t rows, int64_t cols, T* dst, bool transpose,
              int64_t nblocks, int64_t bk, int64_t colsp) {
  const int64_t plane_out = transpose ? nblocks * cols * bk : rows * colsp;
  parallel_for(planes, 1, planes * rows * cols * int64_t(sizeof(T)) * 2,
               [&](int64_t lo, int64_t hi) {
                 for (int64_t i = lo; i < hi; ++i) {
                   const T* s = src + i * rows * cols;
                   if (transpose) {
                     pack_blocks_t(s, rows, cols, dst + i * plane_out, nblocks, bk);
                   } else {
                     pack_pad(s, rows, cols, dst + i * plane_out, colsp);
                   }
                 }
               });
}

int64_t max_index(const int64_t* idx, int64_t n) {
  int64_t m = -1;
  for (int64_t i = 0; i < n; ++i) m = idx[i] > m ? idx[i] : m;
  return m;
}

// One row of logits for keys [k0, k0 + w): s = s * scale (+ additive mask), masked entries and
// keys after query qi (causal) -> -inf.
template <class T>
void logits_row(const Plan<T>& pl, const void* mask, int64_t b, int64_t qi, int64_t k0, int64_t w,
                T* s) {
  const AttentionProblem& p = pl.p;
  const T scale = pl.scale;
  for (int64_t j = 0; j < w; ++j) s[j] *= scale;
  if (p.mask_kind != MaskKind::none) {
    const int64_t off =
        p.mask_index[b] * p.mask_rows * p.mask_cols + (p.mask_rows == 1 ? 0 : qi * p.mask_cols);
    if (p.mask_kind == MaskKind::boolean) {
      const uint8_t* m = static_cast<const uint8_t*>(mask) + off;
      if (p.mask_cols == 1) {
        if (!m[0]) {
          for (int64_t j = 0; j < w; ++j) s[j] = -INFINITY;
        }
      } else {
        for (int64_t j = 0; j < w; ++j) s[j] = m[k0 + j] ? s[j] : T(-INFINITY);
      }
    } else {
      const T* m = static_cast<const T*>(mask) + off;
      if (p.mask_cols == 1) {
        const T add = m[0];
        for (int64_t j = 0; j < w; ++j) s[j] += add;
      } else {
        for (int64_t j = 0; j < w; ++j) s[j] += m[k0 + j];
      }
    }
  }
  if (p.causal) {
    for (int64_t j = qi - k0 + 1 > 0 ? qi - k0 + 1 : 0; j < w; ++j) s[j] = -INFINITY;
  }
}

// Number of key blocks query block [q0, q0 + nq) can see.
template <class T>
int64_t key_blocks_for(const Plan<T>& pl, int64_t q0, int64_t nq) {
  if (!pl.p.causal) return pl.nkb;
  const int64_t last = min64(pl.p.tk, q0 + nq);  // keys [0, last) visible to some row
  return (last + pl.bk - 1) / pl.bk;
}

// Causal work grows with the query block: visit blocks 0, n-1, 1, n-2, ... so contiguous
// ranges of tasks (OpenMP static schedule) carry equal work.
inline int64_t zigzag(int64_t t, int64_t n) { return (t & 1) ? n - 1 - t / 2 : t / 2; }

template <class T>
void forward(const AttentionProblem& p, const T* q, const T* k, const T* v, const void* mask,
             T* out, T* lse) {
  if (p.bh <= 0 || p.tq <= 0) return;
  constexpr int64_t L = kL<T>;
  const Plan<T> pl = make_plan<T>(p);
  const int64_t nkp = max_index(p.k_index, p.bh) + 1, nvp = max_index(p.v_index, p.bh) + 1;
  // Packed B operands: K^T blocks, and V padded when dv is not a multiple of the width.
  const int64_t kt_plane = pl.nkb * p.d * pl.bk;
  Buffer kt_buf(nkp * kt_plane * int64_t(sizeof(T)));
  const bool pad_v = pl.dvp != p.dv;
  Buffer vp_buf(pad_v ? nvp * p.tk * pl.dvp * int64_t(sizeof(T)) : 0);
  if ((kt_plane > 0 && !kt_buf.p) || (pad_v && p.tk > 0 && !vp_buf.p)) throw std::bad_alloc();
  T* kt = kt_buf.as<T>();
  pack_all(k, nkp, p.tk, p.d, kt, true, pl.nkb, pl.bk, 0);
  const T* vp = v;
  if (pad_v) {
    pack_all(v, nvp, p.tk, p.dv, vp_buf.as<T>(), false, 0, 0, pl.dvp);
    vp = vp_buf.as<T>();
  }

  const int64_t tasks = p.bh * pl.nqb;
  const int64_t work = p.bh * p.tq * p.tk * (p.d + p.dv) / 4;
  bool failed = false;
  parallel_for(tasks, 1, work, [&](int64_t lo, int64_t hi) {
    Buffer sbuf(kBq * kBk * int64_t(sizeof(T)));
    Buffer obuf(kBq * (pl.dvp + 2) * int64_t(sizeof(T)));
    if (!sbuf.p || !obuf.p) {
      __atomic_store_n(&failed, true, __ATOMIC_RELAXED);
      return;
    }
    T* S = sbuf.as<T>();
    T* O = obuf.as<T>();
    T* mrow = O + kBq * pl.dvp;
    T* lrow = mrow + kBq;
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t b = t / pl.nqb;
      const int64_t qb = p.causal ? zigzag(t % pl.nqb, pl.nqb) : t % pl.nqb;
      const int64_t q0 = qb * kBq, nq = min64(kBq, p.tq - q0);
      const T* qa = q + (p.q_index[b] * p.tq + q0) * p.d;
      const T* ktp = kt + p.k_index[b] * kt_plane;
      const T* vpl = vp + p.v_index[b] * p.tk * pl.dvp;
      std::memset(O, 0, size_t(nq * pl.dvp) * sizeof(T));
      for (int64_t r = 0; r < nq; ++r) mrow[r] = -INFINITY, lrow[r] = T(0);
      const int64_t kbn = key_blocks_for(pl, q0, nq);
      for (int64_t kb = 0; kb < kbn; ++kb) {
        const int64_t k0 = kb * pl.bk, w = min64(pl.bk, p.tk - k0), wp = round_up(w, L);
        gemm<T>(nq, wp, p.d, qa, p.d, 1, ktp + kb * p.d * pl.bk, pl.bk, S, kBk, false);
        for (int64_t r = 0; r < nq; ++r) {
          T* s = S + r * kBk;
          logits_row(pl, mask, b, q0 + r, k0, w, s);
          for (int64_t j = w; j < wp; ++j) s[j] = -INFINITY;
          Vec<T> mv = Vec<T>{} + T(-INFINITY);
          for (int64_t j = 0; j < wp; j += L) {
            const Vec<T> x = vload(s + j);
            mv = x > mv ? x : mv;
          }
          const T mx = hmax<T>(mv);
          const T m_old = mrow[r];
          const T m_new = mx > m_old ? mx : m_old;
          if (m_new == T(-INFINITY)) {  // nothing visible yet in this row
            std::memset(s, 0, size_t(w) * sizeof(T));
            continue;
          }
          for (int64_t j = 0; j < wp; ++j) s[j] = vexp(s[j] - m_new);
          Vec<T> sv{};
          for (int64_t j = 0; j < wp; j += L) sv += vload(s + j);
          const T alpha = m_old == T(-INFINITY) ? T(0) : vexp(m_old - m_new);
          lrow[r] = lrow[r] * alpha + hsum<T>(sv);
          mrow[r] = m_new;
          if (alpha != T(1)) {
            T* o = O + r * pl.dvp;
            for (int64_t c = 0; c < pl.dvp; ++c) o[c] *= alpha;
          }
        }
        gemm<T>(nq, pl.dvp, w, S, kBk, 1, vpl + k0 * pl.dvp, pl.dvp, O, pl.dvp, true);
      }
      T* ob = out + (b * p.tq + q0) * p.dv;
      T* lb = lse + b * p.tq + q0;
      for (int64_t r = 0; r < nq; ++r) {
        const T l = lrow[r];
        const T inv = l > T(0) ? T(1) / l : T(0);
        const T* o = O + r * pl.dvp;
        for (int64_t c = 0; c < p.dv; ++c) ob[r * p.dv + c] = o[c] * inv;
        lb[r] = l > T(0) ? mrow[r] + std::log(l) : T(-INFINITY);
      }
    }
  });
  if (failed) throw std::bad_alloc();
}

template <class T>
void backward(const AttentionProblem& p, const T* dout, const T* q, const T* k, const T* v,
              const T* out, const T* lse, const void* mask, T* dq, T* dk, T* dv) {
  if (p.bh <= 0) return;
  constexpr int64_t L = kL<T>;
  const Plan<T> pl = make_plan<T>(p);
  const int64_t dp = pl.dp, dvp = pl.dvp;
  const int64_t nqp = max_index(p.q_index, p.bh) + 1, nkp = max_index(p.k_index, p.bh) + 1,
                nvp = max_index(p.v_index, p.bh) + 1;
  if (p.tk == 0 || p.tq == 0) {  // nothing attends: every gradient is zero
    std::memset(dq, 0, size_t(p.bh * p.tq * p.d) * sizeof(T));
    std::memset(dk, 0, size_t(p.bh * p.tk * p.d) * sizeof(T));
    std::memset(dv, 0, size_t(p.bh * p.tk * p.dv) * sizeof(T));
    return;
  }
  // Chunks of key blocks per problem, fixed by the shape: enough tasks for a few threads when
  // there are few problems; each chunk keeps its own dq partial, summed in chunk order.
  const int64_t chunks = min64(pl.nkb, (4 + p.bh - 1) / p.bh);
  const int64_t kt_plane = pl.nkb * p.d * pl.bk, vt_plane = pl.nkb * p.dv * pl.bk;
  const bool pad_d = dp != p.d, pad_dv = dvp != p.dv;
  Buffer kt_buf(nkp * kt_plane * int64_t(sizeof(T)));
  Buffer vt_buf(nvp * vt_plane * int64_t(sizeof(T)));
  Buffer qp_buf(pad_d ? nqp * p.tq * dp * int64_t(sizeof(T)) : 0);
  Buffer kp_buf(pad_d ? nkp * p.tk * dp * int64_t(sizeof(T)) : 0);
  Buffer dop_buf(pad_dv ? p.bh * p.tq * dvp * int64_t(sizeof(T)) : 0);
  Buffer dqp_buf(p.bh * chunks * p.tq * dp * int64_t(sizeof(T)));
  if ((kt_plane && !kt_buf.p) || (vt_plane && !vt_buf.p) || (pad_d && (!qp_buf.p || !kp_buf.p)) ||
      (pad_dv && !dop_buf.p) || !dqp_buf.p) {
    throw std::bad_alloc();
  }
  T* kt = kt_buf.as<T>();
  T* vt = vt_buf.as<T>();
  pack_all(k, nkp, p.tk, p.d, kt, true, pl.nkb, pl.bk, 0);
  pack_all(v, nvp, p.tk, p.dv, vt, true, pl.nkb, pl.bk, 0);
  const T *qp = q, *kp = k, *dop = dout;
  if (pad_d) {
    pack_all(q, nqp, p.tq, p.d, qp_buf.as<T>(), false, 0, 0, dp);
    pack_all(k, nkp, p.tk, p.d, kp_buf.as<T>(), false, 0, 0, dp);
    qp = qp_buf.as<T>();
    kp = kp_buf.as<T>();
  }
  if (pad_dv) {
    pack_all(dout, p.bh, p.tq, p.dv, dop_buf.as<T>(), false, 0, 0, dvp);
    dop = dop_buf.as<T>();
  }
  T* dqp = dqp_buf.as<T>();

  const int64_t work = p.bh * p.tq * p.tk * (p.d + p.dv) / 2;
  bool failed = false;
  parallel_for(p.bh * chunks, 1, work, [&](int64_t lo, int64_t hi) {
    Buffer sbuf(2 * kBq * kBk * int64_t(sizeof(T)));
    Buffer accbuf(kBk * (dp + dvp) * int64_t(sizeof(T)));
    Buffer delta_buf(p.tq * int64_t(sizeof(T)));
    if (!sbuf.p || !accbuf.p || !delta_buf.p) {
      __atomic_store_n(&failed, true, __ATOMIC_RELAXED);
      return;
    }
    T* S = sbuf.as<T>();
    T* dP = S + kBq * kBk;
    T* dKa = accbuf.as<T>();
    T* dVa = dKa + kBk * dp;
    T* delta = delta_buf.as<T>();
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t b = t / chunks, c = t % chunks;
      const T* qpl = qp + p.q_index[b] * p.tq * dp;
      const T* kpl = kp + p.k_index[b] * p.tk * dp;
      const T* ktp = kt + p.k_index[b] * kt_plane;
      const T* vtp = vt + p.v_index[b] * vt_plane;
      const T* dob = dop + b * p.tq * dvp;
      const T* lb = lse + b * p.tq;
      T* dqc = dqp + (b * chunks + c) * p.tq * dp;
      std::memset(dqc, 0, size_t(p.tq * dp) * sizeof(T));
      // delta_i = sum_e dO[i, e] O[i, e]: the row term of the softmax backward.
      for (int64_t i = 0; i < p.tq; ++i) {
        const T* g = dout + (b * p.tq + i) * p.dv;
        const T* o = out + (b * p.tq + i) * p.dv;
        T s = T(0);
        for (int64_t e = 0; e < p.dv; ++e) s += g[e] * o[e];
        delta[i] = s;
      }
      for (int64_t kb = c; kb < pl.nkb; kb += chunks) {
        const int64_t k0 = kb * pl.bk, w = min64(pl.bk, p.tk - k0), wp = round_up(w, L);
        std::memset(dKa, 0, size_t(kBk * (dp + dvp)) * sizeof(T));
        const int64_t qb0 = p.causal ? k0 / kBq : 0;
        for (int64_t qb = qb0; qb < pl.nqb; ++qb) {
          const int64_t q0 = qb * kBq, nq = min64(kBq, p.tq - q0);
          const T* qa = qpl + q0 * dp;
          const T* ga = dob + q0 * dvp;
          // P = exp(logits - lse), recomputed.
          gemm<T>(nq, wp, p.d, qa, dp, 1, ktp + kb * p.d * pl.bk, pl.bk, S, kBk, false);
          for (int64_t r = 0; r < nq; ++r) {
            T* s = S + r * kBk;
            const T l = lb[q0 + r];
            if (l == T(-INFINITY)) {
              std::memset(s, 0, size_t(w) * sizeof(T));
              continue;
            }
            logits_row(pl, mask, b, q0 + r, k0, w, s);
            for (int64_t j = 0; j < w; ++j) s[j] = vexp(s[j] - l);
          }
          // dV += P^T dO
          gemm<T>(w, dvp, nq, S, 1, kBk, ga, dvp, dVa, dvp, true);
          // dP = dO V^T, then dS = scale * P * (dP - delta) in place.
          gemm<T>(nq, wp, p.dv, ga, dvp, 1, vtp + kb * p.dv * pl.bk, pl.bk, dP, kBk, false);
          for (int64_t r = 0; r < nq; ++r) {
            const T* s = S + r * kBk;
            T* ds = dP + r * kBk;
            const T dl = delta[q0 + r], sc = pl.scale;
            for (int64_t j = 0; j < w; ++j) ds[j] = sc * s[j] * (ds[j] - dl);
          }
          // dQ += dS K ; dK += dS^T Q
          gemm<T>(nq, dp, w, dP, kBk, 1, kpl + k0 * dp, dp, dqc + q0 * dp, dp, true);
          gemm<T>(w, dp, nq, dP, 1, kBk, qa, dp, dKa, dp, true);
        }
        T* dkb = dk + (b * p.tk + k0) * p.d;
        T* dvb = dv + (b * p.tk + k0) * p.dv;
        for (int64_t j = 0; j < w; ++j) {
          std::memcpy(dkb + j * p.d, dKa + j * dp, size_t(p.d) * sizeof(T));
          std::memcpy(dvb + j * p.dv, dVa + j * dvp, size_t(p.dv) * sizeof(T));
        }
      }
    }
  });
  if (failed) throw std::bad_alloc();
  // dq = sum of the chunk partials, in chunk order.
  const int64_t rows = p.bh * p.tq;
  parallel_for(rows, 256, rows * dp * chunks * int64_t(sizeof(T)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t b = r / p.tq, i = r % p.tq;
      T* dst = dq + r * p.d;
      const T* src = dqp + (b * chunks * p.tq + i) * dp;
      for (int64_t e = 0; e < p.d; ++e) dst[e] = src[e];
      for (int64_t c = 1; c < chunks; ++c) {
        const T* s = src + c * p.tq * dp;
        for (int64_t e = 0; e < p.d; ++e) dst[e] += s[e];
      }
    }
  });
}

}  // namespace

extern const AttentionKernels attention_kernels = {
    &forward<float>,
    &forward<double>,
    &backward<float>,
    &backward<double>,
};

}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
