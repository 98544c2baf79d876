"""Temporary NumPy stand-ins for kernel ops that have not landed in ``fastdl.ops`` yet.

``kernel(name)`` returns ``fastdl.ops.<name>`` when it exists, else the stand-in here, so the
nn layer switches to the compiled kernel automatically as soon as the op lands. Each stand-in
follows the op's contract in API.md exactly.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from .. import ops


def linear(
    x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None, activation: Any = None
) -> np.ndarray:
    y = np.matmul(x, w)
    if b is not None or activation is not None:
        y = ops.bias_act(y, b if b is not None else np.zeros(w.shape[1], y.dtype), activation)
    return y


def matmul(a: np.ndarray, b: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    return np.matmul(a, b, out=out)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(grad: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return y * (grad - (grad * y).sum(axis=axis, keepdims=True))


def log_softmax_backward(grad: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return grad - np.exp(y) * grad.sum(axis=axis, keepdims=True)


def kernel(name: str) -> Callable[..., Any]:
    """``fastdl.ops.<name>`` if the kernel has landed, else this module's NumPy stand-in."""
    fn = getattr(ops, name, None)
    return fn if callable(fn) else globals()[name]  # ops.<family> may be the module itself
