"""Module machinery: registration, traversal, modes, state dicts, containers, repr."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import fastdl
from fastdl import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(np.ones(1, np.float32))
        self.register_buffer("count", np.zeros((), np.int64))
        self.register_buffer("scratch", np.zeros(2), persistent=False)

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


def test_registration_and_traversal_order():
    m = Block()
    assert [n for n, _ in m.named_parameters()] == [
        "scale",
        "fc.weight",
        "fc.bias",
        "bn.weight",
        "bn.bias",
    ]
    assert [n for n, _ in m.named_buffers()] == [
        "count",
        "scratch",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]
    assert [n for n, _ in m.named_children()] == ["fc", "bn"]
    assert [n for n, _ in m.named_modules()] == ["", "fc", "bn"]
    assert list(m.state_dict()) == [
        "scale",
        "count",
        "fc.weight",
        "fc.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]  # the non-persistent buffer is left out


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_attribute_rules():
    m = nn.Module()
    m.p = nn.Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="Parameter or None"):
        m.p = np.zeros(2)
    m.p = None
    assert list(m.parameters()) == [] and m.p is None
    m.sub = nn.ReLU()
    del m.sub
    assert list(m.children()) == []
    with pytest.raises(AttributeError):
        m.sub  # noqa: B018

    class NoInit(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super"):
        NoInit()
    with pytest.raises(KeyError, match="contain no"):
        m.register_buffer("a.b", np.zeros(1))


def test_train_eval_reaches_every_submodule():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_zero_grad_and_requires_grad_():
    m = nn.Linear(2, 1)
    m(np.ones((3, 2))).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.weight.grad.data, 0)
    m.zero_grad()
    assert m.weight.grad is None
    m.requires_grad_(False)
    out = m(np.ones((3, 2)))
    assert not out.requires_grad


def test_state_dict_round_trip_and_sharing():
    fastdl.manual_seed(0)
    a, b = Block(), Block()
    a.bn.running_mean[:] = 3.0
    a.count[...] = 9
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
        assert not np.shares_memory(va, vb)  # copied in place, not aliased
    # the state dict holds the live arrays (as PyTorch shares storage)
    sd = a.state_dict()
    assert np.shares_memory(sd["fc.weight"], a.fc.weight.data)
    # loading keeps the parameter objects (so optimisers stay valid)
    w_before = b.fc.weight
    b.load_state_dict(a.state_dict())
    assert b.fc.weight is w_before


def test_load_state_dict_errors_are_clear_and_atomic():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    before = b.weight.data.copy()
    sd = dict(a.state_dict())
    del sd["bias"]
    sd["extra"] = np.zeros(1)
    with pytest.raises(nn.StateDictError) as e:
        b.load_state_dict(sd)
    msg = str(e.value)
    assert (
        "Missing key(s) in state_dict: 'bias'" in msg
        and "Unexpected key(s) in state_dict: 'extra'" in msg
    )
    assert isinstance(e.value, ValueError) and isinstance(e.value, RuntimeError)
    np.testing.assert_array_equal(b.weight.data, before)  # nothing copied on error
    res = b.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(b.weight.data, a.weight.data)

    bad = dict(a.state_dict())
    bad["weight"] = np.zeros((2, 3))  # PyTorch's layout, transposed
    with pytest.raises(nn.StateDictError, match=r"size mismatch for weight.*\(2, 3\).*\(3, 2\)"):
        b.load_state_dict(bad, strict=False)


def test_load_state_dict_accepts_tensors_and_casts():
    m = nn.Linear(2, 2)
    m.load_state_dict({"weight": fastdl.tensor(np.eye(2)), "bias": np.array([1, 2])})
    np.testing.assert_array_equal(m.weight.data, np.eye(2, dtype=np.float32))
    assert m.weight.dtype == np.float32 and m.bias.data.tolist() == [1.0, 2.0]


def test_to_double_converts_parameters_and_buffers():
    m = Block().double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m.bn.running_mean.dtype == np.float64
    assert m.count.dtype == np.int64  # integer buffers untouched


def test_repr_tree():
    net = nn.Sequential(
        nn.Linear(2, 3), nn.ReLU(), nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.Tanh()))
    )
    text = repr(net)
    assert text.splitlines()[0] == "Sequential("
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(2): Residual(\n    (block): Sequential(\n      (0): Linear" in text


def test_sequential_indexing_and_mutation():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)]
    seq = nn.Sequential(*layers)
    assert seq[0] is layers[0] and seq[-1] is layers[2] and len(seq) == 3
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    with pytest.raises(IndexError):
        seq[3]
    x = np.ones((4, 2), np.float32)
    before = seq(x).numpy().copy()
    seq[1] = nn.Tanh()  # the fused plan must follow the change
    after = seq(x).numpy()
    expected = (
        np.tanh(x @ layers[0].weight.data + layers[0].bias.data) @ layers[2].weight.data
        + layers[2].bias.data
    )
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(before, after) or np.allclose(before, expected)
    del seq[1]
    assert len(seq) == 2 and [n for n, _ in seq.named_children()] == ["0", "1"]
    seq.append(nn.Sigmoid())
    assert isinstance(seq[2], nn.Sigmoid)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_children()] == ["fc", "act"]
    with pytest.raises(TypeError, match="must be a Module, got"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_fused_linear_activation_matches_unfused():
    fastdl.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    for act in (nn.ReLU, nn.Sigmoid, nn.Tanh):
        lin = nn.Linear(3, 4)
        fused = nn.Sequential(lin, act())
        y1 = fused(x)
        y1.sum().backward()
        g1 = lin.weight.grad.data.copy(), lin.bias.grad.data.copy()
        lin.zero_grad()
        y2 = act()(lin(x))
        y2.sum().backward()
        np.testing.assert_allclose(y1.numpy(), y2.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(g1[0], lin.weight.grad.data, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g1[1], lin.bias.grad.data, rtol=1e-5, atol=1e-6)


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.ReLU())
    ml += [nn.Tanh()]
    assert len(ml) == 3 and isinstance(ml[-1], nn.Tanh)
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias"]
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and [n for n, _ in ml.named_parameters()] == [
        "1.weight",
        "1.bias",
    ]
    with pytest.raises(TypeError, match="must be a Module, got"):
        ml.append(3)


def test_apply_and_forward_missing():
    seen = []
    nn.Sequential(nn.Linear(2, 2), nn.ReLU()).apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Sequential"]
    with pytest.raises(NotImplementedError, match="missing forward"):
        nn.Module()(1)


def test_deepcopy_and_pickle_make_independent_models():
    fastdl.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.BatchNorm1d(2))
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    net.eval()
    ref = net(x).numpy().copy()  # builds the fused plan before copying
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(clone(x).numpy(), ref)
        clone[0].weight.data[...] = 0  # must not touch the original, and must be used
        assert not np.array_equal(clone(x).numpy(), ref)
        np.testing.assert_array_equal(net(x).numpy(), ref)
        assert [n for n, _ in clone.named_parameters()] == [n for n, _ in net.named_parameters()]
        assert clone[0].weight.requires_grad and not clone.training
        clone.train()
        clone(x).sum().backward()  # the kernels accept the unpickled arrays
        assert clone[0].weight.grad is not None
