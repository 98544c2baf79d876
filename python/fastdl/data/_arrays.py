"""Crossing between user data (arrays, Tensors, lists) and the Tensors the loaders hand out."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops._checks import arg_error, describe
from ..tensor import Tensor, _make


def as_array(x: Any, fn: str, arg: str) -> np.ndarray:
    """``x`` as an ndarray without copying when it is one (a Tensor gives its ``.data``)."""
    if isinstance(x, Tensor):
        return x.data
    if x is None or isinstance(x, (str, bytes)):
        raise arg_error(fn, arg, "be an array", describe(x), TypeError)
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":
        raise arg_error(fn, arg, "hold numbers", f"dtype {a.dtype}", TypeError)
    return a


def to_tensor(a: np.ndarray) -> Any:
    """A Tensor sharing ``a``'s memory (``a`` is an ndarray already: skip the checks of
    ``Tensor()``, which cost more than the slice itself on small batches)."""
    return _make(a, None)
