"""NumPy's protocols on Tensor: ufuncs (NEP 13) and array functions (NEP 18).

A supported NumPy call on Tensors returns a Tensor that stays in the graph. A call that would
have to leave the graph (a function or ufunc fastdl cannot differentiate, or ``out=`` into a
tensor that needs a gradient) raises TypeError naming it; a silently detached result would
give wrong gradients. Calls where no gradient is involved (no input requires grad, or inside
``no_grad``) run on the arrays. Results that are indices, booleans or metadata (argmax,
allclose, shape, ...) are returned as NumPy values.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from . import tensor as T
from .autograd import _GradMode
from .ops._checks import arg_error, describe
from .tensor import Tensor, _as_tensor, _make

_NoValue = getattr(np, "_NoValue", None)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _needs_grad(objs: Any) -> bool:
    if not _GradMode.enabled:
        return False
    for o in objs:
        if isinstance(o, Tensor):
            if o.requires_grad:
                return True
        elif isinstance(o, (list, tuple)) and _needs_grad(o):
            return True
    return False


def _arrays(o: Any) -> Any:
    """Tensors replaced by their ndarrays, inside lists, tuples and dicts too."""
    if isinstance(o, Tensor):
        return o.data
    if isinstance(o, (list, tuple)):
        return type(o)(_arrays(x) for x in o)
    if isinstance(o, dict):
        return {k: _arrays(v) for k, v in o.items()}
    return o


def _wrap(r: Any) -> Any:
    if isinstance(r, np.ndarray):
        return _make(r, None)
    if isinstance(r, tuple):
        return tuple(_wrap(x) for x in r)
    return r


def _unsupported(name: str, why: str = "") -> TypeError:
    return TypeError(
        f"{name} is not supported on fastdl Tensors that require grad{why}: it would "
        f"return a result detached from the graph. Use a supported function, or call it on "
        f"t.detach() / np.asarray(t) if no gradient should flow through it."
    )


# --- ufuncs -----------------------------------------------------------------------------

_UFUNCS: dict = {
    np.add: T.add,
    np.subtract: T.subtract,
    np.multiply: T.multiply,
    np.true_divide: T.divide,
    np.power: T.power,
    np.negative: T.negative,
    np.positive: _as_tensor,
    np.exp: T.exp,
    np.log: T.log,
    np.log1p: T.log1p,
    np.expm1: T.expm1,
    np.sqrt: T.sqrt,
    np.absolute: T.abs,
    np.fabs: T.abs,
    np.maximum: T.maximum,
    np.minimum: T.minimum,
    np.tanh: T.tanh,
    np.sin: T.sin,
    np.cos: T.cos,
    np.matmul: T.matmul,
    np.square: T.square,
    np.reciprocal: T.reciprocal,
    np.exp2: lambda x: T.exp(_as_tensor(x) * _LN2),
    np.log2: lambda x: T.log(x) / _LN2,
    np.log10: lambda x: T.log(x) / _LN10,
}

# Ufuncs whose results carry no gradient (booleans, integers, piecewise constants).
_NONDIFF_UFUNCS = {
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    np.isnan, np.isinf, np.isfinite, np.signbit, np.sign, np.floor, np.ceil, np.trunc,
    np.rint, np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert,
}  # fmt: skip

_REDUCE = {np.add: "sum", np.maximum: "max", np.minimum: "min"}


def array_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_ufunc__``: differentiable ufuncs map to fastdl ops."""
    if method == "__call__" and not kwargs:
        f = _UFUNCS.get(ufunc)
        if f is not None:
            return f(*inputs)
    grad = ufunc not in _NONDIFF_UFUNCS and _needs_grad(inputs)
    if method == "reduce" and ufunc in _REDUCE and grad:
        kw = dict(kwargs)
        axis = kw.pop("axis", 0)
        keepdims = kw.pop("keepdims", False)
        if kw.pop("out", None) is None and not any(v is not None for v in kw.values()):
            return getattr(_as_tensor(inputs[0]), _REDUCE[ufunc])(axis, keepdims)
    name = "numpy." + ufunc.__name__ + ("" if method == "__call__" else "." + method)
    if grad:
        raise _unsupported(name, " with these arguments" if ufunc in _UFUNCS else "")
    out = kwargs.get("out")
    if out is not None:
        kwargs = dict(kwargs, out=tuple(_arrays(o) for o in out))
        if any(isinstance(o, Tensor) and o.requires_grad for o in out) and _GradMode.enabled:
            raise _unsupported(name, " (out= into a tensor that requires grad)")
    r = getattr(ufunc, method)(*_arrays(inputs), **kwargs)
    if out is not None:
        return out[0] if len(out) == 1 else out
    return _wrap(r)


# --- array functions ----------------------------------------------------------------------


def _check(name: str, **extra: Any) -> None:
    """Refuse NumPy arguments fastdl does not implement (out=, where=, ...)."""
    for k, v in extra.items():
        if v is not None and v is not _NoValue and v is not False:
            raise arg_error(
                f"numpy.{name}", k, "be left at its default on fastdl Tensors (not supported)",
                describe(v), TypeError,
            )  # fmt: skip


def _with_dtype(t: Tensor, dtype: Any) -> Tensor:
    return t if dtype is None else t.astype(dtype, copy=False)


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NoValue, where=_NoValue):
    _check("sum", out=out, initial=initial, where=where)
    return _with_dtype(_as_tensor(a), dtype).sum(axis, keepdims)


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=_NoValue):
    _check("mean", out=out, where=where)
    return _with_dtype(_as_tensor(a), dtype).mean(axis, keepdims)


def _max(a, axis=None, out=None, keepdims=False, initial=_NoValue, where=_NoValue):
    _check("max", out=out, initial=initial, where=where)
    return _as_tensor(a).max(axis, keepdims)


def _min(a, axis=None, out=None, keepdims=False, initial=_NoValue, where=_NoValue):
    _check("min", out=out, initial=initial, where=where)
    return _as_tensor(a).min(axis, keepdims)


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    _check("var", out=out, **kw)
    return _with_dtype(_as_tensor(a), dtype).var(axis, keepdims, ddof)


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    _check("std", out=out, **kw)
    return _with_dtype(_as_tensor(a), dtype).std(axis, keepdims, ddof)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    _check("reshape", order=None if order == "C" else order, copy=copy)
    return _as_tensor(a).reshape(newshape if shape is None else shape)


def _transpose(a, axes=None):
    return _as_tensor(a).transpose(axes)


def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _check("concatenate", out=out, casting=casting)
    r = T.concatenate(arrays, axis)
    return _with_dtype(r, dtype)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _check("stack", out=out, casting=casting)
    return _with_dtype(T.stack(arrays, axis), dtype)


def _vstack(tup, *, dtype=None, casting=None):
    _check("vstack", casting=casting)
    ts = [_as_tensor(t) for t in tup]
    ts = [t.reshape(1, -1) if t.ndim < 2 else t for t in ts]
    return _with_dtype(T.concatenate(ts, 0), dtype)


def _hstack(tup, *, dtype=None, casting=None):
    _check("hstack", casting=casting)
    ts = [_as_tensor(t) for t in tup]
    ts = [t.reshape(1) if t.ndim == 0 else t for t in ts]
    return _with_dtype(T.concatenate(ts, 0 if ts[0].ndim == 1 else 1), dtype)


def _where(condition, x=_NoValue, y=_NoValue):
    if x is _NoValue and y is _NoValue:
        return np.nonzero(_arrays(condition))
    return T.where(condition, x, y)


def _clip(a, a_min=_NoValue, a_max=_NoValue, out=None, *, min=_NoValue, max=_NoValue, **kw):
    _check("clip", out=out, **kw)
    lo = min if a_min is _NoValue else a_min
    hi = max if a_max is _NoValue else a_max
    return T.clip(a, None if lo is _NoValue else lo, None if hi is _NoValue else hi)


def _dot(a, b, out=None):
    _check("dot", out=out)
    try:
        ad, bd = np.ndim(_arrays(a)), np.ndim(_arrays(b))
    except (TypeError, ValueError) as e:  # ragged lists
        raise type(e)(f"numpy.dot on fastdl Tensors: {e}") from e
    if ad == 0 or bd == 0:  # a product; Python scalars count as arrays here, as in np.dot
        return T.multiply(*(x if isinstance(x, Tensor) else np.asarray(x) for x in (a, b)))
    if bd <= 2:
        return T.matmul(a, b)
    raise _unsupported("dot", " for a second operand of more than 2 dimensions (use matmul)")


def _outer(a, b, out=None):
    _check("outer", out=out)
    return _as_tensor(a).reshape(-1, 1) * _as_tensor(b).reshape(1, -1)


def _squeeze(a, axis=None):
    return _as_tensor(a).squeeze(axis)


def _expand_dims(a, axis):
    return _as_tensor(a).expand_dims(axis)


def _broadcast_to(array, shape, subok=False):
    return _as_tensor(array).broadcast_to(shape)


def _swapaxes(a, axis1, axis2):
    return _as_tensor(a).swapaxes(axis1, axis2)


def _ravel(a, order="C"):
    _check("ravel", order=None if order == "C" else order)
    return _as_tensor(a).reshape(-1)


def _copy(a, order="K", subok=False):
    return _as_tensor(a).astype(_as_tensor(a).dtype, copy=True)


def _norm(x, ord=None, axis=None, keepdims=False):
    _check("linalg.norm", ord=ord)
    x = _as_tensor(x)
    return (x * x).sum(axis, keepdims).sqrt()


def _like(fn: Callable) -> Callable:
    def impl(a, *args, **kwargs):
        return _make(fn(_arrays(a), *args, **kwargs), None)

    return impl


_FUNCS: dict = {
    np.sum: _sum,
    np.mean: _mean,
    np.max: _max,
    np.amax: _max,
    np.min: _min,
    np.amin: _min,
    np.var: _var,
    np.std: _std,
    np.reshape: _reshape,
    np.transpose: _transpose,
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.vstack: _vstack,
    np.hstack: _hstack,
    np.where: _where,
    np.clip: _clip,
    np.dot: _dot,
    np.outer: _outer,
    np.squeeze: _squeeze,
    np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to,
    np.swapaxes: _swapaxes,
    np.ravel: _ravel,
    np.copy: _copy,
    np.linalg.norm: _norm,
    np.zeros_like: _like(np.zeros_like),
    np.ones_like: _like(np.ones_like),
    np.empty_like: _like(np.empty_like),
    np.full_like: _like(np.full_like),
}
# Functions whose results are indices, booleans or metadata: computed on the arrays.
_NONDIFF_FUNCS = {
    np.argmax, np.argmin, np.argsort, np.allclose, np.isclose, np.array_equal,
    np.count_nonzero, np.nonzero, np.shape, np.ndim, np.size, np.result_type,
    np.any, np.all, np.flatnonzero, np.argwhere, np.unique, np.searchsorted,
}  # fmt: skip


def array_function(func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_function__``: supported functions map to fastdl ops."""
    impl = _FUNCS.get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    if func in _NONDIFF_FUNCS:
        return func(*_arrays(args), **_arrays(kwargs))
    if _needs_grad(args) or _needs_grad(tuple(kwargs.values())):
        mod = getattr(func, "__module__", None) or "numpy"
        raise _unsupported(f"{mod}.{func.__name__}")
    return _wrap(func(*_arrays(args), **_arrays(kwargs)))
