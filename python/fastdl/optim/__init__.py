"""``fastdl.optim``: SGD (PyTorch's or the seed's momentum), Adam, AdamW, learning-rate schedules.

Each optimiser updates all parameters of a group in one fused C++ call per step.
"""

from __future__ import annotations

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
