"""One training step through fastdl.nn + fastdl.optim against PyTorch and hand-written NumPy.

A step is ``zero_grad``, forward, loss, backward and an Adam update: for a small MLP it is
almost all per-call overhead (module calls, graph nodes, kernel dispatch), the figure the
nn/optim layer controls. Peers: PyTorch eager with ``torch.optim.Adam`` (its default
for-each implementation; ``fused=True`` where it helps) and a NumPy step with the backward
written by hand (no autograd at all: the floor for Python + NumPy). All run in float32 with
the same thread count. Per-step time is what matters; no throughput column.
"""

from __future__ import annotations

import numpy as np
from harness import Case, main, setup, try_torch

import fastdl
from fastdl import nn, optim

LR = 1e-3


def data(n, d_in, d_out, classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d_in), dtype=np.float32)
    if classes:
        return X, rng.integers(0, d_out, size=n)
    return X, rng.standard_normal((n, d_out), dtype=np.float32)


def fastdl_step(sizes, X, Y, classes):
    fastdl.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    opt = optim.Adam(net.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss() if classes else nn.MSELoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(net(X), Y)
        loss.backward()
        opt.step()

    return step


def torch_step(torch, sizes, X, Y, classes, fused):
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=LR, fused=fused)
    loss_fn = torch.nn.CrossEntropyLoss() if classes else torch.nn.MSELoss()
    tX, tY = torch.from_numpy(X), torch.from_numpy(Y)

    def step():
        opt.zero_grad()
        loss = loss_fn(net(tX), tY)
        loss.backward()
        opt.step()

    return step


def numpy_step(sizes, X, Y, classes):
    """Hand-derived backward of the same MLP and a NumPy Adam (in-place ufuncs)."""
    rng = np.random.default_rng(0)
    Ws = [
        (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        for a, b in zip(sizes[:-1], sizes[1:])
    ]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    params = [p for pair in zip(Ws, bs) for p in pair]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = [0]
    n = X.shape[0]
    onehot = np.eye(sizes[-1], dtype=np.float32)[Y] if classes else None

    def step():
        acts = [X]
        for i, (W, b) in enumerate(zip(Ws, bs)):
            z = acts[-1] @ W + b
            acts.append(np.maximum(z, 0) if i < len(Ws) - 1 else z)
        out = acts[-1]
        if classes:
            e = np.exp(out - out.max(1, keepdims=True))
            g = (e / e.sum(1, keepdims=True) - onehot) / n
        else:
            g = (out - Y) * (2.0 / out.size)
        gW, gb = [None] * len(Ws), [None] * len(Ws)
        for i in range(len(Ws) - 1, -1, -1):
            gb[i] = g.sum(0)
            gW[i] = acts[i].T @ g
            if i:
                g = (g @ Ws[i].T) * (acts[i] > 0)
        grads = [gr for pair in zip(gW, gb) for gr in pair]
        t[0] += 1
        bc1, bc2 = 1 - 0.9 ** t[0], 1 - 0.999 ** t[0]
        for p, gr, mi, vi in zip(params, grads, m, v):
            mi *= 0.9
            mi += 0.1 * gr
            vi *= 0.999
            vi += 0.001 * gr * gr
            p -= (LR / bc1) * mi / (np.sqrt(vi / bc2) + 1e-8)

    return step


def cases(torch) -> list[Case]:
    out = []
    configs = [
        ("MLP 32-32-1, batch 16, MSE", [32, 32, 1], 16, False),
        ("MLP 784-256-256-10, batch 128, cross-entropy", [784, 256, 256, 10], 128, True),
    ]
    for label, sizes, batch, classes in configs:
        X, Y = data(batch, sizes[0], sizes[-1], classes)
        impls = {
            "fastdl": fastdl_step(sizes, X, Y, classes),
            "numpy": numpy_step(sizes, X, Y, classes),
        }
        if torch is not None:
            impls["torch"] = torch_step(torch, sizes, X, Y, classes, fused=False)
            impls["torch_fused_adam"] = torch_step(torch, sizes, X, Y, classes, fused=True)
        out.append(Case(f"train step {label}, Adam", impls))
    return out


if __name__ == "__main__":
    args = setup()
    main("nn", "Training step: nn + autograd + Adam (fp32)", cases(try_torch(args.threads)), args)
