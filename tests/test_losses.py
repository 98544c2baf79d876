"""Losses: values against NumPy formulas and PyTorch, gradients by finite differences, errors."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]


def _rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("half", [False, True])
def test_mse_formula_and_gradcheck(reduction, half):
    g = _rng()
    x, y = g.normal(size=(4, 3)), g.normal(size=(4, 3))
    sq = (x - y) ** 2 * (0.5 if half else 1.0)
    expect = {"mean": sq.mean(), "sum": sq.sum(), "none": sq}[reduction]
    np.testing.assert_allclose(F.mse_loss(x, y, reduction, half=half).numpy(), expect, rtol=1e-12)
    assert fastdl.gradcheck(lambda a, b: F.mse_loss(a, b, reduction, half=half), x, y)


def test_mse_seed_form_gradient_is_residual():
    x = fastdl.tensor(np.array([3.0, 1.0]), requires_grad=True)
    F.mse_loss(x, np.zeros(2), reduction="sum", half=True).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_formula_gradcheck_and_weight(reduction):
    g = _rng()
    p = g.uniform(0.05, 0.95, size=(5, 2))
    y = g.uniform(0, 1, size=(5, 2))
    w = g.uniform(0.5, 2, size=(2,))
    ell = -(y * np.log(p) + (1 - y) * np.log(1 - p)) * w
    expect = {"mean": ell.mean(), "sum": ell.sum(), "none": ell}[reduction]
    np.testing.assert_allclose(
        F.binary_cross_entropy(p, y, w, reduction).numpy(), expect, rtol=1e-12
    )
    assert fastdl.gradcheck(lambda a, b: F.binary_cross_entropy(a, b, w, reduction), p, y)


def test_bce_clamps_logs_like_pytorch():
    p = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy(p, y, reduction="none").numpy()
    np.testing.assert_array_equal(loss, [0.0, 0.0, 100.0, 100.0])
    pt = fastdl.tensor(p, requires_grad=True)
    F.binary_cross_entropy(pt, y, reduction="sum").backward()
    assert np.all(np.isfinite(pt.grad.numpy()))
    torch = pytest.importorskip("torch")
    tp = torch.from_numpy(p).requires_grad_()
    torch.nn.functional.binary_cross_entropy(tp, torch.from_numpy(y), reduction="sum").backward()
    np.testing.assert_allclose(pt.grad.numpy(), tp.grad.numpy())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, np.array([0.5, 3.0])])
def test_bce_with_logits_formula_and_gradcheck(reduction, pos_weight):
    g = _rng()
    x = g.normal(size=(4, 2)) * 3
    y = g.uniform(0, 1, size=(4, 2))
    s = 1 / (1 + np.exp(-x))
    pw = 1.0 if pos_weight is None else pos_weight
    ell = -(pw * y * np.log(s) + (1 - y) * np.log(1 - s))
    expect = {"mean": ell.mean(), "sum": ell.sum(), "none": ell}[reduction]
    got = F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pos_weight)
    np.testing.assert_allclose(got.numpy(), expect, rtol=1e-10)
    assert fastdl.gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, pos_weight=pos_weight
        ),
        x,
        y,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_stable_at_1e4(dtype):
    x = fastdl.tensor(np.array([1e4, -1e4, 1e4, -1e4], dtype), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 0.0, 1e4, 1e4])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0, -1.0])


def _ce_reference(x, t, w=None, ignore_index=-100, reduction="mean"):
    x2 = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    t2 = t.reshape(-1)
    logp = x2 - x2.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    keep = t2 != ignore_index
    tt = np.where(keep, t2, 0)
    wt = (np.ones(x.shape[1]) if w is None else w)[tt] * keep
    ell = -logp[np.arange(len(tt)), tt] * wt
    if reduction == "mean":
        return ell.sum() / wt.sum()
    return ell.sum() if reduction == "sum" else ell.reshape(t.shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_cross_entropy_formula_and_gradcheck(reduction, shape):
    g = _rng()
    x = g.normal(size=shape) * 2
    t = g.integers(0, shape[1], size=(shape[0],) + shape[2:])
    w = g.uniform(0.5, 2.0, size=shape[1])
    t.reshape(-1)[1] = -100  # one ignored target
    for weight in (None, w):
        got = F.cross_entropy(x, t, weight=weight, reduction=reduction).numpy()
        np.testing.assert_allclose(
            got, _ce_reference(x, t, weight, reduction=reduction), rtol=1e-10
        )
        assert fastdl.gradcheck(
            lambda a, w_=weight: F.cross_entropy(a, t, weight=w_, reduction=reduction), x
        )
    assert fastdl.gradcheck(
        lambda a: F.cross_entropy(a, t, label_smoothing=0.2, reduction=reduction), x
    )


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    g = _rng()
    x = g.normal(size=(8, 5))
    t = g.integers(0, 5, size=8)
    t[2] = 1
    w = g.uniform(0.5, 2, size=5)
    y = g.uniform(0, 1, size=(8, 5))
    p = g.uniform(0.01, 0.99, size=(8, 5))
    tt, tw, ty = torch.from_numpy(t), torch.from_numpy(w), torch.from_numpy(y)
    cases = [
        (
            lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=0.1, ignore_index=1),
            lambda a: tf.cross_entropy(a, tt, weight=tw, label_smoothing=0.1, ignore_index=1),
            x,
        ),
        (lambda a: F.mse_loss(a, y), lambda a: tf.mse_loss(a, ty), x),
        (lambda a: F.binary_cross_entropy(a, y), lambda a: tf.binary_cross_entropy(a, ty), p),
        (
            lambda a: F.binary_cross_entropy_with_logits(a, y, pos_weight=w),
            lambda a: tf.binary_cross_entropy_with_logits(a, ty, pos_weight=tw),
            x,
        ),
    ]
    for ours, theirs, inp in cases:
        a = fastdl.tensor(inp, requires_grad=True)
        ta = torch.from_numpy(inp).requires_grad_()
        la, lt = ours(a), theirs(ta)
        la.backward()
        lt.backward()
        np.testing.assert_allclose(la.numpy(), lt.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_loss_modules_forward_to_functional():
    g = _rng()
    x, y = g.normal(size=(3, 2)), g.uniform(size=(3, 2))
    np.testing.assert_allclose(
        nn.MSELoss(half=True)(x, y).numpy(), F.mse_loss(x, y, half=True).numpy()
    )
    np.testing.assert_allclose(
        nn.BCEWithLogitsLoss(reduction="sum")(x, y).numpy(),
        F.binary_cross_entropy_with_logits(x, y, reduction="sum").numpy(),
    )
    t = np.array([0, 1, 1])
    np.testing.assert_allclose(nn.CrossEntropyLoss()(x, t).numpy(), F.cross_entropy(x, t).numpy())
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"


def test_float32_loss_keeps_dtype_and_casts_targets():
    x = fastdl.tensor(np.ones((4, 1), np.float32), requires_grad=True)
    loss = F.mse_loss(x, np.zeros((4, 1)))  # float64 target cast to the input's dtype
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    assert F.binary_cross_entropy_with_logits(x, np.array([[1], [0], [1], [0]])).dtype == np.float32


def test_bad_targets_give_clear_errors():
    x = np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"'target' must have the input's shape \(4, 1\).* \(4,\)"):
        F.mse_loss(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"'target' must have the input's shape \(4, 1\)"):
        F.binary_cross_entropy_with_logits(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(np.array([1.5]), np.array([1.0]))
    logits = np.zeros((4, 3))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(logits, np.zeros(4))  # float, but not probabilities of shape (4, 3)
    with pytest.raises(ValueError, match=r"'target' must have shape \(4,\) .*got shape \(4, 3\)"):
        F.cross_entropy(logits, np.zeros((4, 3), np.int64))
    with pytest.raises(ValueError, match=r"in \[0, 2\]"):
        F.cross_entropy(logits, np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probability_targets(reduction):
    g = _rng()
    x = g.normal(size=(5, 4, 3))
    p = g.uniform(size=(5, 4, 3))
    p /= p.sum(axis=1, keepdims=True)
    w = g.uniform(0.5, 2, size=4)
    assert fastdl.gradcheck(lambda a: F.cross_entropy(a, p, weight=w, reduction=reduction), x)
    assert fastdl.gradcheck(
        lambda a: F.cross_entropy(a, p, label_smoothing=0.3, reduction=reduction), x
    )
    onehot = np.eye(4)[np.array([0, 3, 1, 1, 2])]
    x2 = x[:, :, 0]
    np.testing.assert_allclose(
        F.cross_entropy(x2, onehot, reduction=reduction).numpy(),
        F.cross_entropy(x2, np.array([0, 3, 1, 1, 2]), reduction=reduction).numpy(),
        rtol=1e-12,
    )
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.cross_entropy(
        torch.from_numpy(x),
        torch.from_numpy(p),
        weight=torch.from_numpy(w),
        label_smoothing=0.1,
        reduction=reduction,
    )
    got = F.cross_entropy(x, p, weight=w, label_smoothing=0.1, reduction=reduction)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-10)


def test_integer_and_float16_inputs_are_promoted_to_float32():
    ints = fastdl.tensor(np.array([[1, 0], [0, 1]]))
    out = F.softmax(ints, dim=1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy().sum(1), 1.0, rtol=1e-6)
    loss = F.mse_loss(np.array([1, 2], np.int64), np.array([0.0, 0.0]))
    assert loss.dtype == np.float32 and loss.item() == 2.5
    assert F.cross_entropy(np.zeros((2, 3), np.float16), np.array([0, 1])).dtype == np.float32
