"""NumPy-level kernels: ndarray in, ndarray out (the drop-in NumPy backend).

Each function validates and converts its inputs once (see ``_checks``), allocates the output,
and calls the compiled kernel. One module per kernel family.
"""

from __future__ import annotations

# Aliased: the star imports below rebind names such as `softmax` and `matmul` to functions.
from . import activation as _activation
from . import attention as _attention
from . import batchnorm as _batchnorm
from . import matmul as _matmul
from . import optim as _optim
from . import softmax as _softmax
from .activation import *  # noqa: F403
from .attention import *  # noqa: F403
from .batchnorm import *  # noqa: F403
from .matmul import *  # noqa: F403
from .optim import *  # noqa: F403
from .softmax import *  # noqa: F403

__all__ = [
    *_activation.__all__,
    *_attention.__all__,
    *_batchnorm.__all__,
    *_matmul.__all__,
    *_optim.__all__,
    *_softmax.__all__,
]
