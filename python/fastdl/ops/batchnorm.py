"""batchnorm kernels on NumPy arrays (to be filled in by the batchnorm work)."""

from __future__ import annotations

__all__: list[str] = []
