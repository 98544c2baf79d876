"""``Adam`` and ``AdamW``: one fused kernel call per parameter group per step."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from .. import ops
from ..ops._checks import arg_error
from .optimizer import Arrays, Group, Optimizer, State, _at_least, hyperparameters

__all__ = ["Adam", "AdamW"]

_adam_step = ops.adam_step


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's update, optional L2 weight decay and AMSGrad.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)``, with ``g += wd * p`` first
    (coupled L2). Every parameter of a group is updated in ONE C++ call reading p, g, m, v once
    (``ops.adam_step``); the bias corrections are computed once per step.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn, optim
        >>> p = nn.Parameter(np.array([1.0])); opt = optim.Adam([p], lr=0.1)
        >>> p.grad = nn.Parameter(np.array([5.0])); opt.step(); p.numpy().round(6)
        array([0.9])
    """

    _decoupled = False
    _optional_names = ("max_exp_avg_sq",)

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _validate_group(self, group: Dict[str, Any]) -> None:
        super()._validate_group(group)
        name = type(self).__name__
        group["betas"] = b1, b2 = tuple(group["betas"])
        if not 0.0 <= b1 < 1.0 or not 0.0 <= b2 < 1.0:
            raise arg_error(name, "betas", "be in [0, 1)", group["betas"])
        _at_least(name, "eps", group["eps"], 0)
        _at_least(name, "weight_decay", group["weight_decay"], 0)

    def _names_for(self, group: Dict[str, Any]) -> tuple:
        if group["amsgrad"]:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _step_group(self, group: Group, params: Arrays, grads: Arrays, state: State, step: int):
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        _adam_step(
            params,
            grads,
            state["exp_avg"],
            state["exp_avg_sq"],
            step=step,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            decoupled=self._decoupled,
            amsgrad=amsgrad,
            max_exp_avg_sqs=state["max_exp_avg_sq"] if amsgrad else None,
            maximize=group.get("maximize", False),
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * wd`` each step.

    Same fused kernel as :class:`Adam`; ``weight_decay`` defaults to 0.01 as in PyTorch.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn, optim
        >>> p = nn.Parameter(np.array([1.0])); opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
        >>> p.grad = nn.Parameter(np.array([0.0])); opt.step(); p.numpy()
        array([0.95])
    """

    _decoupled = True

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
