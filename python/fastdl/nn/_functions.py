"""The autograd Functions behind fastdl.nn: forward and hand-written backward on ndarrays.

Each layer or loss is ONE graph node over a fused kernel call (``ops.linear``,
``ops.log_softmax``, ``ops.batch_norm_*``) instead of a chain of elementwise Tensor ops: fewer
nodes is less Python per training step, and each backward is the closed form.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..autograd import Function

# module-level names: one global lookup per call on the hot path instead of an attribute chain
_log_softmax = ops.log_softmax
_log_softmax_backward = ops.log_softmax_backward


# -- activations without a Tensor method -------------------------------------------------------
def _erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf
    except ImportError:  # scipy is optional; math.erf is exact but elementwise in Python
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return erf(x)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELUFunction(Function):
    """GELU x * Phi(x) (exact, with erf) or its tanh approximation, as PyTorch's ``approximate``."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            return (0.5 * x * (1.0 + t)).astype(x.dtype, copy=False)
        cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
        return (x * cdf).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            u = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
            t = np.tanh(u)
            du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x**2)
            d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
        else:
            cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
            d = cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return (g * d).astype(x.dtype, copy=False)


class DropoutFunction(Function):
    """Multiply by a saved mask already scaled by 1/(1-p) (inverted dropout)."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


# -- losses ---------------------------------------------------------------------------------
def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return loss
    # the ufunc's reduce directly: ndarray.mean/sum add ~2-5 us of Python wrapper on small arrays
    s = np.add.reduce(loss, axis=None)
    if reduction == "mean":
        s = s / loss.size if loss.size else np.nan
    return np.asarray(s, dtype=loss.dtype)


def _grad_scale(g: np.ndarray, n: int, reduction: str) -> Any:
    """d(reduced)/d(loss_i) times the incoming gradient, broadcastable against the loss."""
    if reduction == "mean":
        return g / n if n else g
    return g  # 'sum' (a 0-d g) and 'none' (elementwise g)


class MSELossFunction(Function):
    """mean((x - y)^2) (PyTorch), or the seed's 1/2 (x - y)^2 with ``half=True``."""

    @staticmethod
    def forward(ctx, x, y, reduction="mean", half=False):
        d = x - y
        ctx.reduction = reduction
        ctx.half = half
        ctx.save_for_backward(d)
        if reduction == "none":
            loss = d * d
            if half:
                loss *= 0.5
            return loss
        dr = d.reshape(-1)
        s = np.dot(dr, dr)  # sum of squares in one BLAS call, no temporary
        if reduction == "mean" and d.size:
            s = s / d.size
        elif reduction == "mean":
            s = np.nan
        return np.asarray(s * 0.5 if half else s, dtype=d.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gd = _grad_scale(g, d.size, ctx.reduction) * d
        if not ctx.half:
            gd = 2 * gd
        gd = gd.astype(d.dtype, copy=False)
        need_x, need_y = ctx.needs_input_grad[:2]
        return (gd if need_x else None), (-gd if need_y else None)


_LOG_MIN = -100.0  # PyTorch clamps log(p) and log(1-p) at -100 so p = 0 or 1 stays finite
_BCE_EPS = 1e-12


class BCELossFunction(Function):
    """-w [y log p + (1-y) log(1-p)] on probabilities p, logs clamped at -100 as in PyTorch."""

    @staticmethod
    def forward(ctx, p, y, weight=None, reduction="mean"):
        with np.errstate(divide="ignore"):
            logp = np.maximum(np.log(p), _LOG_MIN)
            log1mp = np.maximum(np.log1p(-p), _LOG_MIN)
        loss = -(y * logp + (1 - y) * log1mp)
        if weight is not None:
            loss = loss * weight
        loss = loss.astype(p.dtype, copy=False)
        ctx.reduction = reduction
        ctx.save_for_backward(p, y, weight, log1mp - logp)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        p, y, weight, dlogit = ctx.saved_tensors
        s = _grad_scale(g, p.size, ctx.reduction)
        # PyTorch's form: (p - y) / max(p (1 - p), eps)
        gp = s * (p - y) / np.maximum(p * (1 - p), _BCE_EPS)
        if weight is not None:
            gp = gp * weight
        gy = None
        if ctx.needs_input_grad[1]:
            gy = s * dlogit
            if weight is not None:
                gy = gy * weight
            gy = gy.astype(y.dtype, copy=False)
        return gp.astype(p.dtype, copy=False), gy, None


class BCEWithLogitsFunction(Function):
    """Sigmoid + BCE fused: (1-y) x + L softplus(-x), L = 1 + (pos_weight-1) y, stable for any x."""

    @staticmethod
    def forward(ctx, x, y, weight=None, pos_weight=None, reduction="mean"):
        sp_neg = np.logaddexp(0.0, -x)  # softplus(-x) = -log(sigmoid(x)), no overflow
        if pos_weight is None:
            loss = (1 - y) * x + sp_neg
        else:
            loss = (1 - y) * x + (1 + (pos_weight - 1) * y) * sp_neg
        if weight is not None:
            loss = loss * weight
        ctx.reduction = reduction
        ctx.save_for_backward(x, y, weight, pos_weight)
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        x, y, weight, pos_weight = ctx.saved_tensors
        s = _grad_scale(g, x.size, ctx.reduction)
        sig = ops.sigmoid(x)
        if pos_weight is None:
            gx = sig - y
        else:
            gx = (1 + (pos_weight - 1) * y) * sig - pos_weight * y
        gx = gx * s
        if weight is not None:
            gx = gx * weight
        gy = None
        if ctx.needs_input_grad[1]:
            # d/dy: -x for the plain loss; -x - (pos_weight - 1) log(sigmoid(-x))... explicit:
            if pos_weight is None:
                gy = -x * s
            else:
                gy = (-x + (pos_weight - 1) * np.logaddexp(0.0, -x)) * s
            if weight is not None:
                gy = gy * weight
            gy = gy.astype(y.dtype, copy=False)
        return gx.astype(x.dtype, copy=False), gy, None, None


class CrossEntropyFunction(Function):
    """Fused log-softmax + negative log-likelihood on logits (N, C, ...) with int targets.

    Works on a (M, C) view (M = N * d...; a copy only for inputs with trailing dims) so the
    target's log-probabilities are one fancy-index pick and its gradient one scatter.
    """

    @staticmethod
    def forward(
        ctx, x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
    ):
        logp = _log_softmax(x, axis=1)
        C = x.shape[1]
        lp2 = logp if x.ndim == 2 else np.moveaxis(logp, 1, -1).reshape(-1, C)
        t = target.reshape(-1)
        rows = np.arange(t.size)
        valid = t != ignore_index
        if valid.all():
            valid = None  # the common case: no masking work at all
        else:
            t = np.where(valid, t, 0)
        picked = lp2[rows, t]
        wt = None if weight is None else weight[t]  # per-sample weight (None: all ones)
        if valid is not None:
            wt = valid.astype(x.dtype) if wt is None else wt * valid
        loss = -picked if wt is None else -picked * wt
        if label_smoothing:
            # PyTorch: (1 - eps) nll + eps * mean over classes of -w_c logp_c
            smooth = -(lp2 if weight is None else lp2 * weight).sum(axis=1)
            if valid is not None:
                smooth *= valid
            loss = (1 - label_smoothing) * loss + (label_smoothing / C) * smooth
        loss = loss.astype(x.dtype, copy=False)
        denom = 1.0
        if reduction == "mean":
            denom = float(t.size) if wt is None else float(wt.sum(dtype=np.float64))
            out = np.asarray(loss.sum(dtype=np.float64) / denom, dtype=x.dtype)
        elif reduction == "sum":
            out = np.asarray(loss.sum(), dtype=x.dtype)
        else:
            out = loss.reshape(target.shape)
        ctx.reduction = reduction
        ctx.save_for_backward(logp, rows, t, wt, valid, weight, denom, label_smoothing)
        return out

    @staticmethod
    def backward(ctx, g):
        logp, rows, t, wt, valid, weight, denom, ls = ctx.saved_tensors
        C = logp.shape[1]
        # per-sample d(loss)/d(loss_i): an (M,) array for 'none', else a scalar
        s = g.reshape(-1) if ctx.reduction == "none" else float(g) / denom
        g2 = np.zeros((rows.size, C), logp.dtype)  # gradient w.r.t. logp, (M, C) view
        if ls:
            base = (ls / C) * (s if valid is None else s * valid)
            wl = np.ones(C, logp.dtype) if weight is None else weight
            g2 -= np.multiply.outer(np.broadcast_to(base, (rows.size,)), wl)
        coef = s if wt is None else s * wt
        g2[rows, t] -= coef * (1 - ls) if ls else coef
        if logp.ndim > 2:
            moved = (logp.shape[0],) + logp.shape[2:] + (C,)
            g2 = np.moveaxis(g2.reshape(moved), -1, 1)
        return _log_softmax_backward(g2, logp, axis=1), None, None


class SoftCrossEntropyFunction(Function):
    """Cross-entropy against class probabilities: -sum_c w_c t_c log_softmax(x)_c per sample."""

    @staticmethod
    def forward(ctx, x, target, weight=None, reduction="mean", label_smoothing=0.0):
        C = x.shape[1]
        logp = _log_softmax(x, axis=1)
        t = target
        if label_smoothing:
            t = t * (1 - label_smoothing) + label_smoothing / C
        if weight is not None:
            t = t * weight.reshape((1, C) + (1,) * (x.ndim - 2))
        loss = -(t * logp).sum(axis=1)
        n = loss.size
        if reduction == "mean":
            out = np.asarray(loss.sum() / n if n else np.nan, dtype=x.dtype)
        elif reduction == "sum":
            out = np.asarray(loss.sum(), dtype=x.dtype)
        else:
            out = loss.astype(x.dtype, copy=False)
        ctx.reduction = reduction
        ctx.save_for_backward(logp, t)
        return out

    @staticmethod
    def backward(ctx, g):
        logp, t = ctx.saved_tensors
        s = g / (logp.size // logp.shape[1]) if ctx.reduction == "mean" else g
        if ctx.reduction == "none":
            s = np.expand_dims(s, 1)
        glogp = (-(s * t)).astype(logp.dtype, copy=False)
        gx = _log_softmax_backward(glogp, logp, axis=1)
        return gx, None, None


# -- normalisation ----------------------------------------------------------------------------
class BatchNormFunction(Function):
    """Training-mode batch norm over (N, C) or (N, C, L) with batch statistics.

    The kernel also updates ``running_mean``/``running_var`` in place (unbiased variance) when
    they are given.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5, running_mean=None, running_var=None, momentum=0.1):
        y, mean, invstd = ops.batch_norm_forward(
            x,
            weight,
            bias,
            eps,
            running_mean=running_mean,
            running_var=running_var,
            momentum=momentum,
        )
        ctx.save_for_backward(x, mean, invstd, weight)
        return y

    @staticmethod
    def backward(ctx, g):
        x, mean, invstd, weight = ctx.saved_tensors
        return ops.batch_norm_backward(g, x, mean, invstd, weight, output_mask=_mask(ctx, weight))


def _mask(ctx, weight) -> tuple:
    need = ctx.needs_input_grad
    return (need[0], need[1] and weight is not None, need[2])


class BatchNormEvalFunction(Function):
    """Eval-mode batch norm: the running statistics are constants, one fused pass each way."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps=1e-5):
        y = ops.batch_norm_inference(x, running_mean, running_var, weight, bias, eps)
        # copies: the statistics the output was computed with, even if training resumes
        ctx.save_for_backward(x, running_mean.copy(), running_var.copy(), weight, eps)
        return y

    @staticmethod
    def backward(ctx, g):
        x, mean, var, weight, eps = ctx.saved_tensors
        invstd = (1.0 / np.sqrt(var.astype(np.float64) + eps)).astype(x.dtype)
        gx, gw, gb = ops.batch_norm_backward(
            g, x, mean, invstd, weight, training=False, output_mask=_mask(ctx, weight)
        )
        return gx, gw, gb, None, None


class LayerNormFunction(Function):
    """Normalise over the trailing ``ndim`` axes, then the elementwise affine."""

    @staticmethod
    def forward(ctx, x, weight, bias, ndim=1, eps=1e-5):
        axes = tuple(range(x.ndim - ndim, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = xc * invstd
        y = xhat
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        ctx.axes = axes
        ctx.save_for_backward(xhat, invstd, weight)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, weight = ctx.saved_tensors
        axes = ctx.axes
        lead = tuple(range(xhat.ndim - len(axes)))
        need = ctx.needs_input_grad
        gw = (g * xhat).sum(axis=lead) if (weight is not None and need[1]) else None
        gb = g.sum(axis=lead) if need[2] else None
        gxhat = g * weight if weight is not None else g
        gx = None
        if need[0]:
            m1 = gxhat.mean(axis=axes, keepdims=True)
            m2 = (gxhat * xhat).mean(axis=axes, keepdims=True)
            gx = (invstd * (gxhat - m1 - xhat * m2)).astype(xhat.dtype, copy=False)
        return gx, gw, gb
