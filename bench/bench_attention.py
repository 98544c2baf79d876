"""Fused attention (float32) against PyTorch's scaled_dot_product_attention and naive NumPy.

Cases: forward alone and forward+backward at (B, H, T, D) = (8, 8, 128, 64), (4, 8, 512, 64),
(1, 8, 2048, 64). GFLOP/s count the matrix products only: 4 B H T^2 D for the forward and
12 B H T^2 D for forward+backward (the backward's recomputation of the scores not counted).

Then a memory check at T = 16384 (B = H = 1, D = 64), in a fresh subprocess: the peak resident
memory added by forward+backward (VmHWM after a reset, minus VmRSS before; includes the
outputs) against the size of the inputs and of one T x T float32 matrix (1 GiB), which the
kernel never allocates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from harness import RESULTS, Case, main, setup, try_torch

from fastdl import ops

SHAPES = [(8, 8, 128, 64), (4, 8, 512, 64), (1, 8, 2048, 64)]


def naive_forward(q, k, v, scale):
    s = np.matmul(q, k.swapaxes(-1, -2))
    s *= scale
    s -= s.max(-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(-1, keepdims=True)
    return np.matmul(s, v), s


def naive_forward_backward(q, k, v, g, scale):
    out, p = naive_forward(q, k, v, scale)
    dv = np.matmul(p.swapaxes(-1, -2), g)
    dp = np.matmul(g, v.swapaxes(-1, -2))
    dp -= (dp * p).sum(-1, keepdims=True)
    dp *= p
    dp *= scale
    dq = np.matmul(dp, k)
    dk = np.matmul(dp.swapaxes(-1, -2), q)
    return out, dq, dk, dv


def fastdl_forward_backward(q, k, v, g):
    out, lse = ops.attention_forward(q, k, v)
    return ops.attention_backward(g, q, k, v, out, lse)


def cases(torch) -> list[Case]:
    out = []
    for b, h, t, d in SHAPES:
        rng = np.random.default_rng(0)
        q, k, v, g = (rng.standard_normal((b, h, t, d), dtype=np.float32) for _ in range(4))
        scale = 1 / np.sqrt(d)
        fwd = {
            "fastdl": lambda q=q, k=k, v=v: ops.attention(q, k, v),
            "numpy": lambda q=q, k=k, v=v, s=scale: naive_forward(q, k, v, s),
        }
        fb = {
            "fastdl": lambda q=q, k=k, v=v, g=g: fastdl_forward_backward(q, k, v, g),
            "numpy": lambda q=q, k=k, v=v, g=g, s=scale: naive_forward_backward(q, k, v, g, s),
        }
        if torch is not None:
            sdpa = torch.nn.functional.scaled_dot_product_attention
            tq, tk, tv = (torch.from_numpy(x).requires_grad_() for x in (q, k, v))
            tg = torch.from_numpy(g)

            def torch_fwd(tq=tq, tk=tk, tv=tv, sdpa=sdpa):
                with torch.no_grad():
                    return sdpa(tq, tk, tv)

            def torch_fb(tq=tq, tk=tk, tv=tv, tg=tg, sdpa=sdpa):
                for x in (tq, tk, tv):
                    x.grad = None
                sdpa(tq, tk, tv).backward(tg)

            fwd["torch"] = torch_fwd
            fb["torch"] = torch_fb
        flops = b * h * t * t * d
        name = f"B{b} H{h} T{t} D{d}"
        out.append(Case(f"fwd {name}", fwd, flops=4 * flops))
        out.append(Case(f"fwd+bwd {name}", fb, flops=12 * flops))
    return out


MEMORY_PROBE = r"""
import json, sys, time
import numpy as np
import fastdl
from fastdl import ops
fastdl.set_num_threads(int(sys.argv[2]))
t, d = int(sys.argv[1]), 64
rng = np.random.default_rng(0)
q, k, v, g = (rng.standard_normal((1, 1, t, d), dtype=np.float32) for _ in range(4))
ops.attention(q[..., :64, :], k[..., :64, :], v[..., :64, :])  # load and warm up at small size
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
before = status("VmRSS")
t0 = time.perf_counter()
out, lse = ops.attention_forward(q, k, v)
dq, dk, dv = ops.attention_backward(g, q, k, v, out, lse)
seconds = time.perf_counter() - t0
after = status("VmHWM")
print(json.dumps({"t": t, "seconds": seconds, "peak_extra_bytes": after - before,
                  "input_bytes": 4 * q.nbytes, "output_bytes": 4 * q.nbytes + lse.nbytes,
                  "finite": bool(np.isfinite(dq).all())}))
"""


def memory_check(threads: int, t: int = 16384) -> str:
    res = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(t), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(res.stdout.strip().splitlines()[-1])
    mib = 1 << 20
    square = t * t * 4
    line = (
        f"T={t} B=1 H=1 D=64 fwd+bwd: {r['seconds'] * 1e3:.0f} ms, peak extra memory "
        f"{r['peak_extra_bytes'] / mib:.1f} MiB (outputs {r['output_bytes'] / mib:.1f} MiB, "
        f"inputs {r['input_bytes'] / mib:.1f} MiB; one T x T float32 matrix would be "
        f"{square / mib:.0f} MiB), gradients finite: {r['finite']}"
    )
    print(line)
    return line


if __name__ == "__main__":
    args = setup()
    torch = try_torch(args.threads)
    main("attention", "Fused attention, float32", cases(torch), args)
    if not args.only or "memory" in args.only:
        line = memory_check(args.threads)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        md = RESULTS / "attention.md"
        md.write_text(
            md.read_text()
            + f"\n## Memory\n\n{line}\n\nLoad average at the end (1/5/15 min): {load} "
            "on 2 cores; absolute times scale with it, the interleaved ratios much less.\n"
        )
