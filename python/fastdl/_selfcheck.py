"""A quick self-check of the compiled kernels against NumPy, on every ISA this CPU supports."""

from __future__ import annotations

import numpy as np

from . import _core, ops
from ._config import show_config


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    return np.tanh(x)


def check_all() -> list[str]:
    """Run each activation on each supported ISA; return the failures (empty when all pass).

    Example:
        >>> from fastdl._selfcheck import check_all
        >>> check_all()
        []
    """
    failures = []
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal(1001) * 4
    before = _core.current_isa()
    try:
        for isa in ("baseline", "avx2", "avx512"):
            if not _core.isa_supported(isa):
                continue
            _core.set_isa(isa)
            for dtype, tol in ((np.float32, 1e-6), (np.float64, 1e-13)):
                for name in ("relu", "sigmoid", "tanh"):
                    got = getattr(ops, name)(x64.astype(dtype))
                    if not np.allclose(got, _reference(name, x64), rtol=tol, atol=tol):
                        failures.append(f"{name} {np.dtype(dtype).name} on {isa}")
    finally:
        _core.set_isa(before)
    return failures


def main() -> int:
    show_config()
    failures = check_all()
    if failures:
        print("self-check FAILED: " + "; ".join(failures))
        return 1
    print("self-check passed: relu, sigmoid, tanh (float32, float64) on every supported ISA")
    return 0
