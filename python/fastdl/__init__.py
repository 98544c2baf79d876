"""fastdl: a deep-learning library for the CPU with C++/OpenMP kernels.

The compiled kernels are reached through :mod:`fastdl.ops` (NumPy arrays in, NumPy arrays out).
"""

from __future__ import annotations

from . import (
    _core,
    _threadenv,  # noqa: F401  (must run before _core loads libgomp)
)
from ._config import _select_isa_from_env, config, get_num_threads, set_num_threads, show_config

_select_isa_from_env()

from . import ops  # noqa: E402

__version__: str = _core.build_info()["version"]

__all__ = ["config", "show_config", "set_num_threads", "get_num_threads", "ops", "__version__"]
