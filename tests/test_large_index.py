"""Sizes beyond 2**31 elements are indexed with 64-bit integers.

Running every kernel on 2**31 elements would need tens of GB. Two checks instead:
- every size, count and stride a kernel table takes is int64_t (a static check of the
  headers in src/cpp/kernels/: a 32-bit size parameter is where truncation would start);
- one real kernel call over 2**31 + 2**20 float32 elements that costs no memory: np.zeros
  of that size is calloc'd pages that all map the kernel's zero page until written, and
  grad_norm only reads them. A 32-bit index would miss or wrap past element 2**31.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import fastdl
from fastdl import ops

ROOT = Path(__file__).resolve().parent.parent
KERNEL_HEADERS = sorted((ROOT / "src" / "cpp" / "kernels").glob("*.h"))

# Parameter types allowed in kernel tables besides 64-bit integers and pointers.
_FNPTR = re.compile(r"\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)", re.S)
_NARROW = re.compile(r"^(const\s+)?(unsigned|int|long|short|int32_t|uint32_t|int16_t|int8_t)\b")


def narrow_size_parameters(header_text: str) -> list[str]:
    """Kernel-table entries with a parameter of a 32-bit (or narrower) integer type."""
    bad = []
    text = re.sub(r"//[^\n]*", "", header_text)
    for name, params in _FNPTR.findall(text):
        for p in params.split(","):
            p = " ".join(p.split())
            if p and "*" not in p and _NARROW.match(p):
                bad.append(f"{name}: {p}")
    return bad


def test_checker_flags_narrow_sizes():
    text = """
        struct K {
          void (*ok)(Act act, const float* x, float* y, int64_t n, bool flag);
          void (*bad)(const float* x, int n,
                      unsigned stride);  // a comment (int m)
          void (*also_bad)(const double* x, long n, const int c);
        };
    """
    assert narrow_size_parameters(text) == [
        "bad: int n",
        "bad: unsigned stride",
        "also_bad: long n",
        "also_bad: const int c",
    ]


@pytest.mark.skipif(not KERNEL_HEADERS, reason="source tree not available")
@pytest.mark.parametrize("header", KERNEL_HEADERS, ids=lambda p: p.name)
def test_kernel_tables_take_64_bit_sizes(header):
    assert narrow_size_parameters(header.read_text()) == []


@pytest.mark.skipif(
    fastdl.config()["sanitize"], reason="ASan shadows (and may touch) every allocated byte"
)
def test_grad_norm_beyond_two_to_the_31_elements():
    n = 2**31 + 2**20
    try:
        a = np.zeros(n, np.float32)  # virtual: untouched pages cost nothing
    except MemoryError:
        pytest.skip("cannot reserve 8.6 GB of address space")
    # Values only past 2**31: a wrapped or truncated index reads zeros instead.
    a[2**31 + 5] = 3.0
    a[n - 1] = -4.0
    assert ops.grad_norm([a], "inf") == 4.0
    assert ops.grad_norm([a], 1.0) == 7.0
