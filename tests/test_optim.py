"""Optimisers against NumPy implementations of their formulas and against torch.optim."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim

SHAPES = [(3, 4), (4,), (2, 2, 3)]
STEPS = 6


def _grads(dtype, seed=0):
    g = np.random.default_rng(seed)
    return [[g.normal(size=s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]


def _params(dtype):
    g = np.random.default_rng(99)
    return [nn.Parameter(g.normal(size=s).astype(dtype)) for s in SHAPES]


def _run(opt_factory, dtype):
    params = _params(dtype)
    opt = opt_factory(params)
    for gs in _grads(dtype):
        for p, g in zip(params, gs):
            p.grad = fastdl.tensor(g)
        opt.step()
    return [p.data for p in params]


def _sgd_numpy(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, seed_form=False):
    ps = [p.data.astype(np.float64) for p in _params(np.float64)]
    bufs = [None] * len(ps)
    for gs in _grads(np.float64):
        for i, (p, g) in enumerate(zip(ps, gs)):
            g = g + weight_decay * p
            if momentum:
                if seed_form:
                    bufs[i] = momentum * (0 if bufs[i] is None else bufs[i]) + (1 - momentum) * g
                elif bufs[i] is None:
                    bufs[i] = g.copy()
                else:
                    bufs[i] = momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            p -= lr * g
    return ps


def _adam_numpy(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    ps = [p.data.astype(np.float64) for p in _params(np.float64)]
    m = [np.zeros_like(p) for p in ps]
    v = [np.zeros_like(p) for p in ps]
    vmax = [np.zeros_like(p) for p in ps]
    b1, b2 = betas
    for t, gs in enumerate(_grads(np.float64), start=1):
        for i, (p, g) in enumerate(zip(ps, gs)):
            if decoupled:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            vv = v[i]
            if amsgrad:
                vmax[i] = np.maximum(vmax[i], v[i])
                vv = vmax[i]
            p -= lr / (1 - b1**t) * m[i] / (np.sqrt(vv / (1 - b2**t)) + eps)
    return ps


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
    dict(lr=0.1, momentum=0.9, seed_form=True),
]

ADAM_CASES = [
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
]


@pytest.mark.parametrize(
    "kw", SGD_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items())
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_matches_numpy_formula(kw, dtype):
    got = _run(lambda ps: optim.SGD(ps, **kw), dtype)
    ref = _sgd_numpy(**kw)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "cls, kw", ADAM_CASES, ids=lambda v: getattr(v, "__name__", None) or str(v)
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_matches_numpy_formula(cls, kw, dtype):
    got = _run(lambda ps: cls(ps, **kw), dtype)
    full = dict(kw)
    if cls is optim.AdamW:
        full.setdefault("weight_decay", 0.01)
    ref = _adam_numpy(decoupled=cls is optim.AdamW, **full)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


TORCH_CASES = [
    (
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    ),
    (
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
        lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    ),
    (
        lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.05, amsgrad=True),
        lambda t, ps: t.optim.Adam(ps, lr=0.01, weight_decay=0.05, amsgrad=True),
    ),
    (
        lambda ps: optim.AdamW(ps, lr=0.01, betas=(0.85, 0.995)),
        lambda t, ps: t.optim.AdamW(ps, lr=0.01, betas=(0.85, 0.995)),
    ),
    (
        lambda ps: optim.AdamW(ps, lr=0.01, maximize=True),
        lambda t, ps: t.optim.AdamW(ps, lr=0.01, maximize=True),
    ),
    (
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True),
        lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True),
    ),
]


@pytest.mark.parametrize("ours, theirs", TORCH_CASES)
def test_optimizers_match_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    got = _run(ours, np.float64)
    tps = [torch.from_numpy(p.data.copy()).requires_grad_() for p in _params(np.float64)]
    topt = theirs(torch, tps)
    for gs in _grads(np.float64):
        for p, g in zip(tps, gs):
            p.grad = torch.from_numpy(g.copy())
        topt.step()
    for a, b in zip(got, tps):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_seed_momentum_is_an_average_of_gradients():
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=1.0, momentum=0.5, seed_form=True)
    for _ in range(30):
        p.grad = fastdl.tensor(np.array([2.0]))
        opt.step()
    # m -> g (an average, not a sum): the step size tends to lr * g
    assert opt.state[p]["momentum_buffer"][0] == pytest.approx(2.0, rel=1e-8)
    with pytest.raises(ValueError, match="seed_form"):
        optim.SGD([p], lr=0.1, momentum=0.5, dampening=0.1, seed_form=True)


def test_parameters_without_grad_are_skipped_and_keep_their_own_step():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = fastdl.tensor(np.ones(2))
    opt.step()  # b has no gradient: untouched, no state
    np.testing.assert_array_equal(b.data, 1.0)
    assert opt.state[a]["step"] == 1 and b not in opt.state
    b.grad = fastdl.tensor(np.ones(3))
    opt.step()  # a at step 2, b at step 1: both bias-corrected correctly
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1
    np.testing.assert_allclose(b.data, 0.9, rtol=1e-7)  # a first Adam step moves by lr
    np.testing.assert_allclose(a.data, 0.8, rtol=1e-7)


def test_state_dict_resume_is_exact_and_groups_are_independent():
    def make():
        ps = _params(np.float64)
        opt = optim.Adam(
            [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}], lr=0.01, amsgrad=True
        )
        return ps, opt

    grads = _grads(np.float64)
    ps, opt = make()
    for gs in grads[:3]:
        for p, g in zip(ps, gs):
            p.grad = fastdl.tensor(g)
        opt.step()
    saved = copy.deepcopy(opt.state_dict())  # the state dict holds the live arrays
    assert sorted(saved["state"]) == [0, 1, 2] and saved["param_groups"][1]["params"] == [2]
    snapshot = [p.data.copy() for p in ps]
    for gs in grads[3:]:
        for p, g in zip(ps, gs):
            p.grad = fastdl.tensor(g)
        opt.step()

    ps2, opt2 = make()
    for p, s in zip(ps2, snapshot):
        p.data[...] = s
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == 0.05
    for gs in grads[3:]:
        for p, g in zip(ps2, gs):
            p.grad = fastdl.tensor(g)
        opt2.step()
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_errors():
    ps = _params(np.float64)
    opt = optim.Adam(ps)
    for p in ps:
        p.grad = fastdl.tensor(np.ones(p.shape))
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": ps[:1]}, {"params": ps[1:]}]).load_state_dict(sd)
    with pytest.raises(
        ValueError, match=r"must have 2 parameter\(s\) in group 0 \(as this optimizer\), got 3"
    ):
        optim.Adam(ps[:2]).load_state_dict(sd)
    other = [nn.Parameter(np.zeros((4, 3))), ps[1], ps[2]]
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 0 in its shape \(4, 3\)"):
        optim.Adam(other).load_state_dict(sd)


def test_constructor_errors():
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="'lr' must be >= 0, got -"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)


def test_zero_grad_and_closure():
    p = nn.Parameter(np.array([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0 and p.data[0] == 1.0
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda o: optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
         lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
        (lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
         lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
    ],
)  # fmt: skip
def test_schedulers_match_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    s, ts = ours(opt), theirs(torch, topt)
    for _ in range(20):
        assert opt.param_groups[0]["lr"] == pytest.approx(
            topt.param_groups[0]["lr"], rel=1e-10, abs=1e-14
        )
        topt.step()
        s.step()
        ts.step()
    assert s.get_last_lr() == pytest.approx(ts.get_last_lr())


def test_scheduler_formulas_and_resume():
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    s = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    lrs = []
    for _ in range(10):
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(
        lrs, [(1 + math.cos(math.pi * e / 10)) / 2 for e in range(1, 11)], atol=1e-15
    )
    state = s.state_dict()
    opt2 = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    s2 = optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(state)
    assert s2.last_epoch == 10


def test_clip_grad_norm_matches_torch_and_formula():
    g = np.random.default_rng(3)
    grads = [g.normal(size=s) for s in SHAPES]
    ps = [nn.Parameter(np.zeros(s)) for s in SHAPES]
    for p, gr in zip(ps, grads):
        p.grad = fastdl.tensor(gr.copy())
    total = nn.utils.clip_grad_norm_(ps, 1.0)
    expect = math.sqrt(sum((gr**2).sum() for gr in grads))
    assert float(total) == pytest.approx(expect, rel=1e-12) and total.item() == float(total)
    for p, gr in zip(ps, grads):
        np.testing.assert_allclose(p.grad.data, gr * (1.0 / (expect + 1e-6)), rtol=1e-12)
    # below the threshold: untouched
    before = [p.grad.data.copy() for p in ps]
    nn.utils.clip_grad_norm_(ps, 100.0)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad.data, b)
    torch = pytest.importorskip("torch")
    tps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, gr in zip(tps, grads):
        p.grad = torch.from_numpy(gr.copy())
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 0.5, norm_type=3.0)
    for p, gr in zip(ps, grads):
        p.grad = fastdl.tensor(gr.copy())
    total = nn.utils.clip_grad_norm_(ps, 0.5, norm_type=3.0)
    assert float(total) == pytest.approx(ttotal.item(), rel=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-12)
    p = nn.Parameter(np.zeros(1))
    p.grad = fastdl.tensor(np.array([np.inf]))
    with pytest.raises(RuntimeError, match="non"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("cls", [optim.Adam, optim.SGD])
def test_maximize_is_descent_on_the_negated_gradient(cls):
    up = _params(np.float64)
    down = _params(np.float64)
    o_up = cls(up, lr=0.01, maximize=True)
    o_down = cls(down, lr=0.01)
    for gs in _grads(np.float64):
        for p, q, g in zip(up, down, gs):
            p.grad = fastdl.tensor(g)
            q.grad = fastdl.tensor(-g)
        o_up.step()
        o_down.step()
    for p, q in zip(up, down):
        np.testing.assert_array_equal(p.data, q.data)
