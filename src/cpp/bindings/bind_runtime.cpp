// Runtime controls: instruction set, threads, build facts (fastdl.config()).
#include <dlfcn.h>
#include <omp.h>

#include <stdexcept>

#include "bindings/common.h"
#include "kernels/dispatch.h"
#include "kernels/parallel.h"

namespace fastdl::bind {

static std::string openmp_library() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&omp_get_max_threads), &info) && info.dli_fname) {
    return info.dli_fname;
  }
  return "unknown";
}

static py::dict build_info() {
  py::dict d;
  d["version"] = FASTDL_VERSION;
  d["build_type"] = FASTDL_BUILD_TYPE;
  d["cxx_flags"] = FASTDL_CXX_FLAGS;
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = "unknown";
#endif
  d["openmp_version"] = _OPENMP;
  d["openmp_library"] = openmp_library();
  d["sanitize"] = bool(FASTDL_SANITIZE);
  py::list compiled;
  for (Isa isa : {Isa::baseline, Isa::avx2, Isa::avx512}) {
    if (isa_compiled(isa)) compiled.append(isa_name(isa));
  }
  d["isa_compiled"] = compiled;
  return d;
}

void init_runtime(py::module_& m) {
  // Registers the fork handler and fixes the default thread count at import.
  (void)num_threads();

  m.def("build_info", &build_info, "Facts fixed when the extension was compiled.");
  m.def(
      "isa_supported", [](const std::string& name) { return isa_supported(parse_isa(name)); },
      py::arg("name"));
  m.def("current_isa", [] { return std::string(isa_name(current_isa())); });
  m.def("best_isa", [] { return std::string(isa_name(best_isa())); });
  m.def(
      "set_isa",
      [](const std::string& name) {
        try {
          set_isa(parse_isa(name));
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
      },
      py::arg("name"));
  m.def(
      "_mask_isa",
      [](const std::string& name) {
        try {
          mask_isa(parse_isa(name));
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
      },
      py::arg("name"), "Tests only: treat an ISA as unsupported by this CPU from now on.");
  m.def("get_num_threads", &num_threads);
  m.def(
      "_parallel_stats",
      [] {
        const ParallelStats s = parallel_stats();
        py::dict d;
        d["regions"] = s.regions;
        d["lost"] = s.lost;
        d["moved"] = s.moved;
        d["backoff_active"] = s.backoff_active;
        d["backoff_work"] = s.backoff_work;
        return d;
      },
      "Counters of the contention backoff (see kernels/parallel.h).");
  m.def("_reset_parallel_stats", &reset_parallel_stats);
  m.def("_set_worker_delay_for_test", &set_worker_delay_for_test, py::arg("ns"));
  m.def("_move_worker_for_test", &move_worker_for_test, py::arg("cpu"),
        "Tests only: move the worker thread onto a CPU, its mask unchanged; False if not "
        "possible.");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) {
          throw py::value_error("set_num_threads(): argument 'n' must be >= 1, got " +
                                std::to_string(n));
        }
        set_num_threads(n);
      },
      py::arg("n"));
  m.def("available_cpus", &available_cpus);
  m.def("in_forked_child", &in_forked_child);
}

}  // namespace fastdl::bind
