"""Property-based fuzzing of every public fastdl.ops entry point (hypothesis).

Every call must either match the NumPy float64 reference or raise TypeError/ValueError naming
the function, and a failed call writes nothing. Inputs: random shapes including 0-size,
dtypes float16/32/64, ints, bool, complex and object, C-contiguous, strided, negative-stride,
transposed and read-only layouts, NaN and +-Inf, ``out`` aliasing or overlapping an input,
junk objects in every argument.

Short mode (CI): FASTDL_FUZZ_EXAMPLES examples per entry point, 40 by default. Long mode:
``FASTDL_FUZZ_EXAMPLES=10000 python -m pytest tests/test_fuzz_ops.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fuzzing import ERRORS, JUNK, LAYOUTS, REAL, arrays, elements, f64, fuzz, inputs, layout
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastdl import ops

ACTS = ["relu", "sigmoid", "tanh"]


# ---------------------------------------------------------------- the model of valid input


def as_real(obj):
    """The ndarray fastdl must accept for ``obj``, or None when it must raise TypeError."""
    if obj is None or isinstance(obj, (str, bytes)):
        return None
    try:
        a = np.asarray(obj)
    except (TypeError, ValueError, OverflowError):
        return None
    if a.dtype.kind not in "fiub" or a.dtype.itemsize > 8:
        return None
    return a


def out_ok(out, shape, dtype) -> bool:
    return (
        isinstance(out, np.ndarray)
        and out.shape == tuple(shape)
        and out.dtype == dtype
        and out.flags.c_contiguous
        and out.flags.writeable
    )


@st.composite
def out_for(draw, x, shape, dtype):
    """An ``out`` argument: absent, right, wrong in one way, or aliasing/overlapping ``x``."""
    kind = draw(
        st.sampled_from(
            ["none", "none", "right", "input", "overlap", "dtype", "shape", "strided", "ro", "list"]
        )
    )
    if kind == "none" or dtype is None:
        return None
    if kind == "right":
        return np.full(shape, 7, dtype)
    if kind == "input":
        return x  # in place when it is right, rejected otherwise
    if kind == "overlap" and len(shape) == 1 and shape[0] > 0:
        buf = np.full(shape[0] + 1, 3, dtype)
        return buf[1:] if draw(st.booleans()) else buf[:-1]
    if kind == "dtype":
        return np.zeros(shape, np.float64 if dtype == np.float32 else np.float32)
    if kind == "shape":
        return np.zeros(tuple(shape) + (1,), dtype)
    if kind == "strided" and len(shape) >= 1 and shape[-1] > 1:
        return np.zeros(tuple(shape[:-1]) + (2 * shape[-1],), dtype)[..., ::2]
    if kind == "ro":
        o = np.zeros(shape, dtype)
        o.setflags(write=False)
        return o
    if kind == "list":
        return [0.0]
    return None


def check_call(fn_name, call, expect_ok, reference, out, rtol, atol, exp_dtype=None):
    """Run ``call``; compare with ``reference()`` or check the error and that out is intact."""
    before = out.tobytes() if isinstance(out, np.ndarray) else None
    try:
        got = call()
    except ERRORS as e:
        assert not expect_ok, f"{fn_name} raised {type(e).__name__}: {e}"
        assert fn_name in str(e), f"error does not name {fn_name}: {e}"
        if before is not None:
            assert out.tobytes() == before, f"{fn_name} wrote into out before raising"
        return
    assert expect_ok, f"{fn_name} accepted input it should reject"
    want = reference()
    if out is not None:
        assert got is out
    if exp_dtype is not None:
        assert got.dtype == exp_dtype
    assert got.shape == want.shape
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(f64(got), want, rtol=rtol, atol=atol, equal_nan=True)


def tols(dtype):
    return (2e-5, 2e-6) if dtype == np.float32 else (1e-11, 1e-13)


def ref_act(name, x):
    x = f64(x)
    with np.errstate(all="ignore"):
        if name in (None, "none"):
            return x
        if name == "relu":
            return np.where(np.isnan(x), x, np.maximum(x, 0))
        if name == "sigmoid":
            return 0.5 * (1 + np.tanh(x / 2))
        return np.tanh(x)


def ref_grad(name, g, y):
    # In the kernel's dtype and formula: for y far outside an activation's range (not a
    # forward output) the products overflow there, and that is the answer to match.
    g, y = np.asarray(g), np.asarray(y)
    one = y.dtype.type(1)
    with np.errstate(all="ignore"):
        if name in (None, "none"):
            return g
        if name == "relu":
            return np.where(y > 0, g, 0.0)
        if name == "sigmoid":
            return f64(g * (y * (one - y)))
        return f64(g * (one - y * y))


def kernel_view(a, dtype):
    """The input as the kernel computes with it: converted to the result dtype."""
    return np.asarray(a).astype(dtype)


# ---------------------------------------------------------------- activations


@fuzz
@given(data=st.data(), name=st.sampled_from(ACTS))
def test_fuzz_unary(data, name):
    x = data.draw(inputs())
    xa = as_real(x)
    dtype = None if xa is None else np.result_type(xa, np.float32)
    shape = None if xa is None else xa.shape
    out = data.draw(out_for(x, shape, dtype)) if xa is not None else None
    ok = xa is not None and (out is None or out_ok(out, shape, dtype))
    xin = None if xa is None else kernel_view(xa, dtype)  # a copy: out may alias x
    rtol, atol = tols(dtype) if dtype is not None else (0, 0)
    check_call(
        name,
        lambda: getattr(ops, name)(x, out=out),
        ok,
        lambda: ref_act(name, xin),
        out,
        rtol,
        atol,
        dtype,
    )


@st.composite
def bias_for(draw, xa):
    if xa is None or xa.ndim == 0 or draw(st.integers(0, 4)) == 0:
        return draw(inputs())
    return draw(arrays(shape=xa.shape[-1:], dtypes=REAL))


@fuzz
@given(data=st.data(), name=st.sampled_from([None, "none", *ACTS]))
def test_fuzz_bias_act(data, name):
    x = data.draw(inputs())
    xa = as_real(x)
    b = data.draw(bias_for(xa))
    ba = as_real(b)
    ok = xa is not None and ba is not None and xa.ndim >= 1 and ba.shape == xa.shape[-1:]
    dtype = np.result_type(xa, ba, np.float32) if ok else None
    out = data.draw(out_for(x, xa.shape, dtype)) if ok else None
    ok = ok and (out is None or out_ok(out, xa.shape, dtype))
    if ok:
        xin, bin_ = kernel_view(xa, dtype), kernel_view(ba, dtype)
        with np.errstate(all="ignore"):
            pre = (xin + bin_).astype(dtype)  # the kernel adds in the result dtype
    rtol, atol = tols(dtype) if ok else (0, 0)
    check_call(
        "bias_act",
        lambda: ops.bias_act(x, b, name, out=out),
        ok,
        lambda: ref_act(name, pre),
        out,
        rtol,
        atol,
        dtype,
    )


@st.composite
def grad_y(draw):
    """(grad, y) pairs: usually the same shape, sometimes anything."""
    y = draw(inputs())
    ya = as_real(y)
    if ya is not None and draw(st.integers(0, 4)) > 0:
        g = draw(arrays(shape=ya.shape, dtypes=REAL))
    else:
        g = draw(inputs())
    return g, y


@fuzz
@given(data=st.data(), name=st.sampled_from(ACTS), generic=st.booleans())
def test_fuzz_activation_backward(data, name, generic):
    g, y = data.draw(grad_y())
    ga, ya = as_real(g), as_real(y)
    ok = ga is not None and ya is not None and ga.shape == ya.shape
    dtype = np.result_type(ga, ya, np.float32) if ok else None
    out = data.draw(out_for(g, ya.shape, dtype)) if ok else None
    ok = ok and (out is None or out_ok(out, ya.shape, dtype))
    if ok:
        gin, yin = kernel_view(ga, dtype), kernel_view(ya, dtype)
    rtol, atol = tols(dtype) if ok else (0, 0)
    if generic:
        call = lambda: ops.activation_backward(name, g, y, out=out)  # noqa: E731
    else:
        call = lambda: getattr(ops, f"{name}_backward")(g, y, out=out)  # noqa: E731
    check_call(
        "activation_backward" if generic else f"{name}_backward",  # the function called
        call,
        ok,
        lambda: ref_grad(name, gin, yin),
        out,
        rtol,
        atol,
        dtype,
    )


@fuzz
@given(data=st.data(), name=st.sampled_from([None, *ACTS]))
def test_fuzz_bias_act_backward(data, name):
    g, y = data.draw(grad_y())
    ga, ya = as_real(g), as_real(y)
    ok = ga is not None and ya is not None and ga.shape == ya.shape and ya.ndim >= 1
    try:
        gx, gb = ops.bias_act_backward(g, y, name)
    except ERRORS as e:
        assert not ok, f"bias_act_backward raised {e}"
        assert "bias_act_backward" in str(e)
        return
    assert ok
    dtype = np.result_type(ga, ya, np.float32)
    assert gx.dtype == gb.dtype == dtype
    want = ref_grad(name, kernel_view(ga, dtype), kernel_view(ya, dtype))
    rtol, atol = tols(dtype)
    np.testing.assert_allclose(f64(gx), want, rtol=rtol, atol=atol, equal_nan=True)
    axes = tuple(range(ya.ndim - 1))
    with np.errstate(all="ignore"):
        want_b = want.sum(axis=axes)
        scale = np.abs(want).sum(axis=axes) + 1
    # Sums with NaN/Inf: compare where finite, and the non-finite positions must agree.
    fin = np.isfinite(want_b) & np.isfinite(scale)
    assert np.all(np.abs(f64(gb)[fin] - want_b[fin]) <= 4 * rtol * scale[fin])
    assert np.array_equal(np.isnan(gb), np.isnan(want_b) | (~np.isfinite(scale) & np.isnan(gb)))


# ---------------------------------------------------------------- softmax family


def ref_softmax(x, axis, log):
    x = f64(x)
    if x.ndim == 0:
        x = x.reshape(1)
        squeeze = True
    else:
        squeeze = False
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axis, keepdims=True) if x.shape[axis] else 0
        z = x - m
        e = np.exp(z)
        s = e.sum(axis=axis, keepdims=True)
        r = z - np.log(s) if log else e / s
    return r.reshape(()) if squeeze else r


def ref_softmax_backward(g, y, axis, log):
    # In the kernel's dtype: y outside the range of a (log-)softmax output overflows there.
    g, y = np.asarray(g), np.asarray(y)
    shape = g.shape
    if g.ndim == 0:
        g, y = g.reshape(1), y.reshape(1)
    with np.errstate(all="ignore"):
        if log:
            r = g - np.exp(y) * g.sum(axis=axis, keepdims=True)
        else:
            r = y * (g - (g * y).sum(axis=axis, keepdims=True))
    return f64(r.reshape(shape))


AXES = st.one_of(st.integers(-5, 5), st.integers(-5, 5), st.sampled_from([None, 1.0, "0", True]))


def axis_ok(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, int):
        return False
    nd = max(ndim, 1)
    return -nd <= axis < nd


@fuzz
@given(data=st.data(), log=st.booleans(), axis=AXES)
def test_fuzz_softmax(data, log, axis):
    fn = "log_softmax" if log else "softmax"
    x = data.draw(inputs())
    xa = as_real(x)
    ok = xa is not None and axis_ok(axis, xa.ndim)
    dtype = np.result_type(xa, np.float32) if ok else None
    out = data.draw(out_for(x, xa.shape, dtype)) if ok else None
    ok = ok and (out is None or out_ok(out, xa.shape, dtype))
    if ok:
        xin = kernel_view(xa, dtype)
        ax = axis % max(xa.ndim, 1)
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
    check_call(
        fn,
        lambda: getattr(ops, fn)(x, axis=axis, out=out),
        ok,
        lambda: ref_softmax(xin, ax, log),
        out,
        rtol,
        atol,
        dtype,
    )


@fuzz
@given(data=st.data(), log=st.booleans(), axis=AXES)
def test_fuzz_softmax_backward(data, log, axis):
    fn = "log_softmax_backward" if log else "softmax_backward"
    g, y = data.draw(grad_y())
    ga, ya = as_real(g), as_real(y)
    ok = ga is not None and ya is not None and ga.shape == ya.shape and axis_ok(axis, ya.ndim)
    dtype = np.result_type(ga, ya, np.float32) if ok else None
    out = data.draw(out_for(g, ya.shape, dtype)) if ok else None
    ok = ok and (out is None or out_ok(out, ya.shape, dtype))
    if ok:
        gin, yin = kernel_view(ga, dtype), kernel_view(ya, dtype)
        ax = axis % max(ya.ndim, 1)
        # The reference sums g*y over the axis: compare only where those sums are finite and
        # moderate (with huge values float32 rounding of the sum dominates).
        with np.errstate(all="ignore"):
            mag = np.abs(f64(gin)) * (1 + np.abs(f64(yin)))
        assume(np.all(mag[np.isfinite(mag)] < 1e6))
    rtol, atol = (1e-4, 1e-4) if dtype == np.float32 else (1e-9, 1e-9)
    check_call(
        fn,
        lambda: getattr(ops, fn)(g, y, axis=axis, out=out),
        ok,
        lambda: ref_softmax_backward(gin, yin, ax, log),
        out,
        rtol,
        atol,
        dtype,
    )


# ---------------------------------------------------------------- optimiser steps


FLOAT = [np.float32, np.float64]


@st.composite
def param_lists(draw):
    """Valid parameter/gradient/state lists (float32/float64 mixed, any shapes)."""
    n = draw(st.integers(0, 4))
    params, grads = [], []
    for _ in range(n):
        dt = draw(st.sampled_from(FLOAT))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
        el = st.floats(-10, 10, width=32)
        params.append(draw(hnp.arrays(dt, shape, elements=el)))
        g = draw(hnp.arrays(dt, shape, elements=st.floats(-10, 10, width=32)))
        grads.append(layout(g, draw(st.sampled_from(["c", "strided", "negative", "readonly"]))))
    return params, grads


BREAKERS = ["none", "dtype", "shape", "readonly", "strided", "alias", "junk", "length", "nan"]


def _break(draw, lists, writable_names):
    """Spoil one list in one way; returns "<how> <list name>" (or 'none')."""
    how = draw(st.sampled_from(BREAKERS))
    name = draw(st.sampled_from(sorted(lists)))
    lst = lists[name]
    if how == "none" or not lst:
        return "none"
    i = draw(st.integers(0, len(lst) - 1))
    a = lst[i]
    if how == "dtype":
        lst[i] = a.astype(np.float16 if draw(st.booleans()) else np.int32)
    elif how == "shape":
        lst[i] = np.zeros(a.shape + (2,), a.dtype)
    elif how == "readonly":
        if name not in writable_names:
            return "none"
        a = a.copy()
        a.setflags(write=False)
        lst[i] = a
    elif how == "strided":
        if name not in writable_names or a.ndim == 0 or a.shape[-1] < 2:
            return "none"
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        lst[i] = big[..., ::2]
        if lst[i].flags.c_contiguous:
            return "none"  # an empty view counts as contiguous
    elif how == "alias":
        if name not in writable_names:
            return "none"
        other = draw(st.sampled_from(sorted(writable_names)))
        if lists[other] is lst:
            return "none"
        lists[other][i] = lst[i]  # the same array updated twice
        if a.size == 0:
            return "none"  # no bytes, no overlap: fine
    elif how == "junk":
        lst[i] = draw(JUNK)
    elif how == "length":
        lst.pop(i)
    elif how == "nan":
        if name not in ("params", "grads", "arrays"):
            return "none"  # NaN optimiser state cannot arise without a NaN gradient first
        a = a.copy()
        if a.size:
            a.reshape(-1)[0] = np.nan
        lst[i] = a
        return "none"  # NaN is a value, not an error: must be accepted
    return f"{how} {name}"


def adam_ref(p, g, m, v, vmax, step, lr, b1, b2, eps, wd, decoupled, amsgrad):
    p, g, m, v = (f64(a) for a in (p, g, m, v))
    if decoupled:
        p = p * (1 - lr * wd)
    elif wd:  # as PyTorch: no L2 term at all when wd == 0 (0 * a NaN parameter is NaN)
        g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    if amsgrad:
        vmax = np.maximum(f64(vmax), v)
        vv = vmax
    else:
        vv = v
    bc1 = 1 - b1**step
    bc2 = 1 - b2**step
    p = p - lr / bc1 * m / (np.sqrt(vv) / math.sqrt(bc2) + eps)
    return p, m, v, vmax


def run_list_op(fn, call, L, broken):
    """Run an in-place list op; on error check the message and that nothing was written.

    Returns the snapshot of the lists before the call when it succeeded, else None.
    """
    snap = {k: [a.copy() if isinstance(a, np.ndarray) else a for a in v] for k, v in L.items()}
    try:
        call()
    except ERRORS as e:
        assert broken != "none", f"{fn} rejected valid input: {e}"
        assert fn in str(e), e
        for k, v in L.items():
            for a, s in zip(v, snap[k]):
                if isinstance(a, np.ndarray):
                    assert a.tobytes() == s.tobytes(), f"{fn} wrote into {k} before raising"
        return None
    assert broken == "none", f"{fn} accepted input with a {broken!r} defect"
    return snap


def assert_close(got, want, dtype):
    rtol = 3e-5 if dtype == np.float32 else 1e-10
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(f64(got), want, rtol=rtol, atol=rtol, equal_nan=True)


def states_like(draw, params, lo, hi):
    return [
        draw(hnp.arrays(p.dtype, p.shape, elements=st.floats(lo, hi, width=32))) for p in params
    ]


@fuzz
@given(
    data=st.data(),
    lists=param_lists(),
    step=st.integers(1, 5),
    lr=st.floats(0, 0.1),
    # Realistic betas: with beta1 near 0 the kernel's float32 lerp (PyTorch's formula) loses
    # digits to cancellation against this float64 reference.
    b1=st.floats(0.5, 0.99),
    b2=st.floats(0.5, 0.999),
    wd=st.floats(0, 0.1),
    decoupled=st.booleans(),
    amsgrad=st.booleans(),
)
def test_fuzz_adam_step(data, lists, step, lr, b1, b2, wd, decoupled, amsgrad):
    params, grads = lists
    ms = states_like(data.draw, params, -1, 1)
    vs = states_like(data.draw, params, 0, 1)
    L = {"params": params, "grads": grads, "exp_avgs": ms, "exp_avg_sqs": vs}
    if amsgrad:
        L["max_exp_avg_sqs"] = states_like(data.draw, params, 0, 2)
    broken = _break(data.draw, L, {k for k in L if k != "grads"})
    kw = dict(step=step, lr=lr, beta1=b1, beta2=b2, eps=1e-8, weight_decay=wd)

    def call():
        ops.adam_step(
            L["params"], L["grads"], L["exp_avgs"], L["exp_avg_sqs"], **kw,
            decoupled=decoupled, amsgrad=amsgrad, max_exp_avg_sqs=L.get("max_exp_avg_sqs"),
        )  # fmt: skip

    snap = run_list_op("adam_step", call, L, broken)
    if snap is None:
        return
    for i, p in enumerate(L["params"]):
        vmax = snap["max_exp_avg_sqs"][i] if amsgrad else None
        want = adam_ref(
            snap["params"][i], snap["grads"][i], snap["exp_avgs"][i], snap["exp_avg_sqs"][i],
            vmax, step, lr, b1, b2, 1e-8, wd, decoupled, amsgrad,
        )  # fmt: skip
        assert_close(p, want[0], p.dtype)
        assert_close(L["exp_avgs"][i], want[1], p.dtype)
        assert_close(L["exp_avg_sqs"][i], want[2], p.dtype)
        if amsgrad:
            assert_close(L["max_exp_avg_sqs"][i], want[3], p.dtype)


@fuzz
@given(
    data=st.data(),
    lists=param_lists(),
    lr=st.floats(0, 0.1),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    dampening=st.sampled_from([0.0, 0.1]),
    nesterov=st.booleans(),
    wd=st.floats(0, 0.1),
    first=st.booleans(),
)
def test_fuzz_sgd_step(data, lists, lr, momentum, dampening, nesterov, wd, first):
    params, grads = lists
    nesterov = nesterov and momentum > 0 and dampening == 0  # PyTorch's own constraint
    L = {"params": params, "grads": grads, "bufs": states_like(data.draw, params, -1, 1)}
    broken = _break(data.draw, L, {"params", "bufs"})
    if momentum == 0 and (broken.endswith(" bufs") or broken.startswith("alias")):
        broken = "none"  # without momentum the buffers are documented as unused
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=wd)
    snap = run_list_op(
        "sgd_step",
        lambda: ops.sgd_step(L["params"], L["grads"], L["bufs"], **kw, first_step=first),
        L,
        broken,
    )
    if snap is None:
        return
    for i, p in enumerate(L["params"]):
        p0, g = f64(snap["params"][i]), f64(snap["grads"][i])
        if wd:  # as PyTorch: skipped when 0, so a NaN parameter leaves the gradient alone
            g = g + wd * p0
        if momentum:
            buf = f64(snap["bufs"][i])
            buf = g if first else momentum * buf + (1 - dampening) * g
            d = g + momentum * buf if nesterov else buf
            assert_close(L["bufs"][i], buf, p.dtype)
        else:
            d = g
        assert_close(p, p0 - lr * d, p.dtype)


@fuzz
@given(
    data=st.data(),
    norm=st.sampled_from([2.0, 1.0, 0.0, 3.0, math.inf, "inf", -1.0, "two", None]),
)
def test_fuzz_grad_norm(data, norm):
    arrs = data.draw(st.one_of(st.lists(inputs(), max_size=4), JUNK))
    converted = [as_real(a) for a in arrs] if isinstance(arrs, (list, tuple)) else None
    ok = converted is not None and all(a is not None for a in converted)
    ok = ok and (norm in ("inf", math.inf) or isinstance(norm, float) and norm >= 0)
    try:
        got = ops.grad_norm(arrs, norm)
    except ERRORS as e:
        assert not ok, f"grad_norm rejected valid input: {e}"
        assert "grad_norm" in str(e), e
        return
    assert ok, "grad_norm accepted invalid input"
    # Each array is converted as NumPy promotes it with float32, then summed in float64.
    parts = [kernel_view(a, np.result_type(a, np.float32)).ravel() for a in converted]
    flat32 = np.concatenate([f64(a) for a in parts]) if parts else np.zeros(0)
    p = math.inf if norm == "inf" else norm
    with np.errstate(all="ignore"):
        if p == math.inf:
            want = np.max(np.abs(flat32)) if flat32.size else 0.0
        elif p == 0:
            want = float(np.count_nonzero(flat32))
        else:
            want = np.sum(np.abs(flat32) ** p) ** (1 / p)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


@fuzz
@given(data=st.data(), lists=param_lists(), factor=st.floats(allow_nan=True, width=32))
def test_fuzz_scale_(data, lists, factor):
    params, _ = lists
    L = {"arrays": params}
    broken = _break(data.draw, L, {"arrays"})
    if broken.split()[0] in ("shape", "length"):
        broken = "none"  # one list: any shapes, any length
    if len(set(map(id, L["arrays"]))) < len(L["arrays"]):
        broken = "alias"
    snap = run_list_op("scale_", lambda: ops.scale_(L["arrays"], factor), L, broken)
    if snap is None:
        return
    for a, s in zip(L["arrays"], snap["arrays"]):
        with np.errstate(all="ignore"):
            want = (s * a.dtype.type(factor)).astype(np.float64)
        assert_close(a, want, a.dtype)


# ---------------------------------------------------------------- matmul, linear


BOUNDED = st.floats(-100, 100, width=32)


@st.composite
def bounded_arrays(draw, shape, dtypes=REAL):
    dtype = draw(st.sampled_from(dtypes))
    dt = np.dtype(dtype)
    el = BOUNDED if dt.kind == "f" else elements(dtype)
    a = draw(hnp.arrays(dtype, shape, elements=el))
    return layout(a, draw(st.sampled_from(LAYOUTS)))


@st.composite
def matmul_pair(draw):
    k = draw(st.integers(0, 9))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    a_shape = draw(st.sampled_from([(k,), (draw(st.integers(0, 9)), k)]))
    b_shape = draw(st.sampled_from([(k,), (k, draw(st.integers(0, 9)))]))
    if draw(st.booleans()):
        a_shape = batch + a_shape if len(a_shape) == 2 else a_shape
    if draw(st.booleans()):
        b_shape = batch[-1:] + b_shape if len(b_shape) == 2 else b_shape
    if draw(st.integers(0, 6)) == 0:  # a mismatched inner dimension
        b_shape = (k + 1,) + b_shape[1:] if len(b_shape) == 1 else b_shape[:-2] + (k + 1, 2)
    if draw(st.integers(0, 10)) == 0:
        return draw(inputs()), draw(inputs())
    return draw(bounded_arrays(a_shape)), draw(bounded_arrays(b_shape))


def _matmul_bound(a, b, dtype):
    """Rounding bound for a float32/float64 product: eps * K * (|a| @ |b|)."""
    eps = np.finfo(dtype).eps
    k = a.shape[-1] if a.ndim else 1
    with np.errstate(all="ignore"):
        return 4 * eps * (k + 1) * np.matmul(np.abs(f64(a)), np.abs(f64(b))) + 1e-30


@fuzz
@given(data=st.data(), pair=matmul_pair())
def test_fuzz_matmul(data, pair):
    a, b = pair
    aa, ba = as_real(a), as_real(b)
    ok, want_shape = aa is not None and ba is not None, None
    if ok:
        try:
            want_shape = np.matmul(np.zeros(aa.shape), np.zeros(ba.shape)).shape
        except ValueError:
            ok = False
    dtype = np.result_type(aa, ba, np.float32) if ok else None
    out = data.draw(out_for(a, want_shape, dtype)) if ok else None
    ok = ok and (out is None or out_ok(out, want_shape, dtype))
    before = out.tobytes() if isinstance(out, np.ndarray) else None
    if ok:  # copies taken before the call: out may be a itself
        ak, bk = kernel_view(aa, dtype), kernel_view(ba, dtype)
    try:
        got = ops.matmul(a, b, out=out)
    except ERRORS as e:
        assert not ok, f"matmul raised {e}"
        assert "matmul" in str(e), e
        if before is not None:
            assert out.tobytes() == before
        return
    assert ok, "matmul accepted invalid input"
    want = np.matmul(f64(ak), f64(bk))
    assert got.dtype == dtype and got.shape == want.shape
    assert out is None or got is out
    assert np.all(np.abs(f64(got) - want) <= _matmul_bound(ak, bk, dtype))


@fuzz
@given(data=st.data(), act=st.sampled_from([None, *ACTS]), with_bias=st.booleans())
def test_fuzz_linear(data, act, with_bias):
    d_in, d_out = data.draw(st.integers(0, 7)), data.draw(st.integers(0, 7))
    lead = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5))
    x = data.draw(bounded_arrays(lead + (d_in,)))
    w_shape = (d_in, d_out) if data.draw(st.integers(0, 5)) else (d_in + 1, d_out)
    w = data.draw(bounded_arrays(w_shape))
    b = data.draw(bounded_arrays((d_out,))) if with_bias else None
    ok = w.shape[0] == x.shape[-1]
    try:
        got = ops.linear(x, w, b, act)
    except ERRORS as e:
        assert not ok, f"linear raised {e}"
        assert "linear" in str(e), e
        return
    assert ok, "linear accepted mismatched shapes"
    dtype = np.result_type(x, w, *([b] if b is not None else []), np.float32)
    xk, wk = kernel_view(x, dtype), kernel_view(w, dtype)
    pre = np.matmul(f64(xk), f64(wk)) + (f64(kernel_view(b, dtype)) if b is not None else 0)
    bound = _matmul_bound(xk, wk, dtype) + 4 * np.finfo(dtype).eps * np.abs(pre)
    assert got.dtype == dtype and got.shape == pre.shape
    # Activations are 1-Lipschitz, so the product's error bound carries over.
    tol = bound + (tols(dtype)[0] * np.abs(ref_act(act, pre)) if act else 0)
    assert np.all(np.abs(f64(got) - ref_act(act, pre)) <= tol)


# ---------------------------------------------------------------- batch norm


@fuzz
@given(data=st.data(), affine=st.booleans(), three_d=st.booleans())
def test_fuzz_batch_norm(data, affine, three_d):
    n, c, length = (data.draw(st.integers(0, 6)) for _ in range(3))
    shape = (n, c, length) if three_d else (n, c)
    x = data.draw(st.one_of(bounded_arrays(shape), bounded_arrays(shape), inputs()))
    w = data.draw(bounded_arrays((c,))) if affine else None
    b = data.draw(bounded_arrays((c,))) if affine else None
    xa = as_real(x)
    ok = xa is not None and xa.ndim in (2, 3)
    if ok and affine:
        ok = xa.shape[1] == c
    try:
        y, mean, invstd = ops.batch_norm_forward(x, w, b, 1e-5)
    except ERRORS as e:
        assert not ok, f"batch_norm_forward raised {e}"
        assert "batch_norm" in str(e), e
        return
    assert ok, "batch_norm_forward accepted invalid input"
    dtype = np.result_type(xa, *([w, b] if affine else []), np.float32)
    xf = f64(kernel_view(xa, dtype))
    if xf.size == 0:
        assert y.shape == xa.shape
        return
    assert y.dtype == dtype
    mu, want_inv, want, bad = ref_batch_norm(xf, w, b, 1e-5)
    # Channels holding NaN or Inf: NumPy's mean (+-inf, or NaN), NaN invstd and y, and only there.
    sel = (slice(None), bad) + ((slice(None),) if xf.ndim == 3 else ())
    assert np.isnan(f64(invstd)[bad]).all() and np.isnan(f64(y)[sel]).all()
    np.testing.assert_array_equal(f64(mean)[bad], mu[bad])
    ok_c = ~bad
    sel = (slice(None), ok_c) + ((slice(None),) if xf.ndim == 3 else ())
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    amax = np.abs(xf[sel]).max(initial=0.0)
    np.testing.assert_allclose(f64(mean)[ok_c], mu[ok_c], rtol=rtol, atol=rtol * (1 + amax))
    np.testing.assert_allclose(f64(invstd)[ok_c], want_inv[ok_c], rtol=rtol * 10)
    scale = 1 + (np.abs(f64(w)).reshape(bshape(xf)) if affine else 0)
    err = np.abs(f64(y) - want) <= 100 * rtol * scale * (1 + np.abs(want))
    assert np.all(err[sel])

    # Backward from these statistics, with a gradient of any magnitude (sums may overflow).
    el = data.draw(st.sampled_from([BOUNDED, elements(dtype)]))
    g = data.draw(hnp.arrays(dtype, xf.shape, elements=el))
    training = data.draw(st.booleans())
    xk = kernel_view(xa, dtype)
    dx, dw, db = ops.batch_norm_backward(g, xk, mean, invstd, w, training=training)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    ref = ref_batch_norm_backward(g, xk, mean, invstd, w, training, dtype)
    fin = ok_c & np.isfinite(f64(g)).all(axis=(0,) if xf.ndim == 2 else (0, 2))
    sel = (slice(None), fin) + ((slice(None),) if xf.ndim == 3 else ())
    tiny = np.longdouble(np.finfo(dtype).smallest_subnormal)
    for got, (want_g, size, amp, limit), where in zip((dx, dw, db), ref, (sel, fin, fin)):
        # the kernel works in the dtype: a subnormal step of its terms, times the factor after
        tol = 100 * rtol * size + 4 * tiny * (1 + amp)
        assert_close_or_overflow(got[where], want_g[where], tol[where], limit[where], dtype)


def assert_close_or_overflow(got, want, tol, limit, dtype):
    """|got - want| <= tol, in long double; +-inf is right where the tolerance band reaches past
    the dtype's largest value (the true result overflows, or nearly does), and inf or NaN
    where ``limit`` (batch_norm_backward's documented limit) holds."""
    got = got.astype(np.longdouble)
    lim = np.longdouble(np.finfo(dtype).max)
    with np.errstate(invalid="ignore"):
        close = np.abs(got - want) <= tol
        over = np.isinf(got) & (np.sign(got) == np.sign(want)) & (np.abs(want) + tol >= lim)
    bad = ~(close | over | (limit & ~np.isfinite(got)))
    assert not bad.any(), (got[bad][:5], want[bad][:5], tol[bad][:5])


def ref_batch_norm_backward(g, x, mean, invstd, w, training, dtype):
    """(value, size, factor, limit) for dx, dw, db in long double: size bounds the magnitudes
    summed, factor is what multiplies the terms last (weight * invstd for dx), limit marks
    where batch_norm_backward's documented limit lets dx be inf or NaN: its coefficients
    2 * weight * invstd or c = invstd * mean(grad * xhat), or the bracket it forms at half
    scale, beyond the dtype."""
    axes = (0,) if x.ndim == 2 else (0, 2)
    sh = bshape(x)
    m = x.size // x.shape[1]
    with np.errstate(all="ignore"):
        gl, xl = g.astype(np.longdouble), x.astype(np.longdouble)
        il = invstd.astype(np.longdouble).reshape(sh)
        xhat = (xl - mean.astype(np.longdouble).reshape(sh)) * il
        db, dw = gl.sum(axis=axes), (gl * xhat).sum(axis=axes)
        sdb, sdw = np.abs(gl).sum(axis=axes), np.abs(gl * xhat).sum(axis=axes)
        k = il * (1 if w is None else f64(w).astype(np.longdouble).reshape(sh))
        lim = np.longdouble(np.finfo(dtype).max)
        if training:
            t = gl - db.reshape(sh) / m - xhat * dw.reshape(sh) / m
            dx = k * t
            sdx = np.abs(k) * (np.abs(gl) + (sdb.reshape(sh) + np.abs(xhat) * sdw.reshape(sh)) / m)
            c = il * dw.reshape(sh) / m
            limit = (np.abs(t / 2) > lim) | (np.abs(c) > lim) | (np.abs(2 * k) > lim)
        else:
            dx, sdx = k * gl, np.abs(k * gl)
            limit = np.abs(k) > lim
    ones = np.ones_like(sdb)
    no = np.zeros(sdb.shape, bool)
    amp, limit = np.abs(np.broadcast_to(k, dx.shape)), np.broadcast_to(limit, dx.shape)
    return (dx, sdx, amp, limit), (dw, sdw, ones, no), (db, sdb, ones, no)


def bshape(x):
    return (1, -1) if x.ndim == 2 else (1, -1, 1)


def ref_batch_norm(xf, w, b, eps):
    """Training batch norm of float64 ``xf`` in long double, safe for any finite magnitude.

    Returns (mean, invstd, y, channels holding NaN/Inf). Values are taken relative to each
    channel's first one (so an offset far above the spread costs nothing) in long double, whose
    exponent range holds the squares of any float64 (np.var overflows from |x| ~ 1e154)."""
    axes = (0,) if xf.ndim == 2 else (0, 2)
    sh = bshape(xf)
    bad = ~np.isfinite(xf).all(axis=axes)
    with np.errstate(all="ignore"):
        mu = xf.mean(axis=axes)  # NumPy's answer for the NaN/Inf channels
        x0 = xf[(0, slice(None), 0)[: xf.ndim]].astype(np.longdouble).reshape(sh)
        d = xf.astype(np.longdouble) - x0
        rel = d.mean(axis=axes)
        rel += (d - rel.reshape(sh)).mean(axis=axes)
        dev = d - rel.reshape(sh)
        inv = 1 / np.sqrt((dev * dev).mean(axis=axes) + eps)
        want = dev * inv.reshape(sh)
        if w is not None:
            want = want * f64(w).reshape(sh) + f64(b).reshape(sh)
        mean = np.where(bad, mu, (x0.reshape(-1) + rel).astype(np.float64))
    return mean, inv.astype(np.float64), want.astype(np.float64), bad


# ---------------------------------------------------------------- attention


@fuzz
@given(data=st.data(), causal=st.booleans())
def test_fuzz_attention(data, causal):
    bh = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=2))
    tq, tk, dv = (data.draw(st.integers(0, 6)) for _ in range(3))
    d = data.draw(st.integers(1, 6))  # D = 0 needs an explicit scale (documented)
    q = data.draw(bounded_arrays(bh + (tq, d), [np.float32, np.float64]))
    k = data.draw(bounded_arrays(bh + (tk, d), [np.float32, np.float64]))
    v = data.draw(bounded_arrays(bh + (tk, dv), [np.float32, np.float64]))
    replaced = data.draw(st.integers(0, 6)) == 0
    if replaced:
        k = data.draw(inputs())
    q, k = (a / 10 if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in (q, k))
    try:
        got = ops.attention(q, k, v, is_causal=causal)
    except ERRORS as e:
        assert "attention" in str(e), e
        assert replaced, f"attention raised {e}"
        return
    ka = as_real(k)
    assert ka is not None
    dtype = np.result_type(q, ka, v, np.float32)
    qf, kf, vf = (f64(kernel_view(a, dtype)) for a in (q, ka, v))
    s = np.matmul(qf, np.swapaxes(kf, -1, -2)) / np.sqrt(max(qf.shape[-1], 1))
    if causal:
        s = np.where(np.tril(np.ones((tq, tk), bool)), s, -np.inf)
    with np.errstate(all="ignore"):
        m = np.max(s, axis=-1, keepdims=True) if tk else s
        p = np.exp(s - m)
        p = p / p.sum(axis=-1, keepdims=True)
        p = np.nan_to_num(p)  # fully masked rows give 0, as documented
    want = np.matmul(p, vf)
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(
        f64(got), want, rtol=rtol, atol=rtol * (1 + np.abs(vf).max(initial=0))
    )


# ---------------------------------------------------------------- argument types and counts


def _public_ops():
    return sorted(n for n in ops.__all__ if callable(getattr(ops, n)))


@pytest.mark.parametrize("name", _public_ops())
def test_wrong_argument_counts_are_type_errors(name):
    f = getattr(ops, name)
    with pytest.raises(TypeError):
        f()
    with pytest.raises(TypeError):
        f(*([np.ones(2)] * 12))
    with pytest.raises(TypeError):
        f(np.ones(2), bogus_keyword=1)


@fuzz
@given(data=st.data(), name=st.sampled_from(_public_ops()))
def test_fuzz_junk_arguments_never_crash(data, name):
    f = getattr(ops, name)
    n = data.draw(st.integers(0, 5))
    args = [data.draw(st.one_of(JUNK, arrays())) for _ in range(n)]
    try:
        f(*args)
    except ERRORS:
        pass
