"""``fastdl.nn``: modules, layers, losses and initialisation, with PyTorch's names.

Where the seed notes differ from PyTorch fastdl follows the seed and says so: ``Linear``'s
weight is (d_in, d_out) and starts from N(0, 1/d_in); ``MSELoss(half=True)`` is 1/2 (yhat - y)^2.
"""

from __future__ import annotations

from . import functional, init, utils
from .activation import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .attention import DotProductAttention, MultiheadAttention
from .containers import ModuleList, Residual, Sequential
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import IncompatibleKeys, Module, StateDictError
from .normalization import BatchNorm1d, LayerNorm
from .parameter import Parameter
from .rnn import GRU, RNN, GRUCell, RNNCell

__all__ = [
    "functional",
    "init",
    "utils",
    "Module",
    "Parameter",
    "StateDictError",
    "IncompatibleKeys",
    "Sequential",
    "ModuleList",
    "Residual",
    "Identity",
    "Flatten",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softmax",
    "LogSoftmax",
    "BatchNorm1d",
    "LayerNorm",
    "Dropout",
    "MSELoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "MultiheadAttention",
    "DotProductAttention",
    "RNNCell",
    "RNN",
    "GRUCell",
    "GRU",
]
