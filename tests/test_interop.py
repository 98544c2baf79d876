"""NumPy interop: __array__, ufuncs (NEP 13), array functions (NEP 18), grad of NumPy code."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastdl
from fastdl import Tensor

RNG = np.random.default_rng(11)


def leaf(*shape):
    return fastdl.tensor(RNG.standard_normal(shape), requires_grad=True)


def test_asarray_is_zero_copy():
    t = leaf(3, 2)
    assert np.asarray(t) is t.data
    assert np.shares_memory(np.array(t, copy=False), t.data)
    c = np.array(t)  # np.array copies by default
    assert not np.shares_memory(c, t.data)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, t: a + t,
        lambda a, t: t + a,
        lambda a, t: a * t,
        lambda a, t: a - t,
        lambda a, t: a / (t * t + 1),
        lambda a, t: a @ t.T,
        lambda a, t: np.add(a, t),
        lambda a, t: np.multiply(t, a),
        lambda a, t: np.maximum(t, 0) * a,
        lambda a, t: np.exp(t) + np.log(np.abs(t) + 1) + np.sqrt(t * t + 1),
        lambda a, t: np.tanh(t) * np.square(a),
        lambda a, t: np.matmul(a, t.T),
        lambda a, t: np.power(t, 2) - np.negative(t),
        lambda a, t: np.float64(2.0) * t,
    ],
)
def test_ufuncs_and_operators_stay_differentiable(fn):
    a = RNG.standard_normal((3, 4))
    t = leaf(3, 4)
    out = fn(a, t)
    assert isinstance(out, Tensor) and out.requires_grad
    assert fastdl.gradcheck(lambda x: fn(a, x), t.data)


@pytest.mark.parametrize(
    "name,fn",
    [
        ("sum", lambda t: np.sum(t, axis=1, keepdims=True)),
        ("mean", lambda t: np.mean(t, axis=-1)),
        ("max", lambda t: np.max(t, axis=0)),
        ("amin", lambda t: np.amin(t)),
        ("var", lambda t: np.var(t, axis=0)),
        ("std", lambda t: np.std(t)),
        ("reshape", lambda t: np.reshape(t, (4, 3)) * np.arange(12.0).reshape(4, 3)),
        ("transpose", lambda t: np.transpose(t) @ np.ones((3, 2))),
        ("concatenate", lambda t: np.concatenate([t, t * 2, np.ones((1, 4))], axis=0)),
        ("stack", lambda t: np.stack([t, np.exp(t)], axis=-1)),
        ("where", lambda t: np.where(t > 0, t, t * 0.1)),
        ("clip", lambda t: np.clip(t, -0.5, 0.5)),
        ("dot", lambda t: np.dot(t, np.ones((4, 2)))),
        ("dot_vec", lambda t: np.dot(t[0], t[1])),
        ("squeeze", lambda t: np.squeeze(np.expand_dims(t, 0), 0)),
        ("outer", lambda t: np.outer(t[0], t[1])),
        ("broadcast_to", lambda t: np.broadcast_to(t[0], (2, 4))),
        ("vstack", lambda t: np.vstack([t[0], t[1]])),
        ("norm", lambda t: np.linalg.norm(t, axis=1)),
        ("add.reduce", lambda t: np.add.reduce(t, axis=1)),
    ],
)
def test_array_functions_dispatch_to_fastdl(name, fn):
    t = leaf(3, 4)
    out = fn(t)
    assert isinstance(out, Tensor) and out.requires_grad, name
    ref = fn(t.data)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    assert fastdl.gradcheck(fn, t.data)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda t: np.cumsum(t), "numpy.cumsum"),
        (lambda t: np.prod(t), "numpy.prod"),
        (lambda t: np.linalg.inv(t), "numpy.linalg.inv"),
        (lambda t: np.arctan(t), "numpy.arctan"),
        (lambda t: np.add(t, 1, out=np.empty((3, 3))), "numpy.add"),
        (lambda t: np.sum(t, out=np.empty(())), "numpy.sum(): argument 'out'"),
        (lambda t: np.multiply.outer(t, t), "numpy.multiply.outer"),
    ],
)
def test_unsupported_functions_raise_typeerror_naming_them(call, name):
    t = leaf(3, 3)
    with pytest.raises(TypeError, match=re.escape(name)):
        call(t)


def test_without_grad_numpy_functions_run_on_data():
    t = fastdl.tensor(np.arange(4.0))
    c = np.cumsum(t)
    assert isinstance(c, Tensor) and np.array_equal(c.data, [0, 1, 3, 6])
    x = leaf(4)
    with fastdl.no_grad():
        assert np.array_equal(np.cumsum(x).data, np.cumsum(x.data))
    assert int(np.argmax(t)) == 3
    assert np.allclose(t, t.data)
    assert np.shape(x) == (4,)
    b = np.isfinite(x)
    assert isinstance(b, Tensor) and b.dtype == np.bool_ and not b.requires_grad


def test_inplace_ufunc_into_tensor_under_no_grad():
    p = leaf(3)
    buf = p.data
    g = np.ones(3)
    with fastdl.no_grad():
        r = np.subtract(p, 0.5 * g, out=p)
    assert r is p and p.data is buf
    with pytest.raises(TypeError, match="require grad"):
        np.subtract(p, g, out=p)


def test_mixed_dtype_promotion_through_numpy():
    t = fastdl.tensor(np.ones(3, np.float32), requires_grad=True)
    assert (np.ones(3, np.float32) + t).dtype == np.float32
    assert np.exp(t).dtype == np.float32
    assert (t * 2.0).dtype == np.float32
    assert (np.ones(3) * t).dtype == np.float64


def mlp_loss(params, x, y):
    """A two-layer MLP loss written with plain NumPy calls."""
    w1, b1, w2, b2 = params
    h = np.maximum(x @ w1 + b1, 0)
    logits = h @ w2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def mlp_loss_flat(w1, b1, w2, b2, x, y):
    return mlp_loss((w1, b1, w2, b2), x, y)


def test_grad_of_a_numpy_mlp_loss():
    x = RNG.standard_normal((8, 5))
    y = RNG.integers(0, 3, 8)
    params = [RNG.standard_normal(s) for s in [(5, 6), (6,), (6, 3), (3,)]]
    value, grads = fastdl.value_and_grad(mlp_loss_flat, argnums=(0, 1, 2, 3))(*params, x, y)
    assert isinstance(value, (float, np.floating)) or np.ndim(value) == 0
    np.testing.assert_allclose(value, mlp_loss(params, x, y), rtol=1e-12)
    assert all(isinstance(g, np.ndarray) and g.shape == p.shape for g, p in zip(grads, params))
    assert fastdl.gradcheck(lambda *p: mlp_loss_flat(*p, x, y), *params)
    g0 = fastdl.grad(mlp_loss_flat)(*params, x, y)
    np.testing.assert_allclose(g0, grads[0], rtol=1e-12)


def test_grad_against_torch_on_numpy_mlp():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((8, 5))
    y = RNG.integers(0, 3, 8)
    params = [RNG.standard_normal(s) for s in [(5, 6), (6,), (6, 3), (3,)]]
    grads = fastdl.grad(mlp_loss_flat, argnums=(0, 1, 2, 3))(*params, x, y)
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    h = torch.relu(torch.from_numpy(x) @ tp[0] + tp[1])
    loss = torch.nn.functional.cross_entropy(h @ tp[2] + tp[3], torch.from_numpy(y))
    loss.backward()
    for g, t in zip(grads, tp):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_grad_functional_edge_cases():
    assert fastdl.grad(lambda x: np.sum(x * 3.0))(np.ones(2)).tolist() == [3.0, 3.0]
    # a function that ignores its input has a zero gradient
    np.testing.assert_array_equal(fastdl.grad(lambda x, c: np.sum(c))(np.ones(2), np.ones(2)), 0)
    with pytest.raises(TypeError, match="scalar"):
        fastdl.grad(lambda x: x * 2)(np.ones(2))
    # float32 inputs keep float32 gradients; ints are promoted to float64
    assert fastdl.grad(lambda x: np.sum(x**2))(np.ones(2, np.float32)).dtype == np.float32
    assert fastdl.grad(lambda x: np.sum(x**2))(np.array([1, 2])).tolist() == [2.0, 4.0]
