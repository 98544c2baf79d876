"""``fastdl.nn.functional``: layers and losses as functions (PyTorch's ``torch.nn.functional``).

Inputs may be fastdl Tensors or NumPy arrays; results are Tensors (recording the graph when an
input requires grad). Each function validates its arguments once, then runs one autograd node
(see ``_functions``).

Losses take ``reduction`` in {'mean', 'sum', 'none'}. Where the seed notes differ from PyTorch
there is an explicit option: ``mse_loss(..., half=True)`` is the seed's 1/2 (yhat - y)^2.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from .._random import get_generator
from ..ops._checks import arg_error, describe
from ..tensor import Tensor
from ..tensor import _linear as _linear_node
from ..tensor import log_softmax as _log_softmax
from ..tensor import softmax as _softmax
from . import _functions as _F

__all__ = [
    "scaled_dot_product_attention",
    "dot_product_attention",
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "gelu",
    "softmax",
    "log_softmax",
    "dropout",
    "batch_norm",
    "layer_norm",
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
]

_REDUCTIONS = ("mean", "sum", "none")
_ACTIVATIONS = (None, "relu", "sigmoid", "tanh")


def _data(x: Any, fn: str, arg: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.data
    if x is None or isinstance(x, (str, bytes)):
        raise arg_error(fn, arg, "be a Tensor or array", describe(x), TypeError)
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise arg_error(
            fn, arg, "be a Tensor or array of numbers", f"{describe(x)} ({e})"
        ) from None
    if a.dtype.kind not in "biuf":
        raise arg_error(fn, arg, "hold real numbers", f"dtype {a.dtype}", TypeError)
    if a.dtype == np.float64 and not isinstance(x, (np.ndarray, np.generic)):
        a = a.astype(np.float32)  # Python lists and floats -> float32, as fastdl.tensor does
    return a


def _tensor(x: Any, fn: str, arg: str = "input") -> Tensor:
    """``x`` as a Tensor (sharing memory with an ndarray); floats only."""
    if isinstance(x, Tensor):
        return x
    a = _data(x, fn, arg)
    if a.dtype != np.float32 and a.dtype != np.float64:
        a = a.astype(np.float32)
    return Tensor(a)


def _needs_grad(x: Any) -> bool:
    return isinstance(x, Tensor) and x.requires_grad


def _float_input(x: Any, fn: str, arg: str = "input") -> Tuple[Any, np.ndarray]:
    """(x for Function.apply, its ndarray): arrays other than float32/float64 become float32."""
    a = _data(x, fn, arg)
    if a.dtype != np.float32 and a.dtype != np.float64:
        a = a.astype(np.float32)  # ints, bools, float16: converted once
        return a, a
    return (x if isinstance(x, Tensor) else a), a


def _like(x: Any, dtype: np.dtype, fn: str, arg: str) -> Any:
    """``x`` in ``dtype``: a cast copy when it does not require grad, else a TypeError."""
    a = _data(x, fn, arg)
    if a.dtype == dtype:
        return x
    if _needs_grad(x):
        raise arg_error(
            fn, arg, f"have dtype {dtype} (it requires grad, so it is not converted)",
            f"dtype {a.dtype}", TypeError,
        )  # fmt: skip
    return a.astype(dtype)


def _check_reduction(reduction: Any, fn: str) -> None:
    if reduction not in _REDUCTIONS:
        raise arg_error(fn, "reduction", "be one of 'mean', 'sum', 'none'", repr(reduction))


# -- layers -----------------------------------------------------------------------------------
def linear(input: Any, weight: Any, bias: Any = None, activation: Optional[str] = None) -> Tensor:
    """``act(input @ weight + bias)`` in one fused kernel call; weight is (d_in, d_out).

    Note the seed's layout: PyTorch's ``F.linear`` takes weight (d_out, d_in) and computes
    ``x W^T``. ``activation`` is None, 'relu', 'sigmoid' or 'tanh'. An input that does not
    require grad is cast to the weight's dtype (so float64 NumPy data feeds a float32 model).

    Example:
        >>> import numpy as np, fastdl
        >>> from fastdl.nn import functional as F
        >>> F.linear(np.ones((1, 2)), np.ones((2, 3)), np.zeros(3)).shape
        (1, 3)
    """
    fn = "linear"
    # isinstance/type checks inline: this runs once per layer per step
    w = weight.data if isinstance(weight, Tensor) else _data(weight, fn, "weight")
    x = input.data if isinstance(input, Tensor) else _data(input, fn, "input")
    if w.ndim != 2:
        raise arg_error(fn, "weight", "be 2-D (d_in, d_out)", f"shape {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise arg_error(
            fn, "input", f"have last dimension {w.shape[0]} (the weight's d_in)",
            f"shape {x.shape}" + (f" (last dimension {x.shape[-1]})" if x.ndim else ""),
        )  # fmt: skip
    b = None
    if bias is not None:
        b = bias.data if isinstance(bias, Tensor) else _data(bias, fn, "bias")
        if b.shape != (w.shape[1],):
            raise arg_error(fn, "bias", f"have shape ({w.shape[1]},)", f"shape {b.shape}")
        if b.dtype != w.dtype:
            bias = b = _like(bias, w.dtype, fn, "bias")
    if x.dtype != w.dtype:
        input = x = _like(input, w.dtype, fn, "input")
    if activation not in _ACTIVATIONS:
        raise arg_error(fn, "activation", "be None, 'relu', 'sigmoid' or 'tanh'", repr(activation))
    return _linear_node(input, x, weight, w, bias, b, activation)


def relu(input: Any) -> Tensor:
    """max(x, 0) elementwise.

    Example:
        >>> from fastdl.nn import functional as F
        >>> F.relu([-1.0, 2.0]).numpy()
        array([0., 2.], dtype=float32)
    """
    return _tensor(input, "relu").relu()


def sigmoid(input: Any) -> Tensor:
    """1 / (1 + exp(-x)) elementwise.

    Example:
        >>> from fastdl.nn import functional as F
        >>> F.sigmoid([0.0]).numpy()
        array([0.5], dtype=float32)
    """
    return _tensor(input, "sigmoid").sigmoid()


def tanh(input: Any) -> Tensor:
    """tanh(x) elementwise.

    Example:
        >>> from fastdl.nn import functional as F
        >>> F.tanh([0.0]).numpy()
        array([0.], dtype=float32)
    """
    return _tensor(input, "tanh").tanh()


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """GELU x * Phi(x); ``approximate='tanh'`` uses the tanh formula (as PyTorch).

    Example:
        >>> from fastdl.nn import functional as F
        >>> round(float(F.gelu([1.0]).numpy()[0]), 4)
        0.8413
    """
    if approximate not in ("none", "tanh"):
        raise arg_error("gelu", "approximate", "be 'none' or 'tanh'", repr(approximate))
    x, _ = _float_input(input, "gelu")
    return _F.GELUFunction.apply(x, approximate=approximate)


def _axis(dim: Optional[int], axis: Optional[int], ndim: int, fn: str) -> int:
    if axis is not None and dim is not None and axis != dim:
        raise arg_error(
            fn, "axis", f"be None or equal to 'dim' ({dim}), its alias", axis, TypeError
        )
    d = dim if dim is not None else (axis if axis is not None else -1)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise arg_error(fn, "dim", "be an int", describe(d), TypeError)
    if not -ndim <= d < max(ndim, 1):
        raise arg_error(
            fn, "dim", f"be in [{-max(ndim, 1)}, {max(ndim, 1) - 1}] for an input with {ndim} "
            "dimensions", d,
        )  # fmt: skip
    return int(d)


def softmax(input: Any, dim: Optional[int] = None, *, axis: Optional[int] = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (default -1; ``axis`` is an alias).

    Example:
        >>> from fastdl.nn import functional as F
        >>> F.softmax([[0.0, 0.0]], dim=1).numpy()
        array([[0.5, 0.5]], dtype=float32)
    """
    x, a = _float_input(input, "softmax")
    return _softmax(x, _axis(dim, axis, a.ndim, "softmax"))


def log_softmax(input: Any, dim: Optional[int] = None, *, axis: Optional[int] = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably in one pass.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn import functional as F
        >>> np.exp(F.log_softmax([[0.0, 0.0]], dim=1).numpy())
        array([[0.5, 0.5]], dtype=float32)
    """
    x, a = _float_input(input, "log_softmax")
    return _log_softmax(x, _axis(dim, axis, a.ndim, "log_softmax"))


def dropout(input: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (when training).

    Draws from ``fastdl.get_generator()``.

    Example:
        >>> from fastdl.nn import functional as F
        >>> F.dropout([1.0, 2.0], p=0.5, training=False).numpy()
        array([1., 2.], dtype=float32)
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise arg_error("dropout", "p", "be a probability in [0, 1]", repr(p))
    x = _tensor(input, "dropout")
    if not training or p == 0.0:
        return x
    a = x.data
    if p == 1.0:
        mask = np.zeros(a.shape, a.dtype)
    else:
        keep = get_generator().random(
            a.shape, dtype=np.float64 if a.dtype == np.float64 else np.float32
        )
        mask = (keep >= p).astype(a.dtype)
        mask *= a.dtype.type(1.0 / (1.0 - p))
    return _F.DropoutFunction.apply(x, mask)


def _check_bn_input(x: np.ndarray, C: Optional[int], fn: str) -> None:
    if x.ndim not in (2, 3):
        raise arg_error(fn, "input", "be 2-D (N, C) or 3-D (N, C, L)", f"shape {x.shape}")
    if C is not None and x.shape[1] != C:
        raise arg_error(
            fn, "input", f"have {C} channels: shape (N, {C}) or (N, {C}, L)", f"shape {x.shape}"
        )


def batch_norm(
    input: Any,
    running_mean: Optional[np.ndarray],
    running_var: Optional[np.ndarray],
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: Optional[float] = 0.1,
    eps: float = 1e-5,
    num_batches_tracked: Optional[np.ndarray] = None,
) -> Tensor:
    """Batch normalisation over (N, C) or (N, C, L), PyTorch semantics.

    Training normalises with the batch's biased variance and, when running arrays are given,
    updates them in place: ``running = (1 - momentum) running + momentum * batch`` with the
    *unbiased* variance in ``running_var`` (``momentum=None``: cumulative average, counted in
    ``num_batches_tracked``). Evaluation uses the running statistics.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn import functional as F
        >>> x = np.array([[1.0], [3.0]])
        >>> rm, rv = np.zeros(1), np.ones(1)
        >>> F.batch_norm(x, rm, rv, training=True).numpy().ravel().round(3)
        array([-1.,  1.])
        >>> rm, rv
        (array([0.2]), array([1.1]))
    """
    fn = "batch_norm"
    if isinstance(input, Tensor) and (
        input.data.dtype == np.float32 or input.data.dtype == np.float64
    ):
        x_in, x = input, input.data  # the common case, without the general conversions
    else:
        x_in, x = _float_input(input, fn)
    C = x.shape[1] if x.ndim >= 2 else None
    _check_bn_input(x, C, fn)
    w = (
        None
        if weight is None
        else weight.data
        if isinstance(weight, Tensor)
        else _data(weight, fn, "weight")
    )
    b = None if bias is None else bias.data if isinstance(bias, Tensor) else _data(bias, fn, "bias")
    for name, v in (("weight", w), ("bias", b)):
        if v is not None and v.shape != (C,):
            raise arg_error(
                fn, name, f"have shape ({C},) (the input's channels, dim 1 of {x.shape})",
                f"shape {v.shape}",
            )  # fmt: skip
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is not None and np.shape(v) != (C,):
            raise arg_error(
                fn, name, f"have shape ({C},) (the input's channels, dim 1 of {x.shape})",
                f"shape {np.shape(v)}",
            )  # fmt: skip
    # compute in the layer's dtype: float64 NumPy data may feed a float32 layer
    ref = w if w is not None else None if running_mean is None else np.asarray(running_mean)
    if ref is not None and ref.dtype != x.dtype:
        x_in = _like(x_in, ref.dtype, fn, "input")
        x = _data(x_in, fn, "input")
    if w is not None and w.dtype != x.dtype:
        weight = _like(weight, x.dtype, fn, "weight")
    if b is not None and b.dtype != x.dtype:
        bias = _like(bias, x.dtype, fn, "bias")
    if not training:
        if running_mean is None or running_var is None:
            raise arg_error(
                fn, "running_mean" if running_mean is None else "running_var",
                "be an array in evaluation mode (training=False)", None,
            )  # fmt: skip
        rm = np.asarray(running_mean, dtype=x.dtype)
        rv = np.asarray(running_var, dtype=x.dtype)
        return _F.BatchNormEvalFunction.apply(x_in, weight, bias, rm, rv, eps=eps)
    n = x.size // C
    if n <= 1:
        raise arg_error(
            fn, "input", "have more than 1 value per channel when training", f"shape {x.shape}"
        )
    track = running_mean is not None and running_var is not None
    if track and momentum is None:  # cumulative moving average
        if num_batches_tracked is None:
            raise arg_error(fn, "num_batches_tracked", "be given when momentum=None", None)
        momentum = 1.0 / float(num_batches_tracked + 1)
    y = _F.BatchNormFunction.apply(
        x_in,
        weight,
        bias,
        eps=eps,
        running_mean=running_mean if track else None,
        running_var=running_var if track else None,
        momentum=0.1 if momentum is None else float(momentum),
    )
    if num_batches_tracked is not None:
        num_batches_tracked += 1
    return y


def layer_norm(
    input: Any,
    normalized_shape: Union[int, Sequence[int]],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes (biased variance), then affine.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn import functional as F
        >>> F.layer_norm(np.array([[1.0, 3.0]]), 2).numpy().round(3)
        array([[-1.,  1.]])
    """
    fn = "layer_norm"
    shape = (
        (normalized_shape,)
        if isinstance(normalized_shape, (int, np.integer))
        else tuple(normalized_shape)
    )
    x_in, x = _float_input(input, fn)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k :] != shape or x.ndim < k:
        raise arg_error(fn, "input", f"end with normalized_shape {shape}", f"shape {x.shape}")
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None and _data(v, fn, name).shape != shape:
            raise arg_error(fn, name, f"have shape {shape}", f"shape {_data(v, fn, name).shape}")
    if weight is not None:
        weight = _like(weight, x.dtype, fn, "weight")
    if bias is not None:
        bias = _like(bias, x.dtype, fn, "bias")
    return _F.LayerNormFunction.apply(x_in, weight, bias, ndim=k, eps=eps)


# -- losses -----------------------------------------------------------------------------------
def _pair(input: Any, target: Any, fn: str) -> Tuple[Any, Any]:
    """Float input and a same-shape target in its dtype (ints/bools cast), else ValueError."""
    if isinstance(input, Tensor) and input.data.dtype.kind == "f":
        x_in, x = input, input.data
    else:
        x_in, x = _float_input(input, fn)
    t = target.data if isinstance(target, Tensor) else _data(target, fn, "target")
    if t.shape != x.shape:
        raise arg_error(
            fn, "target", f"have the input's shape {x.shape} (no broadcasting: an (N,) target "
            "against (N, 1) outputs is a common silent bug)", f"shape {t.shape}",
        )  # fmt: skip
    return x_in, (target if t.dtype == x.dtype else _like(target, x.dtype, fn, "target"))


def _weight(weight: Any, x: np.ndarray, fn: str, arg: str = "weight") -> Optional[np.ndarray]:
    if weight is None:
        return None
    w = _data(weight, fn, arg)
    try:
        np.broadcast_shapes(w.shape, x.shape)
    except ValueError:
        raise arg_error(
            fn, arg, f"broadcast to the input's shape {x.shape}", f"shape {w.shape}"
        ) from None
    return w.astype(x.dtype, copy=False)


def mse_loss(input: Any, target: Any, reduction: str = "mean", *, half: bool = False) -> Tensor:
    """Mean squared error: (input - target)^2, reduced (PyTorch's convention).

    ``half=True`` gives the seed's 1/2 (yhat - y)^2, whose gradient is (yhat - y) rather than
    2 (yhat - y). Shapes must match exactly.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn import functional as F
        >>> float(F.mse_loss(np.array([1.0, 3.0]), np.array([0.0, 0.0])).numpy())
        5.0
        >>> float(F.mse_loss(np.array([1.0, 3.0]), np.array([0.0, 0.0]), half=True).numpy())
        2.5
    """
    _check_reduction(reduction, "mse_loss")
    x, t = _pair(input, target, "mse_loss")
    return _F.MSELossFunction.apply(x, t, reduction=reduction, half=bool(half))


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """BCE on probabilities: -w [y log p + (1 - y) log(1 - p)], logs clamped at -100.

    The clamp (as in PyTorch) keeps p = 0 or 1 finite. Inputs outside [0, 1] are a ValueError.
    Prefer :func:`binary_cross_entropy_with_logits` after a sigmoid: it is stable.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn import functional as F
        >>> float(F.binary_cross_entropy(np.array([1.0]), np.array([0.0])).numpy())
        100.0
    """
    fn = "binary_cross_entropy"
    _check_reduction(reduction, fn)
    x, t = _pair(input, target, fn)
    a = _data(x, fn, "input")
    if a.size and not (a.min() >= 0 and a.max() <= 1):
        raise arg_error(
            fn, "input", "hold probabilities in [0, 1]", f"values in [{a.min()}, {a.max()}]"
        )
    return _F.BCELossFunction.apply(x, t, _weight(weight, a, fn), reduction=reduction)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Sigmoid + BCE on logits in one stable formula (finite for logits of +-1e4 and beyond).

    ``pos_weight`` (broadcast over the last axis) weighs the positive term, as in PyTorch.

    Example:
        >>> import numpy as np
        >>> from fastdl.nn import functional as F
        >>> float(F.binary_cross_entropy_with_logits(np.array([1e4]), np.array([0.0])).numpy())
        10000.0
    """
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, fn)
    x, t = _pair(input, target, fn)
    a = _data(x, fn, "input")
    return _F.BCEWithLogitsFunction.apply(
        x, t, _weight(weight, a, fn), _weight(pos_weight, a, fn, "pos_weight"), reduction=reduction
    )


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits (N, C) or (N, C, d...) against integer class targets (N, d...).

    Log-softmax and the negative log-likelihood are one node (fused ``ops.log_softmax``).
    ``weight`` (C,) rescales classes; targets equal to ``ignore_index`` are skipped ('mean'
    divides by the summed weights of the kept targets, as PyTorch does). As in PyTorch, a
    float target of the input's shape is read as class probabilities (e.g. one-hot rows;
    'mean' then divides by the number of samples).

    Example:
        >>> import numpy as np
        >>> from fastdl.nn import functional as F
        >>> logits = np.zeros((2, 4))
        >>> round(float(F.cross_entropy(logits, np.array([0, 3])).numpy()), 4)  # log 4
        1.3863
    """
    fn = "cross_entropy"
    _check_reduction(reduction, fn)
    x_in, x = _float_input(input, fn)
    if x.ndim < 2:
        raise arg_error(fn, "input", "be (N, C) or (N, C, d...) logits", f"shape {x.shape}")
    if isinstance(target, Tensor):
        target = target.data
    t = np.asarray(target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise arg_error(fn, "label_smoothing", "be in [0, 1]", label_smoothing)
    C = x.shape[1]
    w = None
    if weight is not None:
        w = _data(weight, fn, "weight")
        if w.shape != (C,):
            raise arg_error(fn, "weight", f"have shape ({C},)", f"shape {w.shape}")
        w = w.astype(x.dtype, copy=False)
    if t.dtype.kind == "f" and t.shape == x.shape:
        return _F.SoftCrossEntropyFunction.apply(
            x_in,
            t.astype(x.dtype, copy=False),
            w,
            reduction=reduction,
            label_smoothing=float(label_smoothing),
        )
    if t.dtype.kind not in "iu":
        raise arg_error(
            fn, "target", f"hold integer class indices (e.g. int64) of shape "
            f"{(x.shape[0],) + x.shape[2:]}, or class probabilities of the input's shape "
            f"{x.shape}", f"dtype {t.dtype} and shape {t.shape}", TypeError,
        )  # fmt: skip
    expected = (x.shape[0],) + x.shape[2:]
    if t.shape != expected:
        raise arg_error(
            fn, "target", f"have shape {expected} for input shape {x.shape}", f"shape {t.shape}"
        )
    if t.size and (t.min() < 0 or t.max() >= C):  # two reductions; the mask only on failure
        bad = (t != ignore_index) & ((t < 0) | (t >= C))
    else:
        bad = None
    if bad is not None and bad.any():
        raise arg_error(
            fn, "target", f"hold class indices in [0, {C - 1}] (or ignore_index={ignore_index})",
            t[bad].ravel()[0],
        )  # fmt: skip
    return _F.CrossEntropyFunction.apply(
        x_in,
        t.astype(np.intp, copy=False),
        w,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=float(label_smoothing),
    )


# Attention lives in nn/attention.py (imported last: it builds on this module's layers).
from .attention import dot_product_attention, scaled_dot_product_attention  # noqa: E402
