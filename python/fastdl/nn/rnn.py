"""Recurrent layers ``RNNCell``/``RNN`` (tanh or relu) and ``GRUCell``/``GRU`` (PyTorch's math).

Weights use fastdl's (in, out) layout, the transpose of PyTorch's: ``weight_ih`` is
(input_size, G*hidden_size) and ``weight_hh`` (hidden_size, G*hidden_size) with G = 1 (RNN) or
3 (GRU, gates in PyTorch's order r, z, n). Copy PyTorch weights with ``.T``. The input
projection of a whole sequence is one fused ``linear`` call; each GRU step is one autograd node
with a closed-form backward.
"""

from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np

from .. import ops
from ..autograd import Function
from ..ops._checks import arg_error
from ..tensor import Tensor, stack
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["RNNCell", "RNN", "GRUCell", "GRU"]

# fastdl's matmul kernel: NumPy's OpenBLAS threads would alternate with fastdl's OpenMP pool
# on every step of the sequence.
_matmul = ops.matmul


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for any x


class _GRUStep(Function):
    """h' = (1 - z) n + z h from gi = x W_ih + b_ih (N, 3H), h, W_hh (H, 3H), b_hh (3H)."""

    @staticmethod
    def forward(ctx, gi, h, w_hh, b_hh):
        hs = h.shape[-1]
        gh = _matmul(h, w_hh)
        if b_hh is not None:
            gh += b_hh
        r = _sigmoid(gi[:, :hs] + gh[:, :hs])
        z = _sigmoid(gi[:, hs : 2 * hs] + gh[:, hs : 2 * hs])
        ghn = gh[:, 2 * hs :]
        n = np.tanh(gi[:, 2 * hs :] + r * ghn)
        out = n + z * (h - n)
        ctx.save_for_backward(h, w_hh, r, z, n, ghn, b_hh is not None)
        return out

    @staticmethod
    def backward(ctx, g):
        h, w_hh, r, z, n, ghn, has_b = ctx.saved_tensors
        dn = g * (1 - z) * (1 - n * n)
        dz = g * (h - n) * z * (1 - z)
        dr = dn * ghn * r * (1 - r)
        dgi = np.concatenate([dr, dz, dn], axis=1)
        dgh = np.concatenate([dr, dz, dn * r], axis=1)
        need_gi, need_h, need_w, need_b = ctx.needs_input_grad
        dh = g * z + _matmul(dgh, w_hh.T) if need_h else None
        dw = _matmul(h.T, dgh) if need_w else None
        db = dgh.sum(0) if has_b and need_b else None
        return (dgi if need_gi else None), dh, dw, db


def _check_size(name: str, v: Any, cls: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise arg_error(cls, name, "be a positive int", repr(v))
    return int(v)


class _CellBase(Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype: Any) -> None:
        super().__init__()
        cls = type(self).__name__
        self.input_size = _check_size("input_size", input_size, cls)
        self.hidden_size = _check_size("hidden_size", hidden_size, cls)
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise arg_error(cls, "dtype", "be float32 or float64", dt, TypeError)
        g = self.gates * self.hidden_size
        self.weight_ih = Parameter(np.empty((self.input_size, g), dt))
        self.weight_hh = Parameter(np.empty((self.hidden_size, g), dt))
        self.bias_ih = Parameter(np.empty(g, dt)) if bias else None
        self.bias_hh = Parameter(np.empty(g, dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias from U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                init.uniform_(p, -bound, bound)

    def _inputs(self, input: Any, hx: Any) -> Tuple[Any, Any, bool]:
        cls = type(self).__name__
        dt = self.weight_ih.dtype
        x = input if isinstance(input, Tensor) else np.asarray(input, dtype=dt)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise arg_error(
                f"{cls}.forward", "input", f"have shape (N, {self.input_size}) or "
                f"({self.input_size},)", f"shape {tuple(x.shape)}",
            )  # fmt: skip
        single = x.ndim == 1
        if single:
            x = x.reshape(1, self.input_size)
        n = x.shape[0]
        if hx is None:
            h = np.zeros((n, self.hidden_size), dt)
        else:
            h = hx if isinstance(hx, Tensor) else np.asarray(hx, dtype=dt)
            if single:
                h = h.reshape(1, -1)
            if tuple(h.shape) != (n, self.hidden_size):
                raise arg_error(
                    f"{cls}.forward", "hx", f"have shape ({n}, {self.hidden_size})",
                    f"shape {tuple(h.shape)}",
                )  # fmt: skip
        return x, h, single

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_CellBase):
    """Elman cell ``h' = tanh(x W_ih + b_ih + h W_hh + b_hh)`` (or relu).

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> cell = nn.RNNCell(3, 4)
        >>> cell(np.ones((2, 3), np.float32)).shape
        (2, 4)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: Any = np.float32,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise arg_error("RNNCell", "nonlinearity", "be 'tanh' or 'relu'", repr(nonlinearity))
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, dtype)

    def step(self, gi: Any, h: Any) -> Tensor:
        """One step from the precomputed input projection ``gi = x W_ih + b_ih``."""
        pre = F.linear(h, self.weight_hh, self.bias_hh) + gi
        return pre.tanh() if self.nonlinearity == "tanh" else pre.relu()

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, h, single = self._inputs(input, hx)
        out = self.step(F.linear(x, self.weight_ih, self.bias_ih), h)
        return out.reshape(self.hidden_size) if single else out


class GRUCell(_CellBase):
    """Gated recurrent unit, PyTorch's equations::

        r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)
        z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
        n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
        h' = (1 - z) * n + z * h

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> cell = nn.GRUCell(3, 4)
        >>> cell(np.ones((2, 3), np.float32)).shape
        (2, 4)
    """

    gates = 3

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def step(self, gi: Any, h: Any) -> Tensor:
        """One step from the precomputed input projection ``gi = x W_ih + b_ih`` (N, 3H)."""
        return _GRUStep.apply(gi, h, self.weight_hh, self.bias_hh)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, h, single = self._inputs(input, hx)
        out = self.step(F.linear(x, self.weight_ih, self.bias_ih), h)
        return out.reshape(self.hidden_size) if single else out


class _RNNBase(Module):
    cell_type: type = RNNCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dtype: Any = np.float32,
        **cell_kw: Any,
    ) -> None:
        super().__init__()
        cls = type(self).__name__
        self.input_size = _check_size("input_size", input_size, cls)
        self.hidden_size = _check_size("hidden_size", hidden_size, cls)
        self.num_layers = _check_size("num_layers", num_layers, cls)
        self.batch_first = bool(batch_first)
        from .containers import ModuleList

        self.cells = ModuleList(
            [
                self.cell_type(
                    self.input_size if i == 0 else self.hidden_size,
                    self.hidden_size,
                    bias=bias,
                    dtype=dtype,
                    **cell_kw,
                )
                for i in range(self.num_layers)
            ]
        )

    def forward(self, input: Any, hx: Any = None) -> Tuple[Tensor, Tensor]:
        """``(output, h_n)``: output (N, T, H) with batch_first (else (T, N, H)), h_n (L, N, H).

        Unbatched input (T, input_size) gives output (T, H) and h_n (L, H).
        """
        cls = type(self).__name__
        dt = self.cells[0].weight_ih.dtype
        x = input if isinstance(input, Tensor) else np.asarray(input, dtype=dt)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise arg_error(
                f"{cls}.forward", "input", f"have shape (N, T, {self.input_size}) (batch_first) "
                f"or (T, N, {self.input_size}) or unbatched (T, {self.input_size})",
                f"shape {tuple(x.shape)}",
            )  # fmt: skip
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, x.shape[1])  # (T, 1, C)
        elif self.batch_first:
            x = x.transpose(1, 0, 2)  # time-major inside
        t, n = x.shape[0], x.shape[1]
        shape_h = (self.num_layers, n, self.hidden_size)
        if hx is not None:
            h0 = hx if isinstance(hx, Tensor) else np.asarray(hx, dtype=dt)
            if unbatched:
                h0 = h0.reshape(self.num_layers, 1, self.hidden_size)
            if tuple(h0.shape) != shape_h:
                want = shape_h if not unbatched else (self.num_layers, self.hidden_size)
                raise arg_error(f"{cls}.forward", "hx", f"have shape {want}", tuple(hx.shape))
        finals = []
        layer_in = x
        for i, cell in enumerate(self.cells):
            h = np.zeros((n, self.hidden_size), dt) if hx is None else h0[i]
            gi = F.linear(layer_in, cell.weight_ih, cell.bias_ih)  # (T, N, G*H) in one call
            outs = []
            for s in range(t):
                h = cell.step(gi[s], h)
                outs.append(h)
            finals.append(h)
            layer_in = stack(outs, axis=0) if t else Tensor(np.zeros((0, n, self.hidden_size), dt))
        h_n = stack(finals, axis=0)
        out = layer_in
        if unbatched:
            return out.reshape(t, self.hidden_size), h_n.reshape(self.num_layers, self.hidden_size)
        if self.batch_first:
            out = out.transpose(1, 0, 2)
        return out, h_n

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"batch_first={self.batch_first}"
        )


class RNN(_RNNBase):
    """Multi-layer Elman RNN (tanh or relu) over a sequence; ``forward(input, hx=None)``.

    ``batch_first`` defaults to True here (PyTorch's default is False). Each layer's cell is
    ``rnn.cells[i]`` (weights ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``).

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> out, h = nn.RNN(3, 5, num_layers=2)(np.ones((4, 7, 3), np.float32))
        >>> out.shape, h.shape
        ((4, 7, 5), (2, 4, 5))
    """

    cell_type = RNNCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dtype, nonlinearity=nonlinearity
        )


class GRU(_RNNBase):
    """Multi-layer GRU over a sequence; ``forward(input, hx=None) -> (output, h_n)``.

    ``batch_first`` defaults to True here (PyTorch's default is False). Each layer's cell is
    ``gru.cells[i]``, a :class:`GRUCell`.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> out, h = nn.GRU(3, 5)(np.ones((4, 7, 3), np.float32))
        >>> out.shape, h.shape
        ((4, 7, 5), (1, 4, 5))
    """

    cell_type = GRUCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dtype)
