"""Attention layers on the fused kernel: ``scaled_dot_product_attention``, ``MultiheadAttention``
and the seed's dot-product (Luong) attention for an RNN decoder.

Each attention is one autograd node around ``ops.attention_forward`` / ``ops.attention_backward``
(the score matrix is never stored; backward recomputes it block by block).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np

from .. import ops
from ..autograd import Function
from ..ops._checks import arg_error
from ..tensor import Tensor
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter

# fastdl's matmul (not NumPy's OpenBLAS, whose threads would alternate with the OpenMP pool).
_matmul = ops.matmul

__all__ = [
    "scaled_dot_product_attention",
    "dot_product_attention",
    "MultiheadAttention",
    "DotProductAttention",
]


class _Attention(Function):
    """softmax(q k^T scale + mask) v: one node; saves q, k, v, out and the per-row lse."""

    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal=False, scale=None):
        out, lse = ops.attention_forward(q, k, v, mask, is_causal, scale)
        ctx.save_for_backward(q, k, v, mask, out, lse)
        ctx.is_causal, ctx.scale = is_causal, scale
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, mask, out, lse = ctx.saved_tensors
        dq, dk, dv = ops.attention_backward(g, q, k, v, out, lse, mask, ctx.is_causal, ctx.scale)
        return dq, dk, dv, None


def _array(x: Any, fn: str, arg: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.data
    if x is None:
        raise arg_error(fn, arg, "be a Tensor or array", None, TypeError)
    return np.asarray(x)


def _check_shapes(fn: str, names: tuple, q: Any, k: Any, v: Any) -> None:
    """Query, key and value shapes agree (E with E, S with S), named as the caller's
    arguments; the kernel's own check would name ops.attention_forward's 'q', 'k', 'v'."""
    qs, ks, vs = np.shape(q), np.shape(k), np.shape(v)
    if len(qs) and len(ks) and qs[-1] != ks[-1]:
        raise arg_error(
            fn, names[1], f"have the last dimension {qs[-1]} of '{names[0]}' (shape {qs})",
            f"shape {ks}",
        )  # fmt: skip
    if len(ks) >= 2 and len(vs) >= 2 and ks[-2] != vs[-2]:
        raise arg_error(
            fn, names[2], f"have {ks[-2]} rows (dim -2) like '{names[1]}' (shape {ks})",
            f"shape {vs}",
        )  # fmt: skip


def _float_arg(x: Any, dtype: np.dtype, fn: str, arg: str) -> Any:
    """A Tensor as it is (its dtype must match), anything else as an array of ``dtype``."""
    if isinstance(x, Tensor):
        if x.dtype != dtype:
            raise arg_error(fn, arg, f"have dtype {dtype} like 'query'", x.dtype, TypeError)
        return x
    return np.asarray(_array(x, fn, arg), dtype=dtype)


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: Optional[float] = None,
) -> Tensor:
    """``softmax(query @ key^T * scale + attn_mask) @ value``, PyTorch's signature and masks.

    query (..., L, E), key (..., S, E), value (..., S, Ev); leading dimensions broadcast.
    ``attn_mask`` is boolean (True = take part in attention) or float (added to the scores),
    broadcastable to (..., L, S). ``is_causal`` masks keys after each query (top-left aligned)
    and, as in PyTorch, may not be combined with ``attn_mask``. ``scale`` defaults to
    1/sqrt(E). A query with no visible key gives zeros (PyTorch gives NaN). No gradient flows
    into a float ``attn_mask``. ``dropout_p`` must be 0 (the fused kernel has no dropout).

    Example:
        >>> import numpy as np, fastdl
        >>> from fastdl.nn import functional as F
        >>> q = fastdl.tensor(np.ones((1, 2, 4)), requires_grad=True)
        >>> out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
        >>> out.sum().backward()
        >>> out.shape, q.grad.shape
        ((1, 2, 4), (1, 2, 4))
    """
    fn = "scaled_dot_product_attention"
    if dropout_p != 0.0:
        raise arg_error(fn, "dropout_p", "be 0.0", repr(dropout_p), NotImplementedError)
    if attn_mask is not None and is_causal:
        raise arg_error(fn, "attn_mask", "be None when is_causal=True", "a mask")
    q = query if isinstance(query, Tensor) else _array(query, fn, "query")
    dt = q.dtype if q.dtype.kind == "f" else np.dtype(np.float32)
    if not isinstance(q, Tensor):
        q = np.asarray(q, dtype=dt)
    k = _float_arg(key, dt, fn, "key")
    v = _float_arg(value, dt, fn, "value")
    mask = None if attn_mask is None else _array(attn_mask, fn, "attn_mask")
    _check_shapes(fn, ("query", "key", "value"), q, k, v)
    return _Attention.apply(q, k, v, mask, is_causal=bool(is_causal), scale=scale)


def dot_product_attention(
    query: Any, keys: Any, values: Any = None, mask: Any = None, scale: float = 1.0
) -> Tensor:
    """The seed's attention: ``a_t = sum_i softmax_i(s_t . h_i) h_i`` (Luong's "dot" score).

    ``query`` holds decoder states s_t, (N, T, H) or (N, H); ``keys`` the encoder states h_i
    (N, S, H), also used as the values unless ``values`` is given. ``mask`` (N, S) or
    (N, T, S) is boolean, True where h_i may be attended to (False for padding). ``scale``
    is 1, the plain dot product. Returns the context vectors, shaped like ``query``.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn.attention import dot_product_attention
        >>> h = np.array([[[1.0, 0.0], [0.0, 1.0]]])
        >>> dot_product_attention(np.array([[50.0, 0.0]]), h).numpy().round(3)
        array([[1., 0.]])
    """
    fn = "dot_product_attention"
    q = query if isinstance(query, Tensor) else np.asarray(_array(query, fn, "query"))
    single = q.ndim == 2
    if single:
        q = q.reshape(q.shape[0], 1, q.shape[1])
    m = None
    if mask is not None:
        m = _array(mask, fn, "mask")
        if m.ndim == 2:
            m = m[:, None, :]
    vals = keys if values is None else values
    _check_shapes(fn, ("query", "keys", "values"), q, keys, vals)
    out = scaled_dot_product_attention(q, keys, vals, attn_mask=m, scale=scale)
    return out.reshape(out.shape[0], out.shape[2]) if single else out


def attention_weights(
    query: Any, keys: Any, mask: Any = None, is_causal: bool = False, scale: Optional[float] = None
) -> np.ndarray:
    """The probabilities softmax(q k^T scale + mask) as an ndarray (no gradient), for display.

    Same mask meaning as :func:`scaled_dot_product_attention`; rows with no visible key are 0.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn.attention import attention_weights
        >>> attention_weights(np.zeros((1, 2)), np.zeros((3, 2)))
        array([[0.33333333, 0.33333333, 0.33333333]])
    """
    q = np.asarray(_array(query, "attention_weights", "query"))
    k = np.asarray(_array(keys, "attention_weights", "keys"))
    dt = np.result_type(q, k, np.float32)
    s = _matmul(q.astype(dt), np.swapaxes(k.astype(dt), -1, -2))
    s *= 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    allow = np.ones(s.shape, bool)
    if mask is not None:
        m = np.asarray(_array(mask, "attention_weights", "mask"))
        if m.dtype == np.bool_:
            allow = allow & m
        else:
            s = s + m
    if is_causal:
        allow = allow & np.tril(np.ones(s.shape[-2:], bool))
    s = np.where(allow, s, -np.inf)
    dead = ~np.isfinite(s).any(-1, keepdims=True)
    p = ops.softmax(np.where(dead, 0, s), axis=-1)
    return np.where(dead, 0, p).astype(dt)


class DotProductAttention(Module):
    """Module form of :func:`dot_product_attention` (no parameters): the seed's decoder attention.

    ``forward(query, keys, values=None, mask=None)`` returns the context vectors.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> attn = nn.DotProductAttention()
        >>> attn(np.ones((2, 3, 4)), np.ones((2, 5, 4))).shape
        (2, 3, 4)
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, query: Any, keys: Any, values: Any = None, mask: Any = None) -> Tensor:
        return dot_product_attention(query, keys, values, mask, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's semantics, on the fused attention kernel.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(attn_output, attn_weights)``.
    With ``batch_first=True`` (the default here; PyTorch's is False) inputs are (N, L, E);
    unbatched (L, E) inputs work too. Masks mean what they mean in PyTorch's module: a boolean
    ``attn_mask`` (L, S) or (N*num_heads, L, S) or ``key_padding_mask`` (N, S) is True where
    attention is NOT allowed; float masks are added to the scores.

    Layout: ``in_proj_weight`` is (embed_dim, 3*embed_dim) and ``out_proj`` a fastdl
    :class:`Linear` with weight (in, out) -- the transposes of PyTorch's parameters (copy
    PyTorch weights with ``.T``). ``attn_weights`` are returned without a gradient, and are 0
    (not NaN) for a query that sees no key.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> mha = nn.MultiheadAttention(8, 2)
        >>> out, w = mha(np.ones((3, 5, 8), np.float32), np.ones((3, 6, 8), np.float32),
        ...              np.ones((3, 6, 8), np.float32))
        >>> out.shape, w.shape
        ((3, 5, 8), (3, 5, 6))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        for name, val in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
                raise arg_error("MultiheadAttention", name, "be a positive int", repr(val))
        if embed_dim % num_heads:
            raise arg_error(
                "MultiheadAttention", "num_heads", f"divide embed_dim ({embed_dim})", num_heads
            )
        if dropout != 0.0:
            raise arg_error(
                "MultiheadAttention", "dropout", "be 0.0", repr(dropout), NotImplementedError
            )
        dt = np.dtype(dtype)
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.batch_first = bool(batch_first)
        self.in_proj_weight = Parameter(np.empty((self.embed_dim, 3 * self.embed_dim), dt))
        self.in_proj_bias = Parameter(np.zeros(3 * self.embed_dim, dt)) if bias else None
        self.out_proj = Linear(self.embed_dim, self.embed_dim, bias=bias, dtype=dt)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: Xavier-uniform projections, zero biases."""
        init.xavier_uniform_(self.in_proj_weight)
        init.xavier_uniform_(self.out_proj.weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, x: Any, i: int, n: int, length: int) -> Tensor:
        e, h = self.embed_dim, self.num_heads
        w = self.in_proj_weight[:, i * e : (i + 1) * e]
        b = None if self.in_proj_bias is None else self.in_proj_bias[i * e : (i + 1) * e]
        y = (x @ w) if b is None else (x @ w + b)
        return y.reshape(n, length, h, self.head_dim).transpose(0, 2, 1, 3)

    def _mask(self, attn_mask: Any, key_padding_mask: Any, n: int, lq: int, lk: int) -> Any:
        """One mask in SDPA's convention (True = attend, or additive), shaped (N|1, H|1, L, S)."""
        fn = "MultiheadAttention.forward"
        parts = []
        if attn_mask is not None:
            m = _array(attn_mask, fn, "attn_mask")
            if m.shape == (n * self.num_heads, lq, lk):
                m = m.reshape(n, self.num_heads, lq, lk)
            elif m.shape != (lq, lk):
                raise arg_error(
                    fn, "attn_mask", f"have shape ({lq}, {lk}) or ({n * self.num_heads}, {lq}, "
                    f"{lk})", f"shape {m.shape}",
                )  # fmt: skip
            parts.append(m)
        if key_padding_mask is not None:
            m = _array(key_padding_mask, fn, "key_padding_mask")
            if m.shape != (n, lk):
                raise arg_error(fn, "key_padding_mask", f"have shape ({n}, {lk})", m.shape)
            parts.append(m.reshape(n, 1, 1, lk))
        if not parts:
            return None
        if all(p.dtype == np.bool_ for p in parts):
            allow = ~parts[0]
            for p in parts[1:]:
                allow = allow & ~p
            return allow
        dt = self.in_proj_weight.dtype
        add = 0
        for p in parts:
            add = add + (
                np.where(p, -np.inf, 0).astype(dt) if p.dtype == np.bool_ else p.astype(dt)
            )
        return add

    def forward(
        self,
        query: Any,
        key: Any,
        value: Any,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> Tuple[Tensor, Optional[Tensor]]:
        fn = "MultiheadAttention.forward"
        dt = self.in_proj_weight.dtype
        args = []
        for name, x in (("query", query), ("key", key), ("value", value)):
            x = x if isinstance(x, Tensor) else np.asarray(_array(x, fn, name), dtype=dt)
            if x.ndim not in (2, 3) or x.shape[-1] != self.embed_dim:
                raise arg_error(
                    fn, name, f"have shape (N, L, {self.embed_dim}) or (L, {self.embed_dim})",
                    f"shape {x.shape}",
                )  # fmt: skip
            args.append(x)
        q, k, v = args
        unbatched = q.ndim == 2
        if unbatched:
            q, k, v = (x.reshape(1, *x.shape) for x in (q, k, v))
            if key_padding_mask is not None:
                key_padding_mask = _array(key_padding_mask, fn, "key_padding_mask")[None]
        elif not self.batch_first:
            q, k, v = (x.transpose(1, 0, 2) for x in (q, k, v))
        n, lq, lk = q.shape[0], q.shape[1], k.shape[1]
        if k.shape[:2] != v.shape[:2] or k.shape[0] != n:
            raise arg_error(
                fn, ("key", "value"), f"have the query's batch size {n} and the same length",
                f"shapes {k.shape} and {v.shape}",
            )  # fmt: skip
        mask = self._mask(attn_mask, key_padding_mask, n, lq, lk)
        qh = self._project(q, 0, n, lq)
        kh = self._project(k, 1, n, lk)
        vh = self._project(v, 2, n, lk)
        o = _Attention.apply(qh, kh, vh, mask, is_causal=bool(is_causal), scale=None)
        o = self.out_proj(o.transpose(0, 2, 1, 3).reshape(n, lq, self.embed_dim))
        weights = None
        if need_weights:
            w = attention_weights(qh.data, kh.data, mask, bool(is_causal))
            weights = Tensor(w.mean(axis=1) if average_attn_weights else w)
            if unbatched:
                weights = Tensor(weights.data[0])
        if unbatched:
            o = o.reshape(lq, self.embed_dim)
        elif not self.batch_first:
            o = o.transpose(1, 0, 2)
        return o, weights

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
            f"bias={self.in_proj_bias is not None}, batch_first={self.batch_first}"
        )
