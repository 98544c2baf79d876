"""Loss modules wrapping ``fastdl.nn.functional``'s losses."""

from __future__ import annotations

from typing import Any

from ..ops._checks import arg_error
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error; ``half=True`` is the seed's 1/2 (yhat - y)^2.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> float(nn.MSELoss()(np.array([2.0]), np.array([0.0])).numpy())
        4.0
    """

    def __init__(self, reduction: str = "mean", *, half: bool = False) -> None:
        super().__init__(reduction)
        self.half = half

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction, half=self.half)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (logs clamped at -100, as PyTorch).

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> round(float(nn.BCELoss()(np.array([0.5]), np.array([1.0])).numpy()), 4)
        0.6931
    """

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable formula.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> round(float(nn.BCEWithLogitsLoss()(np.array([0.0]), np.array([1.0])).numpy()), 4)
        0.6931
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.pos_weight = pos_weight

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits against integer class targets (fused log-softmax).

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> round(float(nn.CrossEntropyLoss()(np.zeros((1, 2)), np.array([1])).numpy()), 4)
        0.6931
    """

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index
        if not 0.0 <= label_smoothing <= 1.0:
            raise arg_error("CrossEntropyLoss", "label_smoothing", "be in [0, 1]", label_smoothing)
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing
        )
