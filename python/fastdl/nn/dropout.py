"""``Dropout``: inverted dropout, active only in training mode."""

from __future__ import annotations

from typing import Any

from ..ops._checks import arg_error
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero elements with probability ``p`` while training, scaling the rest by 1/(1-p).

    Identity in ``eval()`` mode. Draws from ``fastdl.get_generator()``.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> nn.Dropout(0.5).eval()(np.ones(3)).numpy()
        array([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise arg_error("Dropout", "p", "be a probability in [0, 1]", repr(p))
        self.p = float(p)

    def forward(self, input: Any) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
