"""Matrix multiplication against NumPy (OpenBLAS) and PyTorch: GFLOP/s, % of peak, ratios.

Cases: square n = 16 .. 2048 in float32 (and 256 .. 2048 in float64), the MLP shapes of a
784-256-10 network with batch 128 forward and backward (x^T dY and dY W^T through transposed
views, as autograd calls them), and the fused linear layer. Every implementation writes into a
preallocated output, so the table compares kernels plus per-call overhead, not allocation.

Run with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for a fair NumPy:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_matmul.py [--threads 1]
Writes bench/results/matmul[_1t].{md,json} and a plot matmul[_1t].png of GFLOP/s against n.
``--narrow`` runs the narrow set instead (outputs of 1..16 columns, matrix-vector, vector-matrix,
tall-skinny A^T B) into matmul_narrow[_1t].*: where a BLAS switches to gemv-like kernels.
With ``--threads 1 --cpu-time`` the calls are timed by the calling thread's CPU time instead of
wall time (every peer then computes in that thread), which stays meaningful on a loaded shared
machine; results go to matmul_1t_cpu.*.
"""

from __future__ import annotations

import os
import sys
import time

import harness
import numpy as np
from harness import RESULTS, Case, main, setup, try_torch

import fastdl
from fastdl import ops

# Measured FMA peak per core, fp32 (fp64 is half): 24 independent zmm FMA chains on one core,
# timed by thread CPU time, ran at 265 GFLOP/s (64 flops/cycle at ~4.15 GHz: the Zen 5 EPYC of
# the bench machine has full-width AVX-512 FMA). PERF.md's 117 was a Zen 4 estimate.
PEAK_FP32_PER_CORE = 265.0

SQUARE_F32 = (16, 32, 48, 64, 96, 128, 256, 512, 1024, 2048)
SQUARE_F64 = (64, 256, 512, 1024, 2048)
# (name, m, k, n, a transposed view, b transposed view): 784-256-10 MLP, batch 128.
MLP = (
    ("fwd x.W1", 128, 784, 256, False, False),
    ("fwd h.W2", 128, 256, 10, False, False),
    ("bwd xT.dY1", 784, 128, 256, True, False),
    ("bwd dY1.W1T", 128, 256, 784, False, True),
    ("bwd hT.dY2", 256, 128, 10, True, False),
    ("bwd dY2.W2T", 128, 10, 256, False, True),
)


# Narrow outputs: (m, k) of A against n = 1..16 columns of B; A read row-major (x W, the
# classifier head) or through .T (h^T dY, the weight gradient of a narrow layer).
NARROW_MK = ((128, 256), (1024, 256), (4096, 1024), (256, 64))
NARROW_N = (1, 2, 3, 4, 5, 8, 10, 16)
# Matrix-vector A b and b^T A (1-d b: NumPy calls sgemv), A row-major or transposed.
GEMV_MK = ((256, 256), (1024, 1024), (4096, 1024), (4096, 64))
# Tall-skinny A^T B: a long batch k reduced into a small m x n (weight gradients).
TALL = ((8, 4096, 256), (10, 4096, 10), (256, 4096, 10), (64, 4096, 64))


def _operand(rng, rows: int, cols: int, dtype, transposed: bool) -> np.ndarray:
    if transposed:  # a (cols, rows) array seen through .T, as backward passes use it
        return rng.standard_normal((cols, rows)).astype(dtype).T
    return rng.standard_normal((rows, cols)).astype(dtype)


def _matmul_case(name: str, a: np.ndarray, b: np.ndarray, torch, note: str = "") -> Case:
    c = np.empty(np.matmul(a, b).shape, a.dtype)  # 1-d operands drop their axis, as in NumPy
    impls = {
        "fastdl": lambda: ops.matmul(a, b, out=c),
        "numpy": lambda: np.matmul(a, b, out=c),
    }
    if torch is not None:
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        if a.ndim == b.ndim == 2:
            impls["torch"] = lambda: torch.matmul(ta, tb, out=tc)
        else:  # torch resizes a 1-d out (with a warning): let it allocate
            impls["torch"] = lambda: torch.matmul(ta, tb)
    m, n = (a.shape[0] if a.ndim == 2 else 1), (b.shape[1] if b.ndim == 2 else 1)
    flops = 2.0 * m * a.shape[-1] * n
    return Case(name, impls, flops=flops, note=note)


def cases(torch) -> list[Case]:
    rng = np.random.default_rng(0)
    out = []
    for n in SQUARE_F32:
        a, b = _operand(rng, n, n, np.float32, False), _operand(rng, n, n, np.float32, False)
        out.append(_matmul_case(f"fp32 n={n}", a, b, torch))
    for n in SQUARE_F64:
        a, b = _operand(rng, n, n, np.float64, False), _operand(rng, n, n, np.float64, False)
        out.append(_matmul_case(f"fp64 n={n}", a, b, torch))
    for name, m, k, n, ta, tb in MLP:
        a = _operand(rng, m, k, np.float32, ta)
        b = _operand(rng, k, n, np.float32, tb)
        out.append(_matmul_case(f"mlp {name} {m}x{k}x{n}", a, b, torch))
    # Fused linear + ReLU against the unfused peers.
    x = rng.standard_normal((128, 784)).astype(np.float32)
    w = rng.standard_normal((784, 256)).astype(np.float32)
    bias = rng.standard_normal(256).astype(np.float32)
    y = np.empty((128, 256), np.float32)
    impls = {
        "fastdl": lambda: ops.linear(x, w, bias, "relu"),
        "numpy": lambda: np.maximum(np.add(np.matmul(x, w, out=y), bias, out=y), 0, out=y),
    }
    if torch is not None:
        tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w.T.copy()), torch.from_numpy(bias)
        impls["torch"] = lambda: torch.relu(torch.nn.functional.linear(tx, tw, tb))
    out.append(Case("linear+relu 128x784x256", impls, flops=2.0 * 128 * 784 * 256))
    return out


def narrow_cases(torch) -> list[Case]:
    rng = np.random.default_rng(1)
    out = []
    f32 = np.float32
    for m, k in NARROW_MK:
        for n in NARROW_N:
            a, b = _operand(rng, m, k, f32, False), _operand(rng, k, n, f32, False)
            out.append(_matmul_case(f"narrow {m}x{k}x{n}", a, b, torch))
    for m, k in NARROW_MK[:2]:
        for n in (1, 4, 10):
            a, b = _operand(rng, m, k, f32, True), _operand(rng, k, n, f32, False)
            out.append(_matmul_case(f"narrow AT {m}x{k}x{n}", a, b, torch))
    for m, k in GEMV_MK:
        for ta in (False, True):
            a, v = _operand(rng, m, k, f32, ta), rng.standard_normal(k).astype(f32)
            out.append(_matmul_case(f"gemv {'AT' if ta else 'A'} {m}x{k} . v", a, v, torch))
        w, u = _operand(rng, k, m, f32, False), rng.standard_normal(k).astype(f32)
        out.append(_matmul_case(f"gevm v . B {k}x{m}", u, w, torch))
    for m, k, n in TALL:
        a, b = _operand(rng, m, k, f32, True), _operand(rng, k, n, f32, False)
        out.append(_matmul_case(f"tall AT {m}x{k}x{n}", a, b, torch))
    return out


def peak_table(rows: list[dict], threads: int) -> str:
    lines = [
        "",
        f"## % of measured FMA peak ({threads} thread(s): fp32 {PEAK_FP32_PER_CORE * threads:.0f}, "
        f"fp64 {PEAK_FP32_PER_CORE * threads / 2:.0f} GFLOP/s)",
        "",
        "Peak: 24 independent zmm FMA chains on one core ran at 265 GFLOP/s fp32 (thread CPU",
        "time; Zen 5, full-width AVX-512), times the thread count.",
        "",
        "| case | fastdl | numpy | torch |",
        "|---|---|---|---|",
    ]
    for r in rows:
        peak = PEAK_FP32_PER_CORE * threads / (2 if r["case"].startswith("fp64") else 1)
        cells = [
            f"{100 * r['throughput'][k] / peak:.0f}%" if k in r["throughput"] else "-"
            for k in ("fastdl", "numpy", "torch")
        ]
        lines.append(f"| {r['case']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(r["case"].startswith(("fp32 n=", "fp64 n=")) for r in rows):
        return  # --only picked no square case: nothing to plot
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for prefix, style in (("fp32 n=", "-"), ("fp64 n=", "--")):
        sq = [r for r in rows if r["case"].startswith(prefix)]
        if not sq:
            continue
        ns = [int(r["case"][len(prefix) :]) for r in sq]
        for impl, color in (("fastdl", "C0"), ("numpy", "C1"), ("torch", "C2")):
            ys = [r["throughput"].get(impl) for r in sq]
            if all(y is not None for y in ys):
                label = f"{impl} {prefix[:4]}"
                ax.plot(ns, ys, style, marker="o", color=color, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n (square n x n x n)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"matmul, {threads} thread(s)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_note(before: tuple, after: tuple) -> str:
    """Machine load: on a shared machine, multi-threaded BLAS ratios depend on it heavily."""
    cpus = os.cpu_count()
    return (
        f"\nLoad average (1 min) {before[0]:.1f} before and {after[0]:.1f} after the run, on "
        f"{cpus} CPUs. Above ~{cpus} the threads of every library are descheduled at random and "
        "multi-threaded times say more about the scheduler than about the kernels.\n"
    )


def _thread_time_calls(fn, number: int) -> float:
    t0 = time.thread_time()
    for _ in range(number):
        fn()
    return (time.thread_time() - t0) / number


if __name__ == "__main__":
    cpu_time = "--cpu-time" in sys.argv
    narrow = "--narrow" in sys.argv
    for flag in ("--cpu-time", "--narrow"):
        if flag in sys.argv:
            sys.argv.remove(flag)
    args = setup()
    name = ("matmul_narrow" if narrow else "matmul") + ("_1t" if args.threads == 1 else "")
    if cpu_time:
        if args.threads != 1:
            raise SystemExit("--cpu-time needs --threads 1 (other threads' time is not counted)")
        harness._time_calls = _thread_time_calls
        name += "_cpu"
    load_before = os.getloadavg()
    title = f"matmul{' narrow' if narrow else ''} ({args.threads} threads"
    title += f"{', thread CPU time' if cpu_time else ''})"
    make = narrow_cases if narrow else cases
    rows = main(name, title, make(try_torch(args.threads)), args)
    md = RESULTS / f"{name}.md"
    md.write_text(
        md.read_text() + peak_table(rows, args.threads) + load_note(load_before, os.getloadavg())
    )
    if rows and not narrow:
        plot(rows, RESULTS / f"{name}.png", args.threads)
        print(f"wrote {RESULTS / (name + '.png')}")
    fastdl.set_num_threads(args.threads)
