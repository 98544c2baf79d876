"""One benchmark harness for every kernel: fastdl and its peers interleaved in one process.

A bench script builds a list of :class:`Case` and calls :func:`main`. For each case every
implementation is warmed up, then timed in rounds; within a round the implementations run one
after another, so drift on a shared machine hits them alike. Each sample repeats the call
enough times to last ~``min_sample`` seconds. Before each sample of a case with several
implementations the harness sleeps ``settle`` seconds: a peer's thread pool keeps spinning after
its last call (OpenBLAS's workers for ~0.1 s), and a sample started inside that window measures
the contention, not the implementation (fastdl's 2-thread matmul read 0.5-0.65x NumPy that way,
1.0x settled). Each library is timed as it runs when it has the machine; mixing them call by
call is measured on its own in ``bench_threads.py``. Reported: the median time per call, throughput
(GFLOP/s from ``flops`` or GB/s from ``bytes``), and each peer's median over fastdl's (above 1
means fastdl is faster). Results go to ``bench/results/<name>.json`` and ``.md``.

Usage of any bench script: ``python bench/bench_X.py [--quick] [--threads N] [--only SUBSTR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

RESULTS = Path(__file__).resolve().parent / "results"

# fastdl and torch share one libgomp in a process (torch's lib/libgomp.so.1 has the system
# library's soname): whichever loads first reads the environment once, for both. A bench script
# imports fastdl first, so its GOMP_SPINCOUNT=1000 (fastdl/_threadenv.py) is in force, as in any
# process that uses fastdl; torch then runs with that short spin too, which slows its
# multi-threaded ops against a torch-only process (BatchNorm fwd+bwd 4096x1024: 6.3-7.0 ms
# instead of 4.8-5.2). BENCH_TORCH_FIRST=1 loads torch here instead, before fastdl: both run
# with libgomp's default (long) spin, torch's own condition, and fastdl's is not in force
# (bench_threads.py then reads ~15x instead of ~1.2x).
TORCH_FIRST = os.environ.get("BENCH_TORCH_FIRST") == "1"
if TORCH_FIRST:
    import torch  # noqa: F401  (loaded here for its libgomp; try_torch finds it imported)


@dataclasses.dataclass
class Case:
    """One benchmark point: implementations by name ("fastdl" first), and the work per call."""

    name: str
    impls: dict[str, Callable[[], object]]
    flops: Optional[float] = None  # floating-point operations per call -> GFLOP/s
    bytes: Optional[float] = None  # bytes the kernel must move per call -> GB/s
    note: str = ""


def try_torch(threads: int):
    """PyTorch if installed (same thread count as fastdl), else None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _time_calls(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def measure(
    impls: dict[str, Callable[[], object]], rounds: int, min_sample: float, settle: float = 0.0
) -> dict[str, list[float]]:
    """Interleaved timing: returns seconds per call, one entry per round, for each impl."""
    if len(impls) < 2:
        settle = 0.0  # nobody else's pool to wait out
    numbers = {}
    for name, fn in impls.items():
        fn()  # warm-up (allocations, page faults, lazy init)
        number, t = 1, _time_calls(fn, 1)
        while t * number < min_sample and number < 1_000_000:
            number *= 2 if t * number * 10 > min_sample else 10
        numbers[name] = number
        _time_calls(fn, number)
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            time.sleep(settle)
            samples[name].append(_time_calls(fn, numbers[name]))
    return samples


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.2f} us"
    if s < 1:
        return f"{s * 1e3:.3f} ms"
    return f"{s:.3f} s"


def run(cases: list[Case], rounds: int, min_sample: float, settle: float = 0.0) -> list[dict]:
    rows = []
    for case in cases:
        samples = measure(case.impls, rounds, min_sample, settle)
        med = {k: statistics.median(v) for k, v in samples.items()}
        base = med.get("fastdl")
        row = {
            "case": case.name,
            "note": case.note,
            "median_s": med,
            "ratios": {},
            "throughput": {},
        }
        for k, m in med.items():
            if case.flops:
                row["throughput"][k] = case.flops / m / 1e9
            elif case.bytes:
                row["throughput"][k] = case.bytes / m / 1e9
            if base and k != "fastdl":
                row["ratios"][k] = m / base
        row["unit"] = "GFLOP/s" if case.flops else ("GB/s" if case.bytes else "")
        rows.append(row)
        parts = [f"{k} {_fmt_time(m)}" for k, m in med.items()]
        ratios = [f"{k}/fastdl {r:.2f}x" for k, r in row["ratios"].items()]
        print(
            f"{case.name:<40} " + "  ".join(parts) + ("  |  " + "  ".join(ratios) if ratios else "")
        )
        sys.stdout.flush()
    return rows


def markdown(rows: list[dict], title: str) -> str:
    impls: list[str] = []
    for r in rows:
        for k in r["median_s"]:
            if k not in impls:
                impls.append(k)
    head = ["case"] + [f"{k} time" for k in impls]
    if any(r["unit"] for r in rows):
        head += [f"{k} throughput" for k in impls]
    peers = [k for k in impls if k != "fastdl"]
    head += [f"{p} / fastdl" for p in peers]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"] + (f" ({r['note']})" if r["note"] else "")]
        cells += [_fmt_time(r["median_s"][k]) if k in r["median_s"] else "-" for k in impls]
        if any(x["unit"] for x in rows):
            cells += [
                f"{r['throughput'][k]:.1f} {r['unit']}" if k in r["throughput"] else "-"
                for k in impls
            ]
        cells += [f"{r['ratios'][p]:.2f}x" if p in r["ratios"] else "-" for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Ratios are the peer's median time over fastdl's: above 1.00x fastdl is faster.")
    return "\n".join(lines) + "\n"


def environment(threads: int) -> dict:
    import numpy as np

    import fastdl

    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastdl": fastdl.config(),
        "threads": threads,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        import torch

        env["torch"] = torch.__version__
        env["libgomp_loaded_by"] = "torch" if TORCH_FIRST else "fastdl"
    except ImportError:
        env["torch"] = None
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
    except ImportError:
        pass
    return env


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="few rounds, short samples")
    p.add_argument("--threads", type=int, default=None, help="threads for fastdl and peers")
    p.add_argument("--only", default="", help="run only cases whose name contains this")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument(
        "--settle",
        type=float,
        default=0.15,
        help="seconds of sleep before each sample, so the previous peer's spinning pool idles",
    )
    return p.parse_args(argv)


def setup(argv=None) -> argparse.Namespace:
    """Parse the common flags and set the thread count of fastdl (and NumPy's BLAS)."""
    args = parse_args(argv)
    import fastdl

    if args.threads:
        fastdl.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:
            pass
    args.threads = fastdl.get_num_threads()
    return args


def main(name: str, title: str, cases: list[Case], args: argparse.Namespace) -> list[dict]:
    """Run the cases and write bench/results/<name>.json and .md."""
    cases = [c for c in cases if args.only in c.name]
    rounds = args.rounds or (5 if args.quick else 21)
    min_sample = 0.005 if args.quick else 0.05
    print(f"# {title} ({args.threads} threads, {rounds} rounds, settle {args.settle} s)")
    rows = run(cases, rounds, min_sample, args.settle)
    RESULTS.mkdir(exist_ok=True)
    out = {"title": title, "environment": environment(args.threads), "rows": rows}
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=1))
    (RESULTS / f"{name}.md").write_text(markdown(rows, title))
    print(f"wrote {RESULTS / (name + '.md')}")
    return rows
