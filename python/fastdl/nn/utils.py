"""``fastdl.nn.utils``: gradient clipping."""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Union

import numpy as np

from .. import ops
from ..ops._checks import arg_error, describe
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def clip_grad_norm_(
    parameters: Union[Tensor, Iterable[Tensor]],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Optional[bool] = None,
) -> np.float64:
    """Scale the gradients in place so their joint norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated (one kernel call);
    when it exceeds ``max_norm`` every gradient is multiplied by ``max_norm / (norm + 1e-6)``
    (PyTorch's rule). Returns the norm before clipping (an ``np.float64``; ``.item()`` works).
    ``foreach`` is accepted for PyTorch compatibility; the norm is always one fused call.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> p = nn.Parameter(np.zeros(2)); p.grad = nn.Parameter(np.array([3.0, 4.0]))
        >>> float(nn.utils.clip_grad_norm_([p], 1.0)), p.grad.numpy().round(4)
        (5.0, array([0.6, 0.8]))
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    max_norm = _number("clip_grad_norm_", "max_norm", max_norm)
    norm_type = _number("clip_grad_norm_", "norm_type", norm_type)
    if not grads:
        return np.float64(0.0)
    total = np.float64(ops.grad_norm(grads, norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise arg_error(
            "clip_grad_norm_", "parameters", f"have gradients of finite total norm (of order "
            f"{norm_type}; set error_if_nonfinite=False to clip anyway)", total, RuntimeError,
        )  # fmt: skip
    coef = max_norm / (float(total) + 1e-6)
    if coef < 1.0:
        ops.scale_(grads, coef)
    return total


def clip_grad_value_(parameters: Union[Tensor, Iterable[Tensor]], clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> p = nn.Parameter(np.zeros(2)); p.grad = nn.Parameter(np.array([-3.0, 0.5]))
        >>> nn.utils.clip_grad_value_([p], 1.0); p.grad.numpy()
        array([-1. ,  0.5])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    c = _number("clip_grad_value_", "clip_value", clip_value)
    if not c >= 0:
        raise arg_error("clip_grad_value_", "clip_value", "be >= 0", repr(clip_value))
    for p in parameters:
        if p.grad is not None:
            np.clip(p.grad.data, -c, c, out=p.grad.data)


def _number(fn: str, arg: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
        raise arg_error(fn, arg, "be a real number", describe(v), TypeError)
    return float(v)
