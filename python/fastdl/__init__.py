"""fastdl: a deep-learning library for the CPU with C++/OpenMP kernels.

The compiled kernels are reached through :mod:`fastdl.ops` (NumPy arrays in, NumPy arrays out).
"""

from __future__ import annotations

# isort: off
# _threadenv sets the OpenMP wait policy; it must run before _core loads libgomp.
from . import _threadenv  # noqa: F401
from . import _core

# isort: on
from ._config import _select_isa_from_env, config, get_num_threads, set_num_threads, show_config
from ._random import get_generator, manual_seed

_select_isa_from_env()

from . import data, datasets, nn, ops, optim, train  # noqa: E402
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .creation import (  # noqa: E402
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    zeros,
    zeros_like,
)
from .functional import grad, value_and_grad  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from .memory import empty_cache, memory_stats  # noqa: E402
from .serialization import load, save  # noqa: E402
from .tensor import (  # noqa: E402
    Tensor,
    clip,
    concatenate,
    exp,
    from_numpy,
    linear,
    log,
    log_softmax,
    logsumexp,
    matmul,
    maximum,
    minimum,
    relu,
    sigmoid,
    softmax,
    sqrt,
    stack,
    tanh,
    tensor,
    where,
)

__version__: str = _core.build_info()["version"]

__all__ = [
    "manual_seed",
    "get_generator",
    "config",
    "show_config",
    "set_num_threads",
    "get_num_threads",
    "ops",
    "nn",
    "optim",
    "data",
    "datasets",
    "train",
    "save",
    "load",
    "empty_cache",
    "memory_stats",
    "__version__",
    # autograd
    "Tensor",
    "tensor",
    "from_numpy",
    "autograd",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "grad",
    "value_and_grad",
    "gradcheck",
    "matmul",
    "linear",
    "concatenate",
    "stack",
    "where",
    "maximum",
    "minimum",
    "clip",
    "exp",
    "log",
    "sqrt",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "logsumexp",
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
]
