"""Activation layers: ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..ops._checks import arg_error, describe
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """max(x, 0). After a Linear inside a Sequential it is fused into the Linear's kernel.

    Example:
        >>> from fastdl import nn
        >>> nn.ReLU()([-1.0, 1.0]).numpy()
        array([0., 1.], dtype=float32)
    """

    activation = "relu"

    def forward(self, input: Any) -> Tensor:
        return F.relu(input)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), the seed's output unit for Pr(Y = 1 | X).

    Example:
        >>> from fastdl import nn
        >>> nn.Sigmoid()([0.0]).numpy()
        array([0.5], dtype=float32)
    """

    activation = "sigmoid"

    def forward(self, input: Any) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x).

    Example:
        >>> from fastdl import nn
        >>> nn.Tanh()([0.0]).numpy()
        array([0.], dtype=float32)
    """

    activation = "tanh"

    def forward(self, input: Any) -> Tensor:
        return F.tanh(input)


class GELU(Module):
    """x * Phi(x); ``approximate='tanh'`` for the tanh formula.

    Example:
        >>> from fastdl import nn
        >>> nn.GELU()([0.0]).numpy()
        array([0.], dtype=float32)
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise arg_error("GELU", "approximate", "be 'none' or 'tanh'", repr(approximate))
        self.approximate = approximate

    def forward(self, input: Any) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """Softmax along ``dim`` (default -1, unlike PyTorch which asks for it explicitly).

    Example:
        >>> from fastdl import nn
        >>> nn.Softmax(dim=1)([[0.0, 0.0]]).numpy()
        array([[0.5, 0.5]], dtype=float32)
    """

    def __init__(self, dim: Optional[int] = -1) -> None:
        super().__init__()
        self.dim = _dim("Softmax", dim)

    def forward(self, input: Any) -> Tensor:
        return F.softmax(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim`` (default -1).

    Example:
        >>> from fastdl import nn
        >>> nn.LogSoftmax(dim=1)([[0.0, 0.0]]).numpy().round(4)
        array([[-0.6931, -0.6931]], dtype=float32)
    """

    def __init__(self, dim: Optional[int] = -1) -> None:
        super().__init__()
        self.dim = _dim("LogSoftmax", dim)

    def forward(self, input: Any) -> Tensor:
        return F.log_softmax(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _dim(cls: str, dim: Any) -> int:
    if dim is None:
        return -1
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise arg_error(cls, "dim", "be an int or None", describe(dim), TypeError)
    return int(dim)
