"""The library's one source of randomness: initialisation, dropout and shuffling draw from it."""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "get_generator"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed fastdl's global generator, so initialisation and shuffling are reproducible.

    Example:
        >>> import fastdl
        >>> _ = fastdl.manual_seed(0)
        >>> a = fastdl.get_generator().random()
        >>> _ = fastdl.manual_seed(0)
        >>> a == fastdl.get_generator().random()
        True
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed(): argument 'seed' must be an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def get_generator() -> np.random.Generator:
    """The global ``numpy.random.Generator`` (reseeded by :func:`manual_seed`).

    Example:
        >>> import fastdl
        >>> 0.0 <= fastdl.get_generator().random() < 1.0
        True
    """
    return _generator
