// Instruction-set selection: which compiled copy of the kernels runs on this CPU.
//
// Every kernel family declares a table of function pointers (<family>.h) and defines one
// instance per instruction set in kernels/isa/<family>.cpp, which CMake compiles once per ISA
// inside namespace isa_baseline / isa_avx2 / isa_avx512. FASTDL_SELECT picks the instance for
// the ISA chosen at import (FASTDL_CPU overrides the choice).
#pragma once

#include <string>

namespace fastdl {

enum class Isa : int { baseline = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Parses "baseline" / "avx2" / "avx512"; throws std::invalid_argument on anything else.
Isa parse_isa(const std::string& name);
// Built into this binary (x86 builds have all three; other CPUs only baseline).
bool isa_compiled(Isa isa);
// Compiled, and the CPU and the OS (saved vector state) support it.
bool isa_supported(Isa isa);
Isa best_isa();
Isa current_isa();
// Throws std::invalid_argument naming the ISA when it is not supported here.
void set_isa(Isa isa);
// For tests: treat `isa` as unsupported from now on, as on a CPU without it (the tests of
// the error paths need one on a machine that has everything). Never used by the library.
void mask_isa(Isa isa);

#ifndef FASTDL_ISA_NS
// Only for code compiled once (bindings): an inline function also compiled in a per-ISA
// file could be replaced by its AVX-512 copy at link time.
template <class Table>
const Table& select_table(const Table* baseline, const Table* avx2, const Table* avx512) {
  switch (current_isa()) {
    case Isa::avx512:
      if (avx512) return *avx512;
      [[fallthrough]];
    case Isa::avx2:
      if (avx2) return *avx2;
      [[fallthrough]];
    default:
      return *baseline;
  }
}
#endif

}  // namespace fastdl

#ifndef FASTDL_ISA_NS
#if FASTDL_X86
#define FASTDL_SELECT(table)                                                         \
  ::fastdl::select_table(&::fastdl::isa_baseline::table, &::fastdl::isa_avx2::table, \
                         &::fastdl::isa_avx512::table)
#else
#define FASTDL_SELECT(table) \
  ::fastdl::select_table(&::fastdl::isa_baseline::table, nullptr, nullptr)
#endif
#endif

// Declares `extern const Type name;` in every ISA namespace, for a family header.
#define FASTDL_DECLARE_TABLE(Type, name) \
  namespace isa_baseline {               \
  extern const Type name;                \
  }                                      \
  namespace isa_avx2 {                   \
  extern const Type name;                \
  }                                      \
  namespace isa_avx512 {                 \
  extern const Type name;                \
  }
