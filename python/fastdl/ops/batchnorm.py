"""Batch normalisation kernels on NumPy arrays: training forward, eval forward, backward.

Input ``x`` has shape (N, C) or (N, C, L); statistics are per channel ``c`` over the
``M = N * L`` values ``x[:, c, :]`` (PyTorch's ``BatchNorm1d``). Results are the same bits for
any thread count.

How a module uses these (PyTorch semantics):

- training: ``y, mean, invstd = batch_norm_forward(x, w, b, eps, running_mean=rm,
  running_var=rv, momentum=0.1)`` normalises with the biased variance and updates ``rm``/``rv``
  in place (``rv`` with the unbiased variance ``var * M / (M - 1)``); save ``mean``/``invstd``
  for ``batch_norm_backward(grad, x, mean, invstd, w)``. The biased variance, if wanted, is
  ``1 / invstd**2 - eps`` (or call :func:`batch_norm_stats`).
- eval: ``y = batch_norm_inference(x, rm, rv, w, b, eps)``; its gradient is
  ``batch_norm_backward(grad, x, rm, 1 / np.sqrt(rv + eps), w, training=False)``.
- ``momentum=None`` in PyTorch (cumulative average) is ``momentum = 1 / num_batches_tracked``
  here, computed by the caller.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .. import _core
from ._checks import as_kernel_input, as_ndarray, empty, ready, result_dtype

__all__ = [
    "batch_norm_forward",
    "batch_norm_inference",
    "batch_norm_backward",
    "batch_norm_stats",
]


def _fast(a: Any, dt: np.dtype, c: int, writeable: bool = False) -> bool:
    """True when an optional (C,) argument can go to the kernel as it is (fast path)."""
    if a is None:
        return True
    return (
        type(a) is np.ndarray
        and a.dtype is dt
        and a.shape == (c,)
        and a.flags.c_contiguous
        and (a.flags.writeable or not writeable)
    )


def _fast_scalar(v: Any, hi: float = math.inf) -> bool:
    return type(v) is float and 0.0 <= v <= hi


def _check_x(fn: str, x: np.ndarray) -> int:
    if x.ndim not in (2, 3):
        raise ValueError(
            f"{fn}(): argument 'x' must be 2-d (N, C) or 3-d (N, C, L), got shape {x.shape}"
        )
    return x.shape[1]


def _channel_arrays(fn: str, c: int, x_shape: tuple, **arrays: Any) -> dict[str, np.ndarray]:
    """Validate optional (C,) per-channel inputs; None stays None."""
    out = {}
    for name, v in arrays.items():
        if v is None:
            out[name] = None
            continue
        a = as_ndarray(v, fn, name)
        if a.shape != (c,):
            raise ValueError(
                f"{fn}(): argument '{name}' must have shape (C,) = ({c},) for x of shape "
                f"{x_shape}, got {a.shape}"
            )
        out[name] = a
    return out


def _check_scalar(fn: str, name: str, v: Any, lo: float, hi: float = math.inf) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}(): argument '{name}' must be a real number, got {v!r}") from None
    if not (lo <= f <= hi):
        raise ValueError(f"{fn}(): argument '{name}' must be in [{lo}, {hi}], got {v!r}")
    return f


def _running_buffer(fn: str, name: str, v: Any, c: int, dt: np.dtype) -> tuple[np.ndarray, Any]:
    """(array the kernel updates, user's buffer to copy back into or None)."""
    if not isinstance(v, np.ndarray):
        raise TypeError(
            f"{fn}(): argument '{name}' must be a numpy.ndarray updated in place, "
            f"got {type(v).__name__}"
        )
    if v.shape != (c,):
        raise ValueError(f"{fn}(): argument '{name}' must have shape ({c},), got {v.shape}")
    if v.dtype.kind != "f":
        raise TypeError(f"{fn}(): argument '{name}' must have a float dtype, got {v.dtype}")
    if not v.flags.writeable:
        raise ValueError(f"{fn}(): argument '{name}' must be writeable (it is updated in place)")
    if v.dtype == dt and v.flags.c_contiguous:
        return v, None
    return np.ascontiguousarray(v, dtype=dt), v  # updated in dt, copied back afterwards


def batch_norm_forward(
    x: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    *,
    running_mean: Optional[np.ndarray] = None,
    running_var: Optional[np.ndarray] = None,
    momentum: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training-mode batch norm: returns ``(y, mean, invstd)``.

    ``y = (x - mean) * invstd * weight + bias`` with, per channel over (N, L), ``mean`` and the
    biased variance ``var``, ``invstd = 1 / sqrt(var + eps)``. ``weight``/``bias`` of shape (C,)
    may be None (``affine=False``). The statistics are computed in one pass with float64
    accumulators, shifted per chunk and merged with Chan's formula, so data with a large
    offset keeps its variance; ``y`` is a second, fused pass. A channel whose one-pass sums
    overflow (float64 beyond ~1e154) is summed again with scaling: ``invstd`` and ``y`` stay
    right for any finite input, the variance is inf only when it exceeds the dtype. A channel
    holding NaN or Inf gets NumPy's mean (NaN or +-inf) and NaN ``invstd`` and ``y``; the other
    channels are unaffected.

    When ``running_mean``/``running_var`` (ndarrays of shape (C,)) are given they are updated
    in place as in PyTorch: ``r = (1 - momentum) * r + momentum * stat`` with the unbiased
    variance ``var * M / (M - 1)`` for ``running_var`` (M = N * L, which must then be > 1).
    An empty batch (M == 0) gives an empty ``y``, NaN statistics and leaves them alone.
    ``mean`` and ``invstd`` are what :func:`batch_norm_backward` needs; the biased variance is
    ``1 / invstd**2 - eps``.

    Example:
        >>> import numpy as np, fastdl
        >>> y, mean, invstd = fastdl.ops.batch_norm_forward(np.array([[1.0], [3.0]]))
        >>> mean, np.round(y.ravel(), 4)
        (array([2.]), array([-1.,  1.]))
    """
    if ready(x) and 2 <= x.ndim <= 3 and _fast_scalar(eps) and _fast_scalar(momentum, 1.0):
        dt, c = x.dtype, x.shape[1]
        m = x.shape[0] * (x.shape[2] if x.ndim == 3 else 1)
        if (
            m > 1
            and _fast(weight, dt, c)
            and _fast(bias, dt, c)
            and _fast(running_mean, dt, c, True)
            and _fast(running_var, dt, c, True)
        ):
            y, mean, invstd = empty(x.shape, dt), empty(c, dt), empty(c, dt)
            _core.batch_norm_train(
                x, weight, bias, y, mean, invstd, running_mean, running_var, eps, momentum
            )
            return y, mean, invstd
    fn = "batch_norm_forward"
    xa = as_ndarray(x, fn, "x")
    c = _check_x(fn, xa)
    ch = _channel_arrays(fn, c, xa.shape, weight=weight, bias=bias)
    eps = _check_scalar(fn, "eps", eps, 0.0)
    momentum = _check_scalar(fn, "momentum", momentum, 0.0, 1.0)
    dt = result_dtype(fn, xa, *[a for a in ch.values() if a is not None])
    xa = as_kernel_input(xa, dt)
    w, b = (None if a is None else as_kernel_input(a, dt) for a in ch.values())
    m = xa.shape[0] * (xa.shape[2] if xa.ndim == 3 else 1)
    rm = rv = rm_user = rv_user = None
    if running_mean is not None:
        rm, rm_user = _running_buffer(fn, "running_mean", running_mean, c, dt)
    if running_var is not None:
        if m == 1:
            raise ValueError(
                f"{fn}(): expected more than 1 value per channel when training, got x of shape "
                f"{xa.shape}"
            )
        rv, rv_user = _running_buffer(fn, "running_var", running_var, c, dt)
    y = empty(xa.shape, dt)
    mean = empty(c, dt)
    invstd = empty(c, dt)
    if m == 0:  # PyTorch leaves the running statistics alone on an empty batch
        rm = rv = rm_user = rv_user = None
    _core.batch_norm_train(xa, w, b, y, mean, invstd, rm, rv, eps, momentum)
    if rm_user is not None:
        np.copyto(rm_user, rm, casting="unsafe")
    if rv_user is not None:
        np.copyto(rv_user, rv, casting="unsafe")
    return y, mean, invstd


def batch_norm_stats(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(mean, var)`` (biased variance) of x (N, C) or (N, C, L), as the forward.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.batch_norm_stats(np.array([[1.0], [3.0]]))
        (array([2.]), array([1.]))
    """
    fn = "batch_norm_stats"
    xa = as_ndarray(x, fn, "x")
    _check_x(fn, xa)
    dt = result_dtype(fn, xa)
    xa = as_kernel_input(xa, dt)
    c = xa.shape[1]
    mean, invstd, var = empty(c, dt), empty(c, dt), empty(c, dt)
    _core.batch_norm_train(xa, None, None, None, mean, invstd, None, None, 0.0, 0.0, var)
    return mean, var


def batch_norm_inference(
    x: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """Eval-mode batch norm with given statistics, one fused pass.

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias``; ``weight``/``bias``
    may be None. The gradient is :func:`batch_norm_backward` with ``training=False`` and
    ``invstd = 1 / np.sqrt(running_var + eps)``.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.batch_norm_inference(np.array([[3.0]]), np.array([1.0]), np.array([4.0]),
        ...                                 eps=0.0)
        array([[1.]])
    """
    if ready(x) and 2 <= x.ndim <= 3 and _fast_scalar(eps):
        dt, c = x.dtype, x.shape[1]
        if (
            running_mean is not None
            and running_var is not None
            and _fast(running_mean, dt, c)
            and _fast(running_var, dt, c)
            and _fast(weight, dt, c)
            and _fast(bias, dt, c)
        ):
            y = empty(x.shape, dt)
            _core.batch_norm_eval(x, running_mean, running_var, weight, bias, y, eps)
            return y
    fn = "batch_norm_inference"
    xa = as_ndarray(x, fn, "x")
    c = _check_x(fn, xa)
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is None:
            raise TypeError(f"{fn}(): argument '{name}' must be an array of shape ({c},), got None")
    ch = _channel_arrays(
        fn,
        c,
        xa.shape,
        running_mean=running_mean,
        running_var=running_var,
        weight=weight,
        bias=bias,
    )
    eps = _check_scalar(fn, "eps", eps, 0.0)
    dt = result_dtype(fn, xa, *[a for a in ch.values() if a is not None])
    xa = as_kernel_input(xa, dt)
    rm, rv, w, b = (None if a is None else as_kernel_input(a, dt) for a in ch.values())
    y = empty(xa.shape, dt)
    _core.batch_norm_eval(xa, rm, rv, w, b, y, eps)
    return y


def batch_norm_backward(
    grad: Any,
    x: Any,
    mean: Any,
    invstd: Any,
    weight: Any = None,
    *,
    training: bool = True,
    output_mask: tuple[bool, bool, bool] = (True, True, True),
) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """Gradients of batch norm: returns ``(grad_x, grad_weight, grad_bias)``.

    With ``xhat = (x - mean) * invstd`` and sums per channel over (N, L):
    ``grad_weight = sum(grad * xhat)``, ``grad_bias = sum(grad)`` and, in training mode
    (``mean``/``invstd`` from :func:`batch_norm_forward`),
    ``grad_x = weight * invstd * (grad - grad_bias / M - xhat * grad_weight / M)``;
    with ``training=False`` (running statistics were constants) ``grad_x = weight * invstd *
    grad``. ``weight`` None means 1; ``grad_weight``/``grad_bias`` are returned whether or not
    the forward had affine parameters. ``output_mask`` (as in PyTorch) skips outputs that are
    not needed, returning None for them. Sums that overflow float64 with finite inputs are
    taken again with scaling, so ``grad_weight``/``grad_bias`` are inf only when their true
    value exceeds the dtype. ``grad_x`` is formed in the dtype as ``2 * weight * invstd *
    ((grad - grad_bias / M) / 2 - c * (x - mean) / 2)`` with ``c = invstd * grad_weight / M``:
    it is inf or NaN, even where its true value is in range, only if ``c`` or that bracket
    exceed the dtype (gradients of ~1e37 in float32 or ~1e307 in float64).

    Example:
        >>> import numpy as np, fastdl
        >>> x = np.array([[1.0], [3.0]])
        >>> y, mean, invstd = fastdl.ops.batch_norm_forward(x, eps=0.0)
        >>> gx, gw, gb = fastdl.ops.batch_norm_backward(np.array([[1.0], [0.0]]), x, mean, invstd)
        >>> gx, gw, gb
        (array([[0.],
               [0.]]), array([-1.]), array([1.]))
    """
    if (
        ready(x)
        and 2 <= x.ndim <= 3
        and type(grad) is np.ndarray
        and grad.dtype is x.dtype
        and grad.shape == x.shape
        and grad.flags.c_contiguous
        and type(output_mask) is tuple
        and len(output_mask) == 3
        and type(training) is bool
    ):
        dt, c = x.dtype, x.shape[1]
        if mean is not None and invstd is not None:
            if _fast(mean, dt, c) and _fast(invstd, dt, c) and _fast(weight, dt, c):
                gx = empty(x.shape, dt) if output_mask[0] else None
                gw = empty(c, dt) if output_mask[1] else None
                gb = empty(c, dt) if output_mask[2] else None
                _core.batch_norm_backward(grad, x, mean, invstd, weight, gx, gw, gb, bool(training))
                return gx, gw, gb
    fn = "batch_norm_backward"
    ga = as_ndarray(grad, fn, "grad")
    xa = as_ndarray(x, fn, "x")
    c = _check_x(fn, xa)
    if ga.shape != xa.shape:
        raise ValueError(
            f"{fn}(): argument 'grad' must have the shape of x {xa.shape}, got {ga.shape}"
        )
    for name, v in (("mean", mean), ("invstd", invstd)):
        if v is None:
            raise TypeError(f"{fn}(): argument '{name}' must be an array of shape ({c},), got None")
    ch = _channel_arrays(fn, c, xa.shape, mean=mean, invstd=invstd, weight=weight)
    try:
        want_x, want_w, want_b = (bool(v) for v in output_mask)
    except (TypeError, ValueError):
        raise TypeError(
            f"{fn}(): argument 'output_mask' must be 3 booleans, got {output_mask!r}"
        ) from None
    if not isinstance(training, (bool, np.bool_)):  # bool("no") is True: a typo would pass
        raise TypeError(
            f"{fn}(): argument 'training' must be a bool, got {type(training).__name__}"
        )
    dt = result_dtype(fn, ga, xa, *[a for a in ch.values() if a is not None])
    ga = as_kernel_input(ga, dt)
    xa = as_kernel_input(xa, dt)
    m, s, w = (None if a is None else as_kernel_input(a, dt) for a in ch.values())
    gx = empty(xa.shape, dt) if want_x else None
    gw = empty(c, dt) if want_w else None
    gb = empty(c, dt) if want_b else None
    _core.batch_norm_backward(ga, xa, m, s, w, gx, gw, gb, bool(training))
    return gx, gw, gb
