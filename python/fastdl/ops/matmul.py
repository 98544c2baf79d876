"""Matrix multiplication and the fused linear layer act(x @ w + b), on NumPy arrays.

One compiled GEMM serves every layout: it reads element strides, so ``a.T``, ``A^T B`` and
``A B^T`` (what backward passes need) run without copying. Calls with float32/float64 ndarrays
go straight to the kernel; everything else (ints, mixed dtypes, lists, odd byte strides) is
converted once by the general path, which follows ``ops._checks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .. import _core
from ._checks import as_ndarray, check_out, result_dtype

__all__ = ["matmul", "linear"]

_ND = np.ndarray
_kernel = _core.matmul
# Kernel ids (kernels/activation.h, enum Act).
_ACT = {None: 0, "none": 0, "relu": 1, "sigmoid": 2, "tanh": 3}


def _matmul(a: Any, b: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Matrix product with ``np.matmul`` semantics (1-d, 2-d, batched with broadcasting).

    float32 and float64 stay as they are; other inputs follow NumPy's promotion with float32
    (ints become float64, bools float32). Any strides: transposed views are not copied.
    ``out`` must be a C-contiguous ndarray of the result's shape and dtype; when it overlaps an
    input the product is computed into a temporary first.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.matmul(np.ones((2, 3)), np.ones((3, 4)))[0]
        array([3., 3., 3., 3.])
    """
    return _general("matmul", a, b, out, None, 0)


_matmul.__name__ = _matmul.__qualname__ = "matmul"
if TYPE_CHECKING:
    matmul = _matmul
else:
    # The public matmul is a builtin twin of _matmul (same signature and docstring): float32/
    # float64 ndarrays go straight to the kernel with no Python frame in between; anything
    # else, or any TypeError/ValueError the kernel raises, runs _matmul with the same arguments.
    matmul = _core._fast_matmul(_matmul)


def linear(x: Any, w: Any, b: Any = None, activation: Optional[str] = None) -> np.ndarray:
    """Fused ``act(x @ w + b)``: ``x`` (..., d_in), ``w`` (d_in, d_out), ``b`` (d_out,) or None.

    ``activation`` is None, 'relu', 'sigmoid' or 'tanh'; bias and activation are applied as each
    output tile is stored, with no second pass over the result. Note ``w`` is (d_in, d_out), the
    transpose of PyTorch's ``nn.Linear.weight``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.linear(np.ones((1, 2)), np.ones((2, 3)), np.array([-3.0, 0.0, 1.0]), "relu")
        array([[0., 2., 3.]])
    """
    try:
        act = _ACT[activation]
    except (KeyError, TypeError):  # TypeError: unhashable
        raise ValueError(
            "linear(): argument 'activation' must be one of None, 'relu', 'sigmoid', 'tanh', "
            f"got {activation!r}"
        ) from None
    if type(w) is _ND and w.ndim == 2:
        try:
            return _kernel(x, w, None, b, act)
        except (TypeError, ValueError):
            pass  # the general path converts or reports
    return _general("linear", x, w, None, b, act)


def _kernel_operand(x: np.ndarray, dt: np.dtype) -> np.ndarray:
    """``x`` as dtype ``dt`` with byte strides the kernel can read (element multiples)."""
    if x.dtype != dt:
        return x.astype(dt)
    if any(s % dt.itemsize for s in x.strides):
        return np.ascontiguousarray(x)
    return x


def _general(fn: str, a: Any, b: Any, out: Any, bias: Any, act: int) -> np.ndarray:
    names = ("a", "b") if fn == "matmul" else ("x", "w")
    a = as_ndarray(a, fn, names[0])
    b = as_ndarray(b, fn, names[1])
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"{fn}(): arguments must be at least 1-d, got '{names[0]}' {a.shape} and "
            f"'{names[1]}' {b.shape} (use * for scalars)"
        )
    if fn == "linear" and b.ndim != 2:
        raise ValueError(f"linear(): argument 'w' must be 2-d (d_in, d_out), got shape {b.shape}")
    if bias is not None:
        bias = as_ndarray(bias, fn, "b")
        dt = result_dtype(fn, a, b, bias)
        if bias.shape != (b.shape[-1],):
            raise ValueError(
                f"linear(): argument 'b' must have shape ({b.shape[-1]},) for w of shape "
                f"{b.shape}, got {bias.shape}"
            )
        bias = np.ascontiguousarray(bias, dtype=dt)
    else:
        dt = result_dtype(fn, a, b)
    a = _kernel_operand(a, dt)
    b = _kernel_operand(b, dt)
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(
                f"{fn}(): argument 'out' must be a numpy.ndarray, got {type(out).__name__}"
            )
        if np.may_share_memory(out, a) or np.may_share_memory(out, b):
            res = _kernel(a, b, None, bias, act)
            np.copyto(check_out(out, res.shape, res.dtype, fn), res)
            return out
    try:
        return _kernel(a, b, out, bias, act)
    except ValueError as e:
        if fn == "linear":
            # The binding names linear's x and w as matmul's 'a' and 'b'.
            msg = str(e).replace("matmul()", "linear()", 1)
            msg = msg.replace("'a'", "'x'").replace("'b'", "'w'")
            raise ValueError(msg) from None
        raise
