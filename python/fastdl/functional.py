"""Function transforms over NumPy code, as in JAX and HIPS autograd: ``grad``, ``value_and_grad``.

``f`` is called with Tensors in place of the chosen arguments; NumPy calls inside it dispatch
to fastdl through NumPy's protocols, so a function written with ``np.`` calls differentiates
as it is. Results are NumPy arrays.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, Union

import numpy as np

from .autograd import enable_grad
from .ops._checks import arg_error
from .tensor import Tensor

__all__ = ["grad", "value_and_grad"]

ArgNums = Union[int, Sequence[int]]


def _as_input(x: Any, fn: str, i: int) -> Tensor:
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind in "iub":
        a = a.astype(np.float64)
    if a.dtype not in (np.float32, np.float64):
        raise arg_error(
            fn, f"args[{i}]", "be a float32/float64 array", f"dtype {a.dtype}", TypeError
        )
    return Tensor(a, requires_grad=True)


def _run(f: Callable, argnums: ArgNums, fn: str, args: tuple, kwargs: dict) -> tuple:
    multi = not isinstance(argnums, int)
    nums = tuple(argnums) if multi else (argnums,)
    args = list(args)
    leaves = []
    for i in nums:
        if not -len(args) <= i < len(args):
            raise arg_error(
                fn, "argnums", f"index the {len(args)} positional arguments (in "
                f"[{-len(args)}, {len(args) - 1}])", i,
            )  # fmt: skip
        leaves.append(_as_input(args[i], fn, i))
        args[i] = leaves[-1]
    with enable_grad():
        out = f(*args, **kwargs)
    value = out.data if isinstance(out, Tensor) else np.asarray(out)
    if value.size != 1:
        raise arg_error(
            fn, "f", "return a scalar (one element)", f"a result of shape {value.shape}", TypeError
        )
    if isinstance(out, Tensor) and out.requires_grad:
        out.backward()
    grads = tuple(t.grad.data if t.grad is not None else np.zeros_like(t.data) for t in leaves)
    return value[()] if value.ndim == 0 else value.reshape(()), (grads if multi else grads[0])


def grad(f: Callable, argnums: ArgNums = 0) -> Callable:
    """The gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``.

    Example:
        >>> import numpy as np, fastdl
        >>> df = fastdl.grad(lambda x: np.sum(x ** 2))
        >>> df(np.array([1.0, 2.0]))
        array([2., 4.])
    """

    @functools.wraps(f)
    def g(*args: Any, **kwargs: Any) -> Any:
        return _run(f, argnums, "grad", args, kwargs)[1]

    return g


def value_and_grad(f: Callable, argnums: ArgNums = 0) -> Callable:
    """Like :func:`grad`, returning ``(f(*args), gradient)``.

    Example:
        >>> import numpy as np, fastdl
        >>> v, g = fastdl.value_and_grad(lambda x: np.sum(x ** 2))(np.array([3.0]))
        >>> float(v), g
        (9.0, array([6.]))
    """

    @functools.wraps(f)
    def vg(*args: Any, **kwargs: Any) -> Any:
        return _run(f, argnums, "value_and_grad", args, kwargs)

    return vg
