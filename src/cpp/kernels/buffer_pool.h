// A cache of large memory blocks for the arrays fastdl returns (the CPU analogue of PyTorch's
// CUDA caching allocator).
//
// Why: a training step frees and re-allocates the same large outputs every iteration. From
// malloc, each one is memory the OS may have taken back (glibc munmaps chunks above its mmap
// threshold and trims the heap top), so every step page-faults and zeroes it again: up to
// ~24% of a BatchNorm fwd+bwd step, and 2.5 vs 6 ms at (4096, 1024) depending on the heap
// layout. Blocks here stay mapped between uses.
//
// - Blocks come from mmap (page aligned; 2 MiB aligned and madvise(MADV_HUGEPAGE) from
//   kHugeFrom bytes), never from the malloc heap, so they never interfere with its trimming.
// - A freed block is cached; an acquire takes the smallest cached block that fits when it
//   wastes at most a quarter of the request (of equal ones the most recently freed), else maps
//   a new one.
// - At most limit() bytes are cached; past it the least recently freed blocks are unmapped.
// - Thread-safe (one mutex; every entry point may be called from any thread) and fork-safe
//   (the mutex is held across fork(); the child inherits the cache, copy-on-write).
// - Under AddressSanitizer cached blocks are poisoned, so a use after release is reported.
//
// No Python here: bindings/bind_buffer_pool.cpp makes NumPy arrays own these blocks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fastdl::pool {

// Requests below this many bytes are left to the caller's ordinary allocator.
constexpr size_t kMinBytes = size_t(1) << 20;
// Blocks of at least this size are 2 MiB aligned and advised for transparent huge pages.
constexpr size_t kHugeFrom = size_t(4) << 20;

// A block of at least `nbytes` bytes (>= kMinBytes), 4096-byte aligned; its size is stored in
// *block_bytes. nullptr when the pool is disabled (limit 0) or the OS refuses the memory (after
// unmapping the cache and trying once more): the caller then allocates the ordinary way.
void* acquire(size_t nbytes, size_t* block_bytes);
// Gives back a block from acquire() with its block_bytes; it is cached or unmapped.
void release(void* p, size_t block_bytes);

// Unmaps every cached block; returns the bytes unmapped.
size_t empty_cache();
// The most bytes of free blocks kept; 0 disables the pool (acquire returns nullptr) and empties
// the cache. Returns the previous limit.
size_t set_limit(size_t bytes);
size_t limit();
// The default limit: a quarter of physical memory, at most 4 GiB.
size_t default_limit();
// Whether new blocks from kHugeFrom bytes get madvise(MADV_HUGEPAGE) (default true).
void set_hugepages(bool on);

struct Stats {
  size_t limit;       // cache limit in bytes (0: disabled)
  bool hugepages;     // new large blocks are advised for huge pages
  size_t live_bytes;  // blocks handed out and not yet released
  size_t live_blocks;
  size_t peak_live_bytes;
  size_t cached_bytes;  // free blocks kept for reuse
  size_t cached_blocks;
  uint64_t hits;      // acquires served from the cache
  uint64_t misses;    // acquires that mapped a new block
  uint64_t unmapped;  // blocks given back to the OS (limit, empty_cache, too large)
};
Stats stats();
// Zeroes hits, misses, unmapped and sets the peak to the live bytes (tests, benchmarks).
void reset_counters();

}  // namespace fastdl::pool
