"""NumPy-level kernels: ndarray in, ndarray out (the drop-in NumPy backend).

Each function validates and converts its inputs once (see ``_checks``), allocates the output,
and calls the compiled kernel. One module per kernel family.
"""

from __future__ import annotations

from . import activation, attention, batchnorm, matmul, optim, softmax
from .activation import *  # noqa: F403
from .attention import *  # noqa: F403
from .batchnorm import *  # noqa: F403
from .matmul import *  # noqa: F403
from .optim import *  # noqa: F403
from .softmax import *  # noqa: F403

__all__ = [
    *activation.__all__,
    *attention.__all__,
    *batchnorm.__all__,
    *matmul.__all__,
    *optim.__all__,
    *softmax.__all__,
]
