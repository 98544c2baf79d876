"""ReLU and the fused bias + activation against NumPy and PyTorch (GB/s of bytes moved)."""

from __future__ import annotations

import numpy as np
from harness import Case, main, setup, try_torch

import fastdl
from fastdl import ops


def cases(torch) -> list[Case]:
    out = []
    rng = np.random.default_rng(0)
    for n in (8, 1 << 16, 1 << 22, 1 << 25):
        x = rng.standard_normal(n, dtype=np.float32)
        y = np.empty_like(x)
        impls = {
            "fastdl": lambda x=x, y=y: ops.relu(x, out=y),
            "numpy": lambda x=x, y=y: np.maximum(x, 0, out=y),
        }
        if torch is not None:
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            impls["torch"] = lambda tx=tx, ty=ty: torch.clamp_min(tx, 0, out=ty)
        out.append(Case(f"relu fp32 n={n}", impls, bytes=8 * n))
    for rows, cols in ((128, 256), (4096, 1024)):
        x = rng.standard_normal((rows, cols), dtype=np.float32)
        b = rng.standard_normal(cols, dtype=np.float32)
        y = np.empty_like(x)
        for act in ("relu", "sigmoid", "tanh"):
            npf = {
                "relu": lambda x=x, b=b, y=y: np.maximum(np.add(x, b, out=y), 0, out=y),
                "sigmoid": lambda x=x, b=b, y=y: np.reciprocal(
                    np.add(np.exp(np.negative(np.add(x, b, out=y), out=y), out=y), 1, out=y), out=y
                ),
                "tanh": lambda x=x, b=b, y=y: np.tanh(np.add(x, b, out=y), out=y),
            }[act]
            impls = {
                "fastdl": lambda x=x, b=b, y=y, act=act: ops.bias_act(x, b, act, out=y),
                "numpy": npf,
            }
            if torch is not None:
                tx, tb, ty = torch.from_numpy(x), torch.from_numpy(b), torch.from_numpy(y)
                tf = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[act]
                impls["torch"] = lambda tx=tx, tb=tb, tf=tf: tf(tx + tb)
            out.append(Case(f"bias+{act} fp32 {rows}x{cols}", impls, bytes=8 * rows * cols))
    return out


if __name__ == "__main__":
    args = setup()
    main("activation", "Activations (fp32)", cases(try_torch(args.threads)), args)
    fastdl.set_num_threads(args.threads)
