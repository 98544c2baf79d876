"""Tensor factories with PyTorch's names and defaults: ``zeros``, ``ones``, ``full``, ``empty``,
``*_like``, ``arange``, ``linspace``, ``eye``, ``rand``, ``randn``, ``randint``.

Floating results are float32 unless ``dtype`` says otherwise (PyTorch's default dtype);
integer ranges and fills are int64. Random tensors draw from fastdl's one generator, so
:func:`fastdl.manual_seed` makes them reproducible. Every factory returns a fresh leaf tensor;
``requires_grad=True`` needs a floating dtype.
"""

from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np

from ._random import get_generator
from .ops._checks import arg_error, describe
from .ops._checks import empty as _empty
from .tensor import Tensor

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
]


def _shape(fn: str, shape: tuple, arg: str = "size") -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike; every size a non-negative int."""
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        try:
            shape = tuple(shape[0])
        except TypeError:
            raise arg_error(
                fn, arg, "be ints or a sequence of ints", describe(shape[0]), TypeError
            ) from None
    for n in shape:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
            raise arg_error(fn, arg, "hold ints", f"{describe(n)} in {shape}", TypeError)
        if n < 0:
            raise arg_error(fn, arg, "be non-negative", shape if len(shape) > 1 else n)
    return tuple(int(n) for n in shape)


def _dtype(fn: str, dtype: Any, default: Any) -> np.dtype:
    try:
        dt = np.dtype(default if dtype is None else dtype)
    except TypeError:
        raise arg_error(fn, "dtype", "be a NumPy dtype", repr(dtype), TypeError) from None
    if dt.kind not in "biuf":
        raise arg_error(fn, "dtype", "be a bool, int or float dtype", dt, TypeError)
    return dt


def _leaf(fn: str, data: np.ndarray, requires_grad: bool) -> Tensor:
    if requires_grad and data.dtype.kind != "f":
        raise arg_error(
            fn, "requires_grad", "be False for a non-float dtype (only float tensors have "
            "gradients)", f"True with dtype {data.dtype}", TypeError,
        )  # fmt: skip
    return Tensor(data, requires_grad=requires_grad)


def _fill_value(fn: str, value: Any) -> Any:
    if not isinstance(value, (numbers.Number, np.generic)) or isinstance(value, complex):
        raise arg_error(fn, "fill_value", "be a real number", describe(value), TypeError)
    return value


def _filled(fn: str, make: Any, shape: tuple, dtype: Any, default: Any, grad: bool) -> Tensor:
    """``make(shape, dtype)`` (np.zeros, np.ones, or the pooled empty) as a fresh leaf."""
    return _leaf(fn, make(shape, _dtype(fn, dtype, default)), grad)


def _fill_dtype(value: Any) -> np.dtype:
    """PyTorch's inference for a Python scalar: bool -> bool, int -> int64, float -> float32."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, numbers.Integral):
        return np.dtype(np.int64)
    if isinstance(value, np.generic):
        return np.asarray(value).dtype
    return np.dtype(np.float32)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 by default).

    Example:
        >>> import fastdl
        >>> fastdl.zeros(2).tolist()
        [0.0, 0.0]
        >>> fastdl.zeros((2, 1), dtype="int64").shape
        (2, 1)
    """
    return _filled("zeros", np.zeros, _shape("zeros", size), dtype, np.float32, requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 by default).

    Example:
        >>> import fastdl
        >>> fastdl.ones(2).tolist()
        [1.0, 1.0]
    """
    return _filled("ones", np.ones, _shape("ones", size), dtype, np.float32, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; the dtype follows the value as in PyTorch.

    Example:
        >>> import fastdl
        >>> fastdl.full((2,), 7).tolist(), fastdl.full((2,), 7).dtype
        ([7, 7], dtype('int64'))
        >>> fastdl.full((1,), 0.5).dtype
        dtype('float32')
    """
    shape = _shape("full", (size,))
    _fill_value("full", fill_value)
    dt = _dtype("full", dtype, _fill_dtype(fill_value))
    return _leaf("full", np.full(shape, fill_value, dt), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (float32 by default): fill it before reading it.

    Example:
        >>> import fastdl
        >>> fastdl.empty(2, 3).shape
        (2, 3)
    """
    return _filled("empty", _empty, _shape("empty", size), dtype, np.float32, requires_grad)


def _source_array(fn: str, x: Any) -> np.ndarray:
    """The array whose shape and dtype a ``*_like`` factory copies."""
    data = x.data if isinstance(x, Tensor) else x
    if not isinstance(data, np.ndarray):
        try:
            data = np.asarray(data)
        except (TypeError, ValueError):
            data = np.asarray(None)  # refused below
        if data.dtype.kind not in "biuf":
            raise arg_error(fn, "x", "be a Tensor or array of numbers", describe(x), TypeError)
    return data


def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and, unless given, the dtype) of ``x``.

    Example:
        >>> import fastdl
        >>> fastdl.zeros_like(fastdl.ones(2, 2)).tolist()
        [[0.0, 0.0], [0.0, 0.0]]
    """
    src = _source_array("zeros_like", x)
    return _filled("zeros_like", np.zeros, src.shape, dtype, src.dtype, requires_grad)


def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and, unless given, the dtype) of ``x``.

    Example:
        >>> import fastdl
        >>> fastdl.ones_like(fastdl.zeros(2)).tolist()
        [1.0, 1.0]
    """
    src = _source_array("ones_like", x)
    return _filled("ones_like", np.ones, src.shape, dtype, src.dtype, requires_grad)


def full_like(x: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape (and, unless given, the dtype) of ``x``.

    Example:
        >>> import fastdl
        >>> fastdl.full_like(fastdl.zeros(2), 3.0).tolist()
        [3.0, 3.0]
    """
    src = _source_array("full_like", x)
    _fill_value("full_like", fill_value)
    dt = src.dtype if dtype is None else dtype
    return full(src.shape, fill_value, dtype=dt, requires_grad=requires_grad)


def empty_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor with the shape (and, unless given, the dtype) of ``x``.

    Example:
        >>> import fastdl
        >>> fastdl.empty_like(fastdl.zeros(2, 3)).shape
        (2, 3)
    """
    src = _source_array("empty_like", x)
    return _filled("empty_like", _empty, src.shape, dtype, src.dtype, requires_grad)


def _real(fn: str, name: str, v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.generic)):
        raise arg_error(fn, name, "be a real number", describe(v), TypeError)
    return v


def arange(
    start: Any, end: Any = None, step: Any = 1, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """``[start, end)`` in steps of ``step``: int64 for integer arguments, else float32.

    Example:
        >>> import fastdl
        >>> fastdl.arange(4).tolist()
        [0, 1, 2, 3]
        >>> fastdl.arange(0, 1, 0.25).tolist()
        [0.0, 0.25, 0.5, 0.75]
    """
    if end is None:
        start, end = 0, start
    args = [_real("arange", n, v) for n, v in (("start", start), ("end", end), ("step", step))]
    if step == 0:
        raise arg_error("arange", "step", "be nonzero", step)
    integral = all(isinstance(v, numbers.Integral) for v in args)
    dt = _dtype("arange", dtype, np.int64 if integral else np.float32)
    # Computed in float64 (or int64) and cast once, so float32 ranges do not drift.
    data = np.arange(*args, dtype=np.int64 if integral else np.float64).astype(dt)
    return _leaf("arange", data, requires_grad)


def linspace(
    start: Any, end: Any, steps: int, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 by default).

    Example:
        >>> import fastdl
        >>> fastdl.linspace(0, 1, 5).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    _real("linspace", "start", start)
    _real("linspace", "end", end)
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral):
        raise arg_error("linspace", "steps", "be an int", describe(steps), TypeError)
    if steps < 0:
        raise arg_error("linspace", "steps", "be non-negative", steps)
    dt = _dtype("linspace", dtype, np.float32)
    return _leaf("linspace", np.linspace(start, end, int(steps)).astype(dt), requires_grad)


def eye(n: int, m: Optional[int] = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity (``m`` defaults to ``n``; float32 by default).

    Example:
        >>> import fastdl
        >>> fastdl.eye(2).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    shape = _shape("eye", (n,), "n") + (() if m is None else _shape("eye", (m,), "m"))
    dt = _dtype("eye", dtype, np.float32)
    return _leaf("eye", np.eye(shape[0], shape[-1], dtype=dt), requires_grad)


def _generator(fn: str, generator: Optional[np.random.Generator]) -> np.random.Generator:
    if generator is None:
        return get_generator()
    if not isinstance(generator, np.random.Generator):
        raise arg_error(
            fn, "generator", "be a numpy.random.Generator", describe(generator), TypeError
        )
    return generator


def _float_dtype(fn: str, dtype: Any) -> np.dtype:
    dt = _dtype(fn, dtype, np.float32)
    if dt.kind != "f":
        raise arg_error(fn, "dtype", "be a float dtype", dt, TypeError)
    return dt


def rand(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: Optional[np.random.Generator] = None,
) -> Tensor:
    """Uniform samples in [0, 1) (float32 by default) from fastdl's generator.

    Example:
        >>> import fastdl, numpy as np
        >>> _ = fastdl.manual_seed(0)
        >>> a = fastdl.rand(3)
        >>> _ = fastdl.manual_seed(0)
        >>> np.array_equal(a, fastdl.rand(3))
        True
    """
    shape, dt = _shape("rand", size), _float_dtype("rand", dtype)
    data = _generator("rand", generator).random(shape, dtype=np.float64).astype(dt)
    return _leaf("rand", data, requires_grad)


def randn(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: Optional[np.random.Generator] = None,
) -> Tensor:
    """Standard normal samples (float32 by default) from fastdl's generator.

    Example:
        >>> import fastdl
        >>> fastdl.randn(2, 3).shape
        (2, 3)
    """
    shape, dt = _shape("randn", size), _float_dtype("randn", dtype)
    data = _generator("randn", generator).standard_normal(shape).astype(dt)
    return _leaf("randn", data, requires_grad)


def randint(
    low: int,
    high: Optional[int] = None,
    size: Any = (),
    dtype: Any = None,
    generator: Optional[np.random.Generator] = None,
) -> Tensor:
    """Integers in ``[low, high)`` (``randint(high, size=...)`` starts at 0); int64 by default.

    Example:
        >>> import fastdl
        >>> t = fastdl.randint(0, 10, (5,))
        >>> int(t.min()) >= 0 and int(t.max()) < 10, t.dtype
        (True, dtype('int64'))
    """
    if high is None:
        low, high = 0, low
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise arg_error("randint", name, "be an int", describe(v), TypeError)
    if high <= low:
        raise arg_error("randint", "high", f"be > low ({low})", high)
    shape = _shape("randint", (size,))
    dt = _dtype("randint", dtype, np.int64)
    data = _generator("randint", generator).integers(low, high, shape).astype(dt)
    return _leaf("randint", data, False)
