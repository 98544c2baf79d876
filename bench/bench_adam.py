"""Fused Adam, SGD and grad_norm against NumPy and PyTorch, in GB/s of the bytes they must move.

Adam moves 28 bytes per float32 parameter: reads p, g, m, v (16), writes p, m, v (12).
Peers: a NumPy implementation with in-place ufuncs (one temporary), PyTorch ``Adam(fused=True)``
(one fused kernel per step) and the for-loop default ``foreach=False``. Every implementation
updates its own copies of the arrays. 16M parameters (256 MB of arrays) stream from DRAM;
1M over 10 tensors stays in L3 and shows the per-call overhead on top of the kernel.
"""

from __future__ import annotations

import math

import numpy as np
from harness import Case, main, setup, try_torch

from fastdl import ops

LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-8


def make_state(sizes, seed=0):
    rng = np.random.default_rng(seed)
    p = [rng.standard_normal(n, dtype=np.float32) for n in sizes]
    g = [rng.standard_normal(n, dtype=np.float32) for n in sizes]
    m = [np.zeros(n, np.float32) for n in sizes]
    v = [np.zeros(n, np.float32) for n in sizes]
    return p, g, m, v


def fastdl_adam(sizes, weight_decay=0.0, decoupled=False):
    p, g, m, v = make_state(sizes)
    state = {"step": 0}

    def run():
        state["step"] += 1
        ops.adam_step(
            p, g, m, v, step=state["step"], lr=LR, beta1=B1, beta2=B2, eps=EPS,
            weight_decay=weight_decay, decoupled=decoupled,
        )  # fmt: skip

    return run


def numpy_adam(sizes, weight_decay=0.0, decoupled=False):
    p, g, m, v = make_state(sizes)
    tmp = [np.empty_like(a) for a in p]
    state = {"step": 0}

    def run():
        state["step"] += 1
        t = state["step"]
        step_size = LR / (1 - B1**t)
        bc2 = math.sqrt(1 - B2**t)
        for pi, gi, mi, vi, ti in zip(p, g, m, v, tmp):
            if decoupled:
                pi *= 1 - LR * weight_decay
            mi *= B1
            np.multiply(gi, 1 - B1, out=ti)
            mi += ti
            vi *= B2
            np.multiply(gi, gi, out=ti)
            ti *= 1 - B2
            vi += ti
            np.sqrt(vi, out=ti)
            ti /= bc2
            ti += EPS
            np.divide(mi, ti, out=ti)
            ti *= step_size
            pi -= ti

    return run


def torch_adam(torch, sizes, fused, weight_decay=0.0, decoupled=False):
    p, g, _, _ = make_state(sizes)
    params = [torch.from_numpy(a).requires_grad_() for a in p]
    for t, gi in zip(params, g):
        t.grad = torch.from_numpy(gi)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    kw = dict(fused=True) if fused else dict(foreach=False)
    opt = cls(params, lr=LR, betas=(B1, B2), eps=EPS, weight_decay=weight_decay, **kw)
    return opt.step


def fastdl_sgd(sizes):
    p, g, m, _ = make_state(sizes)

    def run():
        ops.sgd_step(p, g, m, lr=LR, momentum=0.9, nesterov=True)

    return run


def torch_sgd(torch, sizes, fused):
    p, g, _, _ = make_state(sizes)
    params = [torch.from_numpy(a).requires_grad_() for a in p]
    for t, gi in zip(params, g):
        t.grad = torch.from_numpy(gi)
    kw = dict(fused=True) if fused else dict(foreach=False)
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9, nesterov=True, **kw)
    return opt.step


def cases(torch) -> list[Case]:
    out = []
    layouts = [
        ("16M params, 1 tensor", [1 << 24]),
        ("1M params, 10 tensors", [100_000] * 10),
        ("10 tensors x 8 params (overhead)", [8] * 10),
    ]
    for label, sizes in layouts:
        n = sum(sizes)
        for name, kw in (("adam", {}), ("adamw", dict(weight_decay=0.01, decoupled=True))):
            if name == "adamw" and n < 1_000_000:
                continue
            impls = {"fastdl": fastdl_adam(sizes, **kw)}
            if n >= 1_000_000:
                impls["numpy"] = numpy_adam(sizes, **kw)
            if torch is not None:
                impls["torch_fused"] = torch_adam(torch, sizes, True, **kw)
                impls["torch_loop"] = torch_adam(torch, sizes, False, **kw)
            out.append(Case(f"{name} fp32 {label}", impls, bytes=28 * n))
    for label, sizes in layouts[:2]:
        n = sum(sizes)
        impls = {"fastdl": fastdl_sgd(sizes)}
        if torch is not None:
            impls["torch_fused"] = torch_sgd(torch, sizes, True)
            impls["torch_loop"] = torch_sgd(torch, sizes, False)
        # reads p, g, buf; writes p, buf
        out.append(Case(f"sgd nesterov fp32 {label}", impls, bytes=20 * n))
    for label, sizes in layouts[:2]:
        n = sum(sizes)
        grads = make_state(sizes)[1]
        impls = {
            "fastdl": lambda grads=grads: ops.grad_norm(grads),
            "numpy": lambda grads=grads: math.sqrt(sum(float(np.dot(x, x)) for x in grads)),
        }
        if torch is not None:
            tg = [torch.from_numpy(x) for x in grads]
            impls["torch"] = lambda tg=tg: float(torch.nn.utils.get_total_norm(tg))
        out.append(Case(f"grad_norm fp32 {label}", impls, bytes=4 * n))
    return out


if __name__ == "__main__":
    args = setup()
    main("adam", "Fused optimiser step (fp32)", cases(try_torch(args.threads)), args)
