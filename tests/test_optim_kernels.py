"""Fused optimiser kernels (fastdl.ops.adam_step / sgd_step / grad_norm / scale_).

Each update is checked over several steps against a NumPy transcription of its formula (float64,
ragged sizes, several tensors of different sizes, including ones spanning kernel chunks), against
torch.optim where installed, for thread-count independence, and for bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import using_threads
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from fastdl import ops

pytestmark = pytest.mark.kernel

# Ragged sizes: empty, scalar, odd, multi-dim, and one larger than a kernel chunk (32768).
SHAPES = [(7,), (3, 5), (), (0,), (1,), (40001,), (2, 3, 4), (17, 33)]


def make(shapes, dtype, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return [np.array(rng.standard_normal(s) * scale, dtype=dtype) for s in shapes]


def grads_for(shapes, dtype, step):
    return make(shapes, dtype, seed=100 + step)


# ----------------------------------------------------------------------------- references
def adam_ref(p, g, m, v, vmax, *, step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad):
    """NumPy transcription of PyTorch's Adam/AdamW/AMSGrad update (in place)."""
    if weight_decay:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    m[...] = m + (1 - beta1) * (g - m)  # torch.lerp(m, g, 1 - beta1)
    v[...] = beta2 * v + (1 - beta2) * g * g
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
        vv = vmax
    else:
        vv = v
    step_size = lr / (1 - beta1**step)
    denom = np.sqrt(vv) / math.sqrt(1 - beta2**step) + eps
    p -= step_size * m / denom


def sgd_ref(p, g, buf, *, lr, momentum, dampening, nesterov, weight_decay, first):
    """NumPy transcription of PyTorch's SGD (first: the buffer is created from the gradient)."""
    d = g + weight_decay * p if weight_decay else g
    if momentum:
        if first:
            buf[...] = d
        else:
            buf[...] = momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    p -= lr * d


def seed_ref(p, g, m, *, lr, mu, weight_decay=0.0):
    """The seed notes' momentum: m <- mu*m + (1 - mu)*g, theta <- theta - lr*m."""
    d = g + weight_decay * p if weight_decay else g
    m[...] = mu * m + (1 - mu) * d
    p -= lr * m


def cfg_id(cfg):
    return "-".join(f"{k}={v}" for k, v in cfg.items())


def copies(arrays):
    return [a.copy() for a in arrays]


def assert_lists_equal(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------- Adam
ADAM_CONFIGS = [
    dict(weight_decay=0.0, decoupled=False, amsgrad=False),
    dict(weight_decay=0.1, decoupled=False, amsgrad=False),
    dict(weight_decay=0.1, decoupled=True, amsgrad=False),
    dict(weight_decay=0.0, decoupled=False, amsgrad=True),
    dict(weight_decay=0.05, decoupled=True, amsgrad=True),
    dict(weight_decay=0.05, decoupled=False, amsgrad=True),
]


def run_adam(dtype, cfg, steps=5, shapes=SHAPES, lr=0.01, betas=(0.9, 0.99), eps=1e-8):
    """Runs fastdl and the NumPy reference side by side; returns both final (p, m, v, vmax)."""
    p = make(shapes, dtype)
    m, v, vmax = (
        [np.zeros_like(a) for a in p],
        [np.zeros_like(a) for a in p],
        [np.zeros_like(a) for a in p],
    )
    rp, rm, rv, rvmax = (copies(x) for x in (p, m, v, vmax))
    rp = [a.astype(np.float64) for a in rp]
    rm, rv, rvmax = ([a.astype(np.float64) for a in x] for x in (rm, rv, rvmax))
    for t in range(1, steps + 1):
        g = grads_for(shapes, dtype, t)
        gc = copies(g)
        ops.adam_step(
            p,
            g,
            m,
            v,
            step=t,
            lr=lr,
            beta1=betas[0],
            beta2=betas[1],
            eps=eps,
            max_exp_avg_sqs=vmax if cfg["amsgrad"] else None,
            **cfg,
        )
        assert_lists_equal(g, gc)  # gradients are read, never written (even with L2 decay)
        for i in range(len(shapes)):
            adam_ref(
                rp[i],
                g[i].astype(np.float64),
                rm[i],
                rv[i],
                rvmax[i],
                step=t,
                lr=lr,
                beta1=betas[0],
                beta2=betas[1],
                eps=eps,
                **cfg,
            )
    return (p, m, v, vmax), (rp, rm, rv, rvmax)


@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=cfg_id)
def test_adam_matches_numpy_float64(isa, cfg):
    got, ref = run_adam(np.float64, cfg)
    for g_list, r_list in zip(got, ref):
        for a, b in zip(g_list, r_list):
            assert a.dtype == np.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # The reference really moved the parameters (a no-op kernel would fail above, but be sure).
    assert not np.allclose(got[0][0], make(SHAPES, np.float64)[0])


def test_adam_small_beta1_matches_numpy(isa):
    # 1 - beta1 >= 1/2 takes lerp's other branch (from g rather than from m).
    got, ref = run_adam(np.float64, ADAM_CONFIGS[1], betas=(0.3, 0.5))
    for g_list, r_list in zip(got, ref):
        for a, b in zip(g_list, r_list):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cfg", ADAM_CONFIGS[:4], ids=cfg_id)
def test_adam_float32_close_to_float64_formula(isa, cfg):
    got, ref = run_adam(np.float32, cfg)
    for a, b in zip(got[0], ref[0]):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)
    for a, b in zip(got[1], ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_adam_mixed_dtypes_in_one_call(isa):
    cfg = ADAM_CONFIGS[2]
    shapes = [(5,), (40001,), (3, 3)]
    dts = [np.float32, np.float64, np.float32]
    p = [make([s], dt, seed=i)[0] for i, (s, dt) in enumerate(zip(shapes, dts))]
    m, v = [np.zeros_like(a) for a in p], [np.zeros_like(a) for a in p]
    rp, rm, rv = copies(p), copies(m), copies(v)
    for t in (1, 2, 3):
        g = [make([s], dt, seed=10 * t + i)[0] for i, (s, dt) in enumerate(zip(shapes, dts))]
        ops.adam_step(p, g, m, v, step=t, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, **cfg)
        for i in range(3):  # each one separately: the same bits as a one-tensor call
            ops.adam_step(
                [rp[i]], [g[i]], [rm[i]], [rv[i]], step=t, lr=0.01, beta1=0.9, beta2=0.999,
                eps=1e-8, **cfg,
            )  # fmt: skip
    assert [a.dtype for a in p] == dts
    assert_lists_equal(p, rp)
    assert_lists_equal(m, rm)
    assert_lists_equal(v, rv)


def test_adam_zero_gradients_stay_finite(isa):
    for amsgrad in (False, True):
        for decoupled in (False, True):
            p = make([(100,), (3,)], np.float32)
            p0 = copies(p)
            m, v, vm = ([np.zeros_like(a) for a in p] for _ in range(3))
            for t in range(1, 6):
                g = [np.zeros_like(a) for a in p]
                ops.adam_step(
                    p, g, m, v, step=t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.01 if decoupled else 0.0, decoupled=decoupled,
                    amsgrad=amsgrad, max_exp_avg_sqs=vm,
                )  # fmt: skip
            for a, a0 in zip(p, p0):
                assert np.all(np.isfinite(a))
                if decoupled:  # only the decoupled decay moves the parameters
                    np.testing.assert_allclose(a, a0 * (1 - 0.1 * 0.01) ** 5, rtol=1e-6)
                else:
                    np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_amsgrad_propagates_nan_like_np_maximum(isa, dtype):
    # np.maximum (and torch.maximum, which PyTorch's amsgrad uses) propagate a NaN from either
    # side: a NaN already in max_exp_avg_sqs must survive, as must a NaN that enters through g.
    n = 1037  # several vectors of every width plus a ragged tail
    rng = np.random.default_rng(5)
    p = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    m = rng.standard_normal(n).astype(dtype) * 0.1
    v = rng.random(n).astype(dtype)
    vmax = v + rng.random(n).astype(dtype) * np.where(np.arange(n) % 2 == 0, 1, -1).astype(dtype)
    vmax = np.abs(vmax)
    vmax[[0, 17, 500, n - 1]] = np.nan  # NaN in the old maximum
    g[[3, 18, 777]] = np.nan  # NaN reaching v (and vmax) through the gradient
    rp, rg, rm, rv, rvmax = (a.astype(np.float64) for a in (p, g, m, v, vmax))
    ops.adam_step(
        [p], [g], [m], [v], step=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
        amsgrad=True, max_exp_avg_sqs=[vmax],
    )  # fmt: skip
    adam_ref(
        rp, rg, rm, rv, rvmax, step=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
        weight_decay=0.0, decoupled=False, amsgrad=True,
    )  # fmt: skip
    want_nan = np.isnan(rvmax)
    assert want_nan.sum() == 7  # the reference itself propagates both kinds
    np.testing.assert_array_equal(np.isnan(vmax), want_nan)
    np.testing.assert_array_equal(np.isnan(p), np.isnan(rp))
    tol = dict(rtol=1e-12, atol=0) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vmax, rvmax, **tol)  # NaNs compare equal here
    np.testing.assert_allclose(p, rp, **tol)


def test_adam_non_contiguous_gradient_is_used_correctly(isa):
    p = make([(6, 4)], np.float64)[0]
    gt = make([(4, 6)], np.float64, seed=3)[0]
    m, v = np.zeros_like(p), np.zeros_like(p)
    rp, rm, rv = p.copy(), m.copy(), v.copy()
    ops.adam_step([p], [gt.T], [m], [v], step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    ops.adam_step(
        [rp], [np.ascontiguousarray(gt.T)], [rm], [rv], step=1, lr=0.1, beta1=0.9,
        beta2=0.999, eps=1e-8,
    )  # fmt: skip
    np.testing.assert_array_equal(p, rp)


def test_adam_tuples_and_empty_lists(isa):
    ops.adam_step([], [], [], [], step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    p, g = np.ones(3), np.ones(3)
    m, v = np.zeros(3), np.zeros(3)
    ops.adam_step((p,), (g,), (m,), (v,), step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    np.testing.assert_allclose(p, 0.9, rtol=1e-6)


@fuzz  # the shared settings: one fixed set of examples in CI, fresh ones in the long mode
@given(
    sizes=st.lists(st.integers(0, 20000), min_size=1, max_size=5),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.5, 0.9999),
    weight_decay=st.sampled_from([0.0, 0.01, 0.3]),
    decoupled=st.booleans(),
    amsgrad=st.booleans(),
    maximize=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_adam_property_random_lists(
    sizes, beta1, beta2, weight_decay, decoupled, amsgrad, maximize, seed
):
    shapes = [(n,) for n in sizes]
    p = make(shapes, np.float64, seed=seed)
    m, v, vm = ([np.zeros_like(a) for a in p] for _ in range(3))
    rp, rm, rv, rvm = (copies(x) for x in (p, m, v, vm))
    kw = dict(lr=0.02, beta1=beta1, beta2=beta2, eps=1e-8, weight_decay=weight_decay)
    for t in (1, 2, 3):
        g = make(shapes, np.float64, seed=seed + t)
        ops.adam_step(
            p, g, m, v, step=t, decoupled=decoupled, amsgrad=amsgrad, max_exp_avg_sqs=vm,
            maximize=maximize, **kw,
        )  # fmt: skip
        for i in range(len(shapes)):
            gi = -g[i] if maximize else g[i]
            adam_ref(rp[i], gi, rm[i], rv[i], rvm[i], step=t, decoupled=decoupled,
                     amsgrad=amsgrad, **kw)  # fmt: skip
    for a, b in zip(p + m + v, rp + rm + rv):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


# ----------------------------------------------------------------------------- torch oracle
def _torch_params(torch, arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize(
    "kind,kw",
    [
        ("Adam", dict(weight_decay=0.0, amsgrad=False)),
        ("Adam", dict(weight_decay=0.1, amsgrad=False)),
        ("Adam", dict(weight_decay=0.1, amsgrad=True)),
        ("AdamW", dict(weight_decay=0.1, amsgrad=False)),
        ("AdamW", dict(weight_decay=0.01, amsgrad=True)),
        ("Adam", dict(weight_decay=0.1, amsgrad=False, maximize=True)),
        ("AdamW", dict(weight_decay=0.1, amsgrad=True, maximize=True)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_matches_torch(isa, kind, kw, dtype):
    torch = pytest.importorskip("torch")
    shapes = [(7,), (3, 5), (40001,), (1,)]
    p = make(shapes, dtype)
    tp = _torch_params(torch, p)
    opt = getattr(torch.optim, kind)(tp, lr=0.01, betas=(0.8, 0.95), eps=1e-6, foreach=False, **kw)
    m, v, vm = ([np.zeros_like(a) for a in p] for _ in range(3))
    for t in range(1, 5):
        g = grads_for(shapes, dtype, t)
        for tpi, gi in zip(tp, g):
            tpi.grad = torch.tensor(gi)
        opt.step()
        ops.adam_step(
            p, g, m, v, step=t, lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6,
            weight_decay=kw["weight_decay"], decoupled=kind == "AdamW", amsgrad=kw["amsgrad"],
            max_exp_avg_sqs=vm, maximize=kw.get("maximize", False),
        )  # fmt: skip
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-7)
    for a, ta in zip(p, tp):
        np.testing.assert_allclose(a, ta.detach().numpy(), **tol)
    for i, ta in enumerate(tp):
        st = opt.state[ta]
        np.testing.assert_allclose(m[i], st["exp_avg"].numpy(), **tol)
        np.testing.assert_allclose(v[i], st["exp_avg_sq"].numpy(), **tol)
        if kw["amsgrad"]:
            np.testing.assert_allclose(vm[i], st["max_exp_avg_sq"].numpy(), **tol)


@pytest.mark.parametrize(
    "kw",
    [
        dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
        dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.1),
        dict(momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0),
        dict(momentum=0.9, dampening=0.3, nesterov=False, weight_decay=0.05),
        dict(momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.0),
        dict(momentum=0.5, dampening=0.0, nesterov=True, weight_decay=0.1),
        dict(momentum=0.9, dampening=0.1, nesterov=False, weight_decay=0.1, maximize=True),
        dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=True),
    ],
    ids=cfg_id,
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_matches_torch(isa, kw, dtype):
    torch = pytest.importorskip("torch")
    shapes = [(7,), (3, 5), (40001,)]
    p = make(shapes, dtype)
    tp = _torch_params(torch, p)
    opt = torch.optim.SGD(tp, lr=0.05, foreach=False, **kw)
    # float32: a few ulps apart (fused multiply-adds) on values of size ~4.
    # Garbage in the buffers: first_step=True must ignore it, as PyTorch creates them from g.
    buf = make(shapes, dtype, seed=7)
    for t in range(1, 5):
        g = grads_for(shapes, dtype, t)
        for tpi, gi in zip(tp, g):
            tpi.grad = torch.tensor(gi)
        opt.step()
        ops.sgd_step(p, g, buf, lr=0.05, first_step=t == 1, **kw)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-6, atol=1e-6)
    for a, ta in zip(p, tp):
        np.testing.assert_allclose(a, ta.detach().numpy(), **tol)
    if kw["momentum"]:
        for b, ta in zip(buf, tp):
            np.testing.assert_allclose(b, opt.state[ta]["momentum_buffer"].numpy(), **tol)


def test_grad_norm_matches_torch_clip(isa):
    torch = pytest.importorskip("torch")
    arrays = make([(7,), (3, 5), (40001,), ()], np.float32)
    for norm_type in (2.0, 1.0, 3.0, math.inf):
        tp = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
        for t, a in zip(tp, arrays):
            t.grad = torch.tensor(a, dtype=torch.float64)
        total = torch.nn.utils.clip_grad_norm_(tp, max_norm=1e9, norm_type=norm_type)
        assert ops.grad_norm(arrays, norm_type) == pytest.approx(float(total), rel=1e-12)


# ----------------------------------------------------------------------------- SGD vs NumPy
SGD_CONFIGS = [
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.25, nesterov=False, weight_decay=0.01),
    dict(momentum=0.7, dampening=0.0, nesterov=True, weight_decay=0.01),
]


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("first_step", [False, True])
def test_sgd_matches_numpy(isa, cfg, first_step):
    p = make(SHAPES, np.float64)
    buf = [np.zeros_like(a) for a in p]
    rp, rb = copies(p), copies(buf)
    for t in range(1, 5):
        g = grads_for(SHAPES, np.float64, t)
        ops.sgd_step(p, g, buf, lr=0.05, first_step=first_step and t == 1, **cfg)
        for i in range(len(SHAPES)):
            sgd_ref(rp[i], g[i], rb[i], lr=0.05, first=first_step and t == 1, **cfg)
    for a, b in zip(p + buf, rp + rb):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("weight_decay", [0.0, 0.02])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_seed_momentum_form(isa, weight_decay, dtype):
    mu, lr = 0.9, 0.1
    p = make(SHAPES, dtype)
    m = [np.zeros_like(a) for a in p]
    rp = [a.astype(np.float64) for a in p]
    rm = [np.zeros_like(a) for a in rp]
    for t in range(1, 6):
        g = grads_for(SHAPES, dtype, t)
        ops.sgd_step(p, g, m, lr=lr, momentum=mu, weight_decay=weight_decay, seed_form=True)
        for i in range(len(SHAPES)):
            seed_ref(rp[i], g[i].astype(np.float64), rm[i], lr=lr, mu=mu, weight_decay=weight_decay)
    tol = dict(rtol=1e-13, atol=1e-15) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for a, b in zip(p + m, rp + rm):
        np.testing.assert_allclose(a, b, **tol)


def test_sgd_seed_first_step_means_zero_history(isa):
    p = make([(9,), (40001,)], np.float64)
    g = grads_for([(9,), (40001,)], np.float64, 1)
    garbage = make([(9,), (40001,)], np.float64, seed=5)
    zeros = [np.zeros_like(a) for a in p]
    p2 = copies(p)
    ops.sgd_step(p, g, garbage, lr=0.1, momentum=0.9, seed_form=True, first_step=True)
    ops.sgd_step(p2, g, zeros, lr=0.1, momentum=0.9, seed_form=True)
    assert_lists_equal(p, p2)
    assert_lists_equal(garbage, zeros)
    np.testing.assert_allclose(zeros[0], 0.1 * g[0], rtol=1e-15)


def test_sgd_without_momentum_needs_no_buffers(isa):
    p, g = np.ones(4), np.arange(4.0)
    ops.sgd_step([p], [g], None, lr=0.5)
    np.testing.assert_array_equal(p, 1 - 0.5 * np.arange(4.0))
    ops.sgd_step([p], [g], None, lr=0.5, momentum=0.0, seed_form=True)  # plain GD, seed form too
    np.testing.assert_array_equal(p, 1 - np.arange(4.0))


def test_sgd_seed_form_rejects_dampening_and_nesterov():
    p, g, b = [np.ones(2)], [np.ones(2)], [np.zeros(2)]
    with pytest.raises(ValueError, match="dampening"):
        ops.sgd_step(p, g, b, lr=0.1, momentum=0.9, dampening=0.5, seed_form=True)
    with pytest.raises(ValueError, match="nesterov"):
        ops.sgd_step(p, g, b, lr=0.1, momentum=0.9, nesterov=True, seed_form=True)
    with pytest.raises(ValueError, match="nesterov"):
        ops.sgd_step(p, g, b, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    np.testing.assert_array_equal(p[0], 1.0)


# ----------------------------------------------------------------------------- norm, scale
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, 0.0, "inf"])
def test_grad_norm_matches_numpy(isa, norm_type):
    arrays = make([(7,), (3, 5), (40001,), (), (0,)], np.float32) + make([(70000,)], np.float64)
    arrays[0][2] = 0.0
    x = np.concatenate([a.astype(np.float64).ravel() for a in arrays])
    p = math.inf if norm_type == "inf" else norm_type
    if p == math.inf:
        want = np.abs(x).max()
    elif p == 0:
        want = float(np.count_nonzero(x))
    else:
        want = (np.abs(x) ** p).sum() ** (1 / p)
    assert ops.grad_norm(arrays, norm_type) == pytest.approx(want, rel=1e-12)


def test_grad_norm_edge_cases(isa):
    assert ops.grad_norm([]) == 0.0
    assert ops.grad_norm([np.zeros(0, np.float32)]) == 0.0
    a = np.ones((4, 6))
    assert ops.grad_norm([a[:, ::2]]) == pytest.approx(math.sqrt(12))  # strided: copied
    assert ops.grad_norm([[3, 4]]) == 5.0  # array-likes are converted
    for p in (2.0, 1.0, math.inf, 3.0):
        bad = np.ones(50000)
        bad[40000] = np.nan
        assert math.isnan(ops.grad_norm([np.ones(3), bad], p))
    big = np.full(10, 3e38, np.float32)  # squares overflow float32, not the float64 sum
    assert ops.grad_norm([big]) == pytest.approx(3e38 * math.sqrt(10), rel=1e-6)
    with pytest.raises(ValueError, match="norm_type"):
        ops.grad_norm([a], -1.0)
    with pytest.raises(TypeError, match="arrays"):
        ops.grad_norm(a)


def test_scale_matches_numpy(isa):
    arrays = make([(7,), (40001,), ()], np.float32) + make([(5, 5)], np.float64)
    want = [a * a.dtype.type(0.3) for a in arrays]
    ops.scale_(arrays, 0.3)
    assert_lists_equal(arrays, want)
    with pytest.raises(ValueError, match="writeable"):
        ro = np.ones(3)
        ro.flags.writeable = False
        ops.scale_([ro], 2.0)


# ----------------------------------------------------------------------------- threads
def test_one_and_two_threads_give_the_same_bits(isa):
    shapes = [(100003,), (3, 7), (70001,), (5,)]
    for dtype in (np.float32, np.float64):
        results = []
        for n in (1, 2):
            with using_threads(n):
                p = make(shapes, dtype)
                m, v, vm, buf = ([np.zeros_like(a) for a in p] for _ in range(4))
                q = copies(p)
                for t in range(1, 4):
                    g = grads_for(shapes, dtype, t)
                    ops.adam_step(
                        p, g, m, v, step=t, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                        weight_decay=0.01, amsgrad=True, max_exp_avg_sqs=vm,
                    )  # fmt: skip
                    ops.sgd_step(q, g, buf, lr=0.01, momentum=0.9, nesterov=True)
                norms = [ops.grad_norm(p, nt) for nt in (2.0, 1.0, math.inf, 3.0)]
                results.append((p, m, v, vm, q, buf, norms))
        for x, y in zip(results[0][:-1], results[1][:-1]):
            assert_lists_equal(x, y)
        assert results[0][-1] == results[1][-1]


# ----------------------------------------------------------------------------- bad input
def _adam_lists(n=3, dtype=np.float32):
    shapes = [(4,), (2, 3), (5,)][:n]
    p = make(shapes, dtype)
    return (
        p,
        grads_for(shapes, dtype, 1),
        [np.zeros_like(a) for a in p],
        [np.ones_like(a) for a in p],
    )


def _call_adam(p, g, m, v, **kw):
    args = dict(step=2, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    args.update(kw)
    ops.adam_step(p, g, m, v, **args)


def _bad_cases():
    """(description, mutate(p, g, m, v) -> kwargs, exception, message regex)."""

    def shape(p, g, m, v):
        m[1] = np.zeros((3, 2), np.float32)

    def noncontig_param(p, g, m, v):
        p[2] = np.zeros(10, np.float32)[::2]

    def readonly_param(p, g, m, v):
        p[0].flags.writeable = False

    def readonly_state(p, g, m, v):
        v[2].flags.writeable = False

    def wrong_dtype_state(p, g, m, v):
        m[0] = np.zeros(4, np.float64)

    def wrong_dtype_grad(p, g, m, v):
        g[1] = g[1].astype(np.float64)

    def int_param(p, g, m, v):
        p[0] = np.zeros(4, np.int32)

    def half_param(p, g, m, v):
        p[1] = np.zeros((2, 3), np.float16)

    def length(p, g, m, v):
        del v[2]

    def not_a_list(p, g, m, v):
        return dict(v_override=np.zeros(4, np.float32))

    def not_an_array(p, g, m, v):
        g[2] = [1.0] * 5

    def overlap(p, g, m, v):
        m[2] = p[2]

    def grad_overlaps_state(p, g, m, v):
        g[0] = v[0]

    return [
        ("shape", shape, ValueError, r"'exp_avgs\[1\]' must have shape \(2, 3\).*got \(3, 2\)"),
        ("noncontig", noncontig_param, ValueError, r"'params\[2\]' must be C-contiguous"),
        ("readonly", readonly_param, ValueError, r"'params\[0\]' must be writeable"),
        ("readonly_state", readonly_state, ValueError, r"'exp_avg_sqs\[2\]' must be writeable"),
        ("dtype_state", wrong_dtype_state, TypeError, r"exp_avgs\[0\].*float32.*got float64"),
        ("dtype_grad", wrong_dtype_grad, TypeError, r"grads\[1\].*float32.*got float64"),
        ("int", int_param, TypeError, r"params\[0\].*float32 or float64, got int32"),
        ("half", half_param, TypeError, r"params\[1\].*float32 or float64, got float16"),
        (
            "length",
            length,
            ValueError,
            r"'exp_avg_sqs' must have 3 arrays, one per item of 'params', got 2",
        ),
        ("not_a_list", not_a_list, TypeError, r"'exp_avg_sqs' must be a list or tuple"),
        ("not_an_array", not_an_array, TypeError, r"'grads\[2\]' must be a numpy.ndarray"),
        (
            "overlap",
            overlap,
            ValueError,
            r"'params\[2\]' and argument 'exp_avgs\[2\]' must not share memory",
        ),
        (
            "grad_overlap",
            grad_overlaps_state,
            ValueError,
            r"must not share memory .*got overlapping arrays",
        ),
    ]


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_adam_bad_input_is_a_clear_error_and_writes_nothing(case):
    _, mutate, exc, msg = case
    p, g, m, v = _adam_lists()
    extra = mutate(p, g, m, v) or {}
    before = [copies(x) for x in (p, g, m, v)]
    v_arg = extra.pop("v_override", v)
    with pytest.raises(exc, match=msg) as info:
        _call_adam(p, g, m, v_arg)
    assert "adam_step()" in str(info.value)
    for now, was in zip((p, g, m, v), before):
        assert_lists_equal(now, was)


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(step=0), "'step' must be >= 1"),
        (dict(lr=-0.1), r"'lr' must be in \[0.0, inf\), got -0.1"),
        (dict(beta1=1.0), r"'beta1' must be in \[0.0, 1.0\), got 1.0"),
        (dict(beta2=-0.1), r"'beta2' must be in \[0.0, 1.0\), got -0.1"),
        (dict(eps=float("nan")), "'eps' must be in .*got nan"),
        (dict(weight_decay=-1.0), "'weight_decay' must be in .*got -1.0"),
        (dict(amsgrad=True), "max_exp_avg_sqs"),
    ],
)
def test_adam_bad_hyperparameters(kw, msg):
    p, g, m, v = _adam_lists()
    before = copies(p)
    with pytest.raises(ValueError, match=msg):
        _call_adam(p, g, m, v, **kw)
    assert_lists_equal(p, before)


def test_adam_step_number_may_be_an_integral_float():
    p, g, m, v = _adam_lists(1, np.float64)
    q, mq, vq = copies(p), copies(m), copies(v)
    _call_adam(p, g, m, v, step=np.float32(3.0))
    _call_adam(q, g, mq, vq, step=3)
    assert_lists_equal(p, q)
    for bad in (2.5, "3", None, True):
        with pytest.raises(TypeError, match="'step' must be an integer"):
            _call_adam(p, g, m, v, step=bad)


def test_amsgrad_state_is_checked_too():
    p, g, m, v = _adam_lists()
    vm = [np.zeros_like(a) for a in p]
    vm[1] = np.zeros((6,), np.float32)
    with pytest.raises(ValueError, match=r"argument 'max_exp_avg_sqs\[1\]' must have shape"):
        _call_adam(p, g, m, v, amsgrad=True, max_exp_avg_sqs=vm)


def test_sgd_bad_input():
    p, g, b, _ = _adam_lists()
    before = copies(p)
    with pytest.raises(
        ValueError, match=r"'momentum_buffers' must be a list .*needs it\), got None"
    ):
        ops.sgd_step(p, g, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"'momentum_buffers' must have 3 arrays, .* got 2"):
        ops.sgd_step(p, g, b[:2], lr=0.1, momentum=0.9)
    b[2] = np.zeros(5, np.float64)
    with pytest.raises(TypeError, match=r"momentum_buffers\[2\].*float32"):
        ops.sgd_step(p, g, b, lr=0.1, momentum=0.9)
    p[1] = np.zeros((3, 2), np.float32).T
    with pytest.raises(ValueError, match=r"argument 'params\[1\]' must be C-contiguous"):
        ops.sgd_step(p, g, None, lr=0.1)
    with pytest.raises(ValueError, match=r"argument 'lr' must be in \[0.0, inf\), got -"):
        ops.sgd_step(p, g, None, lr=-1.0)
    assert_lists_equal(p[::2], before[::2])
