"""Runtime configuration: instruction set, threads, and build facts."""

from __future__ import annotations

import os
from typing import Any

from . import _core, _threadenv

__all__ = ["config", "show_config", "set_num_threads", "get_num_threads"]


def _select_isa_from_env() -> None:
    name = os.environ.get("FASTDL_CPU", "").strip().lower()
    if name:
        _core.set_isa(name)  # ValueError naming the ISA when the CPU lacks it


def set_num_threads(n: int) -> None:
    """Set the number of threads every fastdl kernel uses (the OpenMP team size).

    Example:
        >>> import fastdl
        >>> fastdl.set_num_threads(1)
        >>> fastdl.get_num_threads()
        1
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads(): argument 'n' must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Return the number of threads fastdl kernels use.

    The default is the number of CPUs this process may run on.

    Example:
        >>> import fastdl
        >>> fastdl.get_num_threads() >= 1
        True
    """
    return _core.get_num_threads()


def config() -> dict[str, Any]:
    """Return the build and runtime configuration as a dict.

    Example:
        >>> import fastdl
        >>> fastdl.config()["isa"] in ("baseline", "avx2", "avx512")
        True
    """
    info = dict(_core.build_info())
    compiled = list(info.pop("isa_compiled"))
    return {
        "version": info.pop("version"),
        "isa": _core.current_isa(),
        "isa_available": [i for i in compiled if _core.isa_supported(i)],
        "isa_compiled": compiled,
        "num_threads": _core.get_num_threads(),
        "available_cpus": _core.available_cpus(),
        "openmp_library": info.pop("openmp_library"),
        "openmp_version": info.pop("openmp_version"),
        "omp_wait": _threadenv.requested,
        **info,
    }


def show_config() -> None:
    """Print :func:`config` as aligned ``key: value`` lines.

    Example:
        >>> import fastdl
        >>> fastdl.show_config()  # doctest: +ELLIPSIS
        fastdl ...
    """
    cfg = config()
    print(f"fastdl {cfg['version']}")
    width = max(len(k) for k in cfg)
    for key, value in cfg.items():
        if key == "version":
            continue
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"  {key.ljust(width)} : {value}")
