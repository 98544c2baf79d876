#include "kernels/parallel.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(__linux__)
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
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
std::atomic<int64_t> g_regions{0}, g_lost{0}, g_lost_streak{0}, g_moved{0};

// How long a worker keeps off the CPU it was woken onto: past one benchmark sample or a few
// training steps; afterwards it is free again, in case that CPU became the better one.
constexpr int64_t kKeepOffNs = 50'000'000;

#if defined(__linux__)
// Whether a thread of this process other than the caller and `skip` is running or ready to
// run (state R in /proc/self/task/*/stat). Tens of microseconds: read only by a worker that
// woke on the starting thread's CPU.
bool other_thread_running(int skip) {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return true;  // unknown: do not move
  const int self = current_tid();
  bool found = false;
  while (dirent* e = readdir(dir)) {
    const int tid = std::atoi(e->d_name);
    if (tid <= 0 || tid == self || tid == skip) continue;
    char path[64], buf[512];
    std::snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // the thread has ended
    const ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    const char* paren = std::strrchr(buf, ')');  // the name may hold spaces and parentheses
    if (paren && paren[1] == ' ' && paren[2] == 'R') {
      found = true;
      break;
    }
  }
  closedir(dir);
  return found;
}

// A worker's placement state; `all` is its affinity mask before it first kept off a CPU.
struct Placement {
  bool have_all = false;
  bool keeping_off = false;
  int64_t until = 0;
  cpu_set_t all;
};
thread_local Placement t_placement;
#endif

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
  s.moved = g_moved.load();
  s.backoff_active = g_backoff_until.load() > now_ns();
  s.backoff_work = s.backoff_active ? g_backoff_work.load() : kParallelWork;
  return s;
}

void reset_parallel_stats() {
  g_regions = 0;
  g_lost = 0;
  g_moved = 0;
  g_lost_streak = 0;
  g_backoff_until = 0;
  g_backoff_work = 0;
}

int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();  // glibc reads it from rseq (or the vDSO): no system call
#else
  return -1;
#endif
}

int current_tid() {
#if defined(__linux__)
  thread_local const int tid = int(syscall(SYS_gettid));
  return tid;
#else
  return 0;
#endif
}

void place_worker(int starter_cpu, int starter_tid) {
#if defined(__linux__)
  if (starter_cpu < 0) return;
  Placement& p = t_placement;
  if (current_cpu() != starter_cpu) {
    if (p.keeping_off && now_ns() > p.until) {  // free again
      pthread_setaffinity_np(pthread_self(), sizeof(p.all), &p.all);
      p.keeping_off = false;
    }
    return;
  }
  if (!p.have_all) {
    if (pthread_getaffinity_np(pthread_self(), sizeof(p.all), &p.all) != 0) return;
    p.have_all = true;
  }
  if (!CPU_ISSET(starter_cpu, &p.all) || CPU_COUNT(&p.all) < 2) return;  // nowhere else to go
  if (other_thread_running(starter_tid)) return;
  cpu_set_t others = p.all;
  CPU_CLR(starter_cpu, &others);
  // Leaving the mask migrates this thread now.
  if (pthread_setaffinity_np(pthread_self(), sizeof(others), &others) != 0) return;
  p.keeping_off = true;
  p.until = now_ns() + kKeepOffNs;
  g_moved.fetch_add(1, std::memory_order_relaxed);
#else
  (void)starter_cpu;
  (void)starter_tid;
#endif
}

bool move_worker_for_test(int cpu) {
#if defined(__linux__)
  if (num_threads() < 2 || cpu < 0) return false;
  bool ok = false;
#pragma omp parallel num_threads(2)
  if (omp_get_thread_num() == 1) {
    cpu_set_t mask, one;
    if (pthread_getaffinity_np(pthread_self(), sizeof(mask), &mask) == 0 && CPU_ISSET(cpu, &mask)) {
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      // Moving onto `cpu` happens when the mask is narrowed; widening it again does not move.
      ok = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0 &&
           pthread_setaffinity_np(pthread_self(), sizeof(mask), &mask) == 0;
    }
  }
  return ok;
#else
  (void)cpu;
  return false;
#endif
}

bool in_forked_child() { return g_forked.load(std::memory_order_relaxed); }

}  // namespace fastdl
