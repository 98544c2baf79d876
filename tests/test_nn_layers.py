"""Layers: gradients by finite differences, values against NumPy and PyTorch, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim
from fastdl.nn import functional as F

rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _reseed():
    global rng
    rng = np.random.default_rng(0)


def _r(*shape):
    return rng.normal(size=shape)


# -- Linear -------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", [None, "relu", "sigmoid", "tanh"])
def test_linear_gradcheck(act):
    x, w, b = _r(4, 3), _r(3, 5), _r(5)
    assert np.abs(x @ w + b).min() > 1e-4  # away from the ReLU kink
    assert fastdl.gradcheck(lambda x, w, b: F.linear(x, w, b, activation=act), x, w, b)
    assert fastdl.gradcheck(lambda x, w: F.linear(x, w, activation=act), x, w)


def test_linear_batched_input_gradcheck():
    assert fastdl.gradcheck(lambda x, w, b: F.linear(x, w, b), _r(2, 3, 4), _r(4, 2), _r(2))


def test_linear_matches_numpy_and_torch_with_copied_weights():
    torch = pytest.importorskip("torch")
    fastdl.manual_seed(0)
    layer = nn.Linear(6, 4)
    x = _r(5, 6).astype(np.float32)
    y = layer(x)
    np.testing.assert_allclose(
        y.numpy(), x @ layer.weight.data + layer.bias.data, rtol=1e-5, atol=1e-6
    )
    tl = torch.nn.Linear(6, 4)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))  # PyTorch stores (out, in)
        tl.bias.copy_(torch.from_numpy(layer.bias.data))
    tx = torch.from_numpy(x).requires_grad_()
    ty = tl(tx)
    g = _r(5, 4).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    xt = fastdl.tensor(x, requires_grad=True)
    layer(xt).backward(g)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layer.weight.grad.numpy(), tl.weight.grad.numpy().T, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(layer.bias.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_input_dtype_and_no_bias():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    out = layer(np.ones((2, 3)))  # float64 NumPy data into a float32 layer: cast
    assert out.dtype == np.float32
    with pytest.raises(TypeError, match="requires grad"):
        layer(fastdl.tensor(np.ones((2, 3)), requires_grad=True))


def test_linear_bad_input_is_clear():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"'input' must have last dimension 3.*got shape \(5, 4\)"):
        layer(np.ones((5, 4)))
    with pytest.raises(TypeError, match="real numbers"):
        layer(np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="positive int"):
        nn.Linear(0, 2)


# -- activations --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module, torch_name",
    [
        (nn.ReLU(), "ReLU"),
        (nn.Sigmoid(), "Sigmoid"),
        (nn.Tanh(), "Tanh"),
        (nn.GELU(), "GELU"),
        (nn.GELU("tanh"), "GELU_tanh"),
        (nn.Softmax(dim=1), "Softmax"),
        (nn.LogSoftmax(dim=1), "LogSoftmax"),
    ],
)
def test_activations_gradcheck_and_torch(module, torch_name):
    x = _r(4, 5)
    x[np.abs(x) < 1e-3] = 0.5
    assert fastdl.gradcheck(module, x)
    torch = pytest.importorskip("torch")
    tmods = {
        "ReLU": torch.nn.ReLU(),
        "Sigmoid": torch.nn.Sigmoid(),
        "Tanh": torch.nn.Tanh(),
        "GELU": torch.nn.GELU(),
        "GELU_tanh": torch.nn.GELU(approximate="tanh"),
        "Softmax": torch.nn.Softmax(dim=1),
        "LogSoftmax": torch.nn.LogSoftmax(dim=1),
    }
    tx = torch.from_numpy(x).requires_grad_()
    ty = tmods[torch_name](tx)
    g = _r(4, 5)
    ty.backward(torch.from_numpy(g))
    xt = fastdl.tensor(x, requires_grad=True)
    y = module(xt)
    y.backward(g)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-10)


def test_softmax_other_axis_and_bad_dim():
    x = _r(3, 4, 2)
    y = F.softmax(x, dim=1).numpy()
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    assert fastdl.gradcheck(lambda t: F.softmax(t, dim=0), x)
    with pytest.raises(ValueError, match=r"argument 'dim' must be in \[-3, 2\].*got 3"):
        F.softmax(x, dim=3)


# -- Residual -----------------------------------------------------------------------------------
def test_residual_is_x_plus_block():
    fastdl.manual_seed(0)
    block = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    res = nn.Residual(block).double()
    x = _r(4, 3)
    np.testing.assert_allclose(res(x).numpy(), x + block(x).numpy())
    w, b = block[0].weight, block[0].bias
    assert fastdl.gradcheck(lambda x, w, b: x + F.tanh(F.linear(x, w, b)), x, w.data, b.data)
    with pytest.raises(ValueError, match=r"'block' must keep the input's shape \(2, 3\)"):
        nn.Residual(nn.Linear(3, 2))(np.ones((2, 3)))


# -- BatchNorm1d -------------------------------------------------------------------------------
def _bn_reference(x, w, b, eps):
    axes = (0,) if x.ndim == 2 else (0, 2)
    s = (1, -1) if x.ndim == 2 else (1, -1, 1)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    y = (x - mean.reshape(s)) / np.sqrt(var.reshape(s) + eps) * w.reshape(s) + b.reshape(s)
    n = x.size // x.shape[1]
    return y, mean, var * n / (n - 1)


@pytest.mark.parametrize("shape", [(8, 3), (5, 4, 6)])
def test_batchnorm_train_eval_and_running_stats_vs_numpy(shape):
    C = shape[1]
    bn = nn.BatchNorm1d(C, momentum=0.2).double()
    bn.weight.data[:] = _r(C)
    bn.bias.data[:] = _r(C)
    rm, rv = np.zeros(C), np.ones(C)
    for _ in range(3):
        x = _r(*shape) * 2 + 1
        y = bn(x)
        ref, mean, uvar = _bn_reference(x, bn.weight.data, bn.bias.data, 1e-5)
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)
        rm = 0.8 * rm + 0.2 * mean
        rv = 0.8 * rv + 0.2 * uvar  # unbiased variance in the running estimate
        np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-10)
        np.testing.assert_allclose(bn.running_var, rv, rtol=1e-8)
    assert int(bn.num_batches_tracked) == 3
    bn.eval()
    frozen = bn.running_mean.copy()
    x = _r(*shape)
    s = (1, -1) if len(shape) == 2 else (1, -1, 1)
    expect = (x - rm.reshape(s)) / np.sqrt(rv.reshape(s) + 1e-5) * bn.weight.data.reshape(
        s
    ) + bn.bias.data.reshape(s)
    np.testing.assert_allclose(bn(x).numpy(), expect, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, frozen)  # eval does not update


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm_gradcheck_train_and_eval(shape):
    C = shape[1]
    x, w, b = _r(*shape), _r(C), _r(C)
    assert fastdl.gradcheck(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, w, b
    )
    rm, rv = _r(C), np.abs(_r(C)) + 0.5
    assert fastdl.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), x, w, b)
    assert fastdl.gradcheck(lambda x: F.batch_norm(x, None, None, training=True), x)


@pytest.mark.parametrize("shape", [(16, 4), (8, 4, 7)])
def test_batchnorm_matches_torch(shape):
    torch = pytest.importorskip("torch")
    C = shape[1]
    bn = nn.BatchNorm1d(C)
    tbn = torch.nn.BatchNorm1d(C)
    w, b = _r(C).astype(np.float32), _r(C).astype(np.float32)
    bn.weight.data[:] = w
    bn.bias.data[:] = b
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(w))
        tbn.bias.copy_(torch.from_numpy(b))
    for _ in range(2):
        x = (_r(*shape) * 3 + 2).astype(np.float32)
        g = _r(*shape).astype(np.float32)
        xt = fastdl.tensor(x, requires_grad=True)
        y = bn(xt)
        y.backward(g)
        tx = torch.from_numpy(x).requires_grad_()
        ty = tbn(tx)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(
            bn.weight.grad.numpy(), tbn.weight.grad.numpy(), rtol=1e-4, atol=1e-4
        )
        np.testing.assert_allclose(
            bn.bias.grad.numpy(), tbn.bias.grad.numpy(), rtol=1e-4, atol=1e-4
        )
        np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), rtol=1e-5, atol=1e-6)
        bn.zero_grad()
        tbn.zero_grad()
    bn.eval()
    tbn.eval()
    x = _r(*shape).astype(np.float32)
    np.testing.assert_allclose(
        bn(x).numpy(), tbn(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5
    )


def test_batchnorm_options_and_errors():
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    y = bn.eval()(_r(5, 3))  # no running stats: batch statistics even in eval
    np.testing.assert_allclose(y.numpy().mean(axis=0), 0, atol=1e-6)
    cma = nn.BatchNorm1d(2, momentum=None).double()
    xs = [_r(4, 2) for _ in range(3)]
    for x in xs:
        cma(x)
    np.testing.assert_allclose(cma.running_mean, np.mean([x.mean(0) for x in xs], axis=0))
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(N, 3, L\), got shape \(4, 2\)"):
        nn.BatchNorm1d(3)(np.ones((4, 2)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.ones((1, 3)))


# -- LayerNorm, Dropout ---------------------------------------------------------------------
def test_layernorm_gradcheck_and_torch():
    x, w, b = _r(3, 4, 5), _r(5), _r(5)
    assert fastdl.gradcheck(lambda x, w, b: F.layer_norm(x, 5, w, b), x, w, b)
    assert fastdl.gradcheck(lambda x, w: F.layer_norm(x, (4, 5), w), x, _r(4, 5))
    torch = pytest.importorskip("torch")
    ln = nn.LayerNorm(5).double()
    ln.weight.data[:] = w
    ln.bias.data[:] = b
    ref = torch.nn.functional.layer_norm(
        torch.from_numpy(x), (5,), torch.from_numpy(w), torch.from_numpy(b)
    )
    np.testing.assert_allclose(ln(x).numpy(), ref.numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="normalized_shape"):
        ln(np.ones((2, 4)))


def test_dropout_train_and_eval():
    fastdl.manual_seed(0)
    d = nn.Dropout(0.25)
    x = np.ones((200, 50))
    y = d(fastdl.tensor(x, requires_grad=True))
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75)
    xt = fastdl.tensor(x, requires_grad=True)
    fastdl.manual_seed(1)
    out = d(xt)
    out.backward(np.ones_like(x))
    np.testing.assert_array_equal(xt.grad.numpy(), out.numpy())  # same mask, same scale
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x)
    assert np.all(nn.Dropout(1.0)(x).numpy() == 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.Dropout(1.5)


# -- training end to end ------------------------------------------------------------------
def test_mlp_learns_xor():
    fastdl.manual_seed(0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    Y = np.array([[0], [1], [1], [0]], np.float32)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = optim.Adam(net.parameters(), lr=0.05)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(net(X), Y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    pred = (F.sigmoid(net(X)).numpy() > 0.5).astype(np.float32)
    np.testing.assert_array_equal(pred, Y)


def test_residual_mlp_with_batchnorm_trains():
    fastdl.manual_seed(0)
    g = np.random.default_rng(1)
    X = g.normal(size=(256, 4)).astype(np.float32)
    y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(np.int64)

    def block():
        return nn.Residual(nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU()))

    net = nn.Sequential(nn.Linear(4, 16), block(), block(), nn.Linear(16, 2))
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
    first = None
    for _ in range(150):
        idx = g.permutation(256)[:64]
        opt.zero_grad()
        loss = F.cross_entropy(net(X[idx]), y[idx])
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        first = loss.item() if first is None else first
    net.eval()
    acc = (net(X).numpy().argmax(1) == y).mean()
    assert loss.item() < 0.5 * first and acc > 0.9


def _train_bits(threads):
    from conftest import using_threads

    with using_threads(threads):
        fastdl.manual_seed(0)
        g = np.random.default_rng(0)
        X = g.normal(size=(64, 8)).astype(np.float32)
        y = g.integers(0, 3, size=64)
        net = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))
        opt = optim.AdamW(net.parameters(), lr=0.01)
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(net(X), y).backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        return [p.data.copy() for p in net.parameters()] + [net[1].running_var.copy()]


def test_training_is_bitwise_identical_for_1_and_2_threads():
    for a, b in zip(_train_bits(1), _train_bits(2)):
        np.testing.assert_array_equal(a, b)


def test_flatten_matches_numpy_and_backprops():
    x = _r(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(-2)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), x.reshape(2, -1))
    assert fastdl.gradcheck(lambda t: nn.Flatten(1, 2)(t) * 2.0, _r(2, 3, 2))
    with pytest.raises(ValueError, match=r"'start_dim' and 'end_dim' must be in \[-4, 3\]"):
        nn.Flatten(2, 1)(x)


def test_clip_grad_value():
    p = nn.Parameter(np.zeros(3))
    p.grad = fastdl.tensor(np.array([-2.0, 0.1, 5.0]))
    nn.utils.clip_grad_value_([p], 0.5)
    np.testing.assert_array_equal(p.grad.numpy(), [-0.5, 0.1, 0.5])
    torch = pytest.importorskip("torch")
    tp = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor([-2.0, 0.1, 5.0], dtype=torch.float64)
    torch.nn.utils.clip_grad_value_([tp], 0.5)
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_dropout_gradcheck_with_a_fixed_mask():
    def f(x):
        fastdl.manual_seed(5)  # the same mask on every evaluation
        return F.dropout(x, p=0.3, training=True)

    assert fastdl.gradcheck(f, _r(6, 5))


def test_layernorm_without_affine_and_bad_input():
    ln = nn.LayerNorm((2, 3), elementwise_affine=False)
    assert list(ln.parameters()) == []
    x = _r(4, 2, 3)
    y = ln(x).numpy()
    np.testing.assert_allclose(y.reshape(4, -1).mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(y.reshape(4, -1).var(1), 1, rtol=1e-4)
    assert fastdl.gradcheck(lambda t: F.layer_norm(t, (2, 3)), x)
    with pytest.raises(ValueError, match=r"must end with normalized_shape \(2, 3\)"):
        ln(np.ones((4, 3, 2)))
