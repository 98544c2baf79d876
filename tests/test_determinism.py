"""Same inputs, same bits: 1 vs 2 threads and repeated runs; numerical edge cases stay finite."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import using_threads

import fastdl
import fastdl.nn as nn
import fastdl.nn.functional as F
from fastdl import ops


def _rng(seed=0):
    return np.random.default_rng(seed)


def _kernel_outputs():
    """Every kernel family once, at sizes that take the parallel paths."""
    r = _rng(1)
    x = r.standard_normal((1024, 515)).astype(np.float32)
    b = r.standard_normal(515).astype(np.float32)
    w = r.standard_normal((515, 257)).astype(np.float32)
    g = r.standard_normal((1024, 515)).astype(np.float32)
    res = [ops.tanh(x), *ops.bias_act_backward(g, ops.bias_act(x, b, "sigmoid"), "sigmoid")]
    res += [ops.matmul(x, w), ops.linear(x, w, None, "relu"), ops.matmul(x.T, g)]
    res += [ops.softmax(x, axis=0), ops.log_softmax_backward(g, ops.log_softmax(x), axis=-1)]
    y, mean, invstd = ops.batch_norm_forward(x, b, b)
    res += [y, mean, invstd, *ops.batch_norm_backward(g, x, mean, invstd, b)]
    q = r.standard_normal((2, 4, 130, 32)).astype(np.float32)
    out, lse = ops.attention_forward(q, q[..., ::-1, :], q, is_causal=True)
    res += [out, lse, *ops.attention_backward(q, q, q[..., ::-1, :], q, out, lse, is_causal=True)]
    p, m, v = x.copy(), np.zeros_like(x), np.zeros_like(x)
    ops.adam_step([p], [g], [m], [v], step=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    res += [p, m, v, np.array(ops.grad_norm([x, g]))]
    return res


def test_every_kernel_same_bits_for_1_and_2_threads_and_repeats():
    with using_threads(1):
        one = _kernel_outputs()
    with using_threads(2):
        two = _kernel_outputs()
        again = _kernel_outputs()
    for i, (a, b, c) in enumerate(zip(one, two, again)):
        assert a.tobytes() == b.tobytes(), f"output {i} differs between 1 and 2 threads"
        assert b.tobytes() == c.tobytes(), f"output {i} differs between runs"


def _train_mlp(threads: int, steps: int = 3):
    with using_threads(threads):
        fastdl.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 10)
        )
        opt = fastdl.optim.Adam(model.parameters(), lr=1e-3)
        r = _rng(2)
        x = fastdl.tensor(r.standard_normal((512, 64)).astype(np.float32))
        y = r.integers(0, 10, 512)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        state = [p.data.copy() for p in model.parameters()]
        bn = model[1]
        state += [np.asarray(bn.running_mean).copy(), np.asarray(bn.running_var).copy()]
        return losses, state


def test_mlp_with_batchnorm_and_adam_trains_to_the_same_bits():
    losses1, state1 = _train_mlp(1)
    losses2, state2 = _train_mlp(2)
    losses2b, state2b = _train_mlp(2)
    assert losses1 == losses2 == losses2b
    assert losses1[-1] < losses1[0]  # it did train
    for a, b, c in zip(state1, state2, state2b):
        assert a.tobytes() == b.tobytes() == c.tobytes()


# ---------------------------------------------------------------- numerical edges


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [1e4, -1e4])
def test_softmax_family_at_huge_logits(dtype, big):
    x = np.array([[big, 0.0, -big], [big, big, big], [-big, -big, 0.0]], dtype)
    xf = x.astype(np.float64)
    m = xf.max(axis=1, keepdims=True)
    want_log = (xf - m) - np.log(np.exp(xf - m).sum(axis=1, keepdims=True))
    got = ops.log_softmax(x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want_log, rtol=1e-6)
    sm = ops.softmax(x)
    assert np.all(np.isfinite(sm))
    np.testing.assert_allclose(sm, np.exp(want_log), rtol=1e-6, atol=1e-30)
    labels = np.array([0, 1, 2])
    ce = F.cross_entropy(fastdl.tensor(x), labels).item()
    want_ce = -want_log[np.arange(3), labels].mean()
    assert np.isfinite(ce)
    np.testing.assert_allclose(ce, want_ce, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_at_huge_logits(dtype):
    z = np.array([1e4, -1e4, 1e4, -1e4, 0.0], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype)
    zt = fastdl.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(zt, fastdl.tensor(t))
    zf = z.astype(np.float64)
    want = np.mean(np.maximum(zf, 0) - zf * t + np.log1p(np.exp(-np.abs(zf))))
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), want, rtol=1e-6)
    loss.backward()
    g = zt.grad.data
    assert np.all(np.isfinite(g))
    sig = 0.5 * (1 + np.tanh(zf / 2))
    np.testing.assert_allclose(g, (sig - t) / len(z), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_on_constant_input(dtype):
    x = np.full((64, 5, 3), 7.25, dtype)
    w = np.linspace(0.5, 2, 5).astype(dtype)
    b = np.linspace(-1, 1, 5).astype(dtype)
    y, mean, invstd = ops.batch_norm_forward(x, w, b, 1e-5)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(invstd))
    np.testing.assert_allclose(mean, 7.25)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(1e-5), rtol=1e-5)
    np.testing.assert_allclose(y, np.broadcast_to(b[None, :, None], x.shape), atol=1e-6)
    g = _rng(3).standard_normal(x.shape).astype(dtype)
    dx, dw, db = ops.batch_norm_backward(g, x, mean, invstd, w)
    assert all(np.all(np.isfinite(a)) for a in (dx, dw, db))
    # x_hat == 0 everywhere: dx = w*invstd*(g - mean(g)), dweight = 0, dbias = sum(g).
    gf = g.astype(np.float64)
    want_dx = (w * invstd)[None, :, None] * (gf - gf.mean(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, 0, atol=1e-6)
    np.testing.assert_allclose(db, gf.sum(axis=(0, 2)), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_with_zero_gradients(dtype, amsgrad):
    p = _rng(4).standard_normal(1000).astype(dtype)
    p0 = p.copy()
    g = np.zeros_like(p)
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for step in (1, 2, 3):
        ops.adam_step(
            [p], [g], [m], [v], step=step, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
            amsgrad=amsgrad, max_exp_avg_sqs=[vmax] if amsgrad else None,
        )  # fmt: skip
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(p, p0)  # zero moments: no update at all
    np.testing.assert_array_equal(m, 0)
    np.testing.assert_array_equal(v, 0)
