#include "kernels/dispatch.h"

#include <atomic>
#include <stdexcept>

namespace fastdl {
namespace {

std::atomic<int> g_isa{-1};
std::atomic<unsigned> g_masked{0};  // bit i set: Isa(i) treated as unsupported (tests)

bool cpu_has(Isa isa) {
#if FASTDL_X86 && (defined(__GNUC__) || defined(__clang__))
  // libgcc's cpu model checks XGETBV too, so these are false when the OS does not save
  // the YMM/ZMM state.
  __builtin_cpu_init();
  switch (isa) {
    case Isa::baseline:
      return true;
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == Isa::baseline;
#endif
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::baseline:
      return "baseline";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  if (name == "baseline") return Isa::baseline;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("FASTDL_CPU: expected one of 'baseline', 'avx2', 'avx512', got '" +
                              name + "'");
}

bool isa_compiled(Isa isa) { return FASTDL_X86 || isa == Isa::baseline; }

bool isa_supported(Isa isa) {
  const bool masked = g_masked.load(std::memory_order_relaxed) & (1u << static_cast<int>(isa));
  return isa_compiled(isa) && !masked && cpu_has(isa);
}

void mask_isa(Isa isa) {
  if (isa == Isa::baseline) throw std::invalid_argument("mask_isa: baseline cannot be masked");
  g_masked.fetch_or(1u << static_cast<int>(isa));
  if (!isa_supported(current_isa())) g_isa.store(static_cast<int>(best_isa()));
}

Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::baseline;
}

Isa current_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(best_isa());
    g_isa.store(v, std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
  if (!isa_supported(isa)) {
    throw std::invalid_argument(std::string("FASTDL_CPU: instruction set '") + isa_name(isa) +
                                "' is not supported by this CPU/OS or not compiled into this "
                                "build; the best available is '" +
                                isa_name(best_isa()) + "'");
  }
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace fastdl
