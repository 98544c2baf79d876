"""Gradients of every op against finite differences (float64), and the backward engine."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import fastdl
from fastdl import Tensor, gradcheck
from fastdl.autograd import Function
from fastdl.tensor import cos, expm1, log1p, sin

RNG = np.random.default_rng(7)


def rnd(*shape, lo=None):
    """float64 normals; with ``lo``, magnitudes kept >= lo (away from kinks and zero)."""
    a = np.asarray(RNG.standard_normal(shape))
    if lo is not None:
        a = np.where(a < 0, a - lo, a + lo)
    return a


def with_w(w, f):
    """``f`` with a fixed random weight ``w`` as its last argument."""
    return lambda *xs: f(*xs, w)


def pos(*shape):
    return np.asarray(RNG.uniform(0.5, 2.0, shape))


# (name, function of Tensors, inputs). Broadcasting, keepdims and negative axes throughout.
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ())]

CASES = []
for sa, sb in BINARY_SHAPES:
    CASES += [
        (f"add{sa}{sb}", lambda a, b: a + b, [rnd(*sa), rnd(*sb)]),
        (f"sub{sa}{sb}", lambda a, b: a - b, [rnd(*sa), rnd(*sb)]),
        (f"mul{sa}{sb}", lambda a, b: a * b, [rnd(*sa), rnd(*sb)]),
        (f"div{sa}{sb}", lambda a, b: a / b, [rnd(*sa), rnd(*sb, lo=0.5)]),
        (f"pow{sa}{sb}", lambda a, b: a**b, [pos(*sa), rnd(*sb)]),
        (f"maximum{sa}{sb}", fastdl.maximum, [rnd(*sa), rnd(*sb)]),
        (f"minimum{sa}{sb}", fastdl.minimum, [rnd(*sa), rnd(*sb)]),
    ]
CASES += [
    ("rsub_scalar", lambda a: 2.0 - a, [rnd(3)]),
    ("rdiv_scalar", lambda a: 2.0 / a, [rnd(3, lo=0.5)]),
    ("pow_scalar", lambda a: a**3, [rnd(2, 3)]),
    ("rpow_scalar", lambda a: 2.0**a, [rnd(2, 3)]),
    ("neg", lambda a: -a, [rnd(2, 3)]),
    ("exp", lambda a: a.exp(), [rnd(2, 3)]),
    ("log", lambda a: a.log(), [pos(2, 3)]),
    ("sqrt", lambda a: a.sqrt(), [pos(2, 3)]),
    ("abs", lambda a: a.abs(), [rnd(2, 3, lo=0.1)]),
    ("relu", lambda a: a.relu(), [rnd(2, 3, lo=0.1)]),
    ("sigmoid", lambda a: a.sigmoid(), [rnd(2, 3)]),
    ("tanh", lambda a: a.tanh(), [rnd(2, 3)]),
    ("log1p", lambda a: log1p(a), [pos(3)]),
    ("expm1", lambda a: expm1(a), [rnd(3)]),
    ("sin_cos", lambda a: sin(a) * cos(a), [rnd(3)]),
    ("clip", lambda a: a.clip(-0.5, 0.5), [rnd(4, 5)]),
    ("clip_lo_only", lambda a: a.clip(0.2, None), [rnd(4, 5)]),
    ("clip_tensor_bounds", lambda a, lo: fastdl.clip(a, lo, 1.0), [rnd(4, 3), rnd(3) - 1]),
    ("where", lambda a, b: fastdl.where(a.data > 0, a, b), [rnd(3, 4, lo=0.1), rnd(4)]),
    ("matmul_2d", lambda a, b: a @ b, [rnd(3, 4), rnd(4, 5)]),
    ("matmul_batched", lambda a, b: a @ b, [rnd(2, 3, 4), rnd(4, 5)]),
    ("matmul_batch_bcast", lambda a, b: a @ b, [rnd(2, 1, 3, 4), rnd(3, 4, 2)]),
    ("matmul_vec_mat", lambda a, b: a @ b, [rnd(4), rnd(2, 4, 3)]),
    ("matmul_mat_vec", lambda a, b: a @ b, [rnd(2, 3, 4), rnd(4)]),
    ("matmul_vec_vec", lambda a, b: a @ b, [rnd(4), rnd(4)]),
    ("linear_none", lambda x, w, b: fastdl.linear(x, w, b), [rnd(5, 3), rnd(3, 4), rnd(4)]),
    ("linear_relu", lambda x, w, b: fastdl.linear(x, w, b, "relu"), [rnd(5, 3), rnd(3, 4), rnd(4)]),
    (
        "linear_sigmoid_3d",
        lambda x, w, b: fastdl.linear(x, w, b, "sigmoid"),
        [rnd(2, 5, 3), rnd(3, 4), rnd(4)],
    ),
    ("linear_tanh_nobias", lambda x, w: fastdl.linear(x, w, None, "tanh"), [rnd(5, 3), rnd(3, 4)]),
    ("sum_all", lambda a: a.sum(), [rnd(3, 4)]),
    ("sum_axis0", lambda a: a.sum(0), [rnd(3, 4)]),
    ("sum_neg_axis_keep", lambda a: a.sum(-1, keepdims=True), [rnd(2, 3, 4)]),
    ("sum_axes_tuple", lambda a: a.sum((0, -1)), [rnd(2, 3, 4)]),
    ("mean", lambda a: a.mean(-2), [rnd(2, 3, 4)]),
    ("mean_keep", lambda a: a.mean((0, 2), keepdims=True), [rnd(2, 3, 4)]),
    ("max_all", lambda a: a.max(), [rnd(3, 4)]),
    ("max_axis", lambda a: a.max(-1), [rnd(3, 4)]),
    ("max_keep", lambda a: a.max(0, keepdims=True), [rnd(3, 4)]),
    ("min_axis", lambda a: a.min(1), [rnd(3, 4)]),
    ("var", lambda a: a.var(-1), [rnd(3, 4)]),
    ("var_ddof_keep", lambda a: a.var(0, keepdims=True, ddof=1), [rnd(3, 4)]),
    ("std", lambda a: a.std(), [rnd(3, 4)]),
    ("std_axis", lambda a: a.std((0, -1)), [rnd(2, 3, 4)]),
    ("softmax", lambda a: a.softmax(-1), [rnd(3, 5)]),
    ("softmax_axis0", lambda a: a.softmax(0), [rnd(3, 5)]),
    ("log_softmax", lambda a: a.log_softmax(), [rnd(3, 5)]),
    ("log_softmax_axis1_3d", lambda a: a.log_softmax(1), [rnd(2, 3, 4)]),
    ("logsumexp", lambda a: a.logsumexp(-1), [rnd(3, 5)]),
    ("logsumexp_all_keep", lambda a: a.logsumexp(keepdims=True), [rnd(3, 5)]),
    ("reshape", lambda a: a.reshape(4, -1) * np.arange(6.0), [rnd(2, 3, 4)]),
    ("transpose", with_w(rnd(4, 3, 2), lambda a, w: a.transpose() * w), [rnd(2, 3, 4)]),
    ("permute", with_w(rnd(3, 4, 2), lambda a, w: a.permute(1, -1, 0) * w), [rnd(2, 3, 4)]),
    ("T", lambda a: a.T @ a, [rnd(3, 2)]),
    ("broadcast_to", with_w(rnd(2, 3, 4), lambda a, w: a.broadcast_to((2, 3, 4)) * w), [rnd(3, 1)]),
    ("expand_dims_squeeze", lambda a: a.expand_dims(0).squeeze(0) * 2, [rnd(3)]),
    (
        "concatenate",
        with_w(rnd(2, 7), lambda a, b, w: fastdl.concatenate([a, b], axis=-1) * w),
        [rnd(2, 3), rnd(2, 4)],
    ),
    (
        "concatenate_const",
        with_w(rnd(3, 3), lambda a, w: fastdl.concatenate([a, np.ones((1, 3))]) * w),
        [rnd(2, 3)],
    ),
    (
        "stack",
        with_w(rnd(3, 2, 4), lambda a, b, w: fastdl.stack([a, b], axis=1) * w),
        [rnd(3, 4), rnd(3, 4)],
    ),
    (
        "stack_neg",
        with_w(rnd(3, 4, 2), lambda a, b, w: fastdl.stack([a, b], axis=-1) * w),
        [rnd(3, 4), rnd(3, 4)],
    ),
    ("getitem_slice", lambda a: a[1:, ::2] * 3, [rnd(4, 5)]),
    (
        "getitem_int_array_repeats",
        with_w(rnd(4, 3), lambda a, w: a[np.array([0, 2, 0, 0])] * w),
        [rnd(3, 3)],
    ),
    (
        "getitem_pairs",
        with_w(rnd(3), lambda a, w: a[np.arange(3), np.array([1, 0, 1])] * w),
        [rnd(3, 2)],
    ),
    ("getitem_mask", lambda a: a[a.data > 0] * 2, [rnd(4, 5)]),
    ("getitem_ellipsis_none", with_w(rnd(2, 1), lambda a, w: a[..., None, 1] * w), [rnd(2, 3)]),
    ("astype_float32_roundtrip", lambda a: a.astype(np.float64) * 2, [rnd(3)]),
    (
        "composite_mlp",
        lambda x, w1, w2: ((x @ w1).tanh() @ w2).sigmoid().mean(),
        [rnd(5, 3), rnd(3, 4), rnd(4, 2)],
    ),
    ("shared_input_reuse", lambda a: (a * a + a.exp() * a).sum(-1), [rnd(3, 2)]),
]


@pytest.mark.parametrize("name,fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name, fn, inputs):
    assert gradcheck(fn, *inputs)


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 x g

    with pytest.raises(AssertionError, match="worst element"):
        gradcheck(lambda x: Wrong.apply(x), rnd(3))
    assert gradcheck(lambda x: Wrong.apply(x), rnd(3), raise_exception=False) is False


# --- engine -----------------------------------------------------------------------------


def test_gradcheck_perturbs_non_contiguous_inputs():
    # A transposed input used to be copied in Fortran order, so the perturbation loop wrote
    # into a temporary and every numeric slope came out 0.
    x = rnd(3, 4).T
    assert not x.flags.c_contiguous
    assert gradcheck(lambda v: v * v, x)
    with pytest.raises(AssertionError, match="differs"):
        gradcheck(lambda v: _WrongSquare.apply(v), x)


class _WrongSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * g  # should be 2 x g


def test_gradients_accumulate_until_zeroed():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    x.grad.data[...] = 0
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_grad_keeps_leaf_dtype_and_does_not_alias():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)  # float32
    y = x * np.array([1.0, 1.0])  # float64 result
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    # the gradient of an identity-like op must not share memory with anything else
    g = np.ones(2, np.float32)
    z = x + 0
    z.backward(g)
    g[:] = 100
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def _fresh_grad_function(keep):
    """A Function whose backward returns a fresh array (and, with ``keep``, keeps it too)."""
    made = []

    class Twice(Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            r = 2 * g
            made.append(weakref.ref(r))
            if keep:
                keep.append(r)
            return r

    return Twice, made


def test_fresh_gradient_becomes_the_leaf_grad_without_a_copy():
    Twice, made = _fresh_grad_function(keep=None)
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    Twice.apply(x).sum().backward()
    assert x.grad.data is made[-1]()  # taken over: nobody else held it
    Twice.apply(x).sum().backward()  # accumulates in place into that buffer
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0])


def test_gradient_someone_else_holds_is_copied():
    kept = [None]  # non-empty: the backward keeps every array it returns
    Twice, made = _fresh_grad_function(keep=kept)
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    Twice.apply(x).sum().backward()
    Twice.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0])
    for r in kept[1:]:  # accumulating did not write into the arrays the backward kept
        assert not np.shares_memory(r, x.grad.data)
        np.testing.assert_array_equal(r, [2.0, 2.0])


def test_one_gradient_sent_to_two_leaves_is_not_shared():
    a = fastdl.tensor([1.0, 2.0], requires_grad=True)
    b = fastdl.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # Add passes the same array to both parents
    assert not np.shares_memory(a.grad.data, b.grad.data)
    (a * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [4.0, 4.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])
    # the seed of a leaf's own backward is the caller's array: copied
    g = np.ones(2, np.float32)
    c = fastdl.tensor([0.0, 0.0], requires_grad=True)
    c.backward(g)
    c.backward(g)
    np.testing.assert_array_equal(g, [1.0, 1.0])
    np.testing.assert_array_equal(c.grad.data, [2.0, 2.0])


def test_linear_layer_gradients_are_right_after_being_taken_over():
    # Linear's weight and bias gradients are fresh kernel outputs: taken over, then accumulated
    x = rnd(5, 3)
    w, b = rnd(3, 4), rnd(4)
    tw, tb = fastdl.tensor(w, requires_grad=True), fastdl.tensor(b, requires_grad=True)
    for _ in range(2):
        fastdl.linear(x, tw, tb, "relu").sum().backward()
    mask = (x @ w + b) > 0
    np.testing.assert_allclose(tw.grad.data, 2 * x.T @ mask, rtol=1e-12)
    np.testing.assert_allclose(tb.grad.data, 2 * mask.sum(0), rtol=1e-12)


def test_second_backward_raises_unless_retained():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    x.grad = None
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    expected = 2 * (np.exp(x.data) * (1 + x.data))
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-6)


def test_failed_second_backward_leaves_grads_untouched():
    x = fastdl.tensor([1.0], requires_grad=True)
    h = x.exp()
    a = (h * 2).sum()
    a.backward()
    before = x.grad.data.copy()
    b = (h * 3).sum()  # reuses the freed h node
    with pytest.raises(RuntimeError, match="second time"):
        b.backward()
    np.testing.assert_array_equal(x.grad.data, before)


def test_chain_of_10000_ops():
    x = fastdl.tensor(np.array([0.5, -0.25]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full(2, 1.0001**10_000), rtol=1e-9)
    del y  # freeing a deep graph must not overflow the C stack either


def test_diamond_graph_accumulates_both_paths():
    x = fastdl.tensor(np.array([1.5]), requires_grad=True)
    a = x * 2
    b = a.exp()
    c = a * a
    (b + c).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(3.0) + 8 * 1.5 * 1.0)


def test_backward_needs_gradient_for_non_scalar():
    x = fastdl.tensor(np.ones(3), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(4))
    y.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 6.0])


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        fastdl.tensor([1.0]).backward()


def test_no_grad_context_and_decorator():
    x = fastdl.tensor([1.0], requires_grad=True)
    with fastdl.no_grad():
        assert not fastdl.is_grad_enabled()
        y = x * 2
        with fastdl.enable_grad():
            z = x * 2
    assert fastdl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @fastdl.no_grad()
    def f(t):
        assert not fastdl.is_grad_enabled()
        return t * 2

    assert not f(x).requires_grad
    assert fastdl.is_grad_enabled()


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ZeroDivisionError):
        with fastdl.no_grad():
            1 / 0  # noqa: B018
    assert fastdl.is_grad_enabled()


def test_set_grad_enabled():
    with fastdl.set_grad_enabled(False):
        assert not fastdl.is_grad_enabled()
    assert fastdl.is_grad_enabled()


def test_untracked_inputs_get_no_gradient():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    c = fastdl.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


def test_detach_cuts_the_graph():
    x = fastdl.tensor([2.0], requires_grad=True)
    y = x * x.detach()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0])


# --- Function -----------------------------------------------------------------------------


class ScaledMul(Function):
    @staticmethod
    def forward(ctx, x, w, *, scale=1.0):
        ctx.save_for_backward(x, w)
        ctx.scale = scale
        return scale * x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        assert isinstance(g, np.ndarray)
        gx = g * w * ctx.scale if ctx.needs_input_grad[0] else None
        gw = g * x * ctx.scale if ctx.needs_input_grad[1] else None
        return gx, gw


def test_function_apply_and_needs_input_grad():
    x = fastdl.tensor(rnd(3), requires_grad=True)
    w = fastdl.tensor(rnd(3))
    y = ScaledMul.apply(x, w, scale=2.0)
    assert isinstance(y, Tensor) and y.grad_fn is not None
    assert y.grad_fn.needs_input_grad == (True, False)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * w.data)
    assert gradcheck(lambda a, b: ScaledMul.apply(a, b, scale=3.0), rnd(3), rnd(3))


def test_function_non_tensor_args_and_no_grad():
    y = ScaledMul.apply(np.ones(2), fastdl.tensor([1.0, 2.0]))
    assert not y.requires_grad
    x = fastdl.tensor([1.0], requires_grad=True)
    with fastdl.no_grad():
        assert not ScaledMul.apply(x, 2.0).requires_grad


class SplitTwo(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.n = x.shape[0] // 2
        return x[: ctx.n] * 2, x[ctx.n :] * 3

    @staticmethod
    def backward(ctx, ga, gb):
        return np.concatenate([ga * 2, gb * 3])


def test_function_with_two_outputs():
    x = fastdl.tensor(np.arange(4.0), requires_grad=True)
    a, b = SplitTwo.apply(x)
    (a.sum() + 10 * b.sum()).backward()
    np.testing.assert_array_equal(x.grad.data, [2, 2, 30, 30])
    x.grad = None
    a, b = SplitTwo.apply(x)
    a.sum().backward()  # the unused output's gradient arrives as zeros
    np.testing.assert_array_equal(x.grad.data, [2, 2, 0, 0])


def test_function_wrong_gradient_shape_is_an_error():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # b's gradient is not reduced to b's shape

    x = fastdl.tensor(np.ones((2, 3)), requires_grad=True)
    b = fastdl.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape"):
        Bad.apply(x, b).sum().backward()


def test_function_saved_tensors_after_free():
    x = fastdl.tensor(rnd(3), requires_grad=True)
    y = ScaledMul.apply(x, x)
    ctx = y.grad_fn
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        ctx.saved_tensors  # noqa: B018


def test_grad_mode_is_per_thread():
    import threading

    seen = []

    def worker():
        seen.append(fastdl.is_grad_enabled())
        with fastdl.no_grad():
            seen.append(fastdl.is_grad_enabled())
            started.set()
            release.wait(5)

    started, release = threading.Event(), threading.Event()
    th = threading.Thread(target=worker)
    th.start()
    started.wait(5)
    x = fastdl.tensor([1.0], requires_grad=True)
    assert fastdl.is_grad_enabled() and (x * 2).requires_grad  # other thread's no_grad
    release.set()
    th.join()
    assert seen == [True, False]


@pytest.mark.parametrize(
    "module",
    ["fastdl.tensor", "fastdl.autograd", "fastdl.functional", "fastdl.gradcheck"],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(module)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


def test_backward_releases_intermediates_and_saved_arrays():
    import gc
    import weakref

    x = fastdl.tensor(rnd(1000), requires_grad=True)
    h = x.exp()
    saved = h.data  # Mul saves its operands' arrays
    ref_h, ref_saved = weakref.ref(h), weakref.ref(saved)
    loss = (h * h).sum()
    del h, saved
    gc.collect()
    assert ref_h() is not None  # the graph keeps it alive until backward
    loss.backward()
    assert ref_h() is None and ref_saved() is None  # freed although `loss` still exists
    loss2 = (x * 2).sum()
    loss2.backward(retain_graph=True)
    assert loss2.grad_fn.parents is not None  # retained
