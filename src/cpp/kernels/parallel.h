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

#include <omp.h>

#include <chrono>
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

// Contention backoff. A region that took longer than its threads' busy times added up would
// have been faster serial: a worker started late because its core was taken (OpenBLAS's
// workers spin ~0.1 s after every NumPy BLAS call; another process) or it was slow to wake.
// After two such regions in a row (one alone is often a wake-up from a long sleep), for a few
// milliseconds only regions with several times that much work go parallel. Then two fresh
// losses are needed: the first region after a backoff wakes a worker asleep since, slowly, and
// alone re-armed it, which kept relu 1M serial (62-76 us instead of 44) on an idle machine.
// Only the choice serial/parallel changes, never the chunks, so the bits stay the same.
int64_t parallel_threshold();
void note_region(int64_t work, int64_t elapsed_ns, int64_t busy_ns);

// Worker placement. A sleeping worker woken by the thread starting a region may be put on that
// thread's CPU (this VM's scheduler does so after the other vCPU has idled a while, e.g. after
// a sleep), and it then keeps landing there: both threads share one CPU, the region runs at
// serial speed or worse, and the backoff above makes it serial. A 2-thread fp64 256^3 matmul
// took 210-285 us instead of 140 for whole benchmark samples. So a worker that starts on the
// starting thread's CPU keeps off that CPU for the next 50 ms (affinity: its own mask minus
// that CPU), unless another thread of this process is running: then the other CPU is taken
// (OpenBLAS's pool spins ~0.1 s after each NumPy call), moving there would slow NumPy's next
// call, and the loss is left to the backoff.
// `starter_cpu` is the CPU the starting thread ran on, `starter_tid` its thread id.
void place_worker(int starter_cpu, int starter_tid);
// The CPU the calling thread runs on (-1 if unknown) and its thread id.
int current_cpu();
int current_tid();

struct ParallelStats {
  int64_t regions;       // parallel regions run
  int64_t lost;          // of those, how many would have been faster serial
  int64_t moved;         // times a worker moved off the starting thread's CPU
  bool backoff_active;   // a backoff is running now
  int64_t backoff_work;  // the work a region needs to go parallel now
};
ParallelStats parallel_stats();
void reset_parallel_stats();
// Tests only: the worker busy-waits this long before its chunks, as if its core were taken.
void set_worker_delay_for_test(int64_t ns);
void delay_worker_for_test();
// Tests only: moves the worker onto `cpu`, where it may then stay as after an unlucky wake-up
// (its affinity mask is left as it was); false if not possible.
bool move_worker_for_test(int cpu);

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Runs f(lo, hi) on the chunks [0, g), [g, 2g), ... of [0, n). `work` is the total cost
// estimate used to decide whether to go parallel.
template <class F>
void parallel_for(int64_t n, int64_t grain, int64_t work, F&& f) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  const int nt = num_threads();
  // kParallelWork first: below it the answer is serial without reading the clock, which
  // parallel_threshold() does once any backoff has run in this process.
  if (chunks == 1 || nt == 1 || work < kParallelWork || work < parallel_threshold() ||
      in_forked_child()) {
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t lo = c * grain;
      f(lo, lo + grain < n ? lo + grain : n);
    }
    return;
  }
  const int64_t start = now_ns();
  const int cpu = current_cpu();
  const int tid = current_tid();
  int64_t busy = 0;  // summed over the team: roughly what the region costs run serially
#pragma omp parallel num_threads(nt) reduction(+ : busy)
  {
    if (omp_get_thread_num() != 0) {
      place_worker(cpu, tid);
      delay_worker_for_test();
    }
    const int64_t t = now_ns();
#pragma omp for schedule(static) nowait
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t lo = c * grain;
      f(lo, lo + grain < n ? lo + grain : n);
    }
    busy += now_ns() - t;
  }
  note_region(work, now_ns() - start, busy);
}

}  // namespace fastdl
