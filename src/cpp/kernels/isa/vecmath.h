// Vectorisable exp/expm1/sigmoid/tanh for float and double, used only from per-ISA files.
// Plain loops over these inline into SIMD code for whatever ISA the file is compiled for.
#pragma once

#include <cstdint>
#include <cstring>

namespace fastdl {
namespace FASTDL_ISA_NS {
namespace {

template <class T>
struct ExpConsts;
template <>
struct ExpConsts<float> {
  using Int = int32_t;
  using UInt = uint32_t;
  static constexpr float lo = -87.3f, hi = 88.7f;
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  static constexpr int mant = 23, bias = 127;
  static constexpr int degree = 7;
};
template <>
struct ExpConsts<double> {
  using Int = int64_t;
  using UInt = uint64_t;
  static constexpr double lo = -708.0, hi = 709.0;
  static constexpr double log2e = 1.4426950408889634074;
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr int mant = 52, bias = 1023;
  static constexpr int degree = 13;
};

template <class To, class From>
inline To bits_as(From v) {
  To out;
  std::memcpy(&out, &v, sizeof(out));
  return out;
}

// exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Taylor polynomial in r (error
// below half an ulp of T), times 2^n built in the exponent bits. 0 below `lo`, inf above `hi`.
template <class T>
inline T vexp(T x) {
  using C = ExpConsts<T>;
  using I = typename C::Int;
  const T xc = x < C::lo ? C::lo : (x > C::hi ? C::hi : x);
  const T t = xc * C::log2e + C::magic;
  const T n = t - C::magic;
  const T r = (xc - n * C::ln2_hi) - n * C::ln2_lo;
  // 1/k! for k = degree .. 0, Horner.
  T p = T(1);
#pragma GCC unroll 16
  for (int k = C::degree; k >= 1; --k) p = T(1) + (r * (T(1) / T(k))) * p;
  // Unsigned arithmetic: for NaN input t holds arbitrary bits, and a signed overflow or a
  // left shift of a negative value would be undefined (UBSan); the result is NaN anyway.
  using U = typename C::UInt;
  const U ni = bits_as<U>(t) - bits_as<U>(C::magic);
  const T scale = bits_as<T>(static_cast<U>((ni + U(C::bias)) << C::mant));
  T y = p * scale;
  y = x < C::lo ? T(0) : y;
  y = x > C::hi ? bits_as<T>(static_cast<I>(I((1 << (sizeof(T) == 4 ? 8 : 11)) - 1) << C::mant))
                : y;
  return y;
}

// expm1(z) for z <= 0 with full relative accuracy near 0 (Taylor for z > -1/2).
template <class T>
inline T vexpm1_neg(T z) {
  constexpr int degree = sizeof(T) == 4 ? 8 : 16;
  T p = T(1);
#pragma GCC unroll 16
  for (int k = degree; k >= 2; --k) p = T(1) + (z * (T(1) / T(k))) * p;
  const T small = p * z;
  const T large = vexp(z) - T(1);
  return z > T(-0.5) ? small : large;
}

template <class T>
inline T vsigmoid(T x) {
  const T a = x < T(0) ? -x : x;
  const T e = vexp(-a);
  const T s = T(1) / (T(1) + e);
  return x < T(0) ? e * s : s;
}

template <class T>
inline T vtanh(T x) {
  const T a = x < T(0) ? -x : x;
  const T em = vexpm1_neg(T(-2) * a);
  const T t = -em / (T(2) + em);
  return x < T(0) ? -t : t;
}

}  // namespace
}  // namespace FASTDL_ISA_NS
}  // namespace fastdl
