"""Softmax and log-softmax along any axis, forward and backward, on NumPy arrays.

The kernel reduces over one axis of a C-contiguous array viewed as (outer, n, inner), so a
non-last axis needs no transpose. Rows are stable for any logits (the row maximum is
subtracted first); a row containing NaN or +inf gives NaN, as NumPy's formula does.
"""

from __future__ import annotations

import operator
from typing import Any, Optional

import numpy as np

from .. import _core
from ._checks import arg_error, finish, output, prepare

__all__ = ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"]


def _axis(fn: str, axis: Any, ndim: int) -> int:
    if isinstance(axis, bool):
        raise TypeError(f"{fn}(): argument 'axis' must be an int, got bool")
    try:
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(
            f"{fn}(): argument 'axis' must be an int, got {type(axis).__name__}"
        ) from None
    nd = max(ndim, 1)  # a 0-d array behaves as one element along axis 0 / -1
    if not -nd <= ax < nd:
        raise ValueError(
            f"{fn}(): argument 'axis' must be in [{-nd}, {nd - 1}] for an array with {ndim} "
            f"dimension(s), got {ax}"
        )
    return ax % nd if ndim else 0


def _forward(log: bool, x: Any, axis: Any, out: Any) -> np.ndarray:
    fn = "log_softmax" if log else "softmax"
    dt, (xa,) = prepare(fn, x=x)
    ax = _axis(fn, axis, xa.ndim)
    buf, user = output(out, xa.shape, dt, fn, xa)
    _core.softmax_forward(log, xa, buf, ax)
    return finish(buf, user)


def _backward(log: bool, grad: Any, y: Any, axis: Any, out: Any) -> np.ndarray:
    fn = "log_softmax_backward" if log else "softmax_backward"
    dt, (ga, ya) = prepare(fn, grad=grad, y=y)
    if ga.shape != ya.shape:
        raise arg_error(fn, "y", f"have the shape of 'grad' {ga.shape}", f"{ya.shape}")
    ax = _axis(fn, axis, ya.ndim)
    buf, user = output(out, ya.shape, dt, fn, ga, ya)
    _core.softmax_backward(log, ga, ya, buf, ax)
    return finish(buf, user)


def softmax(x: Any, axis: int = -1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``; stable for any finite logits.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.softmax(np.array([0.0, np.log(3.0)]))
        array([0.25, 0.75])
    """
    return _forward(False, x, axis, out)


def log_softmax(x: Any, axis: int = -1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``, computed without overflow.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.log_softmax(np.array([1e4, 1e4]))
        array([-0.69314718, -0.69314718])
    """
    return _forward(True, x, axis, out)


def softmax_backward(
    grad: Any, y: Any, axis: int = -1, out: Optional[np.ndarray] = None
) -> np.ndarray:
    """Input gradient of :func:`softmax` from the output ``y``: ``y * (grad - sum(grad * y))``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.softmax_backward(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
        array([ 0.25, -0.25])
    """
    return _backward(False, grad, y, axis, out)


def log_softmax_backward(
    grad: Any, y: Any, axis: int = -1, out: Optional[np.ndarray] = None
) -> np.ndarray:
    """Input gradient of :func:`log_softmax` from its output ``y``: ``grad - exp(y) * sum(grad)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.log_softmax_backward(np.array([1.0, 0.0]), np.log([0.5, 0.5]))
        array([ 0.5, -0.5])
    """
    return _backward(True, grad, y, axis, out)
