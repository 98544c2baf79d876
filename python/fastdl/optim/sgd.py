"""``SGD``: stochastic gradient descent with momentum, PyTorch's update or the seed's form."""

from __future__ import annotations

from typing import Any, Dict

from .. import ops
from ..ops._checks import arg_error
from .optimizer import Arrays, Group, Optimizer, State, _at_least, hyperparameters

__all__ = ["SGD"]

_sgd_step = ops.sgd_step


class SGD(Optimizer):
    """Gradient descent with optional momentum, Nesterov and L2 weight decay.

    PyTorch's update (default): ``g += wd * p``; ``b = mu * b + (1 - dampening) * g`` (``b = g``
    on the first step); ``p -= lr * (g + mu * b if nesterov else b)``.

    ``seed_form=True`` is the seed notes' momentum, an exponential moving average of the
    gradients started at zero: ``m = mu * m + (1 - mu) * g``; ``p -= lr * m``. It is PyTorch's
    update with ``dampening=mu`` and a zero initial buffer. Under a constant gradient PyTorch's
    buffer tends to ``g / (1 - mu)`` and the seed's to ``g``: for the same ``lr`` the seed form
    takes steps (1 - mu) times as large (``lr_seed = lr_torch / (1 - mu)`` matches them).
    Plain gradient descent is ``SGD(params, lr)`` on the full batch.

    All parameters of a group are updated in one fused kernel call (``ops.sgd_step``).

    Example:
        >>> import numpy as np
        >>> from fastdl import nn, optim
        >>> p = nn.Parameter(np.array([1.0])); opt = optim.SGD([p], lr=0.1, momentum=0.9)
        >>> p.grad = nn.Parameter(np.array([1.0])); opt.step(); p.numpy()
        array([0.9])
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        seed_form: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _validate_group(self, group: Dict[str, Any]) -> None:
        super()._validate_group(group)
        _at_least("SGD", "momentum", group["momentum"], 0)
        _at_least("SGD", "weight_decay", group["weight_decay"], 0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise arg_error(
                "SGD", "nesterov", "be False unless momentum > 0 and dampening == 0 (Nesterov "
                "momentum)", f"True with momentum {group['momentum']}, dampening "
                f"{group['dampening']}",
            )  # fmt: skip
        if group["seed_form"] and (group["nesterov"] or group["dampening"] != 0):
            raise arg_error(
                "SGD", ("dampening", "nesterov"), "be 0 and False with seed_form=True "
                "(dampening = momentum)", f"{group['dampening']} and {group['nesterov']}",
            )  # fmt: skip

    def _names_for(self, group: Dict[str, Any]) -> tuple:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _step_group(self, group: Group, params: Arrays, grads: Arrays, state: State, step: int):
        momentum = group["momentum"]
        seed = group["seed_form"]
        # The buffers start at zero; first_step makes PyTorch's form start them at the first
        # gradient (buf = g, no dampening) and the seed form at (1 - mu) g.
        _sgd_step(
            params,
            grads,
            state["momentum_buffer"] if momentum != 0 else None,
            lr=group["lr"],
            momentum=momentum,
            dampening=0.0 if seed else group["dampening"],
            nesterov=group["nesterov"],
            weight_decay=group["weight_decay"],
            seed_form=seed,
            first_step=step == 1,
            maximize=group.get("maximize", False),
        )
