"""Regression tests for the Tensor bugs tests/test_fuzz_tensor.py found, one per bug."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl import Tensor

AxisError = np.exceptions.AxisError


def T(a, **kw):
    return Tensor(np.asarray(a), **kw)


@pytest.mark.parametrize(
    "name, call, family",
    [
        ("add", lambda: T(np.ones(3)) + T(np.ones(2)), ValueError),
        ("subtract", lambda: T(np.ones(3)) - np.ones(2), ValueError),
        ("multiply", lambda: None * T(np.ones(3)), TypeError),
        ("negative", lambda: -T(np.ones(2, bool)), TypeError),
        ("exp", lambda: fastdl.exp(np.ones(2, object)), TypeError),
        ("reshape", lambda: T(np.ones(3)).reshape(4), ValueError),
        ("reshape", lambda: T(np.ones(3)).reshape("ab"), TypeError),
        ("broadcast_to", lambda: T(np.ones(3)).broadcast_to((2,)), ValueError),
        ("matmul", lambda: fastdl.matmul([[1.0], [2.0, 3.0]], T(np.ones(2))), ValueError),
        ("matmul", lambda: T(np.ones(3, np.int8)) @ np.ones(2, np.int8), ValueError),
        ("concatenate", lambda: fastdl.concatenate([T(np.ones(2)), np.ones((2, 2))]), ValueError),
        ("where", lambda: fastdl.where(T(np.ones(2)) > 0, T(np.ones(3)), 0.0), ValueError),
        ("Tensor.__getitem__", lambda: T(np.ones(3))[5], IndexError),
        ("Tensor.__getitem__", lambda: T(np.ones(3))[1.5], IndexError),
        ("Tensor.__getitem__", lambda: T(np.ones(3))[np.ones(2, bool)], IndexError),
    ],
)
def test_numpy_errors_name_the_tensor_op(name, call, family):
    # NumPy's message alone ("operands could not be broadcast ...") named no function.
    with pytest.raises(family, match=name.replace(".", r"\.")):
        call()


def test_object_division_by_zero_is_a_value_error():
    # Python's ZeroDivisionError from an object array escaped as such.
    with pytest.raises(ValueError, match="divide"):
        T(np.array([1.0])) / np.array([0.0], object)


@pytest.mark.parametrize("axis", ["0", True, [0], 1.0])
@pytest.mark.parametrize("fn", ["sum", "mean", "max", "min", "var", "std", "logsumexp"])
def test_axis_must_be_an_int_or_a_tuple(fn, axis):
    # "0" was iterated into axis 0, True taken as axis 1, [0] as (0,): NumPy refuses all.
    with pytest.raises(TypeError, match=fn):
        getattr(T(np.ones((2, 3))), fn)(axis=axis)


def test_duplicate_axes_are_refused_naming_the_op():
    with pytest.raises(ValueError, match="mean.*distinct"):
        T(np.ones((2, 3))).mean(axis=(0, 0))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [None, (0,), "0"])
def test_softmax_axis_must_be_one_int(fn, axis):
    # axis=None failed with "cannot unpack non-iterable NoneType object".
    with pytest.raises(TypeError, match=fn):
        getattr(fastdl, fn)(T(np.ones((2, 3))), axis=axis)


@pytest.mark.parametrize(
    "a", [np.array([0, 1], np.uint8), np.array([-128, 5], np.int8), np.array([True, False])]
)
def test_min_of_unsigned_minimal_ints_and_bools(a):
    # min was -max(-x): wrapped for uint8 (min [0, 1] gave 1) and int8 -128; failed on bools.
    got = T(a).min()
    assert got.dtype == a.dtype
    assert got.item() == a.min()


def test_min_keeps_the_gradient_of_max():
    x = T(np.array([[3.0, 1.0, 1.0]]), requires_grad=True)
    x.min(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 0.5]])  # ties share it


@pytest.mark.parametrize(
    "name, arg, call",
    [
        ("add", "other", lambda o: T(np.ones(2)) + o),
        ("add", "a", lambda o: o + T(np.ones(2))),  # NumPy defers to the Tensor
        ("multiply", "a", lambda o: np.multiply(o, T(np.ones(2)))),
        ("power", "b", lambda o: T(np.ones(2)) ** o),
        ("clip", "x", lambda o: fastdl.clip(o, -1.0, 0.5)),
        ("maximum", "b", lambda o: fastdl.maximum(T(np.ones(2)), o)),
        ("minimum", "a", lambda o: fastdl.minimum(o, T(np.ones(2)))),
        ("where", "b", lambda o: fastdl.where(T(np.ones(2)) > 0, T(np.ones(2)), o)),
        ("concatenate", "tensors", lambda o: fastdl.concatenate([T(np.ones(2)), o])),
    ],
)
def test_object_operands_are_refused(name, arg, call):
    # NumPy computes with an object operand and gave an object Tensor, which no later op
    # could handle (max of one crashed); Tensors hold numbers, so the op itself refuses it.
    o = np.array([2.0, 3.0], object)
    with pytest.raises(TypeError, match=rf"{name}\(\): argument '{arg}' must .*numbers"):
        call(o)


@pytest.mark.parametrize("make", [Tensor, fastdl.tensor, fastdl.from_numpy])
@pytest.mark.parametrize(
    "a",
    [
        np.array([1.0, None], object),
        np.array(["a", "b"]),
        np.array([b"x"]),
        np.zeros(2, "V4"),
        np.array(["2020-01-01"], "datetime64[D]"),
    ],
)
def test_tensors_hold_numbers_only(make, a):
    # As PyTorch: object, string, bytes, void and datetime data are refused (complex is not).
    with pytest.raises(TypeError, match=r"argument '(data|a)' must hold numbers.*got dtype"):
        make(a)


def test_complex_data_make_complex_tensors_as_pytorch():
    assert fastdl.tensor([1 + 2j]).dtype == np.complex64  # Python complex: complex64
    assert Tensor(np.array([1j], np.complex128)).dtype == np.complex128
    np.testing.assert_array_equal((fastdl.tensor([1j]) * 2).data, [2j])


@pytest.mark.parametrize("fn", ["mean", "var", "std"])
def test_float16_statistics_stay_float16(fn):
    # Returned float64; NumPy gives float16. Accumulated in float32 (as NumPy's mean; its
    # var and std sum in float16 and overflow here).
    a = np.array([60000.0, 60000.0, 59968.0], np.float16)  # the float16 sum overflows
    got = getattr(T(a), fn)()
    want = getattr(np, fn)(a.astype(np.float32)).astype(np.float16)
    assert got.dtype == np.float16 and np.isfinite(want)
    np.testing.assert_allclose(float(got.item()), float(want), rtol=1e-3)


@pytest.mark.parametrize("fn", ["var", "std"])
def test_variance_of_complex_is_real(fn):
    # (x - mean)**2 is complex; NumPy's var is the mean of |x - mean|^2.
    a = np.array([1 + 1j, 2 - 1j, -1j], np.complex64)
    got = getattr(T(a), fn)()
    want = getattr(np, fn)(a)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_allclose(got.item(), want, rtol=1e-6)


def test_maximum_refuses_what_numpy_refuses():
    # -1 does not fit uint8: NumPy raises, fastdl returned a silently promoted array.
    with pytest.raises(ValueError, match="maximum"):
        fastdl.maximum(T(np.zeros(2, np.uint8)), -1)


def test_maximum_gradient_at_ties_and_nan():
    a = T(np.array([1.0, 2.0, np.nan]), requires_grad=True)
    b = T(np.array([1.0, 3.0, 0.0]), requires_grad=True)
    fastdl.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 0.0, 1.0])  # ties and NaN go to a
    np.testing.assert_array_equal(b.grad.data, [0.0, 1.0, 0.0])


def test_clip_promotes_x_and_both_bounds_at_once():
    # int8 clipped by 0.0 and a float16 array gave float64; NumPy gives float16.
    x = np.array([-3, 5], np.int8)
    hi = np.array(2.5, np.float16)
    got = fastdl.clip(T(x), 0.0, hi)
    want = np.clip(x, 0.0, hi)
    assert got.dtype == want.dtype == np.float16
    np.testing.assert_array_equal(got.data, want)


def test_logsumexp_of_small_ints_does_not_wrap():
    # x - max(x) in int8 wrapped: [-128, 100] gave log(exp(28) + 1) + 100.
    got = fastdl.logsumexp(T(np.array([-128, 100], np.int8)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.item(), 100.0, rtol=1e-6)


def test_logsumexp_of_bools_and_of_nothing():
    # bools: "numpy boolean subtract is not supported"; empty: a reduction error (torch: -inf)
    np.testing.assert_allclose(fastdl.logsumexp(T(np.array([True, False]))).item(), np.log1p(np.e))
    with np.errstate(divide="ignore"):  # log(0), as NumPy's
        assert fastdl.logsumexp(T(np.zeros(0))).item() == -np.inf
        empty_rows = fastdl.logsumexp(T(np.zeros((0, 2))), axis=0)
    np.testing.assert_array_equal(empty_rows.data, [-np.inf] * 2)


def test_logsumexp_refuses_object_arrays():
    with pytest.raises(TypeError, match="logsumexp"):
        fastdl.logsumexp(np.array([1.0], object))


@pytest.mark.parametrize("axes", [(), (0,), ("a", "b"), (0, 0), (0, 2)])
def test_transpose_axes_must_be_a_permutation(axes):
    # () on a 2-d tensor reversed the axes (NumPy: "axes don't match array"); junk failed
    # with an unnamed TypeError.
    with pytest.raises((TypeError, ValueError), match="transpose"):
        T(np.ones((2, 3))).transpose(axes)


def test_transpose_spellings():
    t = T(np.ones((2, 3, 4)))
    for got in (t.transpose(), t.transpose(None), t.T, np.transpose(t)):
        assert got.shape == (4, 3, 2)
    assert t.transpose(1, -1, 0).shape == t.transpose([1, 2, 0]).shape == (3, 4, 2)
    assert T(np.ones(())).transpose(()).shape == ()


@pytest.mark.parametrize("shape, a1, a2", [((), 0, 0), ((2, 3), 0, 2), ((2, 3), -3, 0)])
def test_swapaxes_out_of_range(shape, a1, a2):
    # a 0-d tensor raised ZeroDivisionError (axis % 0); out-of-range axes wrapped around.
    with pytest.raises(AxisError, match="swapaxes"):
        T(np.ones(shape)).swapaxes(a1, a2)


def test_power_with_a_list_exponent_backward():
    # The node kept the list: backward's ``b - 1`` raised TypeError.
    x = T(np.array([2.0, 3.0]), requires_grad=True)
    (x ** [2.0, 3.0]).sum().backward()
    np.testing.assert_allclose(x.grad.data, [4.0, 27.0])


def test_np_dot_with_a_python_scalar_promotes_as_numpy():
    # np.dot treats a Python scalar as an int64/float64 array: float64, not float16.
    x = np.array([1.0], np.float16)
    got = np.dot(0, T(x))
    assert got.dtype == np.dot(0, x).dtype == np.float64


def test_np_dot_with_a_ragged_list_names_dot():
    with pytest.raises(ValueError, match="dot"):
        np.dot(T(np.ones(2)), [[1.0], [2.0, 3.0]])


def test_reshape_none_keeps_the_shape_as_numpy():
    assert T(np.ones((2, 3))).reshape(None).shape == np.ones((2, 3)).reshape(None).shape


@pytest.mark.parametrize("call", [lambda t: t.expand(None), lambda t: t.broadcast_to("ab")])
def test_broadcast_to_junk_shapes_name_the_op(call):
    with pytest.raises((TypeError, ValueError), match="broadcast_to"):
        call(T(np.ones(3)))


def test_product_with_a_0d_object_array_backward():
    # NumPy returns a bare Python float for 0-d object operands: unbroadcast crashed on it.
    # That result is a number, so it is kept (float64), unlike an object array's.
    x = T(np.array(2.0), requires_grad=True)
    (np.array(3.0, dtype=object) * x).backward()
    assert x.grad.dtype == np.float64 and x.grad.item() == 3.0


def test_concatenate_flat_keeps_python_scalars_weak():
    # axis=None made 0 an int64 array first: float64 where NumPy gives float16.
    x = np.array([1.0], np.float16)
    got = fastdl.concatenate([0, T(x)], axis=None)
    want = np.concatenate([0, x], axis=None)
    assert got.dtype == want.dtype == np.float16
    np.testing.assert_array_equal(got.data, want)
    w = T(np.ones((2, 2)), requires_grad=True)
    (fastdl.concatenate([w, 5.0], axis=None) * np.arange(5.0)).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[0.0, 1.0], [2.0, 3.0]])


def test_clip_takes_python_ints_outside_the_dtype_range_as_numpy():
    # np.clip(uint8, -1, 300) clips to the dtype's range; maximum(x, -1) raised OverflowError.
    x = np.array([0, 7, 255], np.uint8)
    got = fastdl.clip(T(x), -1, 300)
    want = np.clip(x, -1, 300)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.data, want)


@pytest.mark.parametrize("cond", [b"\x00", np.array([b"\x00", b"a"]), np.array([0.0, np.nan])])
def test_where_takes_numpys_truth_of_the_condition(cond):
    # The condition went through asarray(dtype=bool), which calls b"\x00" true; np.where not.
    a = T(np.array([1.0, 2.0]), requires_grad=True)
    got = fastdl.where(cond, a, -1.0)
    want = np.where(cond, a.data, -1.0)
    np.testing.assert_array_equal(got.data, want)
    got.sum().backward()
    np.testing.assert_array_equal(a.grad.data, np.where(cond, 1.0, 0.0) * np.ones(2))
