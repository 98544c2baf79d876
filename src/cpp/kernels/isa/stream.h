// Non-temporal ("streaming") stores for outputs far larger than the caches, used only from
// per-ISA files. A normal store first reads the line it writes (read-for-ownership) and leaves
// it in the cache, evicting data the kernel reads again; a streaming store writes the whole
// line straight to memory, so an output written once costs its bytes once.
//
// stream_copy(dst, src, n) copies n values from a small (L1-resident) staging buffer to dst:
// the kernel computes a block into the buffer with ordinary vectorised code, then streams it
// out. Call stream_fence() once after the last stream_copy of a parallel chunk (streaming
// stores are weakly ordered).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
constexpr uintptr_t kStreamAlign = 64;
#elif defined(__AVX__)
constexpr uintptr_t kStreamAlign = 32;
#else
constexpr uintptr_t kStreamAlign = 16;
#endif

// Values before dst reaches the vector alignment (stored normally).
template <class T>
inline int64_t stream_head(const T* dst, int64_t n) {
  const uintptr_t mis = reinterpret_cast<uintptr_t>(dst) % kStreamAlign;
  if (mis == 0) return 0;
  if (mis % sizeof(T) != 0) return n;  // misaligned element type: no streaming
  const int64_t h = int64_t((kStreamAlign - mis) / sizeof(T));
  return h < n ? h : n;
}

inline void stream_block(float* d, const float* s) {
#if defined(__AVX512F__)
  _mm512_stream_ps(d, _mm512_loadu_ps(s));
#elif defined(__AVX__)
  _mm256_stream_ps(d, _mm256_loadu_ps(s));
#elif defined(__SSE2__)
  _mm_stream_ps(d, _mm_loadu_ps(s));
#else
  std::memcpy(d, s, kStreamAlign);
#endif
}

inline void stream_block(double* d, const double* s) {
#if defined(__AVX512F__)
  _mm512_stream_pd(d, _mm512_loadu_pd(s));
#elif defined(__AVX__)
  _mm256_stream_pd(d, _mm256_loadu_pd(s));
#elif defined(__SSE2__)
  _mm_stream_pd(d, _mm_loadu_pd(s));
#else
  std::memcpy(d, s, kStreamAlign);
#endif
}

template <class T>
inline void stream_copy(T* __restrict dst, const T* __restrict src, int64_t n) {
  constexpr int64_t w = int64_t(kStreamAlign / sizeof(T));
  const int64_t h = stream_head(dst, n);
  int64_t i = 0;
  for (; i < h; ++i) dst[i] = src[i];
  for (; i + w <= n; i += w) stream_block(dst + i, src + i);
  for (; i < n; ++i) dst[i] = src[i];
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace
}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
