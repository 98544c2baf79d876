#include "kernels/buffer_pool.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define FASTDL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FASTDL_ASAN 1
#endif
#endif
#ifdef FASTDL_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace fastdl::pool {

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHugePage = size_t(2) << 20;

void poison(void* p, size_t n) {
#ifdef FASTDL_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

void unpoison(void* p, size_t n) {
#ifdef FASTDL_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

// A new mapping of n bytes (a multiple of kPage); 2 MiB aligned from kHugeFrom so that every
// whole 2 MiB range of it can be a huge page. nullptr when the OS refuses.
void* map_block(size_t n, bool huge) {
  const size_t extra = n >= kHugeFrom ? kHugePage : 0;
  void* raw = mmap(nullptr, n + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  char* p = static_cast<char*>(raw);
  if (extra) {
    const auto addr = reinterpret_cast<uintptr_t>(p);
    const size_t head = (kHugePage - addr % kHugePage) % kHugePage;
    if (head) munmap(p, head);
    if (extra - head) munmap(p + head + n, extra - head);
    p += head;
#ifdef MADV_HUGEPAGE
    if (huge) madvise(p, n, MADV_HUGEPAGE);
#endif
  }
  return p;
}

void unmap_block(void* p, size_t n) {
  unpoison(p, n);  // the addresses may be reused by anyone: ASan must not flag them
  munmap(p, n);
}

struct Cached {
  void* p;
  uint64_t freed_at;  // release order, for evicting the least recently freed
};

struct Pool {
  std::mutex mu;
  std::multimap<size_t, Cached> free;  // by size: best fit is lower_bound
  size_t limit_bytes = default_limit();
  bool huge = true;
  uint64_t tick = 0;
  Stats st{};

  // Under mu: removes least recently freed blocks until `cached_bytes + room <= limit_bytes`,
  // appending them to `out` (unmapped by the caller, outside the lock).
  void evict_for(size_t room, std::vector<std::pair<void*, size_t>>& out) {
    while (!free.empty() && st.cached_bytes + room > limit_bytes) {
      auto oldest = free.begin();
      for (auto it = free.begin(); it != free.end(); ++it) {
        if (it->second.freed_at < oldest->second.freed_at) oldest = it;
      }
      out.emplace_back(oldest->second.p, oldest->first);
      st.cached_bytes -= oldest->first;
      st.cached_blocks -= 1;
      st.unmapped += 1;
      free.erase(oldest);
    }
  }
};

Pool& pool() {
  // Never destroyed: arrays freed during interpreter shutdown may still release blocks.
  static Pool* p = [] {
    auto* q = new Pool;
    // Holding the mutex across fork() means the child never inherits it locked by a thread
    // that does not exist there.
    pthread_atfork([] { pool().mu.lock(); }, [] { pool().mu.unlock(); },
                   [] { pool().mu.unlock(); });
    return q;
  }();
  return *p;
}

void unmap_all(const std::vector<std::pair<void*, size_t>>& blocks) {
  for (const auto& [p, n] : blocks) unmap_block(p, n);
}

}  // namespace

size_t default_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  const size_t cap = size_t(4) << 30;
  if (pages <= 0 || page <= 0) return cap;
  return std::min(cap, size_t(pages) * size_t(page) / 4);
}

void* acquire(size_t nbytes, size_t* block_bytes) {
  Pool& P = pool();
  if (nbytes < kMinBytes || nbytes > (size_t(1) << 62)) return nullptr;
  const size_t n = (nbytes + kPage - 1) / kPage * kPage;
  bool huge;
  {
    std::lock_guard<std::mutex> g(P.mu);
    if (P.limit_bytes == 0) return nullptr;
    auto it = P.free.lower_bound(n);
    if (it != P.free.end() && it->first <= n + n / 4) {
      // Of equal blocks the most recently freed: up to L3 size its lines may still be cached.
      it = std::prev(P.free.upper_bound(it->first));
      void* p = it->second.p;
      *block_bytes = it->first;
      P.st.cached_bytes -= it->first;
      P.st.cached_blocks -= 1;
      P.st.hits += 1;
      P.st.live_bytes += it->first;
      P.st.live_blocks += 1;
      P.st.peak_live_bytes = std::max(P.st.peak_live_bytes, P.st.live_bytes);
      P.free.erase(it);
      unpoison(p, *block_bytes);
      return p;
    }
    huge = P.huge;
  }
  void* p = map_block(n, huge);
  if (!p) {  // out of address space or memory: the cache goes first, as PyTorch's does
    empty_cache();
    p = map_block(n, huge);
    if (!p) return nullptr;
  }
  std::lock_guard<std::mutex> g(P.mu);
  P.st.misses += 1;
  P.st.live_bytes += n;
  P.st.live_blocks += 1;
  P.st.peak_live_bytes = std::max(P.st.peak_live_bytes, P.st.live_bytes);
  *block_bytes = n;
  return p;
}

void release(void* p, size_t block_bytes) {
  Pool& P = pool();
  std::vector<std::pair<void*, size_t>> evicted;
  {
    std::lock_guard<std::mutex> g(P.mu);
    P.st.live_bytes -= block_bytes;
    P.st.live_blocks -= 1;
    if (block_bytes <= P.limit_bytes) {
      P.evict_for(block_bytes, evicted);
      P.free.emplace(block_bytes, Cached{p, ++P.tick});
      P.st.cached_bytes += block_bytes;
      P.st.cached_blocks += 1;
      poison(p, block_bytes);
      p = nullptr;
    } else {
      P.st.unmapped += 1;
    }
  }
  if (p) unmap_block(p, block_bytes);
  unmap_all(evicted);
}

size_t empty_cache() {
  Pool& P = pool();
  std::vector<std::pair<void*, size_t>> blocks;
  size_t total = 0;
  {
    std::lock_guard<std::mutex> g(P.mu);
    for (const auto& [n, c] : P.free) {
      blocks.emplace_back(c.p, n);
      total += n;
    }
    P.st.unmapped += P.free.size();
    P.free.clear();
    P.st.cached_bytes = 0;
    P.st.cached_blocks = 0;
  }
  unmap_all(blocks);
  return total;
}

size_t set_limit(size_t bytes) {
  Pool& P = pool();
  std::vector<std::pair<void*, size_t>> evicted;
  size_t before;
  {
    std::lock_guard<std::mutex> g(P.mu);
    before = P.limit_bytes;
    P.limit_bytes = bytes;
    P.evict_for(0, evicted);
  }
  unmap_all(evicted);
  return before;
}

size_t limit() {
  Pool& P = pool();
  std::lock_guard<std::mutex> g(P.mu);
  return P.limit_bytes;
}

void set_hugepages(bool on) {
  Pool& P = pool();
  std::lock_guard<std::mutex> g(P.mu);
  P.huge = on;
}

Stats stats() {
  Pool& P = pool();
  std::lock_guard<std::mutex> g(P.mu);
  Stats s = P.st;
  s.limit = P.limit_bytes;
  s.hugepages = P.huge;
  return s;
}

void reset_counters() {
  Pool& P = pool();
  std::lock_guard<std::mutex> g(P.mu);
  P.st.hits = P.st.misses = P.st.unmapped = 0;
  P.st.peak_live_bytes = P.st.live_bytes;
}

}  // namespace fastdl::pool
