"""Tensor: construction, attributes, dtypes, values against NumPy, and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl import Tensor

RNG = np.random.default_rng(3)


def test_tensor_copies_and_from_numpy_shares():
    a = np.arange(3.0)
    t = fastdl.tensor(a)
    s = fastdl.from_numpy(a)
    a[0] = 7
    assert t.data[0] == 0 and s.data[0] == 7
    assert s.numpy() is a
    assert np.shares_memory(np.asarray(s), a)
    with pytest.raises(TypeError, match="from_numpy"):
        fastdl.from_numpy([1.0])


def test_python_data_dtypes():
    assert fastdl.tensor([1.0, 2.0]).dtype == np.float32
    assert fastdl.tensor(1.5).dtype == np.float32
    assert fastdl.tensor([1, 2]).dtype == np.int64
    assert fastdl.tensor([True]).dtype == np.bool_
    assert fastdl.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert fastdl.tensor(np.zeros(2, np.float64)).dtype == np.float64
    with pytest.raises(TypeError, match="dtype"):
        fastdl.tensor(["a"])


def test_attributes():
    t = fastdl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.float64
    assert t.T.shape == (3, 2)
    assert t.requires_grad and t.is_leaf and t.grad is None
    assert fastdl.tensor([[2.5]]).item() == 2.5
    d = t.detach()
    assert not d.requires_grad and np.shares_memory(d.data, t.data)
    assert "requires_grad=True" in repr(t) and "float64" in repr(t)
    assert "grad_fn=<MulBackward>" in repr(t * 2)
    assert repr(fastdl.tensor([1.0])) == "tensor([1.])"
    assert f"{fastdl.tensor(1.25):.1f}" == "1.2"


def test_requires_grad_only_on_floats():
    with pytest.raises(TypeError, match="float32/float64"):
        fastdl.tensor([1, 2], requires_grad=True)
    t = fastdl.tensor([1, 2])
    assert not (t * 2).requires_grad
    assert (t * 2).dtype == np.int64
    f = fastdl.tensor([1.0, 2.0], requires_grad=True)
    y = f * t  # int data mixed in: float result, gradient to the float tensor only
    y.sum().backward()
    np.testing.assert_array_equal(f.grad.data, [1.0, 2.0])


def test_data_is_assignable_and_ops_see_it():
    w = fastdl.tensor([1.0, 2.0], requires_grad=True)
    w.data = np.array([3.0, 4.0], np.float32)
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [6.0, 8.0])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_dtype_promotion_follows_numpy(dt):
    x = fastdl.tensor(np.ones(3, dt))
    assert (x * 2.5).dtype == dt  # Python scalars do not upcast
    assert (2.5 + x).dtype == dt
    assert (x**2).dtype == dt
    assert (x / 3).dtype == dt
    assert (x + np.ones(3, np.float64)).dtype == np.float64
    assert x.exp().dtype == dt and x.relu().dtype == dt and x.sigmoid().dtype == dt
    assert x.mean().dtype == dt and x.softmax().dtype == dt
    assert (x @ np.ones((3, 2), dt)).dtype == dt


def test_reductions_return_arrays_not_scalars():
    s = fastdl.tensor(np.ones(3)).sum()
    assert isinstance(s.data, np.ndarray) and s.shape == ()


def test_inplace_updates_under_no_grad_write_into_data():
    p = fastdl.tensor([1.0, 2.0], requires_grad=True)
    buf = p.data
    with fastdl.no_grad():
        p -= 0.5 * fastdl.tensor([2.0, 2.0])
        p *= 2
    assert p.data is buf
    np.testing.assert_array_equal(buf, [0.0, 2.0])
    q = p
    p += 1  # with grad on this is out-of-place (keeps the graph correct)
    assert p is not q and p.grad_fn is not None


def test_setitem():
    t = fastdl.tensor(np.zeros(3))
    t[1] = 5
    np.testing.assert_array_equal(t.data, [0, 5, 0])
    r = fastdl.tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        r[0] = 1.0
    with fastdl.no_grad():
        r[0] = 1.0
    assert r.data[0] == 1.0


def test_comparisons_give_bool_tensors():
    t = fastdl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = t > 1.5
    assert isinstance(m, Tensor) and m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal((t == 2.0).data, [False, True, False])


def test_iteration_and_indexing_values():
    a = RNG.standard_normal((4, 3))
    t = fastdl.tensor(a)
    rows = list(t)
    assert len(rows) == 4 and np.array_equal(rows[2].data, a[2])
    np.testing.assert_array_equal(t[t > 0].data, a[a > 0])
    np.testing.assert_array_equal(t[fastdl.tensor([0, 3])].data, a[[0, 3]])
    np.testing.assert_array_equal(t[1:, -1].data, a[1:, -1])


VALUE_CASES = [
    ("sum", lambda x: x.sum(axis=-1, keepdims=True), lambda a: a.sum(-1, keepdims=True)),
    ("mean", lambda x: x.mean(0), lambda a: a.mean(0)),
    ("max", lambda x: x.max(1), lambda a: a.max(1)),
    ("min", lambda x: x.min(), lambda a: a.min()),
    ("var", lambda x: x.var(-1, ddof=1), lambda a: a.var(-1, ddof=1)),
    ("std", lambda x: x.std(0), lambda a: a.std(0)),
    ("exp", lambda x: x.exp(), np.exp),
    ("abs", lambda x: x.abs(), np.abs),
    ("relu", lambda x: x.relu(), lambda a: np.maximum(a, 0)),
    ("sigmoid", lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    ("tanh", lambda x: x.tanh(), np.tanh),
    ("clip", lambda x: x.clip(-0.3, 0.4), lambda a: np.clip(a, -0.3, 0.4)),
    (
        "softmax",
        lambda x: x.softmax(0),
        lambda a: np.exp(a) / np.exp(a).sum(0, keepdims=True),
    ),
    (
        "log_softmax",
        lambda x: x.log_softmax(),
        lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True)),
    ),
    ("logsumexp", lambda x: x.logsumexp(1), lambda a: np.log(np.exp(a).sum(1))),
    ("transpose", lambda x: x.T, lambda a: a.T),
    ("reshape", lambda x: x.reshape(-1, 2), lambda a: a.reshape(-1, 2)),
    ("matmul", lambda x: x @ x.T, lambda a: a @ a.T),
]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name,f,ref", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_match_numpy(name, f, ref, dt):
    a = RNG.standard_normal((4, 6)).astype(dt)
    out = f(fastdl.tensor(a))
    assert out.dtype == dt
    tol = 1e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(out.data, ref(a.astype(np.float64)), rtol=tol, atol=tol)


def test_logsumexp_is_stable():
    t = fastdl.tensor(np.array([1000.0, 1000.0]))
    np.testing.assert_allclose(t.logsumexp().item(), 1000 + np.log(2))


# --- PyTorch as a second oracle: values and gradients on the same inputs -------------------

TORCH_CASES = [
    ("add_bcast", lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (4,)]),
    ("mul_bcast", lambda a, b: a * b, lambda a, b: a * b, [(2, 1, 4), (3, 1)]),
    ("div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1), [(3, 4), (3, 4)]),
    ("pow", lambda a, b: (a * a + 1) ** b, lambda a, b: (a * a + 1) ** b, [(3,), (3,)]),
    ("matmul_batched", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    ("matmul_vec", lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (2, 4, 3)]),
    ("relu_sig_tanh", lambda a: a.relu() + a.sigmoid() * a.tanh(),
     lambda a: a.relu() + a.sigmoid() * a.tanh(), [(5, 3)]),
    ("softmax", lambda a: a.softmax(1), lambda a: a.softmax(1), [(3, 5)]),
    ("log_softmax", lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1), [(3, 5)]),
    ("logsumexp", lambda a: a.logsumexp(0), lambda a: a.logsumexp(0), [(3, 5)]),
    ("max_dim", lambda a: a.max(1), lambda a: a.amax(1), [(3, 5)]),
    ("var_std", lambda a: a.var(0) + a.std(1), lambda a: a.var(0, correction=0)
     + a.std(1, correction=0), [(4, 4)]),
    ("index_scatter", lambda a: a[np.array([0, 0, 2])], lambda a: a[[0, 0, 2]], [(3, 2)]),
    ("where_max", lambda a, b: fastdl.maximum(a, b), lambda a, b: __import__("torch").maximum(a, b),
     [(3, 4), (3, 4)]),
    ("cat", lambda a, b: fastdl.concatenate([a, b], 1),
     lambda a, b: __import__("torch").cat([a, b], 1), [(2, 3), (2, 2)]),
    ("linear_relu", lambda x, w, b: fastdl.linear(x, w, b, "relu"),
     lambda x, w, b: __import__("torch").relu(x @ w + b), [(5, 3), (3, 4), (4,)]),
]  # fmt: skip


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name,f,tf,shapes", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_against_torch(name, f, tf, shapes, dt):
    torch = pytest.importorskip("torch")
    arrays = [RNG.standard_normal(s).astype(dt) for s in shapes]
    xs = [fastdl.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = f(*xs), tf(*ts)
    tol = dict(rtol=2e-5, atol=2e-5) if dt == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert out.dtype == dt
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **tol)
    g = RNG.standard_normal(out.shape).astype(dt)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    for x, t in zip(xs, ts):
        assert x.grad.dtype == dt
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), **tol)


class Sub(Tensor):
    """A Tensor subclass, as nn.Parameter: Python tries its reflected methods first."""


def test_subclass_operands_keep_operator_order():
    a = fastdl.tensor([5.0, 7.0], requires_grad=True)
    p = Sub(np.array([1.0, 2.0], np.float32), requires_grad=True)
    r = a - p  # Python calls Sub.__rsub__(p, a) first
    np.testing.assert_array_equal(r.data, [4.0, 5.0])
    assert type(r) is Tensor
    (r * p).sum().backward()
    np.testing.assert_array_equal(p.grad.data, [5.0 - 2.0, 7.0 - 4.0])
    np.testing.assert_array_equal(a.grad.data, [1.0, 2.0])
    np.testing.assert_array_equal((2.0 - p).data, [1.0, 0.0])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_kernel_activations_on_every_layout_and_dtype(name):
    # C-contiguous floats go straight to the kernel; views, other dtypes take ops' general path.
    ref = {
        "relu": lambda a: np.maximum(a, 0),
        "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
        "tanh": np.tanh,
    }[name]
    base = RNG.standard_normal((6, 5))
    for a in (base, base.astype(np.float32), base.T, base[:, ::2], base.astype(np.float16)):
        t = fastdl.tensor(a) if a.flags.c_contiguous else fastdl.from_numpy(a)
        assert t.data.flags.c_contiguous == a.flags.c_contiguous
        y = getattr(t, name)()
        want_dtype = a.dtype if name == "relu" else np.result_type(a.dtype, np.float32)
        assert y.dtype == want_dtype and y.shape == a.shape
        np.testing.assert_allclose(y.numpy(), ref(a.astype(np.float64)), rtol=2e-3, atol=2e-3)
    ints = fastdl.tensor([-2, 0, 3])
    if name == "relu":  # integer data keeps its dtype, as in PyTorch
        assert ints.relu().dtype == np.int64 and ints.relu().tolist() == [0, 0, 3]
    else:
        np.testing.assert_allclose(getattr(ints, name)().numpy(), ref(np.array([-2.0, 0, 3])))
    # gradients through a transposed (non-contiguous) view, which takes the general path
    assert fastdl.gradcheck(lambda v: getattr(v.T, name)() * 1.5, RNG.standard_normal((4, 3)))
