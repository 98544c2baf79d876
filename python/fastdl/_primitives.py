"""The primitive ops' backward rules on ndarrays, and the kernel calls they share.

Every differentiable Tensor op is either one of these primitives or a composition of them
(``fastdl.tensor``), so each gradient formula is written once, here. A primitive's node holds
its parents (Tensor or None) and ``saved`` (arrays and constants it needs); ``backward(g)``
returns one gradient per parent, already reduced to that parent's shape.

Kernel-backed primitives (matmul, linear, relu, sigmoid, tanh, softmax, log_softmax) call
``fastdl.ops`` forward (the hottest ones straight from ``tensor``) and backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .autograd import Node
from .ops._checks import arg_error
from .ops._checks import empty as _empty

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def unbroadcast(g: Any, shape: tuple) -> Any:
    """Sum ``g`` over the axes broadcasting added or stretched, giving ``shape``."""
    if type(g) is not np.ndarray:  # a product with a 0-d object array gives a bare scalar
        g = np.asarray(g)
    gs = g.shape
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1
    )
    # np.add.reduce, not np.sum: the fromnumeric wrapper costs microseconds on small arrays
    return _reduce_add(g, axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


_reduce_add = np.add.reduce


_F32, _F64 = _FLOATS


def _float_pair(a: np.ndarray, b: np.ndarray) -> bool:
    dt = a.dtype  # identity checks: dtype == costs ~50 ns each on the hot path
    return (dt is _F32 or dt is _F64) and b.dtype is dt


# --- kernel-backed forwards ---------------------------------------------------------------


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul semantics; the fastdl kernel for float32/float64 operands of one dtype.

    Other dtypes: operands of at most 2 dimensions go through ndarray.dot, the same product
    with ~0.5 us less call overhead than the np.matmul gufunc on small arrays.
    """
    if _float_pair(a, b):
        return ops.matmul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return a.dot(b)
    return np.matmul(a, b)


_ops_matmul = ops.matmul


def relu(x: np.ndarray) -> np.ndarray:
    """relu of any array: the kernel for floats, np.maximum (keeping the dtype) for the rest."""
    if x.dtype in _FLOATS:
        return ops.relu(x)
    if x.dtype.kind == "c":  # no order on complex numbers (PyTorch refuses it too)
        raise arg_error("relu", "x", "hold real numbers", f"dtype {x.dtype}", TypeError)
    return np.maximum(x, 0)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    return ops.softmax(x, axis=axis)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    return ops.log_softmax(x, axis=axis)


# --- elementwise arithmetic -------------------------------------------------------------


class Add(Node):
    __slots__ = ()

    def backward(self, g):
        a, b = self.parents
        return (
            None if a is None else unbroadcast(g, a.data.shape),
            None if b is None else unbroadcast(g, b.data.shape),
        )


class Sub(Node):
    __slots__ = ()

    def backward(self, g):
        a, b = self.parents
        return (
            None if a is None else unbroadcast(g, a.data.shape),
            None if b is None else unbroadcast(-g, b.data.shape),
        )


class Mul(Node):
    __slots__ = ()

    def backward(self, g):
        a, b = self.parents
        ad, bd = self.saved
        return (
            None if a is None else unbroadcast(g * bd, a.data.shape),
            None if b is None else unbroadcast(g * ad, b.data.shape),
        )


class Div(Node):
    # saved: (b, out); d(a/b)/db = -a/b^2 = -out/b
    __slots__ = ()

    def backward(self, g):
        a, b = self.parents
        bd, out = self.saved
        ga = g / bd
        return (
            None if a is None else unbroadcast(ga, a.data.shape),
            None if b is None else unbroadcast(-ga * out, b.data.shape),
        )


class Pow(Node):
    # saved: (a, b, out)
    __slots__ = ()

    def backward(self, g):
        a, b = self.parents
        ad, bd, out = self.saved
        ga = gb = None
        if a is not None:
            ga = unbroadcast(g * bd * ad ** (bd - 1), a.data.shape)
        if b is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = unbroadcast(g * out * np.log(ad), b.data.shape)
        return ga, gb


class Neg(Node):
    __slots__ = ()

    def backward(self, g):
        return (-g,)


class Exp(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * self.saved,)


class Log(Node):
    __slots__ = ()

    def backward(self, g):
        return (g / self.saved,)


class Log1p(Node):
    __slots__ = ()

    def backward(self, g):
        return (g / (1 + self.saved),)


class Expm1(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * (self.saved + 1),)


class Sqrt(Node):
    __slots__ = ()

    def backward(self, g):
        return (g / (2 * self.saved),)


class Abs(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * np.sign(self.saved),)


class Sin(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * np.cos(self.saved),)


class Cos(Node):
    __slots__ = ()

    def backward(self, g):
        return (-g * np.sin(self.saved),)


class Where(Node):
    # parents: (a, b); saved: cond (bool array)
    __slots__ = ()

    def backward(self, g):
        a, b = self.parents
        c = self.saved
        zero = np.zeros((), g.dtype)
        return (
            None if a is None else unbroadcast(np.where(c, g, zero), a.data.shape),
            None if b is None else unbroadcast(np.where(c, zero, g), b.data.shape),
        )


class Cast(Node):
    __slots__ = ()

    def backward(self, g):
        return (g.astype(self.parents[0].data.dtype, copy=False),)


# --- kernel-backed --------------------------------------------------------------------


class Relu(Node):
    __slots__ = ()

    def backward(self, g):
        y = self.saved
        if y.dtype in _FLOATS:
            return (ops.relu_backward(g, y),)
        return (g * (y > 0),)


class Sigmoid(Node):
    __slots__ = ()

    def backward(self, g):
        return (ops.sigmoid_backward(g, self.saved),)


class Tanh(Node):
    __slots__ = ()

    def backward(self, g):
        return (ops.tanh_backward(g, self.saved),)


class Softmax(Node):
    # saved: (y, axis)
    __slots__ = ()

    def backward(self, g):
        y, axis = self.saved
        return (ops.softmax_backward(g, y, axis=axis),)


class LogSoftmax(Node):
    # saved: (y, axis)
    __slots__ = ()

    def backward(self, g):
        y, axis = self.saved
        return (ops.log_softmax_backward(g, y, axis=axis),)


def _matmul_grads(g, ad, bd, need_a, need_b):
    """Gradients of a @ b (np.matmul semantics, 1-d and batched operands)."""
    a2 = ad[None, :] if ad.ndim == 1 else ad
    b2 = bd[:, None] if bd.ndim == 1 else bd
    g2 = g  # put back the unit axes np.matmul dropped for 1-d operands
    if ad.ndim == 1:
        g2 = g2[..., None, :] if bd.ndim > 1 else g2[..., None]
    if bd.ndim == 1:
        g2 = g2[..., None]
    ga = gb = None
    if need_a:
        ga = matmul(g2, b2.swapaxes(-1, -2))
        if ad.ndim == 1:
            ga = ga[..., 0, :]
        ga = unbroadcast(ga, ad.shape)
    if need_b:
        gb = matmul(a2.swapaxes(-1, -2), g2)
        if bd.ndim == 1:
            gb = gb[..., 0]
        gb = unbroadcast(gb, bd.shape)
    return ga, gb


class MatMul(Node):
    # saved: (a, b)
    __slots__ = ()

    def backward(self, g):
        a, b = self.parents
        ad, bd = self.saved
        return _matmul_grads(g, ad, bd, a is not None, b is not None)


class Linear(Node):
    # parents: (x, w, b); saved: (x, w, y, activation, has_bias)
    __slots__ = ()

    def backward(self, g):
        px, pw, pb = self.parents
        xd, wd, y, act, has_bias = self.saved
        if has_bias:
            gz, gb = ops.bias_act_backward(g, y, act)
        else:
            gz = g if act is None else ops.activation_backward(act, g, y)
            gb = None
        # ops.matmul straight away: both operands are float arrays (matmul() sorts out ints)
        gx = _ops_matmul(gz, wd.T) if px is not None else None
        gw = None
        if pw is not None:  # leading axes of x folded into rows: one 2-d product
            d_in, d_out = wd.shape
            gw = _ops_matmul(xd.reshape(-1, d_in).T, gz.reshape(-1, d_out))
        return gx, gw, (gb if pb is not None else None)


# --- reductions -------------------------------------------------------------------------


def _expand_reduced(g, in_shape, axes, keepdims):
    """Reshape a reduction's gradient so it broadcasts against the input (keepdims form)."""
    if keepdims:
        return g
    if axes is None:
        return g.reshape((1,) * len(in_shape))
    return g.reshape(tuple(1 if i in axes else s for i, s in enumerate(in_shape)))


def _broadcast(g, shape):
    """``g`` broadcast to ``shape`` as a fresh contiguous array (np.broadcast_to is a slow
    Python wrapper, and kernels downstream want contiguous input anyway)."""
    out = _empty(shape, g.dtype)
    out[...] = g
    return out


class Sum(Node):
    # saved: (axes, keepdims) with axes a normalized tuple or None
    __slots__ = ()

    def backward(self, g):
        axes, keepdims = self.saved
        shape = self.parents[0].data.shape
        return (_broadcast(_expand_reduced(g, shape, axes, keepdims), shape),)


class Max(Node):
    # saved: (x, out_keepdims, axes, keepdims); ties share the gradient equally (as torch.amax)
    __slots__ = ()

    def backward(self, g):
        x, outk, axes, keepdims = self.saved
        mask = x == outk
        count = _reduce_add(mask, axis=axes, keepdims=True, dtype=np.intp)
        gk = _expand_reduced(g, x.shape, axes, keepdims)
        return (np.where(mask, gk / count, np.zeros((), gk.dtype)).astype(g.dtype, copy=False),)


# --- shapes and indexing -----------------------------------------------------------------


# The ndarray methods, not np.reshape/np.transpose: their Python wrappers cost ~0.5-1 us.
class Reshape(Node):
    __slots__ = ()

    def backward(self, g):
        return (g.reshape(self.parents[0].data.shape),)


class Transpose(Node):
    # saved: axes (a full permutation)
    __slots__ = ()

    def backward(self, g):
        axes = self.saved
        inverse = [0] * len(axes)
        for i, a in enumerate(axes):
            inverse[a] = i
        return (g.transpose(inverse),)


class BroadcastTo(Node):
    __slots__ = ()

    def backward(self, g):
        return (unbroadcast(g, self.parents[0].data.shape),)


class GetItem(Node):
    # saved: (index, scatter) - scatter: the index has integer arrays, so repeats must add up
    __slots__ = ()

    def backward(self, g):
        idx, scatter = self.saved
        x = self.parents[0].data
        full = np.zeros(x.shape, np.result_type(g.dtype, x.dtype))
        if scatter:
            np.add.at(full, idx, g)
        else:
            full[idx] = g
        return (full,)


class Concatenate(Node):
    # saved: (axis, sizes)
    __slots__ = ()

    def backward(self, g):
        axis, sizes = self.saved
        splits = np.cumsum(sizes)[:-1]
        parts = np.split(g, splits, axis=axis)
        return tuple(None if p is None else q for p, q in zip(self.parents, parts))
