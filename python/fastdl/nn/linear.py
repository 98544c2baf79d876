"""``Linear``: y = x W + b with W of shape (d_in, d_out), the seed's layout."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops._checks import arg_error
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Linear", "Identity"]


class Linear(Module):
    """Affine layer ``y = x @ weight + bias`` computed by one fused kernel call.

    ``weight`` has shape (in_features, out_features) -- the seed's layout, the transpose of
    PyTorch's (out, in) -- and ``bias`` (out_features,). Initialisation: weight from the
    seed's N(0, 1/in_features) (LeCun normal, :func:`fastdl.nn.init.lecun_normal_`), bias zero;
    PyTorch draws both from U(-1/sqrt(in), 1/sqrt(in)) instead. Input (..., in_features).

    Example:
        >>> import numpy as np, fastdl
        >>> from fastdl import nn
        >>> layer = nn.Linear(3, 2)
        >>> layer.weight.shape, layer(np.ones((4, 3))).shape
        ((3, 2), (4, 2))
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise arg_error("Linear", name, "be a positive int", repr(v))
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise arg_error("Linear", "dtype", "be float32 or float64", dt, TypeError)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.in_features, self.out_features), dt))
        self.bias = Parameter(np.zeros(self.out_features, dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw the weight from N(0, 1/in_features) and zero the bias.

        Example:
            >>> from fastdl import nn
            >>> layer = nn.Linear(2, 2); layer.bias.data[:] = 1; layer.reset_parameters()
            >>> layer.bias.numpy()
            array([0., 0.], dtype=float32)
        """
        init.lecun_normal_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Any) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


class Identity(Module):
    """Returns its input unchanged.

    Example:
        >>> from fastdl import nn
        >>> nn.Identity()(3)
        3
    """

    def forward(self, input: Any) -> Any:
        return input
