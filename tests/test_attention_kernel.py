"""Fused attention kernel (forward, backward) against a float64 NumPy reference, every ISA."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import using_threads

from fastdl import _core, ops

pytestmark = pytest.mark.kernel


def reference(q, k, v, mask=None, is_causal=False, scale=None, grad=None):
    """softmax(q k^T scale + mask) v and, given grad, (dq, dk, dv), all in float64."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    tq, tk = s.shape[-2:]
    allow = np.ones(s.shape, bool)
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype == bool:
            allow = allow & m
        else:
            s = s + m
    if is_causal:
        allow = allow & np.tril(np.ones((tq, tk), bool))
    s = np.where(allow, s, -np.inf)
    mx = s.max(-1, keepdims=True) if tk else np.full(s.shape[:-1] + (1,), -np.inf)
    e = np.exp(s - np.where(np.isfinite(mx), mx, 0))
    z = e.sum(-1, keepdims=True)
    p = np.where(z > 0, e / np.where(z > 0, z, 1), 0)
    out = p @ v
    if grad is None:
        return out
    g = np.asarray(grad, np.float64)
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    dq = ds @ k
    dk = np.swapaxes(ds, -1, -2) @ q
    dv = np.swapaxes(p, -1, -2) @ g
    # Reduce over broadcast leading dimensions, as the op does.
    return out, tuple(_sum_to(a, x.shape) for a, x in ((dq, q), (dk, k), (dv, v)))


def _sum_to(a, shape):
    while a.ndim > len(shape):
        a = a.sum(0)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and a.shape[i] != 1)
    return a.sum(axis=axes, keepdims=True)


TOL = {np.float32: 2e-5, np.float64: 1e-11}


def run_both(q, k, v, dtype, grad, **kw):
    out, lse = ops.attention_forward(q.astype(dtype), k.astype(dtype), v.astype(dtype), **kw)
    grads = ops.attention_backward(
        grad.astype(dtype), q.astype(dtype), k.astype(dtype), v.astype(dtype), out, lse, **kw
    )
    return out, lse, grads


def check_against_reference(q, k, v, dtype, seed=0, tol=None, **kw):
    rng = np.random.default_rng(seed)
    q, k, v = (x.astype(dtype) for x in (q, k, v))  # the reference sees the same inputs
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    grad = rng.standard_normal(batch + (q.shape[-2], v.shape[-1]))
    out, lse, (dq, dk, dv) = run_both(q, k, v, dtype, grad, **kw)
    want, (wq, wk, wv) = reference(q, k, v, grad=grad, **kw)
    assert out.dtype == dq.dtype == dtype and lse.dtype == dtype
    assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == v.shape
    tol = tol or TOL[dtype]
    for got, ref in ((out, want), (dq, wq), (dk, wk), (dv, wv)):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * (1 + np.abs(ref).max()))
    return out, lse


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 7, 64])
@pytest.mark.parametrize("t", [1, 3, 17, 129, 513])
def test_matches_numpy(isa, dtype, t, d):
    rng = np.random.default_rng(t * 100 + d)
    tk = t + 4 if t < 100 else t // 2 + 3  # Tq != Tk, ragged against every block size
    dv = d + 3
    q = rng.standard_normal((2, t, d))
    k = rng.standard_normal((2, tk, d))
    v = rng.standard_normal((2, tk, dv))
    check_against_reference(q, k, v, dtype)
    check_against_reference(q, k, v, dtype, is_causal=True, scale=0.7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tq,tk", [(70, 200), (200, 70), (65, 65), (1, 130)])
def test_causal_top_left(isa, dtype, tq, tk):
    rng = np.random.default_rng(tq + tk)
    q = rng.standard_normal((3, tq, 16))
    k = rng.standard_normal((3, tk, 16))
    v = rng.standard_normal((3, tk, 8))
    check_against_reference(q, k, v, dtype, is_causal=True)


MASK_SHAPES = [(33, 70), (2, 1, 1, 70), (1, 3, 33, 1), (70,), (2, 3, 33, 70)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mshape", MASK_SHAPES)
@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_masks(isa, dtype, mshape, kind):
    rng = np.random.default_rng(len(mshape))
    q = rng.standard_normal((2, 3, 33, 16))
    k = rng.standard_normal((2, 3, 70, 16))
    v = rng.standard_normal((2, 3, 70, 9))
    if kind == "bool":
        mask = rng.random(mshape) < 0.7
        mask[..., 0] = True  # every row keeps a key; fully masked rows are tested apart
    else:
        mask = rng.standard_normal(mshape) * 3
    check_against_reference(q, k, v, dtype, mask=mask)
    check_against_reference(q, k, v, dtype, mask=mask, is_causal=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_give_zeros(isa, dtype):
    rng = np.random.default_rng(4)
    q = rng.standard_normal((2, 20, 8))
    k = rng.standard_normal((2, 90, 8))
    v = rng.standard_normal((2, 90, 5))
    mask = rng.random((2, 20, 90)) < 0.5
    mask[0, 3] = False
    mask[1, 17:] = False
    grad = rng.standard_normal((2, 20, 5))
    for m in (mask, np.where(mask, 0.0, -np.inf)):
        out, lse, (dq, dk, dv) = run_both(q, k, v, dtype, grad, mask=m)
        for a in (out, dq, dk, dv):
            assert np.isfinite(a).all()
        assert not out[0, 3].any() and not out[1, 17:].any()
        assert not dq[0, 3].any() and not dq[1, 17:].any()
        assert lse[0, 3] == -np.inf
        want, (wq, wk, wv) = reference(q, k, v, mask=m, grad=grad)
        tol = TOL[dtype]
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
        np.testing.assert_allclose(dk, wk, rtol=tol, atol=tol * 10)
        np.testing.assert_allclose(dv, wv, rtol=tol, atol=tol * 10)


def test_every_key_masked_or_no_keys():
    q = np.ones((2, 5, 4))
    k = np.ones((2, 7, 4))
    v = np.ones((2, 7, 3))
    out, lse = ops.attention_forward(q, k, v, mask=np.zeros((5, 7), bool))
    assert not out.any() and (lse == -np.inf).all()
    dq, dk, dv = ops.attention_backward(
        np.ones((2, 5, 3)), q, k, v, out, lse, mask=np.zeros(7, bool)
    )
    assert not dq.any() and not dk.any() and not dv.any()
    out, lse = ops.attention_forward(q, k[:, :0], v[:, :0])
    assert out.shape == (2, 5, 3) and not out.any()
    dq, dk, dv = ops.attention_backward(np.ones((2, 5, 3)), q, k[:, :0], v[:, :0], out, lse)
    assert not dq.any() and dk.shape == (2, 0, 4)
    assert ops.attention(q[:, :0], k, v).shape == (2, 0, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_logits_stay_finite(isa, dtype):
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2, 40, 1)) * 100
    k = rng.standard_normal((2, 150, 1)) * 100  # logits up to ~1e4 and beyond
    v = rng.standard_normal((2, 150, 4))
    # float32 logits of 1e4 carry absolute errors ~1e-3, which the probabilities inherit.
    tol = 2e-3 if dtype == np.float32 else None
    out, lse = check_against_reference(q, k, v, dtype, scale=1.0, tol=tol)
    assert np.abs(lse).max() > 1e3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_broadcast_leading_dims(isa, dtype):
    rng = np.random.default_rng(6)
    q = rng.standard_normal((2, 3, 19, 8))
    k = rng.standard_normal((1, 3, 70, 8))  # shared across the batch
    v = rng.standard_normal((70, 5))  # shared by every problem
    check_against_reference(q, k, v, dtype)
    check_against_reference(q[0, 0], k, v, dtype, is_causal=True)


def test_finite_differences():
    rng = np.random.default_rng(7)
    q = rng.standard_normal((2, 5, 3))
    k = rng.standard_normal((2, 6, 3))
    v = rng.standard_normal((2, 6, 2))
    mask = rng.standard_normal((5, 6))
    g = rng.standard_normal((2, 5, 2))
    out, lse = ops.attention_forward(q, k, v, mask=mask, is_causal=True)
    grads = ops.attention_backward(g, q, k, v, out, lse, mask=mask, is_causal=True)
    eps = 1e-6
    for x, got in zip((q, k, v), grads):
        num = np.empty_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            fp = (ops.attention(q, k, v, mask=mask, is_causal=True) * g).sum()
            x[i] = old - eps
            fm = (ops.attention(q, k, v, mask=mask, is_causal=True) * g).sum()
            x[i] = old
            num[i] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    q, k, v, g = (rng.standard_normal((2, 4, 37, 16)).astype(np.float32) for _ in range(4))
    mask = rng.random((37, 37)) < 0.8
    mask[:, 0] = True
    for kw in ({}, {"is_causal": True}, {"mask": mask}):
        tq, tk, tv = (torch.from_numpy(x).requires_grad_() for x in (q, k, v))
        tm = torch.from_numpy(kw["mask"]) if "mask" in kw else None
        to = torch.nn.functional.scaled_dot_product_attention(
            tq, tk, tv, attn_mask=tm, is_causal=kw.get("is_causal", False)
        )
        to.backward(torch.from_numpy(g))
        out, lse = ops.attention_forward(q, k, v, **kw)
        grads = ops.attention_backward(g, q, k, v, out, lse, **kw)
        np.testing.assert_allclose(out, to.detach().numpy(), rtol=1e-4, atol=1e-5)
        for got, t in zip(grads, (tq, tk, tv)):
            np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "batch,t,causal",
    [((1,), 700, False), ((1,), 700, True), ((3,), 300, False), ((2, 2), 130, True)],
)
def test_threads_bitwise(isa, batch, t, causal):
    rng = np.random.default_rng(9)
    q, k, g = (rng.standard_normal(batch + (t, 32)).astype(np.float32) for _ in range(3))
    v = rng.standard_normal(batch + (t, 24)).astype(np.float32)
    g = g[..., :24].copy()
    res = []
    for n in (1, 2):
        with using_threads(n):
            out, lse = ops.attention_forward(q, k, v, is_causal=causal)
            res.append((out, lse, *ops.attention_backward(g, q, k, v, out, lse, is_causal=causal)))
    for a, b in zip(*res):
        assert np.array_equal(a, b)


def test_dtype_promotion_and_inputs():
    rng = np.random.default_rng(10)
    q = rng.standard_normal((4, 3)).astype(np.float32)
    k = rng.standard_normal((5, 3))
    assert ops.attention(q, q, q).dtype == np.float32
    assert ops.attention(q, k, k).dtype == np.float64  # NumPy promotion
    qt = rng.standard_normal((3, 4)).T  # non-contiguous input is copied once
    np.testing.assert_allclose(ops.attention(qt, k, k), reference(qt, k, k), rtol=1e-12)


def test_bad_input():
    q = np.zeros((2, 4, 8), np.float32)
    k = np.zeros((2, 5, 8), np.float32)
    v = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"attention\(\): argument 'k' must have q's last dim"):
        ops.attention(q, k[..., :7], v)
    with pytest.raises(ValueError, match="number of keys Tk"):
        ops.attention(q, k, v[:, :4])
    with pytest.raises(
        ValueError, match=r"'mask' must broadcast to \(2, 4, 5\), got shape \(4, 6\)"
    ):
        ops.attention(q, k, v, mask=np.ones((4, 6), bool))
    with pytest.raises(ValueError, match="'mask' must broadcast to"):
        ops.attention(q, k, v, mask=np.ones((3, 4, 5), bool))
    with pytest.raises(TypeError, match="'mask' must be boolean"):
        ops.attention(q, k, v, mask=np.ones((4, 5), np.int32))
    with pytest.raises(ValueError, match="do not broadcast"):
        ops.attention(q, np.zeros((3, 5, 8)), np.zeros((3, 5, 3)))
    with pytest.raises(ValueError, match=r"'q' must be \(\.\.\., Tq, D\)"):
        ops.attention(np.zeros(8), k, v)
    with pytest.raises(TypeError, match="'scale'"):
        ops.attention(q, k, v, scale="1")
    with pytest.raises(TypeError, match="'is_causal'"):
        ops.attention(q, k, v, is_causal=None)
    with pytest.raises(TypeError, match="'v'"):
        ops.attention(q, k, None)
    out, lse = ops.attention_forward(q, k, v)
    with pytest.raises(ValueError, match=r"'lse' must have shape \(2, 4\)"):
        ops.attention_backward(out, q, k, v, out, lse[:, :3])
    with pytest.raises(ValueError, match=r"'grad_out' must have shape \(2, 4, 3\)"):
        ops.attention_backward(out[:, :2], q, k, v, out, lse)
    idx = np.arange(2, dtype=np.int64)
    with pytest.raises(ValueError, match=r"'k_index' holds 2, outside \[0, 2\)"):
        _core.attention_forward(q, k, v, None, idx, idx + 1, idx, None, False, 1.0, out, lse)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.attention_forward(
            q, k, v, None, idx, idx, idx, None, False, 1.0, np.zeros((3, 4, 2), np.float32).T, lse
        )
    with pytest.raises(TypeError, match="dtype float"):
        _core.attention_forward(
            q, k.astype(np.float64), v, None, idx, idx, idx, None, False, 1.0, out, lse
        )
    with pytest.raises(ValueError, match="mask planes"):
        _core.attention_forward(
            q, k, v, np.ones((1, 4, 4), bool), idx, idx, idx, idx * 0, False, 1.0, out, lse
        )
