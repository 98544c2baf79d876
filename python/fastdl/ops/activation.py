"""Activations and the fused bias-add + activation, forward and backward, on NumPy arrays."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import _core
from ._checks import fast_out, finish, output, prepare, ready

__all__ = [
    "ACTIVATIONS",
    "relu",
    "sigmoid",
    "tanh",
    "bias_act",
    "activation_backward",
    "relu_backward",
    "sigmoid_backward",
    "tanh_backward",
    "bias_act_backward",
]

# Kernel ids (kernels/activation.h, enum Act).
ACTIVATIONS = {None: 0, "none": 0, "relu": 1, "sigmoid": 2, "tanh": 3}


def _act_id(fn: str, activation: Optional[str]) -> int:
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"{fn}(): argument 'activation' must be one of None, 'relu', 'sigmoid', 'tanh', "
            f"got {activation!r}"
        ) from None


def _unary(fn: str, act: int, x: Any, out: Any) -> np.ndarray:
    # Fast path: nothing to convert, out absent or already right (the binding handles overlap).
    if ready(x):
        buf = fast_out(out, x.shape, x.dtype)
        if buf is not None:
            _core.bias_act_forward(act, x, None, buf)
            return buf
    dt, (xa,) = prepare(fn, x=x)
    buf, user = output(out, xa.shape, dt, fn, xa)
    _core.bias_act_forward(act, xa, None, buf)
    return finish(buf, user)


def relu(x: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """ReLU, max(x, 0), elementwise (NaN propagates, as in ``np.maximum``).

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.relu(np.array([-1.0, 2.0]))
        array([0., 2.])
    """
    return _unary("relu", 1, x, out)


def sigmoid(x: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + exp(-x)), stable for any x.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.sigmoid(np.array([0.0]))
        array([0.5])
    """
    return _unary("sigmoid", 2, x, out)


def tanh(x: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Hyperbolic tangent, elementwise.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.tanh(np.array([0.0]))
        array([0.])
    """
    return _unary("tanh", 3, x, out)


def bias_act(
    x: Any, bias: Any, activation: Optional[str] = None, out: Optional[np.ndarray] = None
) -> np.ndarray:
    """Fused ``act(x + bias)`` in one pass; ``bias`` has shape (C,) for ``x`` of shape (..., C).

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.bias_act(np.zeros((2, 2)), np.array([-1.0, 1.0]), "relu")
        array([[0., 1.],
               [0., 1.]])
    """
    fn = "bias_act"
    act = _act_id(fn, activation)
    if (
        ready(x)
        and ready(bias)
        and x.dtype is bias.dtype
        and x.ndim >= 1
        and bias.shape == x.shape[-1:]
    ):
        buf = fast_out(out, x.shape, x.dtype)
        if buf is not None:
            _core.bias_act_forward(act, x, bias, buf)
            return buf
    dt, (xa, ba) = prepare(fn, x=x, bias=bias)
    if xa.ndim < 1 or ba.shape != (xa.shape[-1],):
        raise ValueError(
            f"{fn}(): argument 'bias' must have shape (C,) = ({xa.shape[-1] if xa.ndim else '?'},) "
            f"for x of shape {xa.shape}, got {ba.shape}"
        )
    buf, user = output(out, xa.shape, dt, fn, xa, ba)
    _core.bias_act_forward(act, xa, ba, buf)
    return finish(buf, user)


def activation_backward(
    activation: Optional[str], grad: Any, y: Any, out: Optional[np.ndarray] = None
) -> np.ndarray:
    """Gradient of an activation from its output: ``grad * act'(.)`` evaluated via ``y``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.activation_backward("relu", np.ones(2), np.array([0.0, 3.0]))
        array([0., 1.])
    """
    named = isinstance(activation, str) and activation in ("relu", "sigmoid", "tanh")
    fn = f"{activation}_backward" if named else "activation_backward"
    act = _act_id(fn, activation)
    if ready(grad) and ready(y) and grad.dtype is y.dtype and grad.shape == y.shape:
        buf = fast_out(out, y.shape, y.dtype)
        if buf is not None:
            _core.bias_act_backward(act, y, grad, buf, None)
            return buf
    dt, (ga, ya) = prepare(fn, grad=grad, y=y)
    if ga.shape != ya.shape:
        raise ValueError(f"{fn}(): 'grad' {ga.shape} and 'y' {ya.shape} must have the same shape")
    buf, user = output(out, ya.shape, dt, fn, ga, ya)
    _core.bias_act_backward(act, ya, ga, buf, None)
    return finish(buf, user)


def relu_backward(grad: Any, y: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``grad * (y > 0)`` where ``y = relu(x)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.relu_backward(np.ones(2), np.array([0.0, 3.0]))
        array([0., 1.])
    """
    return activation_backward("relu", grad, y, out)


def sigmoid_backward(grad: Any, y: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``grad * y * (1 - y)`` where ``y = sigmoid(x)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.sigmoid_backward(np.ones(1), np.array([0.5]))
        array([0.25])
    """
    return activation_backward("sigmoid", grad, y, out)


def tanh_backward(grad: Any, y: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``grad * (1 - y**2)`` where ``y = tanh(x)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.tanh_backward(np.ones(1), np.array([0.5]))
        array([0.75])
    """
    return activation_backward("tanh", grad, y, out)


def bias_act_backward(
    grad: Any, y: Any, activation: Optional[str] = None
) -> tuple[np.ndarray, np.ndarray]:
    """Backward of :func:`bias_act` from its output ``y``: returns ``(grad_x, grad_bias)``.

    ``grad_bias`` sums ``grad_x`` over every axis but the last, in a fixed order.

    Example:
        >>> import numpy as np, fastdl
        >>> gx, gb = fastdl.ops.bias_act_backward(np.ones((3, 2)), np.ones((3, 2)), "relu")
        >>> gb
        array([3., 3.])
    """
    fn = "bias_act_backward"
    act = _act_id(fn, activation)
    if ready(grad) and ready(y) and grad.dtype is y.dtype:
        dt, ga, ya = y.dtype, grad, y
    else:
        dt, (ga, ya) = prepare(fn, grad=grad, y=y)
    if ga.shape != ya.shape or ya.ndim < 1:
        raise ValueError(
            f"{fn}(): 'grad' {ga.shape} and 'y' {ya.shape} must have the same shape, at least 1-d"
        )
    gx = np.empty(ya.shape, dt)
    gb = np.empty(ya.shape[-1:], dt)
    _core.bias_act_backward(act, ya, ga, gx, gb)
    return gx, gb
