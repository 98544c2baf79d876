"""Shared test helpers: ISA paths and thread counts."""

from __future__ import annotations

import contextlib
import os

import pytest

import fastdl
from fastdl import _core

# Kernel tests run once per supported ISA in-process. Under FASTDL_CPU (CI's per-path reruns)
# only that path runs, so each rerun covers its path once instead of repeating them all.
SUPPORTED_ISAS = [i for i in ("baseline", "avx2", "avx512") if _core.isa_supported(i)]
TESTED_ISAS = [_core.current_isa()] if os.environ.get("FASTDL_CPU") else SUPPORTED_ISAS


@contextlib.contextmanager
def using_isa(name: str):
    """Temporarily run kernels on one instruction-set path."""
    before = _core.current_isa()
    _core.set_isa(name)
    try:
        yield
    finally:
        _core.set_isa(before)


@contextlib.contextmanager
def using_threads(n: int):
    """Temporarily set fastdl's thread count."""
    before = fastdl.get_num_threads()
    fastdl.set_num_threads(n)
    try:
        yield
    finally:
        fastdl.set_num_threads(before)


@pytest.fixture(params=TESTED_ISAS)
def isa(request):
    """Run a test once per supported ISA path (in-process switch)."""
    with using_isa(request.param):
        yield request.param
