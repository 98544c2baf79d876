#include "kernels/parallel.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif
#include <pthread.h>

namespace fastdl {
namespace {

std::atomic<bool> g_forked{false};

void mark_forked_child() { g_forked.store(true); }

int initial_threads() {
  // Register once, before any parallel region can run.
  pthread_atfork(nullptr, nullptr, &mark_forked_child);
  return available_cpus();
}

std::atomic<int>& threads_var() {
  static std::atomic<int> n{initial_threads()};
  return n;
}

}  // namespace

int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

int num_threads() { return threads_var().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1) {
    throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
  }
  threads_var().store(n, std::memory_order_relaxed);
}

bool in_forked_child() { return g_forked.load(std::memory_order_relaxed); }

}  // namespace fastdl
