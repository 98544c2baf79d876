"""Narrow products against NumPy in float64: outputs of 1..17 columns or rows, matrix-vector,
vector-matrix, on every ISA path (the lanes-along-k dot kernels, the short-row path and the
broadcast kernel they hand over to), with the fused epilogue, and 1 vs 2 threads bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import using_threads

from fastdl import ops

pytestmark = pytest.mark.kernel

DTYPES = (np.float32, np.float64)
WIDTHS = tuple(range(1, 18))  # past every ISA's dot width (AVX-512 fp32: 11)
ACTS = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
}


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _check(got, a, b, bias=None, act=None):
    """|got - act(a@b + bias)| <= 2 (k + 3) eps (|a| @ |b| + |bias|) (act is 1-Lipschitz)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    z = np.matmul(a64, b64)
    bound = np.matmul(np.abs(a64), np.abs(b64))
    if bias is not None:
        z = z + bias
        bound = bound + np.abs(bias)
    ref = ACTS[act](z)
    k = a64.shape[-1]
    eps = np.finfo(got.dtype).eps
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    tol = 2 * (k + 3) * eps * bound + 4 * eps * (act is not None) + np.finfo(np.float64).tiny
    assert np.all(err <= tol), f"max err {err.max()} shape {a.shape} x {b.shape}"


def _views(rng, rows, cols, dtype):
    """(rows, cols) operands: C-contiguous, a transposed view, and a strided view."""
    base = _rand(rng, (2 * rows + 1, 2 * cols + 3), dtype)
    return (
        np.ascontiguousarray(base[:rows, :cols]),
        _rand(rng, (cols, rows), dtype).T,
        base[1::2, ::2][:rows, :cols],
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_widths_all_layouts(isa, dtype):
    """C with n = 1..17 columns (and m = 1..17 rows, the transposed dot path)."""
    rng = np.random.default_rng(20)
    for n, (m, k) in itertools.product(WIDTHS, [(1, 17), (2, 31), (7, 16), (33, 65), (130, 300)]):
        for a, b in itertools.product(_views(rng, m, k, dtype), _views(rng, k, n, dtype)):
            _check(ops.matmul(a, b), a, b)
            _check(ops.matmul(b.T, a.T), b.T, a.T)  # n rows, m columns


@pytest.mark.parametrize("activation", list(ACTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_fused_epilogue(isa, activation, dtype):
    """linear(x, w, b, act) through the dot path, its transposed form and the short path."""
    rng = np.random.default_rng(21)
    for n in WIDTHS:
        for m, k in [(1, 40), (2, 17), (5, 300), (130, 65)]:
            bias = _rand(rng, (n,), dtype)
            for x, w in itertools.product(_views(rng, m, k, dtype)[:2], _views(rng, k, n, dtype)):
                _check(ops.linear(x, w, bias, activation), x, w, bias, activation)
                _check(ops.linear(x, w, None, activation), x, w, None, activation)
            # Few rows against a transposed (d_out, d_in) weight: C^T computed, bias along C's
            # columns, applied chunk by chunk.
            wt = _rand(rng, (300, k), dtype).T
            b300 = _rand(rng, (300,), dtype)
            x = _rand(rng, (min(m, n), k), dtype)
            _check(ops.linear(x, wt, b300, activation), x, wt, b300, activation)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_vector_and_vector_matrix(isa, dtype):
    rng = np.random.default_rng(22)
    for m, k in [(1, 1), (3, 5), (17, 33), (300, 129), (65, 1000)]:
        for a in _views(rng, m, k, dtype):
            vbase = _rand(rng, (2 * k + 1,), dtype)
            for v in (vbase[:k], vbase[::2][:k], vbase[::-2][:k]):
                _check(ops.matmul(a, v), a, v)  # A v
                _check(ops.matmul(v, a.T), v, a.T)  # v A^T: a (k,) @ (k, m)
            u = _rand(rng, (2 * m,), dtype)[::2]
            _check(ops.matmul(u, a), u, a)  # u A: a (m,) @ (m, k)
        # linear with one output column, and a 1-d x.
        x, w, bias = _rand(rng, (m, k), dtype), _rand(rng, (k, 1), dtype), _rand(rng, (1,), dtype)
        _check(ops.linear(x, w, bias, "tanh"), x, w, bias, "tanh")
        _check(ops.linear(np.asfortranarray(x), w, bias, "relu"), x, w, bias, "relu")
        w2 = _rand(rng, (k, 37), dtype)
        b2 = _rand(rng, (37,), dtype)
        _check(ops.linear(x[0], w2, b2, "sigmoid"), x[0], w2, b2, "sigmoid")


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_batched(isa, dtype):
    rng = np.random.default_rng(23)
    for sa, sb in [
        ((3, 40, 70), (3, 70, 5)),  # batch of narrow products, B differs per matrix
        ((2, 3, 40, 70), (70, 10)),  # shared B: folded into one product
        ((4, 70), (3, 1, 70, 4)),  # broadcast A
        ((5, 1, 70), (5, 70, 300)),  # one row each: the short path with batch offsets
        ((5, 300, 70), (70,)),  # batched matrix-vector
        ((70,), (5, 70, 9)),  # vector against a batch
    ]:
        a, b = _rand(rng, sa, dtype), _rand(rng, sb, dtype)
        _check(ops.matmul(a, b), a, b)
        bt = np.ascontiguousarray(np.swapaxes(b, -1, -2)).swapaxes(-1, -2) if b.ndim > 1 else b
        _check(ops.matmul(a, bt), a, bt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_reads_nothing_past_the_operands(isa, dtype):
    """k off the vector width: the k tail must not read the NaNs that follow each row."""
    rng = np.random.default_rng(24)
    for m, k, n in [(9, 19, 3), (40, 33, 10), (5, 7, 1), (3, 45, 16)]:
        abase = np.full((m, k + 16), np.nan, dtype)
        abase[:, :k] = _rand(rng, (m, k), dtype)
        bbase = np.full((k, n + 16), np.nan, dtype)
        bbase[:, :n] = _rand(rng, (k, n), dtype)
        a, b = abase[:, :k], bbase[:, :n]
        got = ops.matmul(a, b)
        assert np.isfinite(got).all()
        _check(got, a, b)
        _check(ops.matmul(b.T, a.T), b.T, a.T)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_threads_bitwise_identical(isa, dtype):
    """Products big enough to be cut into several chunks: same bits for 1 and 2 threads."""
    rng = np.random.default_rng(25)
    cases = []
    for n in (1, 2, 3, 6, 8, 10, 11, 16):
        cases.append((_rand(rng, (2000, 600), dtype), _rand(rng, (600, n), dtype)))
    cases += [
        (_rand(rng, (4, 600), dtype), _rand(rng, (3000, 600), dtype).T),  # transposed dot
        (_rand(rng, (600,), dtype), _rand(rng, (600, 3000), dtype)),  # vector-matrix
        (_rand(rng, (3000, 700), dtype), _rand(rng, (700,), dtype)),  # matrix-vector
        (_rand(rng, (700, 3000), dtype).T, _rand(rng, (700,), dtype)),  # A^T v
        (_rand(rng, (4, 900, 500), dtype), _rand(rng, (4, 500, 7), dtype)),  # batched
    ]
    for a, b in cases:
        bias = _rand(rng, (b.shape[-1],), dtype) if b.ndim == 2 else None
        with using_threads(1):
            one = ops.matmul(a, b)
            lin1 = ops.linear(a, b, bias, "sigmoid") if bias is not None else None
        with using_threads(2):
            two = ops.matmul(a, b)
            lin2 = ops.linear(a, b, bias, "sigmoid") if bias is not None else None
        _check(one, a, b)
        assert one.tobytes() == two.tobytes(), (a.shape, b.shape)
        if lin1 is not None:
            assert lin1.tobytes() == lin2.tobytes(), (a.shape, b.shape)
