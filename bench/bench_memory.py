"""Fresh large outputs with and without fastdl's block cache, in differently laid-out processes.

A training step frees and re-allocates its large outputs every iteration. Without the cache
(``FASTDL_CACHE_BYTES=0``, or the "fastdl_nopool" peer: the same kernels into ``np.empty``
outputs) whether glibc keeps those chunks or gives them back to the OS, to be page-faulted and
zeroed again next step, depends on the heap layout, which the size of the process environment
moves: the same BatchNorm step took 2.5 or 6 ms at (4096, 1024) when the environment grew by
512 bytes. This script runs the same cases in child processes whose environment is padded by 0,
512 and 4096 bytes, with the cache on and off, plus one with the cache on but no
madvise(MADV_HUGEPAGE) on its blocks:

- BatchNorm1d training forward + backward, (4096, 1024) and (65536, 256) float32, fastdl vs
  fastdl_nopool vs PyTorch; GB/s of the 5 * x.nbytes any implementation must move, as a share
  of PERF.md's 36 GB/s DRAM copy bandwidth and of the bandwidth measured here;
- ReLU on 16M float32 elements with a fresh output, fastdl vs NumPy ``np.maximum(x, 0)``.

The measured bandwidth (first child only) is the best of a 256 MiB -> 256 MiB stream through
fastdl's relu into a preallocated output and ``torch.Tensor.copy_``, both with the bench's
threads, counting bytes read + written. Results: ``results/memory.md`` and ``.json``.

Usage: ``python bench/bench_memory.py [--quick] [--threads N] [--only SUBSTR]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from harness import RESULTS, Case, environment, parse_args, run, setup, try_torch

DRAM_GBS = 36.0  # PERF.md: DRAM copy bandwidth of this machine
PADS = (0, 512, 4096)
CONFIGS = (
    [("cache", {}, pad) for pad in PADS]
    + [("FASTDL_CACHE_BYTES=0", {"FASTDL_CACHE_BYTES": "0"}, pad) for pad in PADS]
    + [("cache, no THP", {"FASTDL_BENCH_NO_THP": "1"}, 0)]
)


def child_cases(torch, stream: bool) -> list[Case]:
    from bench_batchnorm import bn_inputs, fastdl_bn, nopool_bn, torch_bn

    from fastdl import ops

    rng = np.random.default_rng(0)
    out = []
    for shape in ((4096, 1024), (65536, 256)):
        x, dy, w, b = bn_inputs(rng, shape)
        c = shape[1]
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        impls = {
            "fastdl": lambda x=x, w=w, b=b, dy=dy, rm=rm, rv=rv: fastdl_bn(x, w, b, dy, rm, rv),
            "fastdl_nopool": nopool_bn(x, w, b, dy),
        }
        if torch is not None:
            impls["torch"] = torch_bn(torch, x, w, b, dy)
        name = "x".join(map(str, shape))
        out.append(Case(f"bn fwd+bwd fp32 {name}", impls, bytes=5 * x.nbytes))
    x = rng.standard_normal(1 << 24, dtype=np.float32)
    relu = {
        "fastdl": lambda: ops.relu(x),
        "fastdl_nopool": lambda: ops.relu(x, out=np.empty_like(x)),
        "numpy": lambda: np.maximum(x, 0),
    }
    if torch is not None:
        tx = torch.from_numpy(x)
        relu["torch"] = lambda: torch.relu(tx)
    out.append(Case("relu fp32 16M fresh output", relu, bytes=2 * x.nbytes))
    if stream:
        big = rng.standard_normal(1 << 26, dtype=np.float32)  # 256 MiB
        dst = np.empty_like(big)
        impls = {"fastdl": lambda: ops.relu(big, out=dst)}
        if torch is not None:
            tb, td = torch.from_numpy(big), torch.from_numpy(dst)
            impls["torch"] = lambda: td.copy_(tb)
        out.append(Case("stream 256 MiB -> 256 MiB (prealloc)", impls, bytes=2 * big.nbytes))
    return out


def child(path: str, argv: list[str]) -> None:
    from fastdl import _core

    if os.environ.get("FASTDL_BENCH_NO_THP"):
        _core._pool_set_hugepages(False)
    stream = "--stream" in argv
    args = setup([a for a in argv if a != "--stream"])
    cases = [c for c in child_cases(try_torch(args.threads), stream) if args.only in c.name]
    rounds = args.rounds or (5 if args.quick else 21)
    rows = run(cases, rounds, 0.005 if args.quick else 0.05, args.settle)
    env_bytes = sum(len(k) + len(v) + 2 for k, v in os.environ.items())
    Path(path).write_text(
        json.dumps(
            {
                "rows": rows,
                "pool": _core._pool_stats(),
                "env_bytes": env_bytes,
                "environment": environment(args.threads),
            }
        )
    )


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def table(results: list[tuple[str, int, dict]], bandwidth: float) -> list[str]:
    lines = [
        "| process | case | fastdl | fastdl_nopool | torch | numpy | fastdl GB/s | % of 36 GB/s"
        f" | % of measured {bandwidth:.1f} GB/s | nopool / fastdl | torch / fastdl"
        " | numpy / fastdl |",
        "|" + "---|" * 12,
    ]

    def ms(row, k):
        v = row["median_s"].get(k)
        return "-" if v is None else f"{v * 1e3:.3f} ms"

    def ratio(row, k):
        v = row["ratios"].get(k)
        return "-" if v is None else f"{v:.2f}x"

    for label, pad, res in results:
        for row in res["rows"]:
            if row["case"].startswith("stream"):
                continue
            gbs = row["throughput"]["fastdl"]
            lines.append(
                f"| {label}, env +{pad} B | {row['case']} | {ms(row, 'fastdl')} | "
                f"{ms(row, 'fastdl_nopool')} | {ms(row, 'torch')} | {ms(row, 'numpy')} | "
                f"{gbs:.1f} | {100 * gbs / DRAM_GBS:.0f}% | {100 * gbs / bandwidth:.0f}% | "
                f"{ratio(row, 'fastdl_nopool')} | {ratio(row, 'torch')} | {ratio(row, 'numpy')} |"
            )
    return lines


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    args = parse_args()
    passthrough = sys.argv[1:]
    here = Path(__file__).resolve().parent
    results = []
    loads = [load()]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, extra, pad) in enumerate(CONFIGS):
            env = {k: v for k, v in os.environ.items() if k != "FASTDL_CACHE_BYTES"}
            env.update(extra)
            if pad:
                env["FASTDL_BENCH_PAD"] = "x" * pad
            out = Path(tmp) / f"{i}.json"
            cmd = [sys.executable, str(here / "bench_memory.py"), "--child", str(out)]
            cmd += passthrough + (["--stream"] if i == 0 else [])
            print(f"## {label}, environment +{pad} B (load {load()})", flush=True)
            subprocess.run(cmd, env=env, check=True)
            results.append((label, pad, json.loads(out.read_text())))
            loads.append(load())
    stream = [r for r in results[0][2]["rows"] if r["case"].startswith("stream")]
    bandwidth = max(stream[0]["throughput"].values()) if stream else DRAM_GBS
    md = [
        "# Fresh large outputs: the block cache on and off, by process layout",
        "",
        f"{args.threads or 'default'} threads; 1-minute load while running: "
        f"{', '.join(loads)}. Each row is one child process (the environment padded by the "
        "given bytes); within a row the implementations ran interleaved. fastdl_nopool = "
        "fastdl's kernels into `np.empty` outputs. GB/s of the bytes any implementation must "
        "move (BatchNorm fwd+bwd 5 * x.nbytes, relu 2 * x.nbytes).",
        "",
    ]
    if stream:
        s = stream[0]
        parts = ", ".join(f"{k} {v:.1f} GB/s" for k, v in s["throughput"].items())
        md += [f"Measured stream bandwidth (256 MiB -> 256 MiB, read + write): {parts}.", ""]
    md += table(results, bandwidth)
    md += ["", "Cache counters at the end of each child (hits / misses):", ""]
    for label, pad, res in results:
        p = res["pool"]
        md.append(
            f"- {label}, env +{pad} B ({res['env_bytes']} B of environment): "
            f"{p['hits']} hits / {p['misses']} misses, enabled={p['enabled']}, "
            f"hugepages={p['hugepages']}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.md").write_text("\n".join(md) + "\n")
    (RESULTS / "memory.json").write_text(
        json.dumps([{"config": c, "pad": p, **r} for c, p, r in results], indent=1)
    )
    print("\n".join(md))


if __name__ == "__main__":
    main()
