"""Softmax / log-softmax kernels against NumPy float64 on every ISA path."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import using_threads

from fastdl import _core, ops

pytestmark = pytest.mark.kernel

TOL = {np.float32: 2e-6, np.float64: 1e-13}
SHAPES_AXES = [
    ((1,), -1),
    ((7,), 0),
    ((3, 1), -1),
    ((5, 33), -1),
    ((4, 129), 1),
    ((2, 1000), -1),
    ((3, 17, 5), 1),
    ((3, 17, 5), 0),
    ((2, 3, 300), -2),
    ((4, 5, 6, 7), 2),
    ((2, 3), 0),
    # Short rows take the transposed-block path (n <= 32; backward n <= 12), blocks of 64 rows.
    ((65, 10), -1),
    ((130, 3), -1),
    ((64, 12), -1),
    ((70, 13), -1),
    ((9, 32), -1),
    ((4, 7, 1), -1),
]


def ref_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
def test_forward_matches_numpy(isa, dtype, shape, axis):
    rng = np.random.default_rng(hash((shape, axis)) % 2**32)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    y = ops.softmax(x, axis=axis)
    ly = ops.log_softmax(x, axis=axis)
    assert y.dtype == dtype and ly.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y, ref_softmax(x, axis), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(ly, ref_log_softmax(x, axis), rtol=TOL[dtype], atol=4 * TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
def test_backward_matches_numpy(isa, dtype, shape, axis):
    rng = np.random.default_rng(1 + hash((shape, axis)) % 2**32)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    y = ops.softmax(x, axis=axis)
    ly = ops.log_softmax(x, axis=axis)
    y64, g64 = ref_softmax(x, axis), g.astype(np.float64)
    want = y64 * (g64 - (g64 * y64).sum(axis=axis, keepdims=True))
    want_log = g64 - y64 * g64.sum(axis=axis, keepdims=True)
    tol = 10 * TOL[dtype]
    np.testing.assert_allclose(ops.softmax_backward(g, y, axis=axis), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        ops.log_softmax_backward(g, ly, axis=axis), want_log, rtol=tol, atol=tol
    )


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("axis", [0, 1])
def test_backward_matches_finite_differences(log, axis):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    g = rng.standard_normal((4, 5))
    f = ops.log_softmax if log else ops.softmax
    bwd = ops.log_softmax_backward if log else ops.softmax_backward
    got = bwd(g, f(x, axis=axis), axis=axis)
    eps = 1e-6
    num = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = ((f(xp, axis=axis) - f(xm, axis=axis)) * g).sum() / (2 * eps)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_at_large_logits(isa, dtype):
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    y = ops.softmax(x)
    ly = ops.log_softmax(x)
    assert np.isfinite(y).all() and np.isfinite(ly).all()
    np.testing.assert_allclose(y, ref_softmax(x, -1), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ly, ref_log_softmax(x, -1), rtol=1e-6)
    yc = ops.softmax(x.T.copy(), axis=0)
    np.testing.assert_allclose(yc, y.T, rtol=1e-6)


def test_nan_propagates_per_row():
    x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]])
    y = ops.softmax(x)
    assert np.isnan(y[0]).all()
    np.testing.assert_allclose(y[1], ref_softmax(x[1], -1))


def test_zero_d_and_empty():
    assert float(ops.softmax(np.float64(3.0))) == 1.0
    assert float(ops.log_softmax(np.float32(3.0))) == 0.0
    assert ops.softmax(np.zeros((0, 4), np.float32)).shape == (0, 4)
    assert ops.softmax(np.zeros((3, 0)), axis=1).shape == (3, 0)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 9, 11)).astype(np.float32)
    for axis in (0, 1, 2):
        tx = torch.from_numpy(x)
        np.testing.assert_allclose(
            ops.softmax(x, axis), torch.softmax(tx, axis).numpy(), rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(
            ops.log_softmax(x, axis), torch.log_softmax(tx, axis).numpy(), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(
    "shape,axis",
    [((300, 1000), -1), ((40, 300, 50), 1), ((7, 70001), 1), ((100003, 10), -1), ((50001, 12), 1)],
)
def test_threads_bitwise(isa, shape, axis):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    results = []
    for n in (1, 2):
        with using_threads(n):
            y = ops.softmax(x, axis)
            ly = ops.log_softmax(x, axis)
            results.append(
                (y, ly, ops.softmax_backward(g, y, axis), ops.log_softmax_backward(g, ly, axis))
            )
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_out_and_in_place():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 6))
    want = ref_softmax(x, 0)
    out = np.empty_like(x)
    assert ops.softmax(x, 0, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-13)
    xi = x.copy()
    ops.log_softmax(xi, 1, out=xi)
    np.testing.assert_allclose(xi, ref_log_softmax(x, 1), rtol=1e-13, atol=1e-14)
    g = rng.standard_normal((5, 6))
    y = ops.softmax(x)
    want_g = ops.softmax_backward(g, y)
    ops.softmax_backward(g, y, out=g)
    np.testing.assert_array_equal(g, want_g)


def test_non_contiguous_and_promotion():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 6))
    np.testing.assert_allclose(ops.softmax(x.T), ref_softmax(x.T, -1), rtol=1e-13)
    assert ops.softmax(np.arange(4)).dtype == np.float64
    assert ops.softmax(np.arange(4, dtype=np.int8)).dtype == np.float32
    assert ops.softmax([1.0, 2.0]).dtype == np.float64  # as np.asarray


def test_bad_input():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"softmax\(\): argument 'axis' must be in \[-2, 1\]"):
        ops.softmax(x, axis=2)
    with pytest.raises(TypeError, match="axis"):
        ops.log_softmax(x, axis=1.5)
    with pytest.raises(TypeError, match="'x'"):
        ops.softmax(None)
    with pytest.raises(TypeError, match="complex"):
        ops.softmax(np.zeros(3, np.complex64))
    with pytest.raises(
        ValueError, match=r"'y' must have the shape of 'grad' \(3, 5\), got \(3, 4\)"
    ):
        ops.softmax_backward(np.zeros((3, 5)), x)
    with pytest.raises(ValueError, match="'out' must have shape"):
        ops.softmax(x, out=np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="'out' must have dtype"):
        ops.softmax(x, out=np.empty((3, 4)))
    with pytest.raises(ValueError, match="out of bounds"):
        _core.softmax_forward(False, x, np.empty_like(x), 5)
    with pytest.raises(TypeError, match="dtype"):
        _core.softmax_forward(False, x.astype(np.int32), np.empty_like(x), 0)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.softmax_forward(False, x.T, np.empty((4, 3), np.float32), 0)


def test_core_rejects_partial_overlap_and_allows_exact_in_place():
    # The Python layer routes a partially overlapping out through a temporary; _core called
    # directly writes straight into out, so it must refuse (a result that depends on the order
    # the kernel visits elements), while exactly in place stays allowed.
    rng = np.random.default_rng(10)
    buf = rng.standard_normal(5 * 6 + 6)
    x = buf[:30].reshape(5, 6)
    shifted = buf[6:36].reshape(5, 6)  # overlaps x by four rows
    for log in (False, True):
        with pytest.raises(ValueError, match=r"softmax_forward|softmax\(\).*'out'.*'x'"):
            _core.softmax_forward(log, x, shifted, 1)
        want = (ops.log_softmax if log else ops.softmax)(x.copy(), 1)
        xi = x.copy()
        _core.softmax_forward(log, xi, xi, 1)
        np.testing.assert_allclose(xi, want, rtol=1e-13, atol=1e-14)
    y = ops.softmax(rng.standard_normal((5, 6)))
    g = buf[:30].reshape(5, 6)
    want = ops.softmax_backward(g.copy(), y)
    with pytest.raises(ValueError, match=r"'out'.*'grad'"):
        _core.softmax_backward(False, g, y, shifted, 1)
    ybuf = np.concatenate([y.ravel(), np.zeros(6)])
    with pytest.raises(ValueError, match=r"'out'.*'y'"):
        _core.softmax_backward(False, g.copy(), ybuf[:30].reshape(5, 6), ybuf[6:].reshape(5, 6), 1)
    gi = g.copy()
    _core.softmax_backward(False, gi, y, gi, 1)  # out is grad: in place
    np.testing.assert_array_equal(gi, want)
    yi = y.copy()
    _core.softmax_backward(False, g.copy(), yi, yi, 1)  # out is y: in place too
    np.testing.assert_array_equal(yi, want)


@pytest.mark.parametrize("n", [3, 10, 12, 20, 32, 33])
def test_a_row_gives_the_same_bits_wherever_it_sits(isa, n):
    # Short rows are computed in blocks of rows; a row's result must not depend on its block.
    x = np.random.default_rng(n).standard_normal((150, n)).astype(np.float32)
    g = np.random.default_rng(n + 1).standard_normal((150, n)).astype(np.float32)
    for fwd, bwd in (
        (ops.softmax, ops.softmax_backward),
        (ops.log_softmax, ops.log_softmax_backward),
    ):
        y = fwd(x)
        dx = bwd(g, y)
        for i in (0, 63, 64, 149):
            assert np.array_equal(fwd(x[i : i + 1]), y[i : i + 1])
            assert np.array_equal(bwd(g[i : i + 1], y[i : i + 1]), dx[i : i + 1])
