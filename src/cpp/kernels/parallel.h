// The library's one thread policy.
//
// - One thread count for everything (set_num_threads), used as the OpenMP team size of every
//   parallel region; never chosen per call.
// - Work is cut into chunks whose boundaries depend only on the problem size (never on the
//   thread count), so a kernel that writes each output from one chunk, or combines per-chunk
//   partial results in chunk order, gives the same bits for any number of threads.
// - Small problems run serially: an OpenMP region costs ~0.6 us.
// - In a child made by fork() after the parent used OpenMP, libgomp's pool is unusable, so
//   kernels run serially there (as PyTorch does).
#pragma once

#include <cstdint>

namespace fastdl {

int num_threads();
// n >= 1; throws std::invalid_argument otherwise.
void set_num_threads(int n);
// The number of CPUs this process may run on (affinity mask), the default thread count.
int available_cpus();
bool in_forked_child();

// Below this much work (roughly: bytes touched, or flops/8) a region stays serial. Waking a
// sleeping worker costs ~50 us on a busy VM (the short spin count lets it sleep between
// calls), and the serial cost of 1 MiB of elementwise work is a few microseconds, so
// parallelism only pays above about this size (bias+relu 128x256: 57 us parallel, 3 us serial).
constexpr int64_t kParallelWork = int64_t(1) << 20;

// Runs f(lo, hi) on the chunks [0, g), [g, 2g), ... of [0, n). `work` is the total cost
// estimate used to decide whether to go parallel.
template <class F>
void parallel_for(int64_t n, int64_t grain, int64_t work, F&& f) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  const int nt = num_threads();
  if (chunks == 1 || nt == 1 || work < kParallelWork || in_forked_child()) {
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t lo = c * grain;
      f(lo, lo + grain < n ? lo + grain : n);
    }
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = c * grain;
    f(lo, lo + grain < n ? lo + grain : n);
  }
}

}  // namespace fastdl
