"""Input policy shared by every ``fastdl.ops`` function.

- Any array-like is accepted. C-contiguous float32/float64 arrays are used as they are (no
  copy); anything else is converted once, here, with ``np.asarray(..., order="C")``.
- Result dtypes follow NumPy: ``np.result_type(*inputs, float32)``, so float32 stays float32,
  float64 or int64 gives float64, float16/int8/bool give float32.
- None, strings, objects, complex numbers and other non-real dtypes are a TypeError naming the
  function and the argument.
- ``out=`` must already be a writeable C-contiguous ndarray of the exact shape and dtype, or it
  is a ValueError: writing into a converted temporary would silently lose the result.
- Outputs are allocated by :data:`empty` (never ``np.empty``): from 1 MiB their memory comes
  from fastdl's block cache (see ``fastdl/memory.py``).

Every bad-argument message in fastdl (ops, Tensor, nn, optim, data, train) is spelled by
:func:`arg_error` ("fn(): argument 'x' must <expected>, got <actual>") with the actual value
spelled by :func:`describe`; both run only on the failure path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core

# The one allocator of the arrays fastdl returns: np.empty(shape, dtype) semantics, memory from
# the block cache from 1 MiB on. The C function itself, so a fast path pays no Python frame
# (it costs less than np.empty).
empty = _core.empty
# The type of a pooled array's .base (its block; views of the array have the array as base).
CacheBlock = _core._CacheBlock

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
F32, F64 = FLOAT_DTYPES


def describe(x: Any) -> str:
    """A short spelling of a bad argument's actual value: shape and dtype for arrays and
    Tensors, the value of a short scalar, else the type's name."""
    d = getattr(x, "data", None) if not isinstance(x, np.ndarray) else x
    if isinstance(d, np.ndarray) and hasattr(x, "shape"):
        kind = "array" if isinstance(x, np.ndarray) else type(x).__name__
        return f"{kind} of shape {tuple(d.shape)} and dtype {d.dtype}"
    if x is None:
        return "None"
    if isinstance(x, (str, bytes, bool, int, float, complex, np.generic)):
        r = repr(x)
        return f"{type(x).__name__} {r if len(r) <= 40 else r[:37] + '...'}"
    if isinstance(x, (list, tuple)) and x and all(hasattr(i, "shape") for i in x[:8]):
        shapes = ", ".join(str(tuple(i.shape)) for i in x[:8])
        return f"{type(x).__name__} of shapes [{shapes}{', ...' if len(x) > 8 else ''}]"
    if isinstance(x, (list, tuple)) and len(x) <= 6:
        r = repr(x)
        if len(r) <= 40:
            return f"{type(x).__name__} {r}"
    return type(x).__name__


def arg_error(fn: str, arg: Any, expected: str, actual: Any, cls: type = ValueError) -> Exception:
    """The exception for a bad argument, in the one format every fastdl layer uses:
    ``fn(): argument 'arg' must <expected>, got <actual>``.

    ``arg`` is a name, or a tuple of names for a mismatch between arguments ("arguments 'a'
    and 'b' must ..."). Returned, not raised, so the caller's ``raise`` shows in tracebacks.

    Example:
        >>> from fastdl.ops._checks import arg_error
        >>> str(arg_error("relu", "x", "have dtype float32", "dtype int8", TypeError))
        "relu(): argument 'x' must have dtype float32, got dtype int8"
    """
    if isinstance(arg, tuple):
        names = [f"'{a}'" for a in arg]
        who = "arguments " + (", ".join(names[:-1]) + " and " + names[-1])
    else:
        who = f"argument '{arg}'"
    return cls(f"{fn}(): {who} must {expected}, got {actual}")


def ready(a: Any) -> bool:
    """True when ``a`` is an ndarray a kernel takes as it is: C-contiguous float32/float64.

    The fast path's test. Identity checks on the built-in dtypes keep it to ~0.1 us; an
    equal but distinct dtype object (e.g. explicit byte order) merely takes the general path.
    """
    if type(a) is not np.ndarray:
        return False
    dt = a.dtype
    return (dt is F32 or dt is F64) and a.flags.c_contiguous


def _kind_ok(dtype: np.dtype) -> bool:
    return dtype.kind in "fiub" and dtype.itemsize <= 8


def as_ndarray(x: Any, fn: str, arg: str) -> np.ndarray:
    """Return ``x`` as an ndarray (no copy when it is one), checking it holds real numbers."""
    if x is None or isinstance(x, (str, bytes)):
        raise arg_error(fn, arg, "be an array", describe(x), TypeError)
    if type(x) is np.ndarray:
        a = x
    else:
        try:
            a = np.asarray(x)
        except (TypeError, ValueError) as e:  # ragged lists and the like
            raise arg_error(
                fn, arg, "be an array-like of numbers", f"{type(x).__name__} ({e})", TypeError
            ) from None
    if not _kind_ok(a.dtype):
        raise arg_error(
            fn, arg, "hold real numbers (float32/float64, or ints/bools promoted as NumPy does)",
            f"dtype {a.dtype}", TypeError,
        )  # fmt: skip
    return a


def result_dtype(fn: str, *arrays: np.ndarray) -> np.dtype:
    """NumPy's promotion of the inputs with float32: the dtype the kernel computes in."""
    dt = np.result_type(*arrays, np.float32)
    if dt not in FLOAT_DTYPES:
        shown = ", ".join(str(a.dtype) for a in arrays)
        raise TypeError(f"{fn}(): unsupported dtype combination ({shown}) -> {dt}")
    return dt


def as_kernel_input(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """C-contiguous array of ``dtype``: ``a`` itself when it already is one, else one copy."""
    if a.dtype == dtype and a.flags.c_contiguous:
        return a
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
    return np.asarray(a, dtype=dtype, order="C")


def prepare(fn: str, **arrays: Any) -> tuple[np.dtype, list[np.ndarray]]:
    """Validate and convert named inputs to one float dtype; returns (dtype, arrays in order)."""
    nd = [as_ndarray(v, fn, k) for k, v in arrays.items()]
    dt = result_dtype(fn, *nd)
    return dt, [as_kernel_input(a, dt) for a in nd]


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, fn: str) -> np.ndarray:
    """Validate a user's ``out=`` array (see the module docstring)."""
    if not isinstance(out, np.ndarray):
        raise arg_error(fn, "out", "be a numpy.ndarray", describe(out), TypeError)
    if out.shape != tuple(shape):
        raise arg_error(fn, "out", f"have shape {tuple(shape)}", out.shape)
    if out.dtype != dtype:
        raise arg_error(fn, "out", f"have dtype {dtype}", out.dtype)
    if not out.flags.c_contiguous:
        raise arg_error(fn, "out", "be C-contiguous", f"strides {out.strides}")
    if not out.flags.writeable:
        raise arg_error(fn, "out", "be writeable", "a read-only array")
    return out


def output(
    out: Any, shape: tuple[int, ...], dtype: np.dtype, fn: str, *inputs: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (buffer the kernel writes, user's out or None).

    A fresh array when ``out`` is None. The user's array when it does not overlap an input, or
    is exactly one of them (in place). A partial overlap is computed into a temporary and
    copied afterwards, so results never depend on the order the kernel visits elements.
    """
    if out is None:
        return empty(shape, dtype), None
    out = check_out(out, shape, dtype, fn)
    for a in inputs:
        if np.may_share_memory(out, a) and not (
            a.__array_interface__["data"][0] == out.__array_interface__["data"][0]
            and a.shape == out.shape
            and a.strides == out.strides
        ):
            return empty(shape, dtype), out
    return out, None


def fast_out(out: Any, shape: tuple[int, ...], dtype: np.dtype):
    """The fast path's output: a fresh array, or the user's ``out`` when it is already right.

    Right means: an ndarray of exactly ``shape`` and ``dtype``, C-contiguous and writeable.
    Returns None for anything else, sending the call down the general path, which raises or
    converts as the module docstring says; so the fast path changes only a call's cost.
    Overlap with the inputs is NOT checked here: use it only for kernels whose binding
    handles an ``out`` overlapping an input (``bind::partial_overlap`` in common.h).
    """
    if out is None:
        return empty(shape, dtype)
    if (
        type(out) is np.ndarray
        and out.dtype is dtype
        and out.shape == shape
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        return out
    return None


def finish(buf: np.ndarray, user_out: np.ndarray | None) -> np.ndarray:
    """Copy a temporary into the user's overlapping ``out`` (see :func:`output`)."""
    if user_out is None:
        return buf
    np.copyto(user_out, buf)
    return user_out
