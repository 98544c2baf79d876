"""``Flatten``: merge a range of axes into one (e.g. images to vectors before a Linear)."""

from __future__ import annotations

from typing import Any

from ..ops._checks import arg_error
from ..tensor import Tensor
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Reshape axes ``start_dim..end_dim`` into one (defaults keep the batch axis).

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> nn.Flatten()(np.zeros((2, 3, 4))).shape
        (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Any) -> Tensor:
        x = input if isinstance(input, Tensor) else Tensor(input)
        nd = x.ndim
        s = self.start_dim % nd if nd else 0
        e = self.end_dim % nd if nd else 0
        if not (-nd <= self.start_dim < nd and -nd <= self.end_dim < nd) or s > e:
            bad = "start_dim" if not -nd <= self.start_dim < nd else "end_dim"
            raise arg_error(
                "Flatten.forward", bad if s <= e else ("start_dim", "end_dim"),
                f"be in [{-nd}, {nd - 1}] (start_dim <= end_dim) for an input of shape "
                f"{x.shape}", f"start_dim={self.start_dim}, end_dim={self.end_dim}",
            )  # fmt: skip
        shape = x.shape
        merged = 1
        for d in shape[s : e + 1]:
            merged *= d
        return x.reshape(*shape[:s], merged, *shape[e + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
