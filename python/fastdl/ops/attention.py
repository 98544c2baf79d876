"""attention kernels on NumPy arrays (to be filled in by the attention work)."""

from __future__ import annotations

__all__: list[str] = []
