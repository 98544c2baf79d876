"""No AVX code outside the per-ISA namespaces of the built extension.

The kernel sources are compiled three times (src/cpp/kernels/isa/README.md). If an inline
function or template with external linkage were compiled in both a baseline and an AVX file,
the linker would keep one arbitrary copy for everyone, and a CPU without AVX would crash with
SIGILL in "baseline" code. This disassembles the built fastdl._core and checks that every
function using AVX instructions (VEX/EVEX mnemonics, ymm/zmm/mask registers) belongs to
isa_avx2 or isa_avx512 by its demangled name.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from fastdl import _core

_FUNC = re.compile(r"^[0-9a-f]+ <(.*)>:$")
# AT&T syntax: VEX/EVEX instructions start with "v"; ymm/zmm/opmask registers need AVX.
_AVX = re.compile(r"^v[a-z0-9]+\b|%[yz]mm\d|%k[0-7]\b")
_ISA_NS = ("isa_avx2::", "isa_avx512::")


def avx_outside_isa_namespaces(disassembly: str) -> dict[str, list[str]]:
    """Functions (demangled names) outside the AVX namespaces that contain AVX instructions."""
    bad: dict[str, list[str]] = {}
    func = None
    for line in disassembly.splitlines():
        m = _FUNC.match(line)
        if m:
            func = m.group(1)
            continue
        parts = line.split("\t")
        if func is None or len(parts) < 2:
            continue
        insn = parts[-1].strip()
        if _AVX.search(insn) and not any(ns in func for ns in _ISA_NS):
            bad.setdefault(func, []).append(insn)
    return bad


def functions_using_avx(disassembly: str, namespace: str) -> int:
    funcs, func = set(), None
    for line in disassembly.splitlines():
        m = _FUNC.match(line)
        if m:
            func = m.group(1)
        elif func and namespace in func and _AVX.search(line.split("\t")[-1].strip()):
            funcs.add(func)
    return len(funcs)


def test_checker_flags_avx_outside_the_isa_namespaces():
    text = "\n".join(
        [
            "0000000000001000 <fastdl::isa_baseline::(anonymous namespace)::f(float*)>:",
            "    1000:\tmovaps %xmm0,%xmm1",
            "    1004:\tvaddps %ymm0,%ymm1,%ymm2",
            "0000000000002000 <fastdl::isa_avx512::(anonymous namespace)::f(float*)>:",
            "    2000:\tvaddps %zmm0,%zmm1,%zmm2",
            "0000000000003000 <float std::min<float>(float const&, float const&)>:",
            "    3000:\tvminss %xmm0,%xmm1,%xmm0",
            "0000000000004000 <fastdl::bind::g()>:",
            "    4000:\tkmovw %k1,%eax",
            "    4004:\taddps %xmm0,%xmm1",
        ]
    )
    bad = avx_outside_isa_namespaces(text)
    assert set(bad) == {
        "fastdl::isa_baseline::(anonymous namespace)::f(float*)",
        "float std::min<float>(float const&, float const&)",
        "fastdl::bind::g()",
    }
    assert bad["fastdl::bind::g()"] == ["kmovw %k1,%eax"]


def _disassemble() -> str:
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump not available")
    path = _core.__file__
    syms = subprocess.run([objdump, "-t", path], capture_output=True, text=True, check=True)
    if "isa_baseline" not in syms.stdout:
        pytest.skip(f"{path} has no symbol table (stripped)")
    return subprocess.run(
        [objdump, "-d", "-C", "--no-show-raw-insn", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_built_core_has_avx_only_inside_isa_namespaces():
    if "avx2" not in _core.build_info()["isa_compiled"]:
        pytest.skip("not an x86 build")
    text = _disassemble()
    bad = avx_outside_isa_namespaces(text)
    shown = {f[:160]: insns[:3] for f, insns in list(bad.items())[:10]}
    assert not bad, f"AVX code outside isa_avx2/isa_avx512 (ODR leak?): {shown}"
    # The checker sees the real thing: the AVX builds do contain AVX code.
    assert functions_using_avx(text, "isa_avx2::") > 0
    assert functions_using_avx(text, "isa_avx512::") > 0
