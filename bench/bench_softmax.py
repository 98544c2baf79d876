"""Softmax / log-softmax forward and backward (float32) against NumPy and PyTorch.

GB/s count the bytes the kernel must move: read x and write y (forward); read grad and y and
write the result (backward).
"""

from __future__ import annotations

import numpy as np
from harness import Case, main, setup, try_torch

from fastdl import ops


def np_softmax(x, axis, out):
    np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def np_log_softmax(x, axis, out):
    np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
    return out


def np_softmax_backward(g, y, axis, out):
    np.multiply(g, y, out=out)
    s = out.sum(axis=axis, keepdims=True)
    np.subtract(g, s, out=out)
    out *= y
    return out


def cases(torch) -> list[Case]:
    out = []
    rng = np.random.default_rng(0)
    # (128, 10) and (2048, 10): a classifier head, the short-row path.
    shapes = (
        ((4096, 1024), -1),
        ((256, 128), -1),
        ((64, 1000, 64), 1),
        ((128, 10), -1),
        ((2048, 10), -1),
    )
    for shape, axis in shapes:
        x = rng.standard_normal(shape, dtype=np.float32)
        g = rng.standard_normal(shape, dtype=np.float32)
        y = ops.softmax(x, axis)
        buf = np.empty_like(x)
        n = x.size
        name = f"{'x'.join(map(str, shape))} axis={axis}"
        impls = {
            "fastdl": lambda x=x, a=axis, b=buf: ops.softmax(x, a, out=b),
            "numpy": lambda x=x, a=axis, b=buf: np_softmax(x, a, b),
        }
        limpls = {
            "fastdl": lambda x=x, a=axis, b=buf: ops.log_softmax(x, a, out=b),
            "numpy": lambda x=x, a=axis, b=buf: np_log_softmax(x, a, b),
        }
        bimpls = {
            "fastdl": lambda g=g, y=y, a=axis, b=buf: ops.softmax_backward(g, y, a, out=b),
            "numpy": lambda g=g, y=y, a=axis, b=buf: np_softmax_backward(g, y, a, b),
        }
        if torch is not None:
            tx, tg, ty = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(y)
            impls["torch"] = lambda tx=tx, a=axis: torch.softmax(tx, a)
            limpls["torch"] = lambda tx=tx, a=axis: torch.log_softmax(tx, a)
            bimpls["torch"] = lambda tg=tg, ty=ty, a=axis: torch._softmax_backward_data(
                tg, ty, a, torch.float32
            )
        out.append(Case(f"softmax {name}", impls, bytes=8 * n))
        out.append(Case(f"log_softmax {name}", limpls, bytes=8 * n))
        out.append(Case(f"softmax_backward {name}", bimpls, bytes=12 * n))
    return out


if __name__ == "__main__":
    args = setup()
    main("softmax", "Softmax (fp32)", cases(try_torch(args.threads)), args)
