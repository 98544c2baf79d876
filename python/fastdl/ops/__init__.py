"""NumPy-level kernels: ndarray in, ndarray out (the drop-in NumPy backend).

Each function validates and converts its inputs once (see ``_checks``), allocates the output,
and calls the compiled kernel. One module per kernel family.
"""

from __future__ import annotations

from .activation import *  # noqa: F403
from .activation import __all__ as _activation_all

__all__ = [*_activation_all]
