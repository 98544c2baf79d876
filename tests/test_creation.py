"""Tensor factories: values and dtypes against NumPy, PyTorch's defaults, seeding, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl


@pytest.mark.parametrize(
    "make, want",
    [
        (lambda: fastdl.zeros(2, 3), np.zeros((2, 3), np.float32)),
        (lambda: fastdl.zeros((2, 3), dtype=np.float64), np.zeros((2, 3))),
        (lambda: fastdl.ones(0, 4), np.ones((0, 4), np.float32)),
        (lambda: fastdl.ones([3], dtype="int32"), np.ones(3, np.int32)),
        (lambda: fastdl.zeros(), np.zeros((), np.float32)),
        (lambda: fastdl.full((2, 2), 1.5), np.full((2, 2), 1.5, np.float32)),
        (lambda: fastdl.full(3, 7), np.full(3, 7, np.int64)),
        (lambda: fastdl.full((1,), True), np.ones(1, bool)),
        (lambda: fastdl.full((2,), 2, dtype=np.float64), np.full(2, 2.0)),
        (lambda: fastdl.arange(5), np.arange(5, dtype=np.int64)),
        (lambda: fastdl.arange(2, 11, 3), np.arange(2, 11, 3, dtype=np.int64)),
        (lambda: fastdl.arange(5, 0, -2), np.arange(5, 0, -2, dtype=np.int64)),
        (lambda: fastdl.arange(0, 1, 0.1), np.arange(0, 1, 0.1).astype(np.float32)),
        (lambda: fastdl.arange(3, dtype=np.float64), np.arange(3.0)),
        (lambda: fastdl.linspace(-1, 1, 7), np.linspace(-1, 1, 7).astype(np.float32)),
        (lambda: fastdl.linspace(0, 1, 0), np.zeros(0, np.float32)),
        (lambda: fastdl.eye(3), np.eye(3, dtype=np.float32)),
        (lambda: fastdl.eye(2, 4, dtype=np.float64), np.eye(2, 4)),
    ],
)
def test_factories_match_numpy(make, want):
    t = make()
    assert isinstance(t, fastdl.Tensor)
    assert t.dtype == want.dtype and t.shape == want.shape
    np.testing.assert_array_equal(t.numpy(), want)


def test_like_factories_take_shape_and_dtype_of_tensors_and_arrays():
    x = fastdl.tensor(np.arange(6.0).reshape(2, 3))  # float64 data
    for fn, value in ((fastdl.zeros_like, 0), (fastdl.ones_like, 1)):
        t = fn(x)
        assert t.shape == (2, 3) and t.dtype == np.float64
        assert (t.numpy() == value).all()
    assert fastdl.full_like(x, 4).dtype == np.float64
    assert (fastdl.full_like(x, 4).numpy() == 4).all()
    assert fastdl.empty_like(np.zeros((4, 1), np.int32)).dtype == np.int32
    assert fastdl.zeros_like([[1, 2]], dtype=np.float32).shape == (1, 2)


def test_factories_make_fresh_leaves_that_can_require_grad():
    w = fastdl.zeros(3, requires_grad=True)
    (w * fastdl.arange(3).astype(np.float32)).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 1.0, 2.0])
    a, b = fastdl.zeros(2), fastdl.zeros(2)
    assert not np.shares_memory(a.numpy(), b.numpy())
    with pytest.raises(
        TypeError, match=r"arange\(\): argument 'requires_grad' must be False for a non-float"
    ):
        fastdl.arange(3, requires_grad=True)


def test_random_factories_follow_manual_seed_and_their_distributions():
    fastdl.manual_seed(3)
    a, n, i = fastdl.rand(1000), fastdl.randn(4000), fastdl.randint(2, 5, (1000,))
    fastdl.manual_seed(3)
    np.testing.assert_array_equal(a.numpy(), fastdl.rand(1000).numpy())
    np.testing.assert_array_equal(n.numpy(), fastdl.randn(4000).numpy())
    np.testing.assert_array_equal(i.numpy(), fastdl.randint(2, 5, (1000,)).numpy())
    assert a.dtype == n.dtype == np.float32 and i.dtype == np.int64
    assert 0.0 <= a.numpy().min() and a.numpy().max() < 1.0
    assert abs(n.numpy().mean()) < 0.1 and abs(n.numpy().std() - 1.0) < 0.1
    assert set(np.unique(i.numpy())) == {2, 3, 4}
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(
        fastdl.randn(5, generator=g1).numpy(), fastdl.randn(5, generator=g2).numpy()
    )
    assert fastdl.randn(2, 2, dtype=np.float64).dtype == np.float64
    assert fastdl.randint(4, size=(2, 2)).shape == (2, 2)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: fastdl.zeros(-1), ValueError, r"zeros\(\).*'size'.*non-negative"),
        (lambda: fastdl.ones(2.5), TypeError, r"ones\(\).*'size'"),
        (lambda: fastdl.ones("ab"), TypeError, r"ones\(\).*'size'"),
        (lambda: fastdl.zeros(2, dtype="complex64"), TypeError, r"zeros\(\).*'dtype'.*complex"),
        (lambda: fastdl.zeros(2, dtype="nonsense"), TypeError, r"zeros\(\).*'dtype'"),
        (lambda: fastdl.full((2,), "x"), TypeError, r"full\(\).*'fill_value'"),
        (lambda: fastdl.arange(0, 5, 0), ValueError, r"arange\(\).*'step'"),
        (lambda: fastdl.arange("3"), TypeError, r"arange\(\).*'end'"),
        (lambda: fastdl.linspace(0, 1, -2), ValueError, r"linspace\(\).*'steps'"),
        (lambda: fastdl.linspace(0, 1, 2.0), TypeError, r"linspace\(\).*'steps'"),
        (lambda: fastdl.eye(-2), ValueError, r"eye\(\).*non-negative"),
        (lambda: fastdl.randn(2, dtype=np.int64), TypeError, r"randn\(\).*float dtype"),
        (lambda: fastdl.rand(2, generator=3), TypeError, r"rand\(\).*'generator'"),
        (
            lambda: fastdl.randint(5, 5),
            ValueError,
            r"randint\(\): argument 'high' must be > low \(5\), got 5",
        ),
        (lambda: fastdl.randint(0.5, 3), TypeError, r"randint\(\).*'low'"),
        (lambda: fastdl.zeros(2, dtype=bool, requires_grad=True), TypeError, r"zeros\(\)"),
    ],
)
def test_factories_reject_bad_input_clearly(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_docstring_examples():
    import doctest

    import fastdl.creation

    res = doctest.testmod(fastdl.creation, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
