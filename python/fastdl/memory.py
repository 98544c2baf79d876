"""fastdl's cache of large output blocks, seen from Python: ``empty_cache`` and ``memory_stats``.

Every array a fastdl op returns is allocated like ``np.empty``; from 1 MiB its memory comes from
a cache of blocks kept mapped between uses, the CPU counterpart of PyTorch's CUDA caching
allocator. A training step frees and re-allocates the same large outputs every iteration; from
malloc each would be memory the OS took back, page-faulted and zeroed again on first touch
(~24% of a BatchNorm forward + backward step at (65536, 256) float32). A block returns to the
cache only when the array, every view and slice of it and every Tensor holding it are gone.

- ``FASTDL_CACHE_BYTES`` (read at import) bounds the bytes of free blocks kept: a byte count
  with an optional K/M/G suffix; ``0`` disables the cache (every output from NumPy's
  allocator). Default: a quarter of physical memory, at most 4 GiB. Past the bound the least
  recently freed blocks go back to the OS.
- :func:`empty_cache` gives every cached block back to the OS (``torch.cuda.empty_cache``).
- Pooled arrays do not own their data (``a.flags.owndata`` is False; ``a.base`` is the block),
  so ``a.resize(...)`` in place is refused as for any view; ``np.resize``, copies, pickling and
  ``np.save`` work as usual.
- After ``fork()`` the child inherits the cache (copy-on-write) and keeps using it.
"""

from __future__ import annotations

from typing import Any

from . import _core

__all__ = ["empty_cache", "memory_stats"]


def empty_cache() -> int:
    """Give every cached free block back to the OS; returns the number of bytes released.

    Blocks still in use are untouched; they return to the cache when their arrays are freed.

    Example:
        >>> import numpy as np, fastdl
        >>> a = fastdl.ops.relu(np.ones((1024, 1024), np.float32))  # a 4 MiB output
        >>> del a  # its block is now cached
        >>> fastdl.empty_cache() >= 4 * 1024 * 1024
        True
        >>> fastdl.memory_stats()["cached_bytes"]
        0
    """
    return _core._pool_empty_cache()


def memory_stats() -> dict[str, Any]:
    """Counters of the block cache.

    Keys: ``enabled``, ``limit_bytes`` (cap on cached free bytes), ``min_bytes`` (smallest
    pooled array), ``hugepages``, ``live_bytes``/``live_blocks`` (blocks in use),
    ``peak_live_bytes``, ``cached_bytes``/``cached_blocks`` (free blocks kept), ``hits``
    (allocations served from the cache), ``misses`` (new blocks mapped), ``unmapped`` (blocks
    given back to the OS).

    Example:
        >>> import numpy as np, fastdl
        >>> a = fastdl.ops.relu(np.ones((1024, 1024), np.float32))
        >>> fastdl.memory_stats()["live_bytes"] >= a.nbytes
        True
    """
    return _core._pool_stats()
