"""PyTorch conveniences on Tensor: numel, dim, to, clone, all/any, zero_/fill_."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl


def test_numel_dim_to():
    t = fastdl.zeros(2, 3, 4)
    assert t.numel() == 24 and t.dim() == 3
    assert fastdl.zeros(0, 5).numel() == 0 and fastdl.tensor(1.0).dim() == 0
    assert t.to(np.float64).dtype == np.float64
    assert t.to(np.float32) is t  # no copy when nothing changes, as torch's .to


def test_clone_copies_memory_and_passes_gradients():
    x = fastdl.tensor([1.0, -2.0, 3.0], requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c.numpy(), x.numpy())
    (c * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())
    ints = fastdl.tensor(np.arange(3))
    assert ints.clone().dtype == ints.dtype


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_all_any_match_numpy(axis, keepdims):
    a = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 5.0]])
    t = fastdl.tensor(a)
    for name in ("all", "any"):
        got = getattr(t, name)(axis=axis, keepdims=keepdims)
        want = getattr(np, name)(a, axis=axis, keepdims=keepdims)
        assert got.dtype == np.bool_ and not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), want)


def test_zero_and_fill_in_place():
    t = fastdl.ones(2, 2)
    alias = t.numpy()
    assert t.zero_() is t and (alias == 0).all()
    assert t.fill_(2.5) is t and (alias == 2.5).all()
    t.fill_(fastdl.tensor(4.0))
    assert (alias == 4).all()
    with pytest.raises(ValueError, match=r"fill_.*scalar.*\(2,\)"):
        t.fill_(np.ones(2))


def test_in_place_on_a_tensor_requiring_grad_needs_no_grad():
    w = fastdl.ones(3, requires_grad=True)
    for call in (w.zero_, lambda: w.fill_(1.0)):
        with pytest.raises(RuntimeError, match=r"in-place.*no_grad"):
            call()
    with fastdl.no_grad():
        w.zero_()
    assert (w.numpy() == 0).all()
