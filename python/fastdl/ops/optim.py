"""Fused multi-tensor optimiser updates on NumPy arrays: Adam/AdamW/AMSGrad, SGD, grad norm.

Each function updates a whole list of arrays in place in ONE compiled call: the binding checks
every list, collects the pointers, releases the GIL once, and one kernel walks all elements of
all arrays in fixed-size chunks spread over the threads (so the results are the same bits for
any thread count). The optimiser classes of :mod:`fastdl.optim` are built on these.

Arrays updated in place (parameters and optimiser state) must be writeable C-contiguous
float32/float64 ndarrays with the shape and dtype of their parameter; they are never converted,
since an update written into a converted copy would be lost. Anything else is a TypeError or
ValueError naming the list, the index and the expected and actual shape/dtype, raised before
any array is written. Gradients must have their parameter's shape and dtype too; a
non-contiguous gradient is copied once. Lists are Python lists or tuples; float32 and float64
parameters may be mixed in one call. No array written may share memory with another array of
the call.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import numpy as np

from .. import _core
from ._checks import arg_error, as_kernel_input, as_ndarray, describe, result_dtype

__all__ = ["adam_step", "sgd_step", "grad_norm", "scale_"]

ArrayList = Sequence[np.ndarray]


def _contiguous_grads(grads: Any) -> Any:
    """``grads`` itself when every item is a C-contiguous ndarray, else a list with copies.

    Only non-contiguous ndarrays are copied (same dtype); anything else is passed on for the
    compiled checks to reject with a precise message.
    """
    if not isinstance(grads, (list, tuple)):
        return grads
    out = None
    for i, g in enumerate(grads):
        if isinstance(g, np.ndarray) and not g.flags.c_contiguous:
            if out is None:
                out = list(grads)
            out[i] = np.ascontiguousarray(g)
    return grads if out is None else out


def _step_number(step: Any) -> int:
    # PyTorch keeps the step count as a float tensor: accept any integral number.
    try:
        i = int(step)
        ok = i == step
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(step, bool):
        raise arg_error("adam_step", "step", "be an integer >= 1", describe(step), TypeError)
    return i


def adam_step(
    params: ArrayList,
    grads: ArrayList,
    exp_avgs: ArrayList,
    exp_avg_sqs: ArrayList,
    *,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0.0,
    decoupled: bool = False,
    amsgrad: bool = False,
    max_exp_avg_sqs: Optional[ArrayList] = None,
    maximize: bool = False,
) -> None:
    """One Adam (``decoupled=False``) or AdamW (``decoupled=True``) step, in place, fused.

    PyTorch's update (``torch.optim.Adam``/``AdamW``, fused CPU kernel), per element, in the
    parameter's precision, with ``t = step`` (1 on the first step)::

        g  = -g                                # maximize=True only (ascend the objective)
        p *= 1 - lr*weight_decay               # AdamW only (decoupled weight decay)
        g  = g + weight_decay*p                # Adam only (L2 penalty; g itself is not written)
        m  = m + (1 - beta1)*(g - m)           # exp_avgs: lerp, = beta1*m + (1 - beta1)*g
        v  = beta2*v + (1 - beta2)*g*g         # exp_avg_sqs
        vmax = max(vmax, v)                    # amsgrad only (max_exp_avg_sqs); then v := vmax
        p -= lr/(1 - beta1**t) * m / (sqrt(v)/sqrt(1 - beta2**t) + eps)

    The bias corrections are computed once per call in float64. Each element is read and
    written once (p, g, m, v and vmax in one pass). The state starts as zeros: allocate
    ``exp_avgs``/``exp_avg_sqs`` (and ``max_exp_avg_sqs`` for amsgrad) with ``np.zeros_like``.
    ``max_exp_avg_sqs`` is ignored unless ``amsgrad``.

    Args:
        params, grads, exp_avgs, exp_avg_sqs: lists (or tuples) of equal length; item i of each
            has the shape and dtype (float32/float64) of ``params[i]``. All but ``grads`` are
            updated in place and must be writeable and C-contiguous.
        step: the number of this step, counting from 1.
        lr, beta1, beta2, eps, weight_decay: ``lr, eps, weight_decay >= 0``, ``0 <= beta < 1``.

    Raises:
        TypeError: a list is not a list/tuple of ndarrays, or a dtype does not match.
        ValueError: lengths, shapes, contiguity, writeability, overlapping arrays or a
            hyperparameter out of range. Nothing is written when an error is raised.

    Example:
        >>> import numpy as np, fastdl
        >>> p, g = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
        >>> m, v = np.zeros_like(p), np.zeros_like(p)
        >>> fastdl.ops.adam_step([p], [g], [m], [v], step=1, lr=0.1, beta1=0.9, beta2=0.999,
        ...                      eps=1e-8)
        >>> p.round(5)  # the first step moves each element by about lr
        array([0.9, 0.9, 0.9], dtype=float32)
    """
    if type(step) is not int:
        step = _step_number(step)
    _core.adam_step(
        params,
        _contiguous_grads(grads),
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs,
        step,
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        decoupled,
        amsgrad,
        maximize,
    )


def sgd_step(
    params: ArrayList,
    grads: ArrayList,
    momentum_buffers: Optional[ArrayList],
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    seed_form: bool = False,
    first_step: bool = False,
    maximize: bool = False,
) -> None:
    """One SGD step (PyTorch's ``torch.optim.SGD`` update, or the seed notes' form), in place.

    PyTorch's form (``seed_form=False``), per element::

        g = -g                                          # maximize=True only
        g = g + weight_decay*p
        buf = momentum*buf + (1 - dampening)*g         # first_step=True: buf = g
        d = g + momentum*buf if nesterov else buf       # d = g when momentum == 0
        p -= lr*d

    PyTorch creates the buffer from the gradient on the first step (``buf = g``, no
    dampening); pass ``first_step=True`` on the first call for a buffer to get exactly that
    (its previous contents are then ignored). With zero-initialised buffers and
    ``dampening=0`` the first step is the same either way.

    The seed notes' form (``seed_form=True``) is an exponential moving average of the
    gradients::

        m = momentum*m + (1 - momentum)*g,   p -= lr*m

    i.e. PyTorch's form with ``dampening = momentum`` (so ``dampening`` must be left at 0 and
    ``nesterov`` False). Its buffer starts at zero: ``first_step=True`` gives
    ``m = (1 - momentum)*g`` whatever the buffer held, the same as a zeroed buffer (no bias
    correction, as in the notes). ``momentum=0`` is plain gradient descent in either form, and
    then ``momentum_buffers`` is not used (may be None).

    Args:
        params, grads, momentum_buffers: lists of equal length; item i of each has the shape and
            dtype of ``params[i]``; params and buffers are updated in place (writeable,
            C-contiguous float32/float64).

    Raises:
        TypeError / ValueError as :func:`adam_step`; nothing is written on error.

    Example:
        >>> import numpy as np, fastdl
        >>> p, g, buf = np.ones(2), np.ones(2), np.zeros(2)
        >>> fastdl.ops.sgd_step([p], [g], [buf], lr=0.1, momentum=0.9, seed_form=True)
        >>> buf, p
        (array([0.1, 0.1]), array([0.99, 0.99]))
    """
    if seed_form:
        if dampening != 0:
            raise ValueError(
                "sgd_step(): seed_form=True uses dampening = momentum; leave 'dampening' at 0, "
                f"got {dampening!r}"
            )
        if nesterov:
            raise ValueError("sgd_step(): seed_form=True does not support nesterov=True")
        dampening = momentum
        init = 2 if first_step else 0
    else:
        init = 1 if first_step else 0
    _core.sgd_step(
        params,
        _contiguous_grads(grads),
        momentum_buffers,
        lr,
        momentum,
        dampening,
        nesterov,
        weight_decay,
        init,
        maximize,
    )


def _norm_type(norm_type: Union[float, str]) -> float:
    if isinstance(norm_type, str):
        if norm_type.lower() == "inf":
            return math.inf
        raise arg_error("grad_norm", "norm_type", "be a number or 'inf'", repr(norm_type))
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.number)):
        raise arg_error(
            "grad_norm", "norm_type", "be a number or 'inf'", describe(norm_type), TypeError
        )
    p = float(norm_type)
    if not p >= 0:
        raise arg_error("grad_norm", "norm_type", "be >= 0 or inf", repr(norm_type))
    return p


def grad_norm(arrays: Sequence[Any], norm_type: Union[float, str] = 2.0) -> float:
    """The ``norm_type``-norm of all elements of all arrays together, as a Python float.

    The same value as PyTorch's ``clip_grad_norm_`` total norm (the norm of the per-array
    norms): ``(sum |x|**p) ** (1/p)``, ``max |x|`` for ``p = inf``, the count of nonzeros for
    ``p = 0``. Accumulated in float64 over fixed-size chunks added in a fixed order, so the
    result is the same bits for any thread count. NaN anywhere gives NaN; an empty list 0.0.
    Arrays may be float32 and float64 mixed; other array-likes are converted once.

    Example:
        >>> import numpy as np, fastdl
        >>> fastdl.ops.grad_norm([np.array([3.0]), np.array([4.0], np.float32)])
        5.0
    """
    p = _norm_type(norm_type)
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(
            "grad_norm(): argument 'arrays' must be a list or tuple of arrays, got "
            f"{type(arrays).__name__}"
        )
    conv = []
    for i, a in enumerate(arrays):
        if type(a) is not np.ndarray or a.dtype not in (np.float32, np.float64):
            a = as_ndarray(a, "grad_norm", f"arrays[{i}]")
            a = as_kernel_input(a, result_dtype("grad_norm", a))
        elif not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        conv.append(a)
    s = _core.sum_abs_pow(conv, p)
    if p == 2.0:
        return math.sqrt(s)
    if p in (0.0, 1.0, math.inf) or math.isnan(s):
        return s
    return s ** (1.0 / p)


def scale_(arrays: ArrayList, factor: float) -> None:
    """``a *= factor`` for every array of the list, in place, in one compiled call.

    The factor is rounded to each array's dtype first (as ``torch.Tensor.mul_`` does), e.g.
    to rescale gradients in ``clip_grad_norm_``. Arrays must be writeable C-contiguous
    float32/float64 ndarrays that do not share memory.

    Example:
        >>> import numpy as np, fastdl
        >>> g = np.array([2.0, 4.0])
        >>> fastdl.ops.scale_([g], 0.5)
        >>> g
        array([1., 2.])
    """
    if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, (int, float, np.number)):
        raise arg_error("scale_", "factor", "be a real number", describe(factor), TypeError)
    _core.scale_(arrays, factor)
