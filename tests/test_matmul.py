"""ops.matmul and ops.linear against NumPy in float64, on every ISA path."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import using_threads

from fastdl import ops

pytestmark = pytest.mark.kernel

SIZES = (0, 1, 2, 3, 5, 17, 31, 33, 65, 127, 129, 257, 513)
DTYPES = (np.float32, np.float64)


def _grid(seed: int = 0, count: int = 36) -> list[tuple[int, int, int]]:
    """A fixed sample of (m, n, k) over SIZES: every size appears, big cubes are avoided."""
    rng = np.random.default_rng(seed)
    all_triples = [t for t in itertools.product(SIZES, repeat=3) if t[0] * t[1] * t[2] <= 4e6]
    picked = [all_triples[i] for i in rng.choice(len(all_triples), count, replace=False)]
    # Each size on each axis at least once (paired with small partners).
    for s in SIZES:
        picked += [(s, 5, 17), (3, s, 33), (31, 2, s)]
    return sorted(set(picked))


GRID = _grid()


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _check(got, a, b, dtype=None):
    """|got - a@b| <= 2 (k + 2) eps (|a| @ |b|): the classic bound for a k-term dot product."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ref = np.matmul(a64, b64)
    bound = np.matmul(np.abs(a64), np.abs(b64))
    k = a64.shape[-1]
    eps = np.finfo(dtype or got.dtype).eps
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    tol = 2 * (k + 2) * eps * bound + np.finfo(np.float64).tiny
    assert np.all(err <= tol), f"max err {err.max()} (k={k})"


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_2d_grid(isa, dtype):
    rng = np.random.default_rng(1)
    for m, n, k in GRID:
        a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
        c = ops.matmul(a, b)
        assert c.dtype == dtype
        _check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_transposed_and_strided_views(isa, dtype):
    rng = np.random.default_rng(2)
    for m, n, k in [
        (1, 1, 1),
        (5, 17, 3),
        (33, 65, 129),
        (127, 31, 257),
        (65, 129, 300),
        (257, 10, 65),
        (129, 3, 17),
    ]:
        base_a = _rand(rng, (2 * (m + k) + 1,) * 2, dtype)
        base_b = _rand(rng, (2 * (k + n) + 1,) * 2, dtype)
        views_a = [
            base_a[:m, :k],
            np.ascontiguousarray(base_a[:k, :m].T),
            base_a[:k, :m].T,  # column-major view: A^T B
            base_a[::2, ::2][:m, :k],
            base_a[::-2, ::-1][:m, :k],  # negative strides
        ]
        views_b = [
            base_b[:k, :n],
            base_b[:n, :k].T,  # A B^T
            base_b[::-2, 1::2][:k, :n],
        ]
        for a, b in itertools.product(views_a, views_b):
            _check(ops.matmul(a, b), a, b)


def test_matmul_odd_byte_strides_and_byte_order():
    rng = np.random.default_rng(3)
    rec = np.zeros((9, 7), dtype=[("x", "f4"), ("y", "u1")])  # strides not a multiple of 4
    rec["x"] = _rand(rng, (9, 7), np.float32)
    a = rec["x"]
    assert a.strides[1] % 4 != 0
    b = _rand(rng, (7, 5), np.float32).astype(">f4")  # non-native byte order
    c = ops.matmul(a, b)
    assert c.dtype == np.float32
    _check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_batched_broadcast(isa, dtype):
    rng = np.random.default_rng(4)
    cases = [
        ((4, 17, 33), (33, 31)),  # shared weight: folded into one GEMM
        ((2, 3, 5, 7), (7, 9)),
        ((2, 1, 5, 7), (3, 7, 9)),  # broadcast both ways
        ((5, 7), (4, 7, 3)),
        ((1, 5, 7), (4, 7, 3)),
        ((3, 65, 129), (3, 129, 17)),
        ((4, 0, 7), (7, 3)),
        ((0, 5, 7), (7, 3)),
        ((17,), (17,)),  # 1-d @ 1-d -> scalar
        ((17,), (17, 5)),
        ((5, 17), (17,)),
        ((2, 3, 5, 17), (17,)),
        ((17,), (2, 17, 4)),
        ((300, 200), (200,)),  # matrix-vector
    ]
    for sa, sb in cases:
        a, b = _rand(rng, sa, dtype), _rand(rng, sb, dtype)
        got = ops.matmul(a, b)
        ref = np.matmul(a, b)
        assert got.shape == ref.shape, (sa, sb)
        _check(got, a, b)
    # Non-foldable batch layouts: transposed batch axes and strided batches.
    base = _rand(rng, (6, 13, 9), dtype)
    for a in (base.transpose(0, 2, 1), base[::2].transpose(0, 2, 1), base.transpose(2, 0, 1)):
        w = _rand(rng, (a.shape[-1], 4), dtype)
        _check(ops.matmul(a, w), a, w)
        wb = _rand(rng, (a.shape[0], a.shape[-2], 4), dtype).transpose(0, 2, 1)
        _check(ops.matmul(wb, a), wb, a)


ACTS = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
}


@pytest.mark.parametrize("activation", list(ACTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_fused_epilogue(isa, activation, dtype):
    rng = np.random.default_rng(5)
    # k > the K block (epilogue only after the last block), edge tiles in m and n.
    for m, k, n in [(1, 3, 1), (13, 300, 37), (128, 784, 65), (2, 0, 5)]:
        x, w = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
        b = _rand(rng, (n,), dtype)
        for bias in (b, None):
            got = ops.linear(x, w, bias, activation)
            z = x.astype(np.float64) @ w.astype(np.float64)
            if bias is not None:
                z = z + bias
            ref = ACTS[activation](z)
            eps = np.finfo(dtype).eps
            tol = 2 * (k + 3) * eps * (np.abs(x) @ np.abs(w) + (0 if bias is None else np.abs(b)))
            assert got.dtype == dtype
            assert np.all(np.abs(got - ref) <= tol + 4 * eps), (m, k, n, activation)
    # Batched x of shape (..., d_in), and a 1-d x.
    x3 = _rand(rng, (2, 3, 7), dtype)
    w = _rand(rng, (7, 4), dtype)
    b = _rand(rng, (4,), dtype)
    ref = ACTS[activation](x3.astype(np.float64) @ w + b)
    np.testing.assert_allclose(ops.linear(x3, w, b, activation), ref, rtol=1e-5, atol=1e-5)
    ref1 = ACTS[activation](x3[0, 0].astype(np.float64) @ w + b)
    np.testing.assert_allclose(ops.linear(x3[0, 0], w, b, activation), ref1, rtol=1e-5, atol=1e-5)


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = _rand(rng, (64, 100), np.float64)
    w = _rand(rng, (100, 30), np.float64)
    b = _rand(rng, (30,), np.float64)
    ref = torch.tanh(
        torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w.T), torch.from_numpy(b))
    )
    np.testing.assert_allclose(ops.linear(x, w, b, "tanh"), ref.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise_identical(isa, dtype):
    rng = np.random.default_rng(7)
    cases = [
        (_rand(rng, (300, 517), dtype), _rand(rng, (517, 200), dtype)),
        (_rand(rng, (517, 300), dtype).T, _rand(rng, (200, 517), dtype).T),
        (_rand(rng, (8, 64, 96), dtype), _rand(rng, (8, 96, 80), dtype)),
        (_rand(rng, (128, 784), dtype), _rand(rng, (784, 256), dtype)),
        (_rand(rng, (1100, 700), dtype).T, _rand(rng, (1100, 10), dtype)),  # narrow, A^T
    ]
    for a, b in cases:
        with using_threads(1):
            one = ops.matmul(a, b)
            lin1 = ops.linear(a[..., :, :], b, b[0], "sigmoid") if a.ndim == 2 else None
        with using_threads(2):
            two = ops.matmul(a, b)
            lin2 = ops.linear(a[..., :, :], b, b[0], "sigmoid") if a.ndim == 2 else None
        assert one.tobytes() == two.tobytes()
        if lin1 is not None:
            assert lin1.tobytes() == lin2.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_b_and_k_blocks(isa, dtype):
    """B^T views (packed by the tile transpose) with k off the tile and K-block boundaries."""
    rng = np.random.default_rng(9)
    for m, k, n in [
        (13, 15, 32),  # k below one transpose tile: scalar rows only
        (5, 16, 33),  # one tile and a ragged column panel
        (29, 47, 31),  # no full column panel
        (37, 600, 96),  # two equal K blocks of 300 (not a multiple of the tile)
        (12, 1025, 70),  # three K blocks (342, 342, 341)
        (130, 784, 300),  # the MLP dY W^T shape, several column panels
    ]:
        a = _rand(rng, (m, k), dtype)
        w = _rand(rng, (n, k + 3), dtype)[:, 1 : k + 1]  # non-contiguous rows as well
        with using_threads(1):
            one = ops.matmul(a, w.T)
        with using_threads(2):
            two = ops.matmul(a, w.T)
        _check(one, a, w.T)
        assert one.tobytes() == two.tobytes(), (m, k, n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_uneven_m_split_by_n_halves(isa, dtype):
    """Shapes whose rows halve unevenly in tiles are cut into n halves: results unchanged."""
    rng = np.random.default_rng(10)
    for m, k, n in [(128, 300, 256), (131, 257, 250), (37, 600, 512), (128, 784, 256)]:
        a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
        with using_threads(1):
            one = ops.matmul(a, b)
        with using_threads(2):
            two = ops.matmul(a, b)
        _check(one, a, b)
        assert one.tobytes() == two.tobytes(), (m, k, n)


def test_out_argument():
    rng = np.random.default_rng(8)
    a, b = _rand(rng, (6, 5), np.float32), _rand(rng, (5, 4), np.float32)
    out = np.full((6, 4), np.nan, np.float32)
    assert ops.matmul(a, b, out=out) is out
    _check(out, a, b)
    # out aliasing an input: computed into a temporary, then copied.
    sq = _rand(rng, (7, 7), np.float64)
    ref = sq @ sq
    res = ops.matmul(sq, sq, out=sq)
    assert res is sq
    np.testing.assert_allclose(sq, ref, rtol=1e-12, atol=1e-12)
    flat = _rand(rng, 40, np.float64)
    x, y, o = flat[:16].reshape(4, 4), flat[8:24].reshape(4, 4), flat[20:36].reshape(4, 4)
    expect = x @ y
    ops.matmul(x, y, out=o)  # out partially overlaps y
    np.testing.assert_allclose(o, expect, rtol=1e-12, atol=1e-12)
    big = _rand(rng, (8, 8), np.float64)
    with pytest.raises(ValueError, match="C-contiguous"):  # overlapping and not C-contiguous
        ops.matmul(big[:4, :4], big[:4, 4:], out=big[:4, :4])


def test_public_entry_calling_conventions():
    """ops.matmul is a builtin twin of the Python general path: same signature, docstring,
    arguments and errors whichever way it is called."""
    import inspect

    rng = np.random.default_rng(10)
    a, b = _rand(rng, (3, 5), np.float32), _rand(rng, (5, 2), np.float32)
    assert str(inspect.signature(ops.matmul)) == "(a, b, out=None)"
    assert ops.matmul.__name__ == "matmul" and ">>>" in ops.matmul.__doc__
    for call in (
        lambda o: ops.matmul(a, b, o),
        lambda o: ops.matmul(a, b, out=o),
        lambda o: ops.matmul(a=a, b=b, out=o),  # keywords for a and b: the general path
        lambda o: ops.matmul(b=b, a=a, out=o),
    ):
        o = np.full((3, 2), np.nan, np.float32)
        assert call(o) is o
        _check(o, a, b)
    _check(ops.matmul(a, b, out=None), a, b)
    _check(ops.matmul(a.tolist(), b), a, b)  # a list: converted by the general path
    with pytest.raises(TypeError, match="unexpected keyword argument 'outt'"):
        ops.matmul(a, b, outt=None)
    with pytest.raises(TypeError, match="positional arguments"):
        ops.matmul(a, b, None, None)
    with pytest.raises(TypeError, match="multiple values for argument 'out'"):
        ops.matmul(a, b, None, out=None)
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        ops.matmul(a)


def test_bad_input():
    f32 = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 3\)"):
        ops.matmul(f32, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 3\)"):
        ops.matmul(f32.astype(np.int64), np.ones((4, 3)))
    with pytest.raises(ValueError, match="broadcast"):
        ops.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match="1-d"):
        ops.matmul(np.float32(2), f32)
    with pytest.raises(ValueError, match="1-d"):
        ops.matmul(f32, np.array(2.0))
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        ops.matmul(f32, np.ones((3, 4), np.float32), out=np.empty((4, 2), np.float32))
    with pytest.raises(ValueError, match="dtype float32"):
        ops.matmul(f32, np.ones((3, 4), np.float32), out=np.empty((2, 4), np.float64))
    with pytest.raises(TypeError, match="out"):
        ops.matmul(f32, np.ones((3, 4), np.float32), out=[[0.0] * 4] * 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.matmul(f32, np.ones((3, 4), np.float32), out=np.empty((4, 2), np.float32).T)
    for bad in (np.ones((3, 4), np.complex64), np.ones((3, 4), object), np.array([["a"] * 4] * 3)):
        with pytest.raises(TypeError, match=str(bad.dtype)):
            ops.matmul(f32, bad)
    with pytest.raises(TypeError):
        ops.matmul(None, f32)
    with pytest.raises(ValueError, match="activation"):
        ops.linear(f32, np.ones((3, 4), np.float32), None, "gelu!")
    with pytest.raises(ValueError, match=r"'w'.*\(3,\)"):
        ops.linear(f32, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"'b'.*\(4,\)"):
        ops.linear(f32, np.ones((3, 4), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"linear\(\).*\(2, 3\).*\(4, 4\)"):
        ops.linear(f32, np.ones((4, 4), np.float32))


def test_integer_and_mixed_promotion():
    rng = np.random.default_rng(9)
    ia = rng.integers(-50, 50, (5, 7))
    ib = rng.integers(-50, 50, (7, 3))
    got = ops.matmul(ia, ib)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, (ia @ ib).astype(np.float64))
    got8 = ops.matmul(ia.astype(np.int8), ib.astype(np.int8))
    assert got8.dtype == np.float32
    np.testing.assert_array_equal(got8, (ia @ ib).astype(np.float32))
    mixed = ops.matmul(ia.astype(np.float32), ib.astype(np.float64))
    assert mixed.dtype == np.float64
    np.testing.assert_array_equal(mixed, (ia @ ib).astype(np.float64))
    assert ops.matmul(ia.astype(bool), ib.astype(bool)).dtype == np.float32
    lists = ops.matmul([[1, 2]], [[3], [4]])
    np.testing.assert_array_equal(lists, [[11.0]])
    assert ops.linear(ia, ib, np.ones(3, np.float32)).dtype == np.float64
