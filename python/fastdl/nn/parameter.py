"""``Parameter``: a Tensor that a Module registers as trainable (requires grad by default)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops._checks import arg_error
from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A trainable Tensor: assigning one to a Module attribute registers it.

    The data is kept as a C-contiguous float32/float64 array (shared with the given ndarray
    when it already is one), the layout the fused optimiser kernels update in place.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> p = nn.Parameter(np.zeros((2, 3), np.float32))
        >>> p.requires_grad, p.shape
        (True, (2, 3))
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty((0,), np.float32)
        if isinstance(data, Tensor):
            data = data.data
        a = np.asarray(data)
        if a.dtype.kind != "f":
            if a.dtype.kind not in "biu":
                raise arg_error(
                    "Parameter", "data", "hold real numbers", f"dtype {a.dtype}", TypeError
                )
            a = a.astype(np.float32)
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float32)
        super().__init__(np.ascontiguousarray(a), requires_grad=requires_grad)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.data = canonical_dtype(self.data)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def canonical_dtype(a: Any) -> Any:
    """``a`` viewed with NumPy's interned dtype object for its type.

    An unpickled array carries an equal but distinct dtype object, which the compiled kernels'
    dtype checks (by identity) refuse; the view costs nothing and shares the data.
    """
    if isinstance(a, np.ndarray) and a.dtype.kind in "biuf" and a.dtype.fields is None:
        canon = np.dtype(a.dtype.str)
        if a.dtype is not canon:
            return a.view(canon)
    return a
