"""One full training step (forward, loss, backward, optimiser step) of small MLPs vs PyTorch.

Peers: PyTorch (eager, default Adam; and with ``fused=True`` Adam) and the same step written
by hand in NumPy (no autograd: the floor for Python + NumPy).
Cases (the targets of the data/training issue): MLP 784-256-256-10 at batch 128 with Adam and
cross-entropy (goal: fastdl <= 0.8x PyTorch's time), and MLP 32-32-1 at batch 16 with Adam and
BCE-with-logits (goal: <= 0.3x PyTorch's time: a small step is all per-call overhead).
The same data batch is reused every step, so the data loader is not part of the measurement.

``--profile`` runs the fastdl steps under cProfile instead and prints where the time goes;
``--phases`` times each phase of a step (zero_grad, forward, loss, backward, optimiser step)
for fastdl and PyTorch, medians over many steps.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from harness import Case, main, setup, try_torch

import fastdl
from fastdl import nn, optim

CASES = [
    # name, layer widths, batch, loss
    ("mlp 784-256-256-10 b128 adam+ce", (784, 256, 256, 10), 128, "ce"),
    ("mlp 32-32-1 b16 adam+bce_logits", (32, 32, 1), 16, "bce"),
]


def _data(widths, batch, loss):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, widths[0]), dtype=np.float32)
    if loss == "ce":
        y = rng.integers(0, widths[-1], size=batch).astype(np.int64)
    else:
        y = rng.integers(0, 2, size=(batch, 1)).astype(np.float32)
    return x, y


def fastdl_step(widths, batch, loss, phases=None):
    """A closure running one fastdl training step (timing each phase into ``phases``)."""
    fastdl.manual_seed(0)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = (fastdl.from_numpy(a) for a in _data(widths, batch, loss))
    F = nn.functional
    lossf = F.cross_entropy if loss == "ce" else F.binary_cross_entropy_with_logits

    return _step(model, opt, lossf, x, y, phases)


def _step(model, opt, lossf, x, y, phases):
    """One step (the same code for both frameworks); with ``phases`` a dict of lists, the time
    of each phase is appended to it."""
    if phases is None:

        def step():
            opt.zero_grad()
            out = lossf(model(x), y)
            out.backward()
            opt.step()

        return step
    clock = time.perf_counter

    def timed_step():
        t0 = clock()
        opt.zero_grad()
        t1 = clock()
        z = model(x)
        t2 = clock()
        out = lossf(z, y)
        t3 = clock()
        out.backward()
        t4 = clock()
        opt.step()
        t5 = clock()
        for k, a, b in zip(PHASES, (t0, t1, t2, t3, t4, t0), (t1, t2, t3, t4, t5, t5)):
            phases[k].append(b - a)

    return timed_step


PHASES = ("zero_grad", "forward", "loss", "backward", "step", "total")


def torch_step(torch, widths, batch, loss, phases=None, fused=False):
    """The same step in PyTorch (default Adam as a user would write it, or ``fused=True``)."""
    torch.manual_seed(0)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    x, y = (torch.from_numpy(a) for a in _data(widths, batch, loss))
    lossf = (
        torch.nn.functional.cross_entropy
        if loss == "ce"
        else torch.nn.functional.binary_cross_entropy_with_logits
    )
    return _step(model, opt, lossf, x, y, phases)


def numpy_step(widths, batch, loss):
    """The same step written by hand in NumPy: the floor for a Python-level implementation
    (no graph, no checks, every backward formula inlined)."""
    rng = np.random.default_rng(0)
    ws = [
        (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        for a, b in zip(widths[:-1], widths[1:])
    ]
    bs = [np.zeros(b, np.float32) for b in widths[1:]]
    params = [p for pair in zip(ws, bs) for p in pair]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    x, y = _data(widths, batch, loss)
    t = [0]
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8

    def step():
        hs = [x]
        for i, (w, b) in enumerate(zip(ws, bs)):
            z = hs[-1] @ w + b
            hs.append(np.maximum(z, 0) if i < len(ws) - 1 else z)
        z = hs[-1]
        if loss == "ce":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            _ = -np.log(p[np.arange(batch), y]).mean()
            g = p
            g[np.arange(batch), y] -= 1
            g /= batch
        else:
            _ = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean()
            g = (1 / (1 + np.exp(-z)) - y) / z.size
        grads = []
        for i in range(len(ws) - 1, -1, -1):
            grads.append(g.sum(axis=0))
            grads.append(hs[i].T @ g)
            if i:
                g = (g @ ws[i].T) * (hs[i] > 0)
        grads.reverse()  # [w0, b0, w1, b1, ...]
        t[0] += 1
        c1, c2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
        for p, gr, mi, vi in zip(params, grads, m, v):
            mi *= b1
            mi += (1 - b1) * gr
            vi *= b2
            vi += (1 - b2) * gr * gr
            p -= lr / c1 * mi / (np.sqrt(vi / c2) + eps)

    return step


def cases(torch) -> list[Case]:
    out = []
    for name, widths, batch, loss in CASES:
        impls = {
            "fastdl": fastdl_step(widths, batch, loss),
            "numpy": numpy_step(widths, batch, loss),
        }
        if torch is not None:
            impls["torch"] = torch_step(torch, widths, batch, loss)
            impls["torch_fused_adam"] = torch_step(torch, widths, batch, loss, fused=True)
        flops = 6 * batch * sum(a * b for a, b in zip(widths[:-1], widths[1:]))
        out.append(Case(name, impls, flops=flops))
    return out


def profile(n_steps: int = 2000) -> None:
    import cProfile
    import pstats

    for name, widths, batch, loss in CASES:
        step = fastdl_step(widths, batch, loss)
        for _ in range(20):
            step()
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(n_steps):
            step()
        pr.disable()
        print(f"\n### {name}: {n_steps} steps")
        pstats.Stats(pr, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def phase_times(torch, n_steps: int = 400) -> None:
    """Median time of each phase of a step, fastdl and PyTorch run alternately in blocks."""
    for name, widths, batch, loss in CASES:
        rows = {"fastdl": {k: [] for k in PHASES}}
        steps = {"fastdl": fastdl_step(widths, batch, loss, rows["fastdl"])}
        if torch is not None:
            rows["torch"] = {k: [] for k in PHASES}
            steps["torch"] = torch_step(torch, widths, batch, loss, rows["torch"])
        for impl in steps:
            for _ in range(20):  # warm-up, not recorded
                steps[impl]()
            for v in rows[impl].values():
                v.clear()
        for _ in range(10):
            for step in steps.values():
                time.sleep(0.15)  # as the harness: a peer's spinning pool is not timed
                for _ in range(n_steps // 10):
                    step()
        print(f"\n### {name}: median per phase over {n_steps} steps")
        print("| phase | " + " | ".join(rows) + " |")
        print("|---|" + "---|" * len(rows))
        for k in PHASES:
            cells = [f"{statistics.median(rows[i][k]) * 1e6:.1f} us" for i in rows]
            print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if "--phases" in sys.argv:
        sys.argv.remove("--phases")
        args = setup()
        phase_times(try_torch(args.threads))
    elif "--profile" in sys.argv:
        sys.argv.remove("--profile")
        setup()
        profile()
    else:
        args = setup()
        main("train_step", "One training step (fp32)", cases(try_torch(args.threads)), args)
