"""BatchNorm training forward + backward against NumPy and PyTorch (GB/s of bytes moved).

One call = training forward (statistics, output, running-statistics update) + backward
(grad_x, grad_weight, grad_bias), as ``torch.nn.BatchNorm1d`` in training mode followed by
``torch.autograd.grad``. Bytes counted are the minimum any implementation must move between
memory and the core: the forward reads x and writes y, the backward reads x and grad and writes
grad_x, i.e. 5 * x.nbytes (2 * x.nbytes for the forward-only cases). fastdl's two passes per
direction read x (and grad) twice; the second reads hit L3 only when the arrays fit, so at
DRAM sizes its real traffic is ~8 * x.nbytes (outputs of 16 MiB or more are streamed, without
a read-for-ownership).

Every implementation allocates y and grad_x afresh on each call, as a training step does.
fastdl's outputs come from its block cache (``fastdl.memory_stats``), so from the second step on
they are memory that is already mapped. Peers for the large 2-d shapes isolate that:
"fastdl_nopool" calls the same kernels into ``np.empty`` outputs (fastdl before the cache, or
with ``FASTDL_CACHE_BYTES=0``): glibc hands freed chunks above its mmap threshold back to the
OS and trims the heap top, so each step may page-fault and zero its outputs again (~5-7 ms per
64 MiB), depending on the heap layout; "fastdl_prealloc" writes into preallocated outputs,
the kernels' own GB/s. ``bench_memory.py`` runs these in processes with differently sized
environments (which move the heap layout) and with the cache on and off.
"""

from __future__ import annotations

import numpy as np
from harness import Case, main, setup, try_torch

from fastdl import _core, ops

EPS = 1e-5


def numpy_bn(x, w, b, dy, rm, rv, momentum=0.1):
    """The textbook formulas in NumPy (reduce over axes 0 and 2), the reference peer."""
    axes = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    invstd = 1.0 / np.sqrt(var + EPS)
    xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
    y = xhat * w.reshape(shape) + b.reshape(shape)
    rm *= 1 - momentum
    rm += momentum * mean
    rv *= 1 - momentum
    rv += momentum * var * (m / (m - 1))
    db = dy.sum(axis=axes)
    dw = (dy * xhat).sum(axis=axes)
    k = (w * invstd / m).reshape(shape)
    dx = k * (m * dy - db.reshape(shape) - xhat * dw.reshape(shape))
    return y, dx, dw, db


def bn_inputs(rng, shape):
    """x, dy, weight, bias in float32 for a BatchNorm fwd+bwd case of this shape."""
    x = rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5
    dy = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal(shape[1], dtype=np.float32)
    b = rng.standard_normal(shape[1], dtype=np.float32)
    return x, dy, w, b


def torch_bn(torch, x, w, b, dy):
    """A call running torch's BatchNorm1d forward + backward (input, weight and bias grads)."""
    bn = torch.nn.BatchNorm1d(x.shape[1], eps=EPS)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(w))
        bn.bias.copy_(torch.from_numpy(b))
    tx = torch.from_numpy(x).requires_grad_(True)
    tdy = torch.from_numpy(dy)
    params = (tx, bn.weight, bn.bias)
    return lambda: torch.autograd.grad(bn(tx), params, tdy)


def fastdl_bn(x, w, b, dy, rm, rv):
    y, mean, invstd = ops.batch_norm_forward(x, w, b, EPS, running_mean=rm, running_var=rv)
    dx, dw, db = ops.batch_norm_backward(dy, x, mean, invstd, w)
    return y, dx, dw, db


def cases(torch) -> list[Case]:
    out = []
    rng = np.random.default_rng(0)
    for shape in ((4096, 1024), (65536, 256), (128, 64, 512), (64, 32)):
        x, dy, w, b = bn_inputs(rng, shape)
        c = shape[1]
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        rm2, rv2 = rm.copy(), rv.copy()
        impls = {
            "fastdl": lambda x=x, w=w, b=b, dy=dy, rm=rm, rv=rv: fastdl_bn(x, w, b, dy, rm, rv),
            "numpy": lambda x=x, w=w, b=b, dy=dy, rm=rm2, rv=rv2: numpy_bn(x, w, b, dy, rm, rv),
        }
        if torch is not None:
            impls["torch"] = torch_bn(torch, x, w, b, dy)
        big = len(shape) == 2 and shape[0] >= 4096
        if big:
            impls["fastdl_nopool"] = nopool_bn(x, w, b, dy)
            impls["fastdl_prealloc"] = prealloc_bn(x, w, b, dy)
        name = "x".join(str(s) for s in shape)
        out.append(Case(f"bn fwd+bwd fp32 {name}", impls, bytes=5 * x.nbytes))
        if big:
            out.append(forward_case(torch, name, x, w, b, rm.copy(), rv.copy()))
    return out


def nopool_bn(x, w, b, dy):
    """fastdl's forward + backward kernels into fresh np.empty outputs (no block cache)."""
    c = x.shape[1]
    rm, rv = np.zeros(c, x.dtype), np.ones(c, x.dtype)

    def run():
        y = np.empty_like(x)
        mean, invstd = np.empty(c, x.dtype), np.empty(c, x.dtype)
        _core.batch_norm_train(x, w, b, y, mean, invstd, rm, rv, EPS, 0.1)
        dx, dw, db = np.empty_like(x), np.empty(c, x.dtype), np.empty(c, x.dtype)
        _core.batch_norm_backward(dy, x, mean, invstd, w, dx, dw, db, True)
        return y, dx, dw, db

    return run


def prealloc_bn(x, w, b, dy):
    """fastdl's forward + backward kernels into preallocated outputs (no page faults)."""
    c = x.shape[1]
    y, dx = np.empty_like(x), np.empty_like(x)
    mean, invstd, dw, db = (np.empty(c, x.dtype) for _ in range(4))
    rm, rv = np.zeros(c, x.dtype), np.ones(c, x.dtype)

    def run():
        _core.batch_norm_train(x, w, b, y, mean, invstd, rm, rv, EPS, 0.1)
        _core.batch_norm_backward(dy, x, mean, invstd, w, dx, dw, db, True)

    return run


def forward_case(torch, name, x, w, b, rm, rv) -> Case:
    """Training forward alone (statistics, output, running statistics): reads x, writes y."""
    rm2, rv2 = rm.copy(), rv.copy()

    def numpy_fwd():
        mean, var = x.mean(axis=0), x.var(axis=0)
        rm2[:] = 0.9 * rm2 + 0.1 * mean
        rv2[:] = 0.9 * rv2 + 0.1 * var * (x.shape[0] / (x.shape[0] - 1))
        return (x - mean) * (w / np.sqrt(var + EPS)) + b

    impls = {
        "fastdl": lambda: ops.batch_norm_forward(x, w, b, EPS, running_mean=rm, running_var=rv),
        "numpy": numpy_fwd,
    }
    if torch is not None:
        bn = torch.nn.BatchNorm1d(x.shape[1], eps=EPS)
        tx = torch.from_numpy(x)

        def torch_fwd():
            with torch.no_grad():
                return bn(tx)

        impls["torch"] = torch_fwd
    return Case(f"bn fwd fp32 {name}", impls, bytes=2 * x.nbytes)


if __name__ == "__main__":
    args = setup()
    main(
        "batchnorm",
        "BatchNorm training forward + backward (fp32)",
        cases(try_torch(args.threads)),
        args,
    )
