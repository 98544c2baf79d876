"""RNNCell/RNN and GRUCell/GRU against NumPy references, finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl import nn


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_gru_step(x, h, cell):
    hs = cell.hidden_size
    gi = x @ cell.weight_ih.data + cell.bias_ih.data
    gh = h @ cell.weight_hh.data + cell.bias_hh.data
    r = np_sigmoid(gi[:, :hs] + gh[:, :hs])
    z = np_sigmoid(gi[:, hs : 2 * hs] + gh[:, hs : 2 * hs])
    n = np.tanh(gi[:, 2 * hs :] + r * gh[:, 2 * hs :])
    return (1 - z) * n + z * h


def np_rnn_step(x, h, cell):
    pre = x @ cell.weight_ih.data + cell.bias_ih.data + h @ cell.weight_hh.data
    pre = pre + cell.bias_hh.data
    return np.tanh(pre) if cell.nonlinearity == "tanh" else np.maximum(pre, 0)


@pytest.mark.parametrize("kind", ["rnn", "rnn_relu", "gru"])
def test_sequence_matches_numpy(kind):
    rng = np.random.default_rng(0)
    if kind == "gru":
        net, step = nn.GRU(3, 5, num_layers=2, dtype=np.float64), np_gru_step
    else:
        nl = "relu" if kind == "rnn_relu" else "tanh"
        net, step = nn.RNN(3, 5, num_layers=2, nonlinearity=nl, dtype=np.float64), np_rnn_step
    x = rng.standard_normal((4, 6, 3))
    h0 = rng.standard_normal((2, 4, 5))
    out, hn = net(x, h0)
    layer_in = x
    finals = []
    for i, cell in enumerate(net.cells):
        h = h0[i]
        outs = []
        for t in range(x.shape[1]):
            h = step(layer_in[:, t], h, cell)
            outs.append(h)
        finals.append(h)
        layer_in = np.stack(outs, 1)
    np.testing.assert_allclose(out.data, layer_in, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hn.data, np.stack(finals), rtol=1e-12, atol=1e-12)
    cell = net.cells[0]
    np.testing.assert_allclose(cell(x[:, 0], h0[0]).data, step(x[:, 0], h0[0], cell), rtol=1e-12)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.GRUCell])
def test_cell_gradients_match_finite_differences(cls):
    rng = np.random.default_rng(1)
    cell = cls(3, 4, dtype=np.float64)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    assert fastdl.gradcheck(lambda a, b: cell(a, b), x, h)
    cell.zero_grad()  # gradcheck's backward also reached the parameters
    g = rng.standard_normal((2, 4))
    (cell(x, h) * g).sum().backward()
    eps = 1e-6
    for p in cell.parameters():
        num = np.empty_like(p.data)
        for i in np.ndindex(p.shape):
            old = p.data[i]
            p.data[i] = old + eps
            hi = (cell(x, h).data * g).sum()
            p.data[i] = old - eps
            lo = (cell(x, h).data * g).sum()
            p.data[i] = old
            num[i] = (hi - lo) / (2 * eps)
        np.testing.assert_allclose(p.grad.data, num, rtol=1e-6, atol=1e-8)


def test_gru_sequence_gradcheck():
    rng = np.random.default_rng(2)
    gru = nn.GRU(2, 3, num_layers=2, dtype=np.float64)
    x = rng.standard_normal((2, 4, 2))
    assert fastdl.gradcheck(lambda t: gru(t)[0], x)


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_matches_torch_with_copied_weights(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    net = getattr(nn, kind)(4, 6, num_layers=2, dtype=np.float64)
    tnet = getattr(torch.nn, kind)(4, 6, num_layers=2, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for i, cell in enumerate(net.cells):
            for name in ("weight_ih", "weight_hh"):
                getattr(tnet, f"{name}_l{i}").copy_(torch.from_numpy(getattr(cell, name).data.T))
            for name in ("bias_ih", "bias_hh"):
                getattr(tnet, f"{name}_l{i}").copy_(torch.from_numpy(getattr(cell, name).data))
    x = rng.standard_normal((3, 5, 4))
    fx, tx = fastdl.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    out, hn = net(fx)
    tout, thn = tnet(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hn.data, thn.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    (out * g).sum().backward()
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        net.cells[1].weight_hh.grad.data, tnet.weight_hh_l1.grad.numpy().T, rtol=1e-10, atol=1e-12
    )


def test_layouts_and_errors():
    gru = nn.GRU(3, 4, batch_first=False)
    out, hn = gru(np.ones((7, 2, 3), np.float32))
    assert out.shape == (7, 2, 4) and hn.shape == (1, 2, 4) and out.dtype == np.float32
    out, hn = gru(np.ones((7, 3), np.float32))
    assert out.shape == (7, 4) and hn.shape == (1, 4)
    with pytest.raises(ValueError, match="'input' must have shape"):
        gru(np.ones((2, 7, 5)))
    with pytest.raises(ValueError, match="'hx' must have shape"):
        nn.GRU(3, 4)(np.ones((2, 7, 3)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="hidden_size"):
        nn.GRUCell(3, 0)
    assert len(list(nn.GRU(3, 4, num_layers=2).parameters())) == 8
