"""BatchNorm kernels (fastdl.ops.batch_norm_*) against NumPy float64, finite differences and
PyTorch, on every ISA path; thread-count determinism; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import using_threads

from fastdl import _core, ops

pytestmark = pytest.mark.kernel

EPS = 1e-5

# Ragged shapes; several cut into more than one row chunk and/or channel block, short and long L.
SHAPES = [
    (1, 3),
    (2, 1),
    (7, 5),
    (33, 17),
    (300, 1100),
    (4100, 19),
    (5, 4, 3),
    (2000, 37, 5),
    (3, 2, 17),
    (70, 300, 7),
    (9, 7, 1000),
    (50, 10, 300),
    (40, 3, 2100),
    (300, 2, 1000),  # long L in several row chunks
]


def _axes(x):
    return (0,) if x.ndim == 2 else (0, 2)


def _bshape(x):
    return (1, -1) if x.ndim == 2 else (1, -1, 1)


def ref_forward(x, w, b, eps=EPS):
    """float64 reference: (y, mean, invstd, biased var).

    Values are taken relative to each channel's first value (exact for data with an offset far
    above its spread), so x - mean in y is not limited by the rounding of mean to float64."""
    sh = _bshape(x)
    x0 = x.astype(np.float64)[(0, slice(None), 0)[: x.ndim]].reshape(sh)
    xd = x.astype(np.float64) - x0
    rel = xd.mean(axis=_axes(x))
    rel += (xd - rel.reshape(sh)).mean(axis=_axes(x))  # refined: exact to ~1 ulp
    dev = xd - rel.reshape(sh)
    var = (dev**2).mean(axis=_axes(x))
    mean = x0.reshape(-1) + rel
    invstd = 1.0 / np.sqrt(var + eps)
    y = dev * invstd.reshape(sh)
    if w is not None:
        y = y * w.astype(np.float64).reshape(_bshape(x))
    if b is not None:
        y = y + b.astype(np.float64).reshape(_bshape(x))
    return y, mean, invstd, var


def ref_backward(g, x, mean, invstd, w, training=True):
    g, x = g.astype(np.float64), x.astype(np.float64)
    mean, invstd = mean.astype(np.float64), invstd.astype(np.float64)
    sh = _bshape(x)
    m = x.size // x.shape[1]
    xhat = (x - mean.reshape(sh)) * invstd.reshape(sh)
    db = g.sum(axis=_axes(x))
    dw = (g * xhat).sum(axis=_axes(x))
    wd = np.ones_like(mean) if w is None else w.astype(np.float64)
    k = (wd * invstd).reshape(sh)
    if training:
        dx = k * (g - db.reshape(sh) / m - xhat * dw.reshape(sh) / m)
    else:
        dx = k * g
    return dx, dw, db


def _data(shape, dtype, seed=0, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale + offset).astype(dtype)
    c = shape[1]
    w = (rng.standard_normal(c) + 1.0).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    return x, w, b, g


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


# ---- forward --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_numpy(isa, shape, dtype):
    x, w, b, _ = _data(shape, dtype)
    y, mean, invstd = ops.batch_norm_forward(x, w, b, EPS)
    ry, rmean, rinv, _ = ref_forward(x, w, b)
    assert y.dtype == mean.dtype == invstd.dtype == dtype
    assert y.shape == x.shape and mean.shape == invstd.shape == (shape[1],)
    np.testing.assert_allclose(mean, rmean, **_tol(dtype))
    np.testing.assert_allclose(invstd, rinv, **_tol(dtype))
    np.testing.assert_allclose(y, ry, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(33, 17), (2000, 37, 5), (9, 7, 1000)])
def test_forward_without_affine(isa, shape, dtype):
    x, w, b, _ = _data(shape, dtype, seed=1)
    y, mean, invstd = ops.batch_norm_forward(x)
    np.testing.assert_allclose(y, ref_forward(x, None, None)[0], **_tol(dtype))
    y2, _, _ = ops.batch_norm_forward(x, None, b)
    np.testing.assert_allclose(y2, ref_forward(x, None, b)[0], **_tol(dtype))
    y3, _, _ = ops.batch_norm_forward(x, w, None)
    np.testing.assert_allclose(y3, ref_forward(x, w, None)[0], **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5), (300, 1100), (2000, 37, 5), (40, 3, 2100)])
def test_stats_match_numpy(isa, shape, dtype):
    x, _, _, _ = _data(shape, dtype, seed=2, offset=3.0, scale=2.0)
    mean, var = ops.batch_norm_stats(x)
    _, rmean, _, rvar = ref_forward(x, None, None)
    assert mean.dtype == var.dtype == dtype
    np.testing.assert_allclose(mean, rmean, **_tol(dtype))
    np.testing.assert_allclose(var, rvar, **_tol(dtype))


def test_constant_input_is_finite(isa):
    for dtype in (np.float32, np.float64):
        for shape in ((64, 5), (6, 3, 40)):
            x = np.full(shape, 7.25, dtype)
            w = np.arange(1, shape[1] + 1, dtype=dtype)
            b = np.linspace(-1, 1, shape[1]).astype(dtype)
            y, mean, invstd = ops.batch_norm_forward(x, w, b)
            assert np.all(np.isfinite(y)) and np.all(np.isfinite(invstd))
            np.testing.assert_array_equal(mean, np.full(shape[1], 7.25, dtype))
            np.testing.assert_allclose(invstd, 1 / np.sqrt(EPS), rtol=1e-6)
            np.testing.assert_allclose(y, np.broadcast_to(b.reshape(_bshape(x)), shape), atol=0)
            g = np.ones(shape, dtype)
            dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
            assert np.all(np.isfinite(dx))
            np.testing.assert_allclose(dx, 0, atol=1e-6)
            np.testing.assert_array_equal(dw, 0)


@pytest.mark.parametrize("shape", [(1000, 6), (50, 4, 30), (4100, 3)])
def test_large_offset_keeps_variance(isa, shape):
    # float32: offset 1e4, std 1 -> E[x^2] - E[x]^2 in float32 would be pure rounding noise.
    x, w, b, _ = _data(shape, np.float32, seed=3, offset=1e4)
    _, rmean, rinv, rvar = ref_forward(x, None, None)
    mean, var = ops.batch_norm_stats(x)
    np.testing.assert_allclose(var, rvar, rtol=1e-5)
    np.testing.assert_allclose(mean, rmean, rtol=1e-7)
    y, _, invstd = ops.batch_norm_forward(x, w, b)
    np.testing.assert_allclose(invstd, rinv, rtol=1e-6)
    np.testing.assert_allclose(y, ref_forward(x, w, b)[0], rtol=1e-5, atol=1e-5)
    # float64: offset 1e8, std 1e-2.
    xd, _, _, _ = _data(shape, np.float64, seed=4, offset=1e8, scale=1e-2)
    mean, var = ops.batch_norm_stats(xd)
    _, rmean, _, rvar = ref_forward(xd, None, None)
    np.testing.assert_allclose(var, rvar, rtol=1e-8)
    yd, _, _ = ops.batch_norm_forward(xd)
    np.testing.assert_allclose(yd, ref_forward(xd, None, None)[0], atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(33, 17), (2000, 37, 5), (9, 7, 1000)])
def test_running_stats_update(isa, shape, dtype):
    x, w, b, _ = _data(shape, dtype, seed=5, offset=1.5)
    c = shape[1]
    rm0 = np.linspace(-1, 1, c).astype(dtype)
    rv0 = np.linspace(0.5, 2, c).astype(dtype)
    rm, rv = rm0.copy(), rv0.copy()
    y, mean, invstd = ops.batch_norm_forward(x, w, b, running_mean=rm, running_var=rv, momentum=0.3)
    _, rmean, _, rvar = ref_forward(x, None, None)
    m = x.size // c
    np.testing.assert_allclose(rm, 0.7 * rm0 + 0.3 * rmean, **_tol(dtype))
    np.testing.assert_allclose(rv, 0.7 * rv0 + 0.3 * rvar * m / (m - 1), **_tol(dtype))
    # the same y as without the update
    np.testing.assert_array_equal(y, ops.batch_norm_forward(x, w, b)[0])


def test_running_stats_other_dtype_and_layout_updated_in_place():
    x, w, b, _ = _data((50, 6), np.float64, seed=6)
    rm = np.zeros(6, np.float32)
    rv_base = np.ones(12, np.float64)
    rv = rv_base[::2]  # strided view: must still be updated in place
    ops.batch_norm_forward(x, w, b, running_mean=rm, running_var=rv)
    _, rmean, _, rvar = ref_forward(x, None, None)
    np.testing.assert_allclose(rm, 0.1 * rmean, rtol=1e-6)
    np.testing.assert_allclose(rv_base[::2], 0.9 + 0.1 * rvar * 50 / 49, rtol=1e-12)
    np.testing.assert_array_equal(rv_base[1::2], 1.0)


def test_single_value_per_channel():
    x = np.array([[1.0, 2.0, 3.0]])
    b = np.array([0.5, -0.5, 2.0])
    y, mean, invstd = ops.batch_norm_forward(x, None, b)  # var 0: y = bias, as PyTorch's kernel
    np.testing.assert_array_equal(y, b.reshape(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ops.batch_norm_forward(x, None, b, running_mean=np.zeros(3), running_var=np.ones(3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        _core.batch_norm_train(
            x, None, None, None, np.empty(3), np.empty(3), None, np.ones(3), 1e-5, 0.1
        )


def test_empty_batch():
    x = np.zeros((0, 4), np.float32)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    y, mean, invstd = ops.batch_norm_forward(x, running_mean=rm, running_var=rv)
    assert y.shape == (0, 4) and np.all(np.isnan(mean))
    np.testing.assert_array_equal(rm, 0)  # left alone, as PyTorch
    np.testing.assert_array_equal(rv, 1)
    dx, dw, db = ops.batch_norm_backward(x, x, np.zeros(4), np.ones(4), np.ones(4))
    assert dx.shape == (0, 4)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    y, _, _ = ops.batch_norm_forward(np.zeros((3, 0, 2)))
    assert y.shape == (3, 0, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5), (300, 1100), (2000, 37, 5), (9, 7, 1000)])
def test_eval_forward_matches_numpy(isa, shape, dtype):
    x, w, b, _ = _data(shape, dtype, seed=7)
    c = shape[1]
    rm = np.linspace(-0.5, 0.5, c).astype(dtype)
    rv = np.linspace(0.5, 3, c).astype(dtype)
    y = ops.batch_norm_inference(x, rm, rv, w, b, EPS)
    sh = _bshape(x)
    ref = (x.astype(np.float64) - rm.reshape(sh)) / np.sqrt(rv.astype(np.float64) + EPS).reshape(sh)
    ref = ref * w.reshape(sh) + b.reshape(sh)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref, **_tol(dtype))
    np.testing.assert_allclose(
        ops.batch_norm_inference(x, rm, rv), (ref - b.reshape(sh)) / w.reshape(sh), **_tol(dtype)
    )


# ---- backward -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_numpy(isa, shape, dtype):
    x, w, b, g = _data(shape, dtype, seed=8)
    _, mean, invstd = ops.batch_norm_forward(x, w, b)
    dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
    rdx, rdw, rdb = ref_backward(g, x, mean, invstd, w)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    scale = np.sqrt(x.size // x.shape[1])  # sums grow like sqrt(M)
    tol = _tol(dtype)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, rdw, rtol=tol["rtol"], atol=tol["atol"] * scale)
    np.testing.assert_allclose(db, rdb, rtol=tol["rtol"], atol=tol["atol"] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(33, 17), (2000, 37, 5), (9, 7, 1000)])
def test_backward_eval_mode_and_output_mask(isa, shape, dtype):
    x, w, b, g = _data(shape, dtype, seed=9)
    c = shape[1]
    rm = np.linspace(-0.5, 0.5, c).astype(dtype)
    invstd = (1 / np.sqrt(np.linspace(0.5, 3, c) + EPS)).astype(dtype)
    dx, dw, db = ops.batch_norm_backward(g, x, rm, invstd, w, training=False)
    rdx, rdw, rdb = ref_backward(g, x, rm, invstd, w, training=False)
    scale = np.sqrt(x.size // c)
    tol = _tol(dtype)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, rdw, rtol=tol["rtol"], atol=tol["atol"] * scale)
    np.testing.assert_allclose(db, rdb, rtol=tol["rtol"], atol=tol["atol"] * scale)
    _, mean, invstd = ops.batch_norm_forward(x, w, b)
    full = ops.batch_norm_backward(g, x, mean, invstd, None)
    for mask in ((True, False, False), (False, True, True), (False, False, True)):
        part = ops.batch_norm_backward(g, x, mean, invstd, None, output_mask=mask)
        for want, got, ref in zip(mask, part, full):
            if want:
                np.testing.assert_array_equal(got, ref)
            else:
                assert got is None


def _numerical_grad(f, a, eps=1e-6):
    """Central differences of the scalar f() with respect to every element of a (in place)."""
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (1, 2, 7)])
def test_gradients_match_finite_differences(isa, shape):
    x, w, b, g = _data(shape, np.float64, seed=10)

    def loss():  # sum(y * g): its gradient wrt y is g
        return float(np.sum(ops.batch_norm_forward(x, w, b, EPS)[0] * g))

    _, mean, invstd = ops.batch_norm_forward(x, w, b, EPS)
    dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
    np.testing.assert_allclose(dx, _numerical_grad(loss, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dw, _numerical_grad(loss, w), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(db, _numerical_grad(loss, b), rtol=1e-5, atol=1e-7)


def test_eval_gradients_match_finite_differences(isa):
    x, w, b, g = _data((5, 3, 4), np.float64, seed=11)
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.5, 2.0])

    def loss():
        return float(np.sum(ops.batch_norm_inference(x, rm, rv, w, b, EPS) * g))

    dx, dw, db = ops.batch_norm_backward(g, x, rm, 1 / np.sqrt(rv + EPS), w, training=False)
    np.testing.assert_allclose(dx, _numerical_grad(loss, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dw, _numerical_grad(loss, w), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(db, _numerical_grad(loss, b), rtol=1e-5, atol=1e-7)


# ---- PyTorch as an extra oracle ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 33), (17, 6, 9), (5, 3, 200)])
def test_matches_torch_batchnorm1d(shape):
    torch = pytest.importorskip("torch")
    x, w, b, g = _data(shape, np.float32, seed=12, offset=0.5)
    c = shape[1]
    bn = torch.nn.BatchNorm1d(c, eps=EPS, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(w))
        bn.bias.copy_(torch.from_numpy(b))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = bn(tx)
    tdx, tdw, tdb = torch.autograd.grad(ty, (tx, bn.weight, bn.bias), torch.from_numpy(g))
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    y, mean, invstd = ops.batch_norm_forward(x, w, b, EPS, running_mean=rm, running_var=rv)
    dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, tdx.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, tdw.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, tdb.numpy(), rtol=1e-4, atol=1e-4)
    bn.eval()
    with torch.no_grad():
        te = bn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(
        ops.batch_norm_inference(x, rm, rv, w, b, EPS), te, rtol=1e-5, atol=1e-5
    )


# ---- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(3000, 257), (1100, 1030), (64, 9, 700), (5000, 40, 3), (300, 2, 1000)]
)
def test_one_and_two_threads_bitwise_equal(isa, shape, dtype):
    x, w, b, g = _data(shape, dtype, seed=13, offset=2.0)
    c = shape[1]

    def run():
        rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
        y, mean, invstd = ops.batch_norm_forward(x, w, b, running_mean=rm, running_var=rv)
        dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
        e = ops.batch_norm_inference(x, rm, rv, w, b)
        return y, mean, invstd, rm, rv, dx, dw, db, e

    with using_threads(1):
        one = run()
    with using_threads(2):
        two = run()
        again = run()
    for a1, a2, a3 in zip(one, two, again):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(a2, a3)


# ---- large outputs: streaming stores ------------------------------------------------------------


def _misaligned_empty(shape, dtype):
    """An array whose data starts one element past a 64-byte boundary (the head of the
    streaming-store loop then takes the unaligned values)."""
    n = int(np.prod(shape))
    raw = np.empty(n + 64, dtype)
    start = (-raw.ctypes.data % 64) // raw.itemsize + 1
    out = raw[start : start + n].reshape(shape)
    assert out.ctypes.data % 64 != 0
    return out


@pytest.mark.parametrize(
    "shape, dtype",
    [((4100, 1030), np.float32), ((3, 5, 280_001), np.float32), ((2100, 1030), np.float64)],
)
def test_large_outputs_streamed_match_numpy(isa, shape, dtype):
    # Outputs of 16 MiB or more are written with streaming stores from a staging buffer; the
    # values must be those of the ordinary path: against the float64 reference, in place,
    # into a misaligned output, and the same bits on 1 and 2 threads.
    x, w, b, g = _data(shape, dtype, seed=16, offset=1.0)
    assert x.nbytes >= 16 << 20
    c = shape[1]
    y = _misaligned_empty(shape, dtype)
    mean, invstd = np.empty(c, dtype), np.empty(c, dtype)
    _core.batch_norm_train(x, w, b, y, mean, invstd, None, None, EPS, 0.1)
    ry, rmean, rinv, _ = ref_forward(x, w, b)
    np.testing.assert_allclose(y, ry, **_tol(dtype))
    np.testing.assert_allclose(mean, rmean, **_tol(dtype))
    dx = _misaligned_empty(shape, dtype)
    dw, db = np.empty(c, dtype), np.empty(c, dtype)
    _core.batch_norm_backward(g, x, mean, invstd, w, dx, dw, db, True)
    rdx, rdw, rdb = ref_backward(g, x, mean, invstd, w)
    np.testing.assert_allclose(dx, rdx, **_tol(dtype))
    np.testing.assert_allclose(dw, rdw, rtol=1e-4 if dtype == np.float32 else 1e-10)
    e = _misaligned_empty(shape, dtype)
    rm, rv = np.linspace(-0.5, 0.5, c).astype(dtype), np.linspace(0.5, 3, c).astype(dtype)
    _core.batch_norm_eval(x, rm, rv, w, b, e, EPS)
    sh = _bshape(x)
    re_ = (x.astype(np.float64) - rm.reshape(sh)) / np.sqrt(rv.astype(np.float64) + EPS).reshape(sh)
    np.testing.assert_allclose(e, re_ * w.reshape(sh) + b.reshape(sh), **_tol(dtype))
    xi, gi = x.copy(), g.copy()
    _core.batch_norm_train(xi, w, b, xi, mean.copy(), invstd.copy(), None, None, EPS, 0.1)
    _core.batch_norm_backward(gi, x, mean, invstd, w, gi, None, None, True)
    np.testing.assert_array_equal(xi, y)
    np.testing.assert_array_equal(gi, dx)
    with using_threads(1):
        y1, m1, s1 = ops.batch_norm_forward(x, w, b, EPS)
        dx1 = ops.batch_norm_backward(g, x, m1, s1, w)[0]
    with using_threads(2):
        y2, m2, s2 = ops.batch_norm_forward(x, w, b, EPS)
        dx2 = ops.batch_norm_backward(g, x, m2, s2, w)[0]
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1, y)
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(dx1, dx)


# ---- dtypes and bad input -----------------------------------------------------------------------


def test_dtype_promotion():
    x, w, b, g = _data((8, 3), np.float32, seed=14)
    y, mean, invstd = ops.batch_norm_forward(x, w.astype(np.float64), b)
    assert y.dtype == mean.dtype == np.float64
    y, mean, invstd = ops.batch_norm_forward(np.arange(12).reshape(6, 2))  # int64 -> float64
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref_forward(np.arange(12.0).reshape(6, 2), None, None)[0])
    xs = np.asfortranarray(np.random.default_rng(0).standard_normal((20, 4)))
    np.testing.assert_allclose(ops.batch_norm_forward(xs)[0], ref_forward(xs, None, None)[0])


def test_bad_input_raises_clear_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(
        ValueError, match=r"batch_norm_forward\(\): argument 'weight'.*\(3,\).*\(4,\)"
    ):
        ops.batch_norm_forward(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"batch_norm_forward\(\): argument 'bias'"):
        ops.batch_norm_forward(x, None, np.ones((3, 1), np.float32))
    for bad in (np.zeros(5), np.zeros((2, 2, 2, 2))):
        with pytest.raises(ValueError, match=r"argument 'x' must be 2-d \(N, C\) or 3-d"):
            ops.batch_norm_forward(bad)
    with pytest.raises(TypeError, match=r"batch_norm_forward\(\): argument 'x'.*complex"):
        ops.batch_norm_forward(x.astype(np.complex64))
    with pytest.raises(TypeError, match=r"argument 'x' must be an array, got None"):
        ops.batch_norm_forward(None)
    with pytest.raises(TypeError, match="running_mean.*ndarray"):
        ops.batch_norm_forward(x, running_mean=[0.0, 0.0, 0.0])
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="running_var.*writeable"):
        ops.batch_norm_forward(x, running_var=ro)
    with pytest.raises(ValueError, match=r"running_mean.*\(3,\)"):
        ops.batch_norm_forward(x, running_mean=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="eps"):
        ops.batch_norm_forward(x, eps=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        ops.batch_norm_forward(x, momentum=1.5)
    with pytest.raises(TypeError, match="momentum"):
        ops.batch_norm_forward(x, momentum="fast")
    with pytest.raises(ValueError, match=r"batch_norm_backward\(\): argument 'grad'.*\(4, 3\)"):
        ops.batch_norm_backward(np.zeros((4, 2)), x, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm_backward\(\): argument 'invstd'"):
        ops.batch_norm_backward(x, x, np.zeros(3), np.ones(2))
    with pytest.raises(TypeError, match=r"batch_norm_backward\(\): argument 'mean'.*None"):
        ops.batch_norm_backward(x, x, None, np.ones(3))
    with pytest.raises(TypeError, match=r"batch_norm_backward\(\): argument 'training'.*str"):
        ops.batch_norm_backward(x, x, np.zeros(3, np.float32), x[0], training="no")
    with pytest.raises(ValueError, match=r"batch_norm_inference\(\): argument 'running_var'"):
        ops.batch_norm_inference(x, np.zeros(3), np.ones(4))
    with pytest.raises(TypeError, match=r"batch_norm_inference\(\): argument 'x'"):
        ops.batch_norm_inference("abc", np.zeros(3), np.ones(3))


def test_core_rejects_bad_arrays_without_crashing():
    x = np.zeros((4, 3), np.float32)
    m, s = np.empty(3, np.float32), np.empty(3, np.float32)
    with pytest.raises(TypeError, match="dtype float32"):
        _core.batch_norm_train(x, np.ones(3), None, None, m, s, None, None, 1e-5, 0.1)
    with pytest.raises(TypeError, match="'y' must be a numpy.ndarray"):
        _core.batch_norm_train(x, None, None, [0.0] * 12, m, s, None, None, 1e-5, 0.1)
    with pytest.raises(TypeError):
        _core.batch_norm_train(x, None, None, None, [0.0] * 3, s, None, None, 1e-5, 0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.batch_norm_eval(np.zeros((3, 4), np.float32).T, m, s, None, None, x, 1e-5)
    with pytest.raises(ValueError, match="must have the same shape"):
        _core.batch_norm_eval(x, m, s, None, None, np.empty((4, 4), np.float32), 1e-5)
    with pytest.raises(TypeError, match="dtype float32 or float64"):
        _core.batch_norm_backward(
            x.astype(np.int32), x.astype(np.int32), m, s, None, None, None, None, True
        )
    ro = np.empty(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.batch_norm_backward(x, x, m, s, None, None, ro, None, True)


def test_core_rejects_overlapping_outputs_and_allows_exact_in_place():
    # ops.* always allocate the outputs; _core called directly writes where it is told, so an
    # output sharing memory with another array of the call is refused, except y = x and
    # grad_x = grad exactly (the documented in-place calls).
    x, w, b, g = _data((6, 4), np.float32, seed=15)
    buf = np.zeros(6 * 4 + 4, np.float32)
    xs, shifted = buf[:24].reshape(6, 4), buf[4:].reshape(6, 4)
    xs[...] = x
    m, s = np.empty(4, np.float32), np.empty(4, np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_train\(\): argument 'y'.*'x'"):
        _core.batch_norm_train(xs, w, b, shifted, m, s, None, None, EPS, 0.1)
    with pytest.raises(ValueError, match=r"argument 'mean'.*'x'"):
        _core.batch_norm_train(x, w, b, None, x[0], s, None, None, EPS, 0.1)
    with pytest.raises(ValueError, match=r"argument 'mean'.*'invstd'"):
        _core.batch_norm_train(x, w, b, None, m, m, None, None, EPS, 0.1)
    with pytest.raises(ValueError, match=r"argument 'running_var'.*'weight'"):
        _core.batch_norm_train(x, w, b, None, m, s, None, w, EPS, 0.1)
    want_y, want_m, want_s = ops.batch_norm_forward(x, w, b, EPS)
    xi = x.copy()
    _core.batch_norm_train(xi, w, b, xi, m, s, None, None, EPS, 0.1)  # y is x: in place
    np.testing.assert_array_equal(xi, want_y)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_eval\(\): argument 'y'.*'x'"):
        _core.batch_norm_eval(xs, rm, rv, w, b, shifted, EPS)
    with pytest.raises(ValueError, match=r"argument 'y'.*'running_var'"):
        _core.batch_norm_eval(x, rm, buf[:24].reshape(6, 4)[0], w, b, buf[:24].reshape(6, 4), EPS)
    want_e = ops.batch_norm_inference(x, rm, rv, w, b, EPS)
    xi = x.copy()
    _core.batch_norm_eval(xi, rm, rv, w, b, xi, EPS)
    np.testing.assert_array_equal(xi, want_e)
    gs = buf[:24].reshape(6, 4)
    gs[...] = g
    dw, db = np.empty(4, np.float32), np.empty(4, np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_backward\(\): argument 'grad_x'.*'grad'"):
        _core.batch_norm_backward(gs, x, want_m, want_s, w, shifted, dw, db, True)
    with pytest.raises(ValueError, match=r"argument 'grad_x'.*'x'"):
        xc = x.copy()  # grad_x = x exactly is not one of the in-place calls
        _core.batch_norm_backward(g, xc, want_m, want_s, w, xc, dw, db, True)
    with pytest.raises(ValueError, match=r"argument 'grad_weight'.*'grad_bias'"):
        _core.batch_norm_backward(g, x, want_m, want_s, w, None, dw, dw, True)
    with pytest.raises(ValueError, match=r"argument 'grad_bias'.*'mean'"):
        _core.batch_norm_backward(g, x, want_m, want_s, w, None, None, want_m, True)
    want_dx, want_dw, want_db = ops.batch_norm_backward(g, x, want_m, want_s, w)
    gi = g.copy()
    _core.batch_norm_backward(gi, x, want_m, want_s, w, gi, dw, db, True)  # grad_x is grad
    np.testing.assert_array_equal(gi, want_dx)
    np.testing.assert_array_equal(dw, want_dw)
    np.testing.assert_array_equal(db, want_db)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_input_gives_nan_statistics(isa, dtype):
    # The variance's clamp at 0 (for rounding) was `m2 > 0 ? m2 : 0`, turning NaN into 0:
    # invstd came out 1/sqrt(eps) (found by the ops fuzz long mode).
    x = np.array([[np.nan, 1.0], [2.0, 3.0]], dtype)
    y, mean, invstd = ops.batch_norm_forward(x, None, None, 1e-5)
    assert np.isnan(mean[0]) and np.isnan(invstd[0]) and np.isnan(y[:, 0]).all()
    np.testing.assert_allclose(invstd[1], 1 / np.sqrt(1.0 + 1e-5), rtol=1e-6)


# ---- magnitudes: overflow, cancellation, non-finite values --------------------------------------


def ref_scaled(x, w, b, eps=EPS):
    """ref_forward on x scaled by a power of two (exact), results scaled back: a reference for
    values whose squares overflow float64. Returns (y, mean, invstd, var); var may be inf."""
    k = int(np.frexp(np.abs(x.astype(np.float64)).max())[1])
    with np.errstate(under="ignore", over="ignore"):
        xs = np.ldexp(x.astype(np.float64), -k)
        y, m, inv, var = ref_forward(xs, w, b, eps=float(np.ldexp(eps, -2 * k)))
        return y, np.ldexp(m, k), np.ldexp(inv, -k), np.ldexp(var, 2 * k)


def _mixed(shape, dtype, scale, seed):
    """Random data of magnitude ~scale in channel 0 and every third channel, ordinary elsewhere."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[:, ::3] *= scale / 4
    x[:, 1::3] += 0.5
    return x.astype(dtype)


@pytest.mark.parametrize("scale", [1e154, 1e200, 1e300, 1.7e308])
@pytest.mark.parametrize("shape", [(7, 5), (3000, 40), (30, 4, 50), (9, 7, 1000)])
def test_huge_float64_values(isa, shape, scale):
    # The squares of |x| ~ 1e154 overflow double: the one-pass sums gave invstd 0 where the
    # true value is finite (found by the ops fuzz long mode). At 1.7e308, x - mean overflows too.
    x = _mixed(shape, np.float64, scale, seed=20)
    if scale > 1e308:  # values at both ends of the range: x - mean would overflow double
        x[: shape[0] // 2, 0] = 1.7e308
        x[shape[0] // 2 :, 0] = -1.6e308
        x = np.clip(x, -1.7e308, 1.7e308)
    _, w, b, g = _data(shape, np.float64, seed=21)
    y, mean, invstd = ops.batch_norm_forward(x, w, b, EPS)
    big = np.abs(x).max(axis=_axes(x)) > 1e100
    for c in (np.flatnonzero(big), np.flatnonzero(~big)):
        sel = (slice(None), c) if x.ndim == 2 else (slice(None), c, slice(None))
        ry, rmean, rinv, rvar = ref_scaled(x[sel], w[c], b[c])
        np.testing.assert_allclose(mean[c], rmean, rtol=1e-12, atol=1e-14 * np.abs(x[sel]).max())
        np.testing.assert_allclose(invstd[c], rinv, rtol=1e-12)
        np.testing.assert_allclose(y[sel], ry, rtol=1e-11, atol=1e-11)
        _, var = ops.batch_norm_stats(x[sel])
        np.testing.assert_allclose(var, rvar, rtol=1e-12)  # inf where the variance overflows
    assert np.all(np.isfinite(y)) and np.all(invstd > 0)
    # Backward from these statistics: dx scales like 1 / |x|, the sums like x^0.
    dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
    rdx, rdw, rdb = ref_backward(g, x, mean, invstd, w) if scale < 1e300 else (None,) * 3
    if rdx is not None:
        np.testing.assert_allclose(dx, rdx, rtol=1e-9, atol=1e-9 * np.abs(rdx).max())
        np.testing.assert_allclose(dw, rdw, rtol=1e-9, atol=1e-9 * np.sqrt(x.size))
    np.testing.assert_allclose(db, g.sum(axis=_axes(x)), rtol=1e-12, atol=1e-12 * np.sqrt(x.size))
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dw))


@pytest.mark.parametrize("scale", [1e-170, 1e-300])
def test_tiny_float64_values_without_eps(isa, scale):
    # With eps = 0 the variance itself sets invstd; squares of |x| < 1e-154 underflow, so such
    # channels take the exact path. (Below std ~ 5.6e-309, invstd itself exceeds float64.)
    x = _mixed((500, 6), np.float64, scale, seed=31)
    x[:, 1::3] = x[:, 0::3]  # every channel tiny
    x[:, 2::3] = -x[:, 0::3]
    y, mean, invstd = ops.batch_norm_forward(x, None, None, 0.0)
    ry, rmean, rinv, _ = ref_scaled(x, None, None, eps=0.0)
    np.testing.assert_allclose(invstd, rinv, rtol=1e-12)
    np.testing.assert_allclose(y, ry, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(mean, rmean, rtol=1e-12, atol=1e-12 * np.abs(x).max())


def test_float32_near_max(isa):
    # float32 data spanning +-3e38: the double sums hold it, but x - mean overflows float32 in
    # the output pass, and invstd (~3e-39) is subnormal: those channels use the scaled pass.
    for shape in ((9, 4), (2000, 33), (20, 3, 40)):
        x = _mixed(shape, np.float64, 1.2e38, seed=22)
        x[: shape[0] // 3, 0] = 3.3e38
        x[shape[0] // 3 :, 0] = -3.3e38
        x = np.clip(x, -3.4e38, 3.4e38).astype(np.float32)
        _, w, b, _ = _data(shape, np.float32, seed=23)
        y, mean, invstd = ops.batch_norm_forward(x, w, b, EPS)
        ry, rmean, rinv, rvar = ref_forward(x, w, b)
        np.testing.assert_allclose(y, ry, rtol=2e-6, atol=2e-6)
        np.testing.assert_allclose(mean, rmean, rtol=2e-7, atol=1e31)
        np.testing.assert_allclose(invstd, rinv, rtol=1e-6, atol=1e-45)
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(ops.batch_norm_stats(x)[1], rvar.astype(np.float32))


@pytest.mark.parametrize("dtype, big", [(np.float32, 3.3e38), (np.float64, 1.7e308)])
def test_eval_near_max(isa, dtype, big):
    # Eval mode subtracts the running mean from x: with x and the mean of opposite signs near
    # the dtype's max, x - mean overflowed to inf where y is finite (the scale is small).
    shape = (50, 4, 3)
    rng = np.random.default_rng(24)
    x = (rng.uniform(-1, 1, shape) * big).astype(dtype)
    rm = np.array([-0.9, 0.9, 0.0, 0.5], dtype) * dtype(big)
    rv = np.array([1e36, 1e36, 1.0, 4.0], np.float64).astype(dtype)
    if dtype == np.float64:
        rv[:2] = 1e300
    w = np.array([1.0, -2.0, 1e-30, 0.5], dtype)
    b = np.array([0.0, 1.0, 2.0, -3.0], dtype)
    y = ops.batch_norm_inference(x, rm, rv, w, b, EPS)
    sh = (1, -1, 1)
    with np.errstate(over="ignore"):  # the reference in float64 scaled down: exact for both
        xs, ms = np.ldexp(x.astype(np.float64), -4), np.ldexp(rm.astype(np.float64), -4)
        ref = (xs - ms.reshape(sh)) / np.sqrt(np.ldexp(rv.astype(np.float64) + EPS, -8)).reshape(
            sh
        ) * w.reshape(sh) + b.reshape(sh)
    assert np.isfinite(y[:, :2]).all()
    np.testing.assert_allclose(y, ref, **_tol(dtype))


def test_float16_input_computes_in_float32(isa):
    # float16 is promoted to float32 (as np.result_type(float16, float32)) and summed in
    # double: its whole range, 65504 included, is safe.
    x = _mixed((500, 6), np.float64, 6e4, seed=30).clip(-65504, 65504).astype(np.float16)
    x[:, 4] = np.float16(65504)
    y, mean, invstd = ops.batch_norm_forward(x)
    assert y.dtype == mean.dtype == np.float32
    ry, rmean, rinv, _ = ref_forward(x.astype(np.float32), None, None)
    np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean, rmean, rtol=1e-6)
    np.testing.assert_allclose(invstd, rinv, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_constant_channels_give_bias(isa, dtype):
    big = np.finfo(dtype).max
    for shape in ((64, 4), (6, 4, 40)):
        x = np.empty(shape, dtype)
        for c, v in enumerate((big, -big, 1e15, big / 3)):
            x[:, c] = v
        b = np.array([0.5, -1.0, 2.0, 0.0], dtype)
        y, mean, invstd = ops.batch_norm_forward(x, np.full(4, 3.0, dtype), b)
        np.testing.assert_array_equal(mean, x[(0, slice(None), 0)[: x.ndim]])
        np.testing.assert_allclose(invstd, 1 / np.sqrt(EPS), rtol=1e-6)
        np.testing.assert_array_equal(y, np.broadcast_to(b.reshape(_bshape(x)), shape))


@pytest.mark.parametrize(
    "dtype, offset, noise",
    [(np.float32, 1e8, 64.0), (np.float64, 1e15, 1.0), (np.float64, 1e8, 1e-7)],
)
@pytest.mark.parametrize("shape", [(8000, 100), (200, 5, 300), (50000, 3)])
def test_offset_far_above_noise(isa, shape, dtype, offset, noise):
    # Several row chunks, each with its own shift: the chunk means used to be stored as
    # absolute values, rounded to float64 at the offset (0.125 at 1e15), which cost the
    # variance 1e-3 of its value; they are now relative to one reference per channel.
    rng = np.random.default_rng(24)
    x = (offset + noise * rng.standard_normal(shape)).astype(dtype)
    _, rmean, rinv, rvar = ref_forward(x, None, None)
    mean, var = ops.batch_norm_stats(x)
    np.testing.assert_allclose(var, rvar, rtol=1e-6 if dtype == np.float32 else 1e-11)
    np.testing.assert_allclose(mean, rmean, rtol=np.finfo(dtype).eps)
    y, _, invstd = ops.batch_norm_forward(x, None, None)
    np.testing.assert_allclose(invstd, rinv, rtol=1e-6 if dtype == np.float32 else 1e-11)
    # x - mean with mean kept as hi + lo: y as exact as the data allow
    atol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y, ref_forward(x, None, None)[0], atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 6), (3000, 6), (40, 6, 30)])
def test_nan_and_inf_stay_in_their_channel(isa, shape, dtype):
    x, w, b, g = _data(shape, dtype, seed=25)
    at = (shape[0] - 1, slice(None), 0)[: x.ndim]
    col = list(x[at])
    col[:4] = [np.nan, np.inf, -np.inf, np.inf]
    x[at] = col
    x[(0, 3, -1)[: x.ndim]] = -np.inf  # channel 3: +inf and -inf
    y, mean, invstd = ops.batch_norm_forward(x, w, b)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(mean[:4], x.mean(axis=_axes(x))[:4])  # nan, inf, -inf, nan
    assert np.isnan(invstd[:4]).all() and np.isnan(y[:, :4]).all()
    ry, rmean, rinv, _ = ref_forward(x[:, 4:], w[4:], b[4:])
    np.testing.assert_allclose(y[:, 4:], ry, **_tol(dtype))
    np.testing.assert_allclose(invstd[4:], rinv, **_tol(dtype))
    gx = g.copy()
    gx[at] = np.nan  # the NaN gradient reaches every channel's row 0...
    gx[:, 4:] = g[:, 4:]  # ...but is kept only in channels 0-3
    dx, dw, db = ops.batch_norm_backward(gx, x, mean, invstd, w)
    assert np.isnan(dx[:, :4]).all() and np.isnan(dw[:4]).all() and np.isnan(db[:4]).all()
    rdx, rdw, rdb = ref_backward(g[:, 4:], x[:, 4:], mean[4:], invstd[4:], w[4:])
    np.testing.assert_allclose(dx[:, 4:], rdx, **_tol(dtype))
    np.testing.assert_allclose(db[4:], rdb, rtol=_tol(dtype)["rtol"], atol=1e-3)


@pytest.mark.parametrize("shape", [(50, 5), (3000, 40), (9, 7, 1000)])
def test_huge_float64_gradients(isa, shape):
    # sum(dy) overflows for dy ~ 1.5e307 of one sign, and so can sum(dy * (x - mean)); the
    # channels whose sums overflowed are summed again scaled: dx (which needs only dy - mean(dy))
    # and dweight stay finite and right, dbias is inf as the true sum is.
    x, w, _, g = _data(shape, np.float64, seed=26)
    g[:, ::2] = 1.5e307 * (1 + 0.01 * g[:, ::2])
    _, mean, invstd = ops.batch_norm_forward(x, w, None)
    dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
    k = 1020  # the backward is linear in g: the reference runs on g / 2^k
    rdx, rdw, rdb = ref_backward(np.ldexp(g, -k), x, mean, invstd, w)
    with np.errstate(over="ignore"):
        rdx, rdw, rdb = np.ldexp(rdx, k), np.ldexp(rdw, k), np.ldexp(rdb, k)
    m = np.sqrt(x.size // x.shape[1])
    assert np.isinf(rdb[::2]).all() and np.isfinite(rdx).all() and np.isfinite(rdw).all()
    np.testing.assert_allclose(dx, rdx, rtol=1e-9, atol=1e-9 * np.abs(rdx).max())
    np.testing.assert_allclose(dw, rdw, rtol=1e-9, atol=1e298 * m)  # |g| ~ 1e307: sums' noise
    np.testing.assert_array_equal(db[::2], np.inf)
    np.testing.assert_allclose(db[1::2], rdb[1::2], rtol=1e-9, atol=1e-9 * m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_near_dtype_max(isa, dtype):
    # dy - mean(dy) - xhat * mean(dy * xhat) overflows the dtype for dy = +-0.6 max; the dx pass
    # forms it at half scale, so dx is right while that half stays in range.
    big = 0.6 * float(np.finfo(dtype).max)
    for shape in ((3, 4), (300, 4), (6, 4, 50)):
        x, w, _, _ = _data(shape, dtype, seed=29, scale=10.0)  # invstd ~ 0.1
        g = np.full(shape, big, dtype)
        g[: shape[0] // 3] = -big
        _, mean, invstd = ops.batch_norm_forward(x, w)
        dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
        k = 1020 if dtype == np.float64 else 0  # linear in g: the reference runs on g / 2^k
        rdx, rdw, rdb = ref_backward(np.ldexp(g.astype(np.float64), -k), x, mean, invstd, w)
        with np.errstate(over="ignore"):
            rdx, rdw, rdb = (np.ldexp(r, k).astype(dtype) for r in (rdx, rdw, rdb))
        assert np.isfinite(rdx).all()
        tol = 1e-5 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(dx, rdx, rtol=tol, atol=tol * np.abs(rdx).max())
        np.testing.assert_allclose(dw, rdw, rtol=tol)
        np.testing.assert_allclose(db, rdb, rtol=tol)


def test_gradient_overflow_limit(isa):
    # The documented limit: dx = 2 weight invstd ((dy - mean(dy)) / 2 - c (x - mean) / 2) with
    # c = invstd * mean(dy * xhat), c and the bracket in the dtype. Where either exceeds the
    # dtype's max, dx is +-inf or NaN even if the true dx is in range; elsewhere it is right.
    x, _, _, _ = _data((3, 4), np.float32, seed=29)
    w = np.array([0.05, 0.1, -0.05, 0.02], np.float32)
    for frac in (0.4, 0.9):
        g = np.full((3, 4), frac * float(np.finfo(np.float32).max), np.float32)
        g[0] = -g[0]
        _, mean, invstd = ops.batch_norm_forward(x, w)
        dx, _, _ = ops.batch_norm_backward(g, x, mean, invstd, w)
        gd, xd, md, sd = (a.astype(np.float64) for a in (g, x, mean, invstd))
        xhat = (xd - md) * sd
        c = sd * (gd * xhat).mean(axis=0)
        t = gd - gd.mean(axis=0) - xhat * (gd * xhat).mean(axis=0)
        lim = np.finfo(np.float32).max
        over = (np.abs(t / 2) > lim) | (np.abs(c) > lim)
        assert over.any() and not over.all()
        assert not np.isfinite(dx[over]).any()
        np.testing.assert_allclose(dx[~over], (w * sd * t)[~over], rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3000, 257), (64, 9, 700)])
def test_exact_path_one_and_two_threads_bitwise_equal(isa, shape, dtype):
    big = 1e200 if dtype == np.float64 else 3e37
    x = _mixed(shape, np.float64, big, seed=27).astype(dtype)
    x[1, 5] = np.nan
    _, w, b, g = _data(shape, dtype, seed=28)
    if dtype == np.float64:
        g[:, 1::4] *= 1e306

    def run():
        y, mean, invstd = ops.batch_norm_forward(x, w, b)
        return (y, mean, invstd, *ops.batch_norm_backward(g, x, mean, invstd, w))

    with using_threads(1):
        one = run()
    with using_threads(2):
        two = run()
    for a1, a2 in zip(one, two):
        np.testing.assert_array_equal(a1, a2)
