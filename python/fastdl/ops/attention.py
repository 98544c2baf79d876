"""Fused softmax attention on NumPy arrays: ``softmax(q k^T * scale + mask) v`` and its gradients.

The kernel walks the keys block by block with an online softmax, so the (Tq, Tk) score matrix
is never held whole; forward saves only the log-sum-exp of each query row, from which backward
recomputes the probabilities. Leading (batch, head, ...) dimensions of q, k, v and the mask
broadcast against each other without copies.

Masks follow PyTorch's ``scaled_dot_product_attention``: a boolean mask says which keys a query
may attend to (True = attend); a float mask is added to the scaled scores. ``is_causal`` lets
query i attend to keys j <= i (top-left aligned when Tq != Tk). A query that can attend to no
key gets a zero output and zero gradients (not NaN).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .. import _core
from ._checks import arg_error, as_kernel_input, as_ndarray, empty, result_dtype

__all__ = ["attention", "attention_forward", "attention_backward"]


class _Problem:
    """Inputs validated and flattened for the kernel (see bind_attention.cpp)."""

    def __init__(self, fn: str, q: Any, k: Any, v: Any, mask: Any, is_causal: Any, scale: Any):
        qa, ka, va = (as_ndarray(x, fn, n) for x, n in ((q, "q"), (k, "k"), (v, "v")))
        for a, n, what in ((qa, "q", "(..., Tq, D)"), (ka, "k", "(..., Tk, D)")):
            if a.ndim < 2:
                raise ValueError(f"{fn}(): argument '{n}' must be {what}, got shape {a.shape}")
        if va.ndim < 2:
            raise ValueError(f"{fn}(): argument 'v' must be (..., Tk, Dv), got shape {va.shape}")
        self.dtype = dt = result_dtype(fn, qa, ka, va)
        tq, d = qa.shape[-2:]
        tk = ka.shape[-2]
        if ka.shape[-1] != d:
            raise arg_error(
                fn, "k", f"have q's last dimension D = {d} (q has shape {qa.shape})",
                f"shape {ka.shape}",
            )  # fmt: skip
        if va.shape[-2] != tk:
            raise arg_error(
                fn, "v", f"have k's number of keys Tk = {tk} (k has shape {ka.shape})",
                f"shape {va.shape}",
            )  # fmt: skip
        if d == 0 and scale is None:
            raise arg_error(fn, "scale", "be given when D = 0 (1/sqrt(D) is undefined)", None)
        if not isinstance(is_causal, (bool, np.bool_)):
            raise TypeError(f"{fn}(): argument 'is_causal' must be a bool, got {is_causal!r}")
        if scale is None:
            scale = 1.0 / math.sqrt(d)
        elif isinstance(scale, (bool, np.bool_)) or not isinstance(
            scale, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{fn}(): argument 'scale' must be a real number, got {scale!r}")
        self.scale = float(scale)
        self.is_causal = bool(is_causal)
        leads = [qa.shape[:-2], ka.shape[:-2], va.shape[:-2]]
        try:
            batch = np.broadcast_shapes(*leads)
        except ValueError:
            raise ValueError(
                f"{fn}(): leading dimensions of q {qa.shape}, k {ka.shape} and v {va.shape} "
                "do not broadcast"
            ) from None
        self.batch = batch
        self.bh = math.prod(batch)
        self.tq, self.tk, self.d, self.dv = tq, tk, d, va.shape[-1]
        planes = [math.prod(s) for s in leads]
        self.q = as_kernel_input(qa, dt).reshape(planes[0], tq, d)
        self.k = as_kernel_input(ka, dt).reshape(planes[1], tk, d)
        self.v = as_kernel_input(va, dt).reshape(planes[2], tk, self.dv)
        self.q_shape, self.k_shape, self.v_shape = qa.shape, ka.shape, va.shape
        self.q_index = self._index(qa.shape[:-2])
        self.k_index = self._index(ka.shape[:-2])
        self.v_index = self._index(va.shape[:-2])
        self.mask = self.mask_index = None
        if mask is not None:
            self._set_mask(fn, mask)

    def _index(self, lead: tuple[int, ...]) -> np.ndarray:
        """Plane of each (flattened) problem for an input with leading shape ``lead``."""
        n = math.prod(lead)
        planes = np.arange(n, dtype=np.int64).reshape(lead) if n else np.zeros(lead, np.int64)
        return np.ascontiguousarray(np.broadcast_to(planes, self.batch).reshape(-1))

    def _set_mask(self, fn: str, mask: Any) -> None:
        m = as_ndarray(mask, fn, "mask")
        want = self.batch + (self.tq, self.tk)
        if m.dtype == np.bool_:
            m = np.ascontiguousarray(m)
        elif m.dtype.kind == "f":
            m = as_kernel_input(m, self.dtype)
        else:
            raise TypeError(
                f"{fn}(): argument 'mask' must be boolean (True = attend) or floating "
                f"(added to the scores), got dtype {m.dtype}"
            )
        try:
            ok = np.broadcast_shapes(m.shape, want) == want
        except ValueError:
            ok = False
        if not ok:
            raise arg_error(fn, "mask", f"broadcast to {want}", f"shape {m.shape}")
        if m.ndim < 2:
            m = m.reshape((1,) * (2 - m.ndim) + m.shape)
        self.mask = m.reshape(math.prod(m.shape[:-2]), *m.shape[-2:])
        self.mask_index = self._index(m.shape[:-2])

    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        out = empty((self.bh, self.tq, self.dv), self.dtype)
        lse = empty((self.bh, self.tq), self.dtype)
        _core.attention_forward(
            self.q, self.k, self.v, self.mask, self.q_index, self.k_index, self.v_index,
            self.mask_index, self.is_causal, self.scale, out, lse,
        )  # fmt: skip
        return (
            out.reshape(self.batch + (self.tq, self.dv)),
            lse.reshape(self.batch + (self.tq,)),
        )


def _reduce_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a per-problem gradient over the dimensions its input was broadcast along."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape[:-2]) if n == 1 and g.shape[extra + i] != 1
    )
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def attention_forward(
    q: Any,
    k: Any,
    v: Any,
    mask: Any = None,
    is_causal: bool = False,
    scale: Optional[float] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Attention and the per-query log-sum-exp that :func:`attention_backward` needs.

    Returns ``(out, lse)`` with ``out`` of shape (..., Tq, Dv) and ``lse`` (..., Tq) the
    log-sum-exp of each row of scaled, masked scores (-inf for a query that sees no key).

    Example:
        >>> import numpy as np, fastdl
        >>> q = k = v = np.eye(2)[None]
        >>> out, lse = fastdl.ops.attention_forward(q, k, v, scale=0.0)
        >>> out
        array([[[0.5, 0.5],
                [0.5, 0.5]]])
        >>> np.allclose(lse, np.log(2))
        True
    """
    return _Problem("attention_forward", q, k, v, mask, is_causal, scale).forward()


def attention(
    q: Any,
    k: Any,
    v: Any,
    mask: Any = None,
    is_causal: bool = False,
    scale: Optional[float] = None,
) -> np.ndarray:
    """``softmax(q @ k^T * scale + mask) @ v`` without materialising the score matrix.

    q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv); leading dimensions broadcast. ``mask`` is
    boolean (True = attend) or additive, broadcastable to (..., Tq, Tk); ``scale`` defaults to
    1/sqrt(D).

    Example:
        >>> import numpy as np, fastdl
        >>> q = np.array([[1.0, 0.0]]); k = np.eye(2); v = np.array([[1.0], [3.0]])
        >>> fastdl.ops.attention(q, k, v, scale=0.0)
        array([[2.]])
        >>> fastdl.ops.attention(q, k, v, mask=np.array([[True, False]]))
        array([[1.]])
    """
    return _Problem("attention", q, k, v, mask, is_causal, scale).forward()[0]


def attention_backward(
    grad_out: Any,
    q: Any,
    k: Any,
    v: Any,
    out: Any,
    lse: Any,
    mask: Any = None,
    is_causal: bool = False,
    scale: Optional[float] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dq, dk, dv)`` of :func:`attention` given ``(out, lse)`` from the forward.

    Probabilities are recomputed block by block from ``lse``. Each gradient has its input's
    shape (summed over dimensions the input was broadcast along).

    Example:
        >>> import numpy as np, fastdl
        >>> q, k, v = np.ones((1, 2)), np.eye(2), np.array([[1.0], [3.0]])
        >>> out, lse = fastdl.ops.attention_forward(q, k, v, scale=0.0)
        >>> dq, dk, dv = fastdl.ops.attention_backward(np.ones((1, 1)), q, k, v, out, lse,
        ...                                            scale=0.0)
        >>> dv
        array([[0.5],
               [0.5]])
    """
    fn = "attention_backward"
    pr = _Problem(fn, q, k, v, mask, is_causal, scale)
    o_shape = pr.batch + (pr.tq, pr.dv)
    extra = {}
    for name, x, shape in (
        ("grad_out", grad_out, o_shape),
        ("out", out, o_shape),
        ("lse", lse, pr.batch + (pr.tq,)),
    ):
        a = as_ndarray(x, fn, name)
        if a.shape != shape:
            raise ValueError(f"{fn}(): argument '{name}' must have shape {shape}, got {a.shape}")
        extra[name] = as_kernel_input(a, pr.dtype)
    g = extra["grad_out"].reshape(pr.bh, pr.tq, pr.dv)
    o = extra["out"].reshape(pr.bh, pr.tq, pr.dv)
    lse_a = extra["lse"].reshape(pr.bh, pr.tq)
    dq = empty((pr.bh, pr.tq, pr.d), pr.dtype)
    dk = empty((pr.bh, pr.tk, pr.d), pr.dtype)
    dv = empty((pr.bh, pr.tk, pr.dv), pr.dtype)
    _core.attention_backward(
        g, pr.q, pr.k, pr.v, o, lse_a, pr.mask, pr.q_index, pr.k_index, pr.v_index,
        pr.mask_index, pr.is_causal, pr.scale, dq, dk, dv,
    )  # fmt: skip
    return (
        _reduce_to(dq.reshape(pr.batch + (pr.tq, pr.d)), pr.q_shape),
        _reduce_to(dk.reshape(pr.batch + (pr.tk, pr.d)), pr.k_shape),
        _reduce_to(dv.reshape(pr.batch + (pr.tk, pr.dv)), pr.v_shape),
    )
