"""Learning-rate schedules: ``StepLR`` and ``CosineAnnealingLR`` (PyTorch's API)."""

from __future__ import annotations

import math
from typing import Any, Dict, List

from ..ops._checks import arg_error, describe
from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR"]


class LRScheduler:
    """Base class: sets each group's ``lr`` from its ``initial_lr`` and the epoch count.

    Call ``scheduler.step()`` once per epoch, after ``optimizer.step()``.

    Example:
        >>> from fastdl import nn, optim
        >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
        >>> sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        >>> sched.step(); sched.get_last_lr()
        [0.5]
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise arg_error(
                type(self).__name__, "optimizer", "be a fastdl.optim.Optimizer",
                describe(optimizer), TypeError,
            )  # fmt: skip
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        else:
            for i, g in enumerate(optimizer.param_groups):
                if "initial_lr" not in g:
                    raise arg_error(
                        type(self).__name__, "optimizer", f"have 'initial_lr' in param_groups[{i}]"
                        f" to resume at last_epoch={last_epoch}", f"keys {sorted(g)}", KeyError,
                    )  # fmt: skip
        self.base_lrs: List[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def _lr_at(self, base_lr: float, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_lr(self) -> List[float]:
        """The learning rates for the current epoch (from the closed form).

        Example:
            >>> from fastdl import nn, optim
            >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
            >>> optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5).get_lr()
            [1.0]
        """
        return [self._lr_at(b, self.last_epoch) for b in self.base_lrs]

    def get_last_lr(self) -> List[float]:
        """The learning rates set by the last :meth:`step`.

        Example:
            >>> from fastdl import nn, optim
            >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=0.3)
            >>> optim.lr_scheduler.StepLR(opt, step_size=5).get_last_lr()
            [0.3]
        """
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer.

        Example:
            >>> from fastdl import nn, optim
            >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
            >>> sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
            >>> sched.step(); round(opt.param_groups[0]["lr"], 6)
            0.1
        """
        self.last_epoch += 1
        lrs = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = lrs

    def state_dict(self) -> Dict[str, Any]:
        """Everything but the optimizer, to resume (``fastdl.save`` can store it).

        Example:
            >>> from fastdl import nn, optim
            >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
            >>> optim.lr_scheduler.StepLR(opt, step_size=2).state_dict()["last_epoch"]
            0
        """
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Example:
            >>> from fastdl import nn, optim
            >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
            >>> a = optim.lr_scheduler.StepLR(opt, step_size=2); a.step(); a.step()
            >>> b = optim.lr_scheduler.StepLR(opt, step_size=2); b.load_state_dict(a.state_dict())
            >>> b.last_epoch
            2
        """
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``.

    Example:
        >>> from fastdl import nn, optim
        >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
        >>> sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
        >>> for _ in range(2): sched.step()
        >>> opt.param_groups[0]["lr"]
        0.1
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise arg_error("StepLR", "step_size", "be a positive int", repr(step_size))
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    The closed form (PyTorch applies it recursively; the values agree to rounding).

    Example:
        >>> from fastdl import nn, optim
        >>> opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
        >>> sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
        >>> sched.step(); round(opt.param_groups[0]["lr"], 6)
        0.5
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max <= 0:
            raise arg_error("CosineAnnealingLR", "T_max", "be a positive int", repr(T_max))
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr: float, epoch: int) -> float:
        return (
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        )
