"""Activations and the fused bias-add + activation, forward and backward, on NumPy arrays."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import numpy as np

from .. import _core
from ._checks import F32, F64, arg_error, empty, fast_out, finish, output, prepare, ready

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


_ND = np.ndarray
_fwd = _core.bias_act_forward
_if_ready = _core.bias_act_forward_if_ready


def _unary(name: str, act: int, doc: str) -> Callable[..., np.ndarray]:
    """The public function ``name`` for kernel activation ``act``: one frame on the fast path.

    Fast path: a C-contiguous float32/float64 ndarray goes straight to the kernel, which
    allocates the result; without ``out`` the binding makes that test itself
    (``bias_act_forward_if_ready``), with ``out`` the tests are ``ready`` inlined and the
    binding checks ``out`` and handles overlap. On 8 elements each Python call is ~10% of it.
    """

    def op(x: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        if out is None:
            y = _if_ready(act, x)
            if y is not None:
                return y
        elif type(x) is _ND:
            dt = x.dtype
            if (dt is F32 or dt is F64) and x.flags.c_contiguous:
                buf = fast_out(out, x.shape, dt)
                if buf is not None:
                    return _fwd(act, x, None, buf)
        dt, (xa,) = prepare(name, x=x)
        buf, user = output(out, xa.shape, dt, name, xa)
        _fwd(act, xa, None, buf)
        return finish(buf, user)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


relu = _unary(
    "relu",
    1,
    """ReLU, max(x, 0), elementwise (NaN propagates, as in ``np.maximum``).

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.relu(np.array([-1.0, 2.0]))
        array([0., 2.])
    """,
)

sigmoid = _unary(
    "sigmoid",
    2,
    """Logistic sigmoid 1 / (1 + exp(-x)), stable for any x.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.sigmoid(np.array([0.0]))
        array([0.5])
    """,
)

tanh = _unary(
    "tanh",
    3,
    """Hyperbolic tangent, elementwise.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.tanh(np.array([0.0]))
        array([0.])
    """,
)


# act(x) when x is a C-contiguous float32/float64 ndarray, else None (the caller then takes
# the general path): the fast path's test and the kernel in one C call, no Python frame
# (~0.1 us of a ~0.6 us Tensor op on 8 elements). fastdl.Tensor's relu/sigmoid/tanh use these.
FORWARD_IF_READY = {
    name: functools.partial(_if_ready, act)
    for name, act in (("relu", 1), ("sigmoid", 2), ("tanh", 3))
}


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
        if out is None:
            return _fwd(act, x, bias, None)
        buf = fast_out(out, x.shape, x.dtype)
        if buf is not None:
            return _fwd(act, x, bias, buf)
    dt, (xa, ba) = prepare(fn, x=x, bias=bias)
    if xa.ndim < 1 or ba.shape != (xa.shape[-1],):
        raise ValueError(
            f"{fn}(): argument 'bias' must have shape (C,) = ({xa.shape[-1] if xa.ndim else '?'},) "
            f"for x of shape {xa.shape}, got {ba.shape}"
        )
    buf, user = output(out, xa.shape, dt, fn, xa, ba)
    _fwd(act, xa, ba, buf)
    return finish(buf, user)


_bwd = _core.bias_act_backward


def _backward_general(fn: str, act: int, grad: Any, y: Any, out: Any) -> np.ndarray:
    dt, (ga, ya) = prepare(fn, grad=grad, y=y)
    if ga.shape != ya.shape:
        raise arg_error(fn, "y", f"have the shape of 'grad' {ga.shape}", f"{ya.shape}")
    buf, user = output(out, ya.shape, dt, fn, ga, ya)
    _bwd(act, ya, ga, buf, None)
    return finish(buf, user)


def _backward(name: str, act: int, doc: str) -> Callable[..., np.ndarray]:
    """The public ``<act>_backward``: the fast path of :func:`_unary` for (grad, y)."""

    def op(grad: Any, y: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        if type(y) is _ND and type(grad) is _ND:
            dt = y.dtype
            if (
                (dt is F32 or dt is F64)
                and grad.dtype is dt
                and grad.shape == y.shape
                and y.flags.c_contiguous
                and grad.flags.c_contiguous
            ):
                if out is None:
                    return _bwd(act, y, grad, None, None)
                buf = fast_out(out, y.shape, dt)
                if buf is not None:
                    return _bwd(act, y, grad, buf, None)
        return _backward_general(name, act, grad, y, out)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


relu_backward = _backward(
    "relu_backward",
    1,
    """``grad * (y > 0)`` where ``y = relu(x)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.relu_backward(np.ones(2), np.array([0.0, 3.0]))
        array([0., 1.])
    """,
)

sigmoid_backward = _backward(
    "sigmoid_backward",
    2,
    """``grad * y * (1 - y)`` where ``y = sigmoid(x)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.sigmoid_backward(np.ones(1), np.array([0.5]))
        array([0.25])
    """,
)

tanh_backward = _backward(
    "tanh_backward",
    3,
    """``grad * (1 - y**2)`` where ``y = tanh(x)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.tanh_backward(np.ones(1), np.array([0.5]))
        array([0.75])
    """,
)

_BACKWARDS = {"relu": relu_backward, "sigmoid": sigmoid_backward, "tanh": tanh_backward}


def activation_backward(
    activation: Optional[str], grad: Any, y: Any, out: Optional[np.ndarray] = None
) -> np.ndarray:
    """Gradient of an activation from its output: ``grad * act'(.)`` evaluated via ``y``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.activation_backward("relu", np.ones(2), np.array([0.0, 3.0]))
        array([0., 1.])
    """
    if isinstance(activation, str) and activation in _BACKWARDS:
        try:
            return _BACKWARDS[activation](grad, y, out)
        except (TypeError, ValueError):
            pass  # the general path below raises the same error under this function's name
    fn = "activation_backward"
    return _backward_general(fn, _act_id(fn, activation), grad, y, out)


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
        raise arg_error(fn, "y", f"have the shape of 'grad' {ga.shape}, at least 1-d", ya.shape)
    gx = empty(ya.shape, dt)
    gb = empty(ya.shape[-1:], dt)
    _bwd(act, ya, ga, gx, gb)
    return gx, gb
