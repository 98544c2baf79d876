"""Finite-difference check of autograd gradients (float64, central differences)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .ops._checks import arg_error, describe
from .tensor import Tensor

__all__ = ["gradcheck"]


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    raise_exception: bool = True,
) -> bool:
    """Compare autograd's gradient of ``f`` with central finite differences, in float64.

    ``f`` maps Tensors to a Tensor (any shape: it is checked through ``sum(out * w)`` with a
    fixed random ``w``, so every output element counts). Every float input is checked.
    On a mismatch raises AssertionError naming the input and the worst element (or returns
    False with ``raise_exception=False``).

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.gradcheck(lambda x: x.exp() * x, np.array([0.5, -1.0]))
        True
    """
    # order="C": the perturbation loop below writes through a.reshape(-1), which is a view
    # only for a C-contiguous array (a transposed input used to make every numeric slope 0).
    arrays = []
    for i, x in enumerate(inputs):
        try:
            arrays.append(
                np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64, order="C")
            )
        except (TypeError, ValueError):
            raise arg_error(
                "gradcheck", f"inputs[{i}]", "be an array of real numbers", describe(x), TypeError
            ) from None
    rng = np.random.default_rng(1234)
    probe = None

    def scalar(*arrs: np.ndarray, track: bool) -> tuple:
        nonlocal probe
        ts = [Tensor(a.copy(), requires_grad=track) for a in arrs]
        out = f(*ts)
        od = out.data if isinstance(out, Tensor) else np.asarray(out)
        if probe is None:
            probe = rng.standard_normal(od.shape)
        if not isinstance(out, Tensor):
            out = Tensor(np.asarray(od, dtype=np.float64))
        return (out * probe).sum(), ts

    s, ts = scalar(*arrays, track=True)
    if s.requires_grad:
        s.backward()
    for i, (a, t) in enumerate(zip(arrays, ts)):
        analytic = t.grad.data if t.grad is not None else np.zeros_like(a)
        numeric = np.zeros_like(a)
        flat = a.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            hi = float(scalar(*arrays, track=False)[0].data)
            flat[j] = old - eps
            lo = float(scalar(*arrays, track=False)[0].data)
            flat[j] = old
            numeric.reshape(-1)[j] = (hi - lo) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if (
            analytic.shape != a.shape
            or (err.size and err.max() > 0)
            or not np.all(np.isfinite(analytic) == np.isfinite(numeric))
        ):
            if not raise_exception:
                return False
            k = int(np.argmax(err)) if err.size else 0
            idx = np.unravel_index(k, a.shape) if a.ndim else ()
            raise AssertionError(
                f"gradcheck: gradient of input {i} (shape {a.shape}) differs from finite "
                f"differences; worst element {idx}: autograd {analytic.reshape(-1)[k]!r}, "
                f"numeric {numeric.reshape(-1)[k]!r} (atol={atol}, rtol={rtol}, eps={eps})"
            )
    return True
