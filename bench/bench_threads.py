"""The libgomp/OpenBLAS trap: a fastdl OpenMP kernel alternating with a 256x256 np.matmul.

Measures the pair run alternately against the sum of the two run apart. With libgomp's default
spin policy this was ~45x slower on the reference machine; fastdl sets a short spin count
before loading libgomp (see fastdl/_threadenv.py). Target: alternating / apart <= 1.5.
"""

from __future__ import annotations

import numpy as np
from harness import Case, main, setup

from fastdl import ops


def cases() -> list[Case]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256), dtype=np.float32)
    b = rng.standard_normal((256, 256), dtype=np.float32)
    x = rng.standard_normal(1 << 20, dtype=np.float32)
    y = np.empty_like(x)

    def kernel():
        ops.relu(x, out=y)

    def blas():
        np.matmul(a, b)

    def alternating():
        kernel()
        blas()

    return [
        Case("relu 1M (alone)", {"fastdl": kernel}),
        Case("np.matmul 256 (alone)", {"fastdl": blas}),
        Case("relu 1M + np.matmul 256 alternating", {"fastdl": alternating}),
    ]


if __name__ == "__main__":
    args = setup()
    rows = main("threads", "OpenMP kernel alternating with OpenBLAS", cases(), args)
    apart = rows[0]["median_s"]["fastdl"] + rows[1]["median_s"]["fastdl"]
    together = rows[2]["median_s"]["fastdl"]
    print(f"alternating / apart = {together / apart:.2f} (target <= 1.5)")
