"""Per-op overhead of fastdl.Tensor against PyTorch eager and the bare NumPy call.

One op (add, matmul, relu) on 8-element float32 operands whose inputs require grad, so the
time is the framework's: graph recording, dtype handling, wrapping. "fwd" runs the op;
"fwd+bwd" runs it and backpropagates a given gradient into the leaves (which accumulate, in
both frameworks). The NumPy column is the bare forward call, plus for fwd+bwd the NumPy calls
that compute the same gradients by hand. Target: fastdl at most half of PyTorch's time.
"""

from __future__ import annotations

import numpy as np
from harness import Case, main, setup, try_torch

import fastdl


def cases(torch) -> list[Case]:
    rng = np.random.default_rng(0)
    f32 = np.float32
    specs = {
        # name: (operand shapes, fastdl op, torch op, numpy forward, numpy backward)
        "add": (
            [(8,), (8,)],
            lambda a, b: a + b,
            lambda a, b: a + b,
            lambda a, b: np.add(a, b),
            lambda g, a, b: (g.copy(), g.copy()),
        ),
        "matmul": (
            [(2, 4), (4, 2)],
            lambda a, b: a @ b,
            lambda a, b: a @ b,
            lambda a, b: np.matmul(a, b),
            lambda g, a, b: (g @ b.T, a.T @ g),
        ),
        "relu": (
            [(8,)],
            lambda a: a.relu(),
            lambda a: torch.relu(a),
            lambda a: np.maximum(a, 0),
            lambda g, a: (g * (a > 0),),
        ),
    }
    out = []
    for name, (shapes, f, tf, npf, npb) in specs.items():
        arrays = [rng.standard_normal(s).astype(f32) for s in shapes]
        xs = [fastdl.tensor(a, requires_grad=True) for a in arrays]
        y0 = npf(*arrays)
        g = np.ones_like(y0)
        gt = fastdl.tensor(g)
        impls = {"fastdl": lambda f=f, xs=xs: f(*xs)}
        if torch is not None:
            ts = [torch.tensor(a, requires_grad=True) for a in arrays]
            impls["torch"] = lambda tf=tf, ts=ts: tf(*ts)
        impls["numpy"] = lambda npf=npf, arrays=arrays: npf(*arrays)
        out.append(Case(f"{name} fwd (8 elements)", impls))

        impls = {"fastdl": lambda f=f, xs=xs, gt=gt: f(*xs).backward(gt)}
        if torch is not None:
            tg = torch.from_numpy(g)
            impls["torch"] = lambda tf=tf, ts=ts, tg=tg: tf(*ts).backward(tg)

        def np_fwd_bwd(npf=npf, npb=npb, arrays=arrays, g=g):
            npf(*arrays)
            return npb(g, *arrays)

        impls["numpy"] = np_fwd_bwd
        out.append(Case(f"{name} fwd+bwd (8 elements)", impls))
    return out


if __name__ == "__main__":
    args = setup()
    main(
        "tensor_op",
        "Per-op overhead of one Tensor op (fp32, 8 elements)",
        cases(try_torch(args.threads)),
        args,
    )
