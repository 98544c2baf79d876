"""scaled_dot_product_attention, dot-product (Luong) attention and MultiheadAttention."""

from __future__ import annotations

import numpy as np
import pytest
from test_attention_kernel import reference

import fastdl
from fastdl import nn
from fastdl.nn import functional as F


def test_sdpa_forward_and_grad_match_reference():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 5, 4))
    k = rng.standard_normal((2, 3, 7, 4))
    v = rng.standard_normal((2, 3, 7, 6))
    mask = rng.random((5, 7)) < 0.7
    mask[:, 0] = True
    g = rng.standard_normal((2, 3, 5, 6))
    tq, tk, tv = (fastdl.tensor(x, requires_grad=True) for x in (q, k, v))
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, scale=0.3)
    (out * g).sum().backward()
    want, (wq, wk, wv) = reference(q, k, v, mask=mask, scale=0.3, grad=g)
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-12)
    for t, w in ((tq, wq), (tk, wk), (tv, wv)):
        np.testing.assert_allclose(t.grad.data, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"attn_mask": "float"}])
def test_sdpa_gradcheck(kw):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    if kw.get("attn_mask") == "float":
        kw = {"attn_mask": rng.standard_normal((4, 4))}
    assert fastdl.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **kw), q, k, v)


def test_sdpa_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((2, 2, 9, 8)).astype(np.float32) for _ in range(3))
    for kw in ({}, {"is_causal": True}, {"attn_mask": rng.random((9, 9)) < 0.5}):
        if "attn_mask" in kw:
            kw["attn_mask"][:, 0] = True
        tkw = {
            key: torch.from_numpy(val) if isinstance(val, np.ndarray) else val
            for key, val in kw.items()
        }
        tt = [torch.from_numpy(x).requires_grad_() for x in (q, k, v)]
        ft = [fastdl.tensor(x, requires_grad=True) for x in (q, k, v)]
        to = torch.nn.functional.scaled_dot_product_attention(*tt, **tkw)
        fo = F.scaled_dot_product_attention(*ft, **kw)
        to.sum().backward()
        fo.sum().backward()
        np.testing.assert_allclose(fo.data, to.detach().numpy(), rtol=1e-5, atol=1e-5)
        for a, b in zip(ft, tt):
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_sdpa_errors():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="'attn_mask' must be None when is_causal=True"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(NotImplementedError, match="dropout_p"):
        F.scaled_dot_product_attention(x, x, x, dropout_p=0.1)
    with pytest.raises(ValueError, match=r"'key' must have the last dimension 4 of 'query'"):
        F.scaled_dot_product_attention(x, x[..., :3], x)
    with pytest.raises(TypeError, match="'key' must have dtype float32 like 'query', got float64"):
        F.scaled_dot_product_attention(fastdl.tensor(x), fastdl.tensor(x.astype(np.float64)), x)


def test_dot_product_attention_is_the_seeds_formula():
    rng = np.random.default_rng(3)
    s = rng.standard_normal((4, 6))  # decoder states s_t, one per batch row
    h = rng.standard_normal((4, 9, 6))  # encoder states h_i
    mask = np.ones((4, 9), bool)
    mask[1, 5:] = False
    a = nn.DotProductAttention()(s, h, mask=mask).data
    for b in range(4):
        n = 9 if b != 1 else 5
        e = np.exp(h[b, :n] @ s[b] - (h[b, :n] @ s[b]).max())
        want = (e / e.sum()) @ h[b, :n]
        np.testing.assert_allclose(a[b], want, rtol=1e-12)
    seq = F.dot_product_attention(np.stack([s, s], 1), h, mask=mask).data
    np.testing.assert_allclose(seq[:, 1], a, rtol=1e-12)


def _copy_mha_to_torch(mha, torch, e, h):
    tm = torch.nn.MultiheadAttention(e, h, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        tm.in_proj_weight.copy_(torch.from_numpy(mha.in_proj_weight.data.T.copy()))
        tm.in_proj_bias.copy_(torch.from_numpy(mha.in_proj_bias.data))
        tm.out_proj.weight.copy_(torch.from_numpy(mha.out_proj.weight.data.T.copy()))
        tm.out_proj.bias.copy_(torch.from_numpy(mha.out_proj.bias.data))
    return tm


@pytest.mark.parametrize("masks", ["none", "bool", "float", "causal"])
def test_multihead_attention_matches_torch(masks):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    e, h, n, lq, lk = 12, 3, 2, 5, 7
    mha = nn.MultiheadAttention(e, h, dtype=np.float64)
    for p in (mha.in_proj_bias, mha.out_proj.bias):
        p.data[...] = rng.standard_normal(p.shape)
    tm = _copy_mha_to_torch(mha, torch, e, h)
    q = rng.standard_normal((n, lq, e))
    kv = rng.standard_normal((n, lk, e))
    kw = {}
    if masks == "bool":
        kw["key_padding_mask"] = np.zeros((n, lk), bool)
        kw["key_padding_mask"][1, 4:] = True
        kw["attn_mask"] = rng.random((lq, lk)) < 0.3
        kw["attn_mask"][:, 0] = False
    elif masks == "float":
        kw["attn_mask"] = rng.standard_normal((n * h, lq, lk))
    elif masks == "causal":
        lk = lq
        kv = kv[:, :lq]
        kw["attn_mask"] = ~np.tril(np.ones((lq, lq), bool))
        kw["is_causal"] = True
    fq, fk = fastdl.tensor(q, requires_grad=True), fastdl.tensor(kv, requires_grad=True)
    out, w = mha(fq, fk, fk, **kw)
    tq, tk = torch.from_numpy(q).requires_grad_(), torch.from_numpy(kv).requires_grad_()
    tkw = {a: torch.from_numpy(b) if isinstance(b, np.ndarray) else b for a, b in kw.items()}
    tout, tw = tm(tq, tk, tk, **tkw)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(out.shape)
    (out * g).sum().backward()
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(fq.grad.data, tq.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fk.grad.data, tk.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(
        mha.in_proj_weight.grad.data, tm.in_proj_weight.grad.numpy().T, rtol=1e-9, atol=1e-11
    )


def test_multihead_attention_shapes_and_gradcheck():
    rng = np.random.default_rng(5)
    mha = nn.MultiheadAttention(4, 2, dtype=np.float64)
    out, w = mha(rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), np.zeros((5, 4)))
    assert out.shape == (3, 4) and w.shape == (3, 5)
    out, w = mha(*(rng.standard_normal((2, 3, 4)) for _ in range(3)), average_attn_weights=False)
    assert w.shape == (2, 2, 3, 3)
    assert (
        mha(np.ones((1, 2, 4)), np.ones((1, 2, 4)), np.ones((1, 2, 4)), need_weights=False)[1]
        is None
    )
    x = rng.standard_normal((2, 3, 4))
    assert fastdl.gradcheck(lambda t: mha(t, t, t)[0], x)
    with pytest.raises(ValueError, match=r"'num_heads' must divide embed_dim \(6\), got 4"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match=r"'query' must have shape \(N, L, 4\) or \(L, 4\)"):
        mha(np.ones((2, 3, 5)), x, x)
    with pytest.raises(
        ValueError, match=r"'key_padding_mask' must have shape \(2, 3\), got \(3, 3\)"
    ):
        mha(x, x, x, key_padding_mask=np.ones((3, 3), bool))
    assert {n for n, _ in mha.named_parameters()} == {
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    }


def test_multihead_attention_matches_numpy():
    rng = np.random.default_rng(6)
    e, h, n, lq, lk = 8, 2, 3, 4, 6
    mha = nn.MultiheadAttention(e, h, dtype=np.float64)
    for p in (mha.in_proj_bias, mha.out_proj.bias):
        p.data[...] = rng.standard_normal(p.shape)
    q = rng.standard_normal((n, lq, e))
    kv = rng.standard_normal((n, lk, e))
    kpm = np.zeros((n, lk), bool)
    kpm[0, 3:] = True  # PyTorch's meaning: True = padding, not attended
    out, w = mha(q, kv, kv, key_padding_mask=kpm)
    wi, bi = mha.in_proj_weight.data, mha.in_proj_bias.data
    hd = e // h

    def heads(x, i):
        y = x @ wi[:, i * e : (i + 1) * e] + bi[i * e : (i + 1) * e]
        return y.reshape(x.shape[0], x.shape[1], h, hd).transpose(0, 2, 1, 3)

    s = heads(q, 0) @ heads(kv, 1).transpose(0, 1, 3, 2) / np.sqrt(hd)
    s = np.where(kpm[:, None, None, :], -np.inf, s)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p @ heads(kv, 2)).transpose(0, 2, 1, 3).reshape(n, lq, e)
    want = o @ mha.out_proj.weight.data + mha.out_proj.bias.data
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.data, p.mean(1), rtol=1e-12, atol=1e-12)
