"""Weight initialisation, in place, drawing from ``fastdl.get_generator()``.

Each function takes a Parameter/Tensor (its ``.data`` is overwritten) or an ndarray, and returns
it. Fans follow fastdl's weight layout: a Linear weight is (d_in, d_out) as in the seed notes,
so ``fan_in = shape[0]`` and ``fan_out = shape[1]`` (times ``prod(shape[2:])`` for higher-rank
weights) -- the transpose of PyTorch's (out, in). ``fastdl.manual_seed(s)`` makes every draw
reproducible.

Linear's default is :func:`lecun_normal_`, the seed's N(0, 1/n_in), with a zero bias. PyTorch's
Linear default is U(-1/sqrt(n_in), 1/sqrt(n_in)) for both (``kaiming_uniform_(a=sqrt(5))``),
i.e. a weight variance of 1/(3 n_in): fastdl's starts three times wider.
"""

from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np

from .._random import get_generator
from ..ops._checks import arg_error, describe

__all__ = [
    "calculate_gain",
    "constant_",
    "ones_",
    "zeros_",
    "uniform_",
    "normal_",
    "lecun_normal_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "xavier_normal_",
    "xavier_uniform_",
]


def _array(t: Any, fn: str) -> np.ndarray:
    a = t if isinstance(t, np.ndarray) else getattr(t, "data", None)
    if not isinstance(a, np.ndarray):
        raise arg_error(fn, "tensor", "be a Tensor or ndarray", describe(t), TypeError)
    if a.dtype.kind != "f":
        raise arg_error(fn, "tensor", "be floating point", f"dtype {a.dtype}", TypeError)
    return a


def _fans(a: np.ndarray, fn: str) -> Tuple[int, int]:
    if a.ndim < 2:
        raise arg_error(
            fn, "tensor", "have at least 2 dimensions (for fan in and fan out)", f"shape {a.shape}"
        )
    receptive = math.prod(a.shape[2:])
    return a.shape[0] * receptive, a.shape[1] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (same values as PyTorch).

    Example:
        >>> from fastdl.nn import init
        >>> round(init.calculate_gain("relu"), 4)
        1.4142
    """
    linear = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise arg_error(
                "calculate_gain", "param", "be a number (the negative slope)", repr(param)
            )
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise arg_error(
        "calculate_gain", "nonlinearity", "be one of 'linear', 'identity', 'sigmoid', 'conv1d', "
        "'conv2d', 'conv3d', 'tanh', 'relu', 'leaky_relu', 'selu'", repr(nonlinearity),
    )  # fmt: skip


def _fill_normal(t: Any, a: np.ndarray, mean: float, std: float) -> Any:
    a[...] = get_generator().normal(mean, std, size=a.shape)
    return t


def _fill_uniform(t: Any, a: np.ndarray, low: float, high: float) -> Any:
    a[...] = get_generator().uniform(low, high, size=a.shape)
    return t


def constant_(tensor: Any, val: float) -> Any:
    """Fill with ``val``.

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> init.constant_(np.zeros(2), 0.5)
        array([0.5, 0.5])
    """
    _array(tensor, "constant_")[...] = val
    return tensor


def _filled(tensor: Any, val: float, fn: str) -> Any:
    _array(tensor, fn)[...] = val
    return tensor


def zeros_(tensor: Any) -> Any:
    """Fill with zeros.

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> init.zeros_(np.ones(2))
        array([0., 0.])
    """
    return _filled(tensor, 0.0, "zeros_")


def ones_(tensor: Any) -> Any:
    """Fill with ones.

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> init.ones_(np.zeros(2))
        array([1., 1.])
    """
    return _filled(tensor, 1.0, "ones_")


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0) -> Any:
    """Fill with draws from U(a, b).

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> w = init.uniform_(np.empty(100), -1.0, 1.0)
        >>> bool((w >= -1).all() and (w < 1).all())
        True
    """
    if not a <= b:
        raise arg_error("uniform_", "b", f"be >= a ({a})", b)
    return _fill_uniform(tensor, _array(tensor, "uniform_"), a, b)


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0) -> Any:
    """Fill with draws from N(mean, std^2).

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> init.normal_(np.empty((2, 3)), std=0.1).shape
        (2, 3)
    """
    if not std >= 0:
        raise arg_error("normal_", "std", "be >= 0", std)
    return _fill_normal(tensor, _array(tensor, "normal_"), mean, std)


def lecun_normal_(tensor: Any) -> Any:
    """The seed's initialisation N(0, 1/fan_in) (LeCun normal); Linear's default.

    Example:
        >>> import numpy as np, fastdl; from fastdl.nn import init
        >>> _ = fastdl.manual_seed(0)
        >>> w = init.lecun_normal_(np.empty((400, 300)))
        >>> bool(abs(w.var() * 400 - 1) < 0.05)
        True
    """
    a = _array(tensor, "lecun_normal_")
    fan_in, _ = _fans(a, "lecun_normal_")
    return _fill_normal(tensor, a, 0.0, 1.0 / math.sqrt(fan_in))


def _kaiming_std(a: np.ndarray, neg: float, mode: str, nonlinearity: str, fn: str) -> float:
    fan_in, fan_out = _fans(a, fn)
    if mode not in ("fan_in", "fan_out"):
        raise arg_error(fn, "mode", "be 'fan_in' or 'fan_out'", repr(mode))
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, neg) / math.sqrt(fan)


def kaiming_normal_(
    tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Any:
    """He initialisation N(0, gain^2 / fan), gain from :func:`calculate_gain`.

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> init.kaiming_normal_(np.empty((4, 3)), nonlinearity="relu").shape
        (4, 3)
    """
    arr = _array(tensor, "kaiming_normal_")
    return _fill_normal(
        tensor, arr, 0.0, _kaiming_std(arr, a, mode, nonlinearity, "kaiming_normal_")
    )


def kaiming_uniform_(
    tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Any:
    """He initialisation U(-b, b) with b = gain * sqrt(3 / fan).

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> w = init.kaiming_uniform_(np.empty((300, 2)), nonlinearity="relu")
        >>> bool(np.abs(w).max() <= np.sqrt(6 / 300))
        True
    """
    arr = _array(tensor, "kaiming_uniform_")
    bound = math.sqrt(3.0) * _kaiming_std(arr, a, mode, nonlinearity, "kaiming_uniform_")
    return _fill_uniform(tensor, arr, -bound, bound)


def xavier_normal_(tensor: Any, gain: float = 1.0) -> Any:
    """Glorot initialisation N(0, gain^2 * 2 / (fan_in + fan_out)).

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> init.xavier_normal_(np.empty((4, 3))).shape
        (4, 3)
    """
    arr = _array(tensor, "xavier_normal_")
    fan_in, fan_out = _fans(arr, "xavier_normal_")
    return _fill_normal(tensor, arr, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def xavier_uniform_(tensor: Any, gain: float = 1.0) -> Any:
    """Glorot initialisation U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).

    Example:
        >>> import numpy as np; from fastdl.nn import init
        >>> w = init.xavier_uniform_(np.empty((3, 3)))
        >>> bool(np.abs(w).max() <= 1.0)
        True
    """
    arr = _array(tensor, "xavier_uniform_")
    fan_in, fan_out = _fans(arr, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill_uniform(tensor, arr, -bound, bound)
