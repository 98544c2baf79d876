"""fastdl.ops activations and fused bias + activation against float64 NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import using_threads

from fastdl import _core, ops
from fastdl.ops import activation as act_module

pytestmark = pytest.mark.kernel

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 7, 33, 1000003]
ACTS = ["relu", "sigmoid", "tanh"]


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


def ref_act(name, x):
    x = np.asarray(x, np.float64)
    if name in (None, "none"):
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(x / 2))  # no overflow for large |x|
    return np.tanh(x)


def ref_grad(name, grad, y):
    g, y = np.asarray(grad, np.float64), np.asarray(y, np.float64)
    if name in (None, "none"):
        return g
    if name == "relu":
        return g * (y > 0)
    if name == "sigmoid":
        return g * y * (1 - y)
    return g * (1 - y * y)


def data(shape, dtype, seed=0, scale=4.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ---------------------------------------------------------------- forward, every ISA path


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTS)
def test_unary_matches_numpy(isa, name, dtype, n):
    x = data(n, dtype)
    y = getattr(ops, name)(x)
    assert y.dtype == dtype and y.shape == (n,)
    np.testing.assert_allclose(y, ref_act(name, x), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTS)
def test_unary_edges(isa, name, dtype):
    big = 1e4 if dtype == np.float64 else 1e3
    x = np.array([0.0, -0.0, 1e-30, -1e-30, big, -big, np.inf, -np.inf, 20.0, -20.0], dtype)
    y = getattr(ops, name)(x)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(y, ref_act(name, x), **tol(dtype))
    # NaN propagates, as in NumPy.
    assert np.isnan(getattr(ops, name)(np.array([np.nan], dtype)))[0]


BIAS_SHAPES = [(0,), (1,), (7,), (33,), (3, 0), (0, 5), (7, 33), (33, 7), (2, 3, 5), (1000003, 1)]


@pytest.mark.parametrize("shape", BIAS_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [None, *ACTS])
def test_bias_act_matches_numpy(isa, name, dtype, shape):
    x = data(shape, dtype, 1)
    b = data(shape[-1:], dtype, 2)
    y = ops.bias_act(x, b, name)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y, ref_act(name, x.astype(np.float64) + b), **tol(dtype))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTS)
def test_backward_matches_numpy(isa, name, dtype, n):
    y = getattr(ops, name)(data(n, dtype, 3))
    g = data(n, dtype, 4)
    gx = getattr(ops, f"{name}_backward")(g, y)
    assert gx.dtype == dtype and gx.shape == (n,)
    np.testing.assert_allclose(gx, ref_grad(name, g, y), **tol(dtype))
    np.testing.assert_array_equal(ops.activation_backward(name, g, y), gx)


@pytest.mark.parametrize("shape", BIAS_SHAPES + [(513, 1031)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [None, *ACTS])
def test_bias_act_backward_matches_numpy(isa, name, dtype, shape):
    y = ops.bias_act(data(shape, dtype, 5), np.zeros(shape[-1:], dtype), name)
    g = data(shape, dtype, 6)
    gx, gb = ops.bias_act_backward(g, y, name)
    assert gx.dtype == gb.dtype == dtype
    assert gx.shape == shape and gb.shape == shape[-1:]
    want = ref_grad(name, g, y)
    np.testing.assert_allclose(gx, want, **tol(dtype))
    axes = tuple(range(len(shape) - 1))
    want_b = want.sum(axis=axes)
    # A float32 sum of many rows: bound the error by the size of what was summed.
    scale = np.abs(want).sum(axis=axes) + 1
    assert np.all(np.abs(gb - want_b) <= tol(dtype)["rtol"] * scale)


def test_bias_act_gradient_by_finite_differences():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3))
    b = rng.standard_normal(3)
    g = rng.standard_normal((4, 3))
    for name in ACTS:
        y = ops.bias_act(x, b, name)
        gx, gb = ops.bias_act_backward(g, y, name)
        eps = 1e-6
        num_x = np.zeros_like(x)
        for i in np.ndindex(*x.shape):
            d = np.zeros_like(x)
            d[i] = eps
            up = (ops.bias_act(x + d, b, name) * g).sum()
            dn = (ops.bias_act(x - d, b, name) * g).sum()
            num_x[i] = (up - dn) / (2 * eps)
        # relu is not differentiable at 0; the random data keeps away from it.
        np.testing.assert_allclose(gx, num_x, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(gb, num_x.sum(axis=0), rtol=1e-5, atol=1e-7)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = data((37, 129), np.float32, 8)
    b = data(129, np.float32, 9)
    for name in ACTS:
        tf = getattr(torch, name)
        want = tf(torch.from_numpy(x) + torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(ops.bias_act(x, b, name), want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- threads: same bits


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_and_two_threads_bitwise(isa, dtype):
    x = data((1000003,), dtype, 10)
    x2 = data((1031, 1025), dtype, 11)
    b2 = data((1025,), dtype, 12)
    g2 = data((1031, 1025), dtype, 13)

    def run_all():
        res = []
        for name in ACTS:
            y = getattr(ops, name)(x)
            res += [y, getattr(ops, f"{name}_backward")(x, y)]
            yb = ops.bias_act(x2, b2, name)
            res += [yb, *ops.bias_act_backward(g2, yb, name)]
        return res

    with using_threads(1):
        one = run_all()
    with using_threads(2):
        two = run_all()
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- input policy


class _Spy:
    """Stands in for the module's kernel entry points and records the arrays each call got."""

    def __init__(self):
        self.calls = []

    def wrap(self, fn):
        def spy(*args):
            self.calls.append(args)
            return fn(*args)

        return spy


@pytest.fixture
def spy(monkeypatch):
    s = _Spy()
    # ops.activation binds the kernels once at import (_fwd, _if_ready, _bwd): a per-call attribute
    # lookup on _core is measurable on small arrays.
    monkeypatch.setattr(act_module, "_fwd", s.wrap(_core.bias_act_forward))
    monkeypatch.setattr(act_module, "_if_ready", s.wrap(_core.bias_act_forward_if_ready))
    monkeypatch.setattr(act_module, "_bwd", s.wrap(_core.bias_act_backward))
    return s


@pytest.mark.parametrize("dtype", DTYPES)
def test_contiguous_float_input_is_not_copied(spy, dtype):
    x = data((5, 6), dtype)
    b = data(6, dtype, 1)
    g = data((5, 6), dtype, 2)
    ops.relu(x)
    assert spy.calls[-1][1] is x
    ops.bias_act(x, b, "tanh")
    assert spy.calls[-1][1] is x and spy.calls[-1][2] is b
    ops.tanh_backward(g, x)
    assert spy.calls[-1][1] is x and spy.calls[-1][2] is g
    ops.bias_act_backward(g, x, "sigmoid")
    assert spy.calls[-1][1] is x and spy.calls[-1][2] is g


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_and_in_place_share_memory(dtype):
    x = data(100, dtype)
    want = ref_act("sigmoid", x)
    out = np.empty_like(x)
    r = ops.sigmoid(x, out=out)
    assert r is out and np.shares_memory(r, out)
    np.testing.assert_allclose(out, want, **tol(dtype))
    r = ops.sigmoid(x, out=x)  # in place
    assert r is x
    np.testing.assert_allclose(x, want, **tol(dtype))
    # A different view of the same whole buffer is in place too.
    x = data((10, 10), dtype)
    want = ref_act("relu", x)
    view = x.reshape(100)
    r = ops.relu(view, out=x.reshape(100))
    assert np.shares_memory(r, x)
    np.testing.assert_allclose(x.reshape(100), want.reshape(100))
    b = data(10, dtype, 3)
    x = data((10, 10), dtype, 4)
    want = ref_act("tanh", x.astype(np.float64) + b)
    assert ops.bias_act(x, b, "tanh", out=x) is x
    np.testing.assert_allclose(x, want, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_partially_overlapping_input(dtype):
    # Shifted overlap: results must be computed from the original input, whatever the order.
    for n in (10, 100003):
        a = data(n + 1, dtype, 5)
        want = ref_act("tanh", a[:-1])
        r = ops.tanh(a[:-1], out=a[1:])
        assert np.shares_memory(r, a)
        np.testing.assert_allclose(a[1:], want, **tol(dtype))
        a = data(n + 1, dtype, 6)
        want = ref_act("relu", a[1:])
        ops.relu(a[1:], out=a[:-1])
        np.testing.assert_allclose(a[:-1], want)
    # out overlapping the bias.
    buf = data(12, dtype, 7)
    x = data((3, 4), dtype, 8)
    b = buf[:4]
    want = ref_act("relu", x.astype(np.float64) + b)
    ops.bias_act(x, b, "relu", out=buf.reshape(3, 4))
    np.testing.assert_allclose(buf.reshape(3, 4), want, **tol(dtype))
    # backward: out overlapping grad.
    a = data(51, dtype, 9)
    y = ops.sigmoid(data(50, dtype, 10))
    want = ref_grad("sigmoid", a[:-1], y)
    ops.sigmoid_backward(a[:-1], y, out=a[1:])
    np.testing.assert_allclose(a[1:], want, **tol(dtype))


@pytest.mark.parametrize("name", ACTS)
def test_non_contiguous_and_read_only_inputs(isa, name):
    f = getattr(ops, name)
    for dtype in DTYPES:
        base = data((64, 40), dtype, 11)
        ro = base.copy()
        ro.setflags(write=False)
        views = {
            "strided": base[::2, ::3],
            "transposed": base.T,
            "negative": base[::-1, ::-2],
            "fortran": np.asfortranarray(base),
            "read-only": ro,
            "read-only strided": ro[:, ::2],
        }
        for label, xv in views.items():
            got = f(xv)
            assert got.shape == xv.shape and got.flags.c_contiguous, label
            np.testing.assert_allclose(got, ref_act(name, xv), **tol(dtype), err_msg=label)
            bias = np.linspace(-1, 1, xv.shape[-1]).astype(dtype)[::-1]
            got = ops.bias_act(xv, bias, name)
            np.testing.assert_allclose(
                got, ref_act(name, xv.astype(np.float64) + bias), **tol(dtype), err_msg=label
            )
            g = xv[::-1]
            y = f(xv)
            np.testing.assert_allclose(
                getattr(ops, f"{name}_backward")(g, y), ref_grad(name, g, y), **tol(dtype)
            )
            gx, gb = ops.bias_act_backward(g, y, name)
            np.testing.assert_allclose(gb, ref_grad(name, g, y).sum(0), rtol=1e-4, atol=1e-4)
    # A read-only input is never written.
    before = ro.copy()
    f(ro)
    np.testing.assert_array_equal(ro, before)


@pytest.mark.parametrize(
    "dtype, want",
    [
        (np.float16, np.float32),
        (np.int8, np.float32),
        (np.uint8, np.float32),
        (np.int16, np.float32),
        (np.int32, np.float64),
        (np.int64, np.float64),
        (np.uint64, np.float64),
        (np.bool_, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
    ],
)
def test_dtype_promotion(dtype, want):
    x = np.array([-2, -1, 0, 1, 3]).astype(dtype)
    assert np.result_type(x, np.float32) == want  # NumPy's promotion is the rule
    for name in ACTS:
        y = getattr(ops, name)(x)
        assert y.dtype == want, name
        np.testing.assert_allclose(y, ref_act(name, x.astype(np.float64)), **tol(want))
    b32 = np.ones(5, np.float32)
    assert ops.bias_act(x, b32, "relu").dtype == np.result_type(x, b32, np.float32)
    assert ops.bias_act(x, b32.astype(np.float64)).dtype == np.float64


def test_array_likes_and_scalars():
    np.testing.assert_allclose(ops.relu([-1.0, 2.0]), [0.0, 2.0])
    assert ops.relu([-1.0, 2.0]).dtype == np.float64
    np.testing.assert_allclose(ops.bias_act([[1.0, 2.0]], [-3, 0], "relu"), [[0.0, 2.0]])
    y = ops.tanh(0.5)
    assert y.shape == () and np.isclose(y, np.tanh(0.5))


# ---------------------------------------------------------------- bad input


OUT_CASES = {
    "wrong dtype": lambda x: np.empty(x.shape, np.float64),
    "wrong shape": lambda x: np.empty(x.shape[0] + 1, x.dtype),
    "non-contiguous": lambda x: np.empty(2 * x.shape[0], x.dtype)[::2],
    "read-only": lambda x: _readonly(np.empty_like(x)),
}


def _readonly(a):
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_bad_out_is_value_error(case):
    x = data(8, np.float32)
    out = OUT_CASES[case](x)
    before = out.copy()
    b = np.zeros(8, np.float32)
    calls = {
        "relu": lambda: ops.relu(x, out=out),
        "sigmoid": lambda: ops.sigmoid(x, out=out),
        "tanh": lambda: ops.tanh(x, out=out),
        "bias_act": lambda: ops.bias_act(x, b, "relu", out=out),
        "relu_backward": lambda: ops.relu_backward(x, x, out=out),
        "sigmoid_backward": lambda: ops.sigmoid_backward(x, x, out=out),
        "tanh_backward": lambda: ops.tanh_backward(x, x, out=out),
    }
    for fn, call in calls.items():
        with pytest.raises(ValueError, match=rf"^{fn}\(\): argument 'out'") as e:
            call()
        msg = str(e.value)
        if case == "wrong dtype":
            assert "float32" in msg and "float64" in msg
        if case == "wrong shape":
            assert "(8,)" in msg and "(9,)" in msg
        np.testing.assert_array_equal(out, before)  # nothing written


def test_out_not_an_array_is_type_error():
    with pytest.raises(TypeError, match=r"relu\(\): argument 'out' must be a numpy.ndarray"):
        ops.relu(np.ones(3), out=[0.0, 0.0, 0.0])


BAD_INPUTS = {
    "None": None,
    "string": "abc",
    "bytes": b"abc",
    "object array": np.array([1.0, "a"], dtype=object),
    "complex array": np.ones(3, np.complex128),
    "string array": np.array(["a", "b"]),
    "ragged list": [[1.0, 2.0], [3.0]],
    "datetime": np.array(["2020-01-01"], dtype="datetime64[D]"),
    "longdouble": np.ones(2, np.longdouble),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_type_error_naming_function_and_argument(case):
    bad = BAD_INPUTS[case]
    good = np.ones(3)
    if case == "longdouble" and np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("longdouble is float64 here")
    for fn in ACTS:
        with pytest.raises(TypeError, match=rf"^{fn}\(\): argument 'x'"):
            getattr(ops, fn)(bad)
        with pytest.raises(TypeError, match=rf"^{fn}_backward\(\): argument 'grad'"):
            getattr(ops, f"{fn}_backward")(bad, good)
        with pytest.raises(TypeError, match=rf"^{fn}_backward\(\): argument 'y'"):
            getattr(ops, f"{fn}_backward")(good, bad)
    with pytest.raises(TypeError, match=r"^bias_act\(\): argument 'x'"):
        ops.bias_act(bad, good)
    with pytest.raises(TypeError, match=r"^bias_act\(\): argument 'bias'"):
        ops.bias_act(good, bad)
    with pytest.raises(TypeError, match=r"^bias_act_backward\(\): argument 'grad'"):
        ops.bias_act_backward(bad, good)
    if case in ("object array", "complex array"):
        with pytest.raises(TypeError, match=str(bad.dtype)):
            ops.relu(bad)


def test_shape_mismatch_is_value_error_with_shapes():
    x = np.ones((4, 5), np.float32)
    with pytest.raises(
        ValueError, match=r"^bias_act\(\): argument 'bias'.*\(5,\).*\(4, 5\).*\(4,\)"
    ):
        ops.bias_act(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"^bias_act\(\): argument 'bias'"):
        ops.bias_act(x, np.ones((1, 5), np.float32))
    with pytest.raises(ValueError, match=r"^bias_act\(\).*\(\)"):
        ops.bias_act(np.float32(1), np.ones(1, np.float32))
    with pytest.raises(ValueError, match=r"^relu_backward\(\).*\(4, 5\).*\(5, 4\)"):
        ops.relu_backward(x, x.T)
    with pytest.raises(ValueError, match=r"^bias_act_backward\(\).*\(4, 5\).*\(5,\)"):
        ops.bias_act_backward(x, x[0])
    with pytest.raises(ValueError, match=r"^bias_act_backward\(\)"):
        ops.bias_act_backward(np.float32(1), np.float32(1))


def test_bad_activation_name():
    x = np.ones(3)
    for bad in ("gelu", 3, ["relu"], np.ones(2)):
        with pytest.raises(ValueError, match=r"argument 'activation' must be one of"):
            ops.bias_act(x, x, bad)
        with pytest.raises(ValueError, match=r"^activation_backward\(\): argument 'activation'"):
            ops.activation_backward(bad, x, x)
        with pytest.raises(ValueError, match=r"^bias_act_backward\(\): argument 'activation'"):
            ops.bias_act_backward(x, x, bad)


def test_direct_core_calls_with_wrong_arrays_raise():
    f32 = np.ones((3, 4), np.float32)
    f64 = np.ones((3, 4), np.float64)
    out = np.empty((3, 4), np.float32)
    fwd, bwd = _core.bias_act_forward, _core.bias_act_backward
    cases = [
        (TypeError, "dtype float32", lambda: fwd(1, f32, None, np.empty((3, 4)))),
        (TypeError, "float32 or float64", lambda: fwd(1, f32.astype(np.int32), None, out)),
        (TypeError, "float32 or float64", lambda: fwd(1, f32.astype(np.float16), None, out)),
        (ValueError, "C-contiguous", lambda: fwd(1, np.ones((4, 3), np.float32).T, None, out)),
        (
            ValueError,
            "C-contiguous",
            lambda: fwd(1, f32, None, np.empty((3, 8), np.float32)[:, ::2]),
        ),
        (ValueError, "writeable", lambda: fwd(1, f32, None, _readonly(np.empty_like(f32)))),
        (ValueError, "same shape", lambda: fwd(1, f32, None, np.empty(12, np.float32))),
        (ValueError, r"must have shape \(4,\)", lambda: fwd(1, f32, np.ones(3, np.float32), out)),
        (TypeError, "dtype float32", lambda: fwd(1, f32, np.ones(4), out)),
        (ValueError, "activation id", lambda: fwd(9, f32, None, out)),
        (ValueError, "activation id", lambda: fwd(-1, f32, None, out)),
        (TypeError, "incompatible|must be a numpy.ndarray", lambda: fwd(1, [1.0, 2.0], None, out)),
        (
            TypeError,
            "incompatible|must be a numpy.ndarray",
            lambda: fwd(1, f32, [1.0, 2.0, 3.0, 4.0], out),
        ),
        (TypeError, "must be a numpy.ndarray", lambda: fwd(1, f32, None, [0.0] * 12)),
        (TypeError, "must be a numpy.ndarray", lambda: bwd(1, f32, f32, [0.0] * 12)),
        (TypeError, "incompatible|must be a numpy.ndarray", lambda: fwd("relu", f32, None, out)),
        (TypeError, "incompatible", lambda: fwd(1)),
        (
            ValueError,
            "at least 1-d",
            lambda: fwd(1, np.zeros((), np.float32), f32[0], np.empty((), np.float32)),
        ),
        (TypeError, "dtype float32", lambda: bwd(1, f32, f64, out, None)),
        (ValueError, "same shape", lambda: bwd(1, f32, f32[:2], out, None)),
        (ValueError, "grad_bias", lambda: bwd(1, f32, f32, out, np.empty(3, np.float32))),
        (
            TypeError,
            "incompatible|must be a numpy.ndarray",
            lambda: bwd(1, f32, f32, out, [0.0] * 4),
        ),
        (
            ValueError,
            "writeable",
            lambda: bwd(1, f32, f32, out, _readonly(np.empty(4, np.float32))),
        ),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()


@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_core_calls_allocate_when_out_is_none(dtype):
    x = data((3, 5), dtype, 15)
    g = data((3, 5), dtype, 16)
    y = _core.bias_act_forward(2, x, None, None)
    assert y.shape == x.shape and y.dtype == x.dtype and y.flags.c_contiguous
    assert not np.shares_memory(y, x)
    np.testing.assert_allclose(y, ref_act("sigmoid", x), **tol(dtype))
    dx = _core.bias_act_backward(2, y, g)
    assert dx.shape == y.shape and dx.dtype == y.dtype and not np.shares_memory(dx, g)
    np.testing.assert_allclose(dx, ref_grad("sigmoid", g, y), **tol(dtype))
    out = np.empty_like(x)
    assert _core.bias_act_forward(1, x, None, out) is out  # a given out is returned


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_if_ready_declines_what_the_kernel_does_not_take(dtype):
    x = data((4, 6), dtype, 17)
    try_fwd = _core.bias_act_forward_if_ready
    y = try_fwd(3, x)
    assert y.dtype == x.dtype and not np.shares_memory(y, x)
    np.testing.assert_allclose(y, ref_act("tanh", x), **tol(dtype))
    declined = [
        x.T,  # not C-contiguous
        x[:, ::2],
        x.astype(np.float16),
        x.astype(np.int64),
        x.astype(x.dtype.newbyteorder()),  # same values, non-native byte order
        x.tolist(),
        None,
        "relu",
    ]
    for bad in declined:
        assert try_fwd(1, bad) is None
    with pytest.raises(ValueError, match="activation id"):
        try_fwd(7, x)


def test_direct_core_call_with_aliased_arrays_is_correct():
    # out overlapping x, bias, grad or grad_bias: computed via temporaries, no crash.
    buf = data(20, np.float64, 12)
    x = buf[:12].reshape(3, 4).copy()
    b = buf[12:16].copy()
    want = ref_act("relu", x + b)
    _core.bias_act_forward(1, buf[:12].reshape(3, 4), buf[12:16], buf[4:16].reshape(3, 4))
    np.testing.assert_allclose(buf[4:16].reshape(3, 4), want)
    y = np.abs(data((3, 4), np.float64, 13))
    g = data((3, 4), np.float64, 14)
    gb = g.reshape(12)[:4]  # grad_bias aliasing grad
    want_x = ref_grad("relu", g, y)
    want_b = want_x.sum(0)
    gx = np.empty_like(g)
    _core.bias_act_backward(1, y, g, gx, gb)
    np.testing.assert_allclose(gx, want_x)
    np.testing.assert_allclose(gb, want_b)


def test_unpickled_arrays_are_accepted_by_every_binding():
    # pickle gives back an equal dtype object that is not NumPy's singleton; the bindings
    # used to compare dtypes by identity and refused such arrays ("got float32").
    import pickle

    rng = np.random.default_rng(0)
    a = pickle.loads(pickle.dumps(rng.standard_normal((5, 4)).astype(np.float32)))
    assert a.dtype is not np.dtype(np.float32)
    np.testing.assert_allclose(ops.relu(a), np.maximum(a, 0))
    np.testing.assert_allclose(ops.matmul(a, a.T), a.astype(np.float64) @ a.T, rtol=1e-5)
    p, g = (pickle.loads(pickle.dumps(np.ones(3, np.float32))) for _ in range(2))
    m, v = (pickle.loads(pickle.dumps(np.zeros(3, np.float32))) for _ in range(2))
    ops.adam_step([p], [g], [m], [v], step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    np.testing.assert_allclose(p, 0.9, rtol=1e-5)  # first Adam step moves by lr
