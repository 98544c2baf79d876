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

namespace {

// How long a lost region keeps smaller regions serial: long enough to ride out a spinning
// OpenBLAS pool between NumPy calls, short enough that a one-off hiccup costs little.
constexpr int64_t kBackoffNs = 5'000'000;
// A region may go parallel again during the backoff if it has this many times the work of
// the one that lost: its halves are longer, so the same late start costs proportionally less.
constexpr int64_t kBackoffWorkFactor = 4;
constexpr int64_t kLostInARow = 2;

std::atomic<int64_t> g_backoff_until{0};
std::atomic<int64_t> g_backoff_work{0};
std::atomic<int64_t> g_test_delay_ns{0};
std::atomic<int64_t> g_regions{0}, g_lost{0}, g_lost_streak{0};

}  // namespace

int64_t parallel_threshold() {
  const int64_t until = g_backoff_until.load(std::memory_order_relaxed);
  if (until == 0 || now_ns() >= until) return kParallelWork;
  return g_backoff_work.load(std::memory_order_relaxed);
}

void note_region(int64_t work, int64_t elapsed_ns, int64_t busy_ns) {
  g_regions.fetch_add(1, std::memory_order_relaxed);
  if (elapsed_ns <= busy_ns) {
    g_lost_streak.store(0, std::memory_order_relaxed);
    return;
  }
  g_lost.fetch_add(1, std::memory_order_relaxed);
  // One lost region is often just a worker waking from a long sleep; two in a row mean the
  // cores are contended.
  if (g_lost_streak.fetch_add(1, std::memory_order_relaxed) + 1 < kLostInARow) return;
  // The next backoff needs two new losses: the first region after this one wakes a worker
  // that slept through it, which is no evidence of contention.
  g_lost_streak.store(0, std::memory_order_relaxed);
  const int64_t now = now_ns();
  const int64_t raised =
      work > INT64_MAX / kBackoffWorkFactor ? INT64_MAX : work * kBackoffWorkFactor;
  // Within a running backoff keep the highest threshold; a fresh backoff starts from this one.
  const bool running = g_backoff_until.load(std::memory_order_relaxed) > now;
  const int64_t prev = running ? g_backoff_work.load(std::memory_order_relaxed) : kParallelWork;
  g_backoff_work.store(raised > prev ? raised : prev, std::memory_order_relaxed);
  g_backoff_until.store(now + kBackoffNs, std::memory_order_relaxed);
}

void delay_worker_for_test() {
  const int64_t d = g_test_delay_ns.load(std::memory_order_relaxed);
  if (d <= 0) return;
  const int64_t until = now_ns() + d;
  while (now_ns() < until) {
  }
}

void set_worker_delay_for_test(int64_t ns) { g_test_delay_ns.store(ns); }

ParallelStats parallel_stats() {
  ParallelStats s;
  s.regions = g_regions.load();
  s.lost = g_lost.load();
  s.backoff_active = g_backoff_until.load() > now_ns();
  s.backoff_work = s.backoff_active ? g_backoff_work.load() : kParallelWork;
  return s;
}

void reset_parallel_stats() {
  g_regions = 0;
  g_lost = 0;
  g_lost_streak = 0;
  g_backoff_until = 0;
  g_backoff_work = 0;
}

bool in_forked_child() { return g_forked.load(std::memory_order_relaxed); }

}  // namespace fastdl
