"""Crossing between user data (arrays, Tensors, lists) and the Tensors the loaders hand out."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, _make


def as_array(x: Any, fn: str, arg: str) -> np.ndarray:
    """``x`` as an ndarray without copying when it is one (a Tensor gives its ``.data``)."""
    if isinstance(x, Tensor):
        return x.data
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{fn}(): argument '{arg}' must be an array, got {type(x).__name__}")
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{fn}(): argument '{arg}' must hold numbers, got dtype {a.dtype}")
    return a


def to_tensor(a: np.ndarray) -> Any:
    """A Tensor sharing ``a``'s memory (``a`` is an ndarray already: skip the checks of
    ``Tensor()``, which cost more than the slice itself on small batches)."""
    return _make(a, None)
