"""Audit of the error messages of every public entry point.

Each case calls one public function, method or class with a bad argument and checks the
exception type and that the message carries the four things issue 8 asks for: the function,
the argument, the expected value and the actual one (shape, dtype, range or type).

The public API is enumerated (``fastdl.__all__``, ``fastdl.ops.__all__``, ``nn``,
``nn.functional``, ``nn.init``, ``nn.utils``, ``optim``, ``data``, ``train``, and the Tensor's
public methods and operators), so a new public entry point without a case fails
``test_every_public_entry_point_has_a_case`` until it gets one, or is listed in
``NO_ARGUMENTS`` (nothing a caller passes can be wrong) or ``NOT_YET_COVERED`` (which may only
shrink: its size is capped). A case whose message is not fixed yet goes in ``KNOWN_BAD``: a
strict xfail, so the fix fails the run until the entry is removed (also capped; empty now).
"""

# ruff: noqa: E501  (the cases are a table, one per line)
from __future__ import annotations

import inspect
import io
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import fastdl
from fastdl import Tensor, data, nn, ops, optim, train
from fastdl.nn import functional as F
from fastdl.nn import init, utils
from fastdl.optim import lr_scheduler

AxisError = np.exceptions.AxisError


def T(*shape, dtype=np.float32, grad=False):
    """A Tensor of ``shape`` with distinct values."""
    n = math.prod(shape)
    return fastdl.tensor(np.arange(1, n + 1, dtype=dtype).reshape(shape) / n, requires_grad=grad)


def A(*shape, dtype=np.float64):
    return np.ones(shape, dtype)


def P(*shape, dtype=np.float32):
    return nn.Parameter(np.ones(shape, dtype))


def adam():
    return optim.Adam([P(3)], lr=0.1)


@dataclass
class Case:
    entry: str  # the public name: "fastdl.matmul", "Tensor.reshape", "fastdl.nn.Linear", ...
    call: Callable[[], Any]
    exc: type
    fn: str  # the function as the message must name it
    arg: str  # the argument, quoted in the message
    expected: str
    actual: str
    id: str = ""


CASES: list[Case] = []


def case(entry, call, exc, fn, arg, expected, actual, id=""):
    CASES.append(Case(entry, call, exc, fn, arg, expected, actual, id))


# fmt: off
# ------------------------------------------------------------------------- fastdl.ops
case("fastdl.ops.relu", lambda: ops.relu(np.ones(3, complex)), TypeError, "relu", "x", "real", "complex128")
case("fastdl.ops.relu", lambda: ops.relu(A(3), out=A(4)), ValueError, "relu", "out", "(3,)", "(4,)", "out")
case("fastdl.ops.sigmoid", lambda: ops.sigmoid("x"), TypeError, "sigmoid", "x", "array", "str")
case("fastdl.ops.tanh", lambda: ops.tanh(A(3), out=A(3, dtype=np.float32)), ValueError, "tanh", "out", "float64", "float32")
case("fastdl.ops.bias_act", lambda: ops.bias_act(A(2, 3), A(4), "relu"), ValueError, "bias_act", "bias", "(3,)", "(4,)")
case("fastdl.ops.activation_backward", lambda: ops.activation_backward("relu", A(2, 3), A(2, 4)), ValueError, "activation_backward", "y", "(2, 3)", "(2, 4)")
case("fastdl.ops.relu_backward", lambda: ops.relu_backward(A(2, 3), A(3, 2)), ValueError, "relu_backward", "y", "(2, 3)", "(3, 2)")
case("fastdl.ops.sigmoid_backward", lambda: ops.sigmoid_backward(A(2), None), TypeError, "sigmoid_backward", "y", "array", "None")
case("fastdl.ops.tanh_backward", lambda: ops.tanh_backward(A(2), A(3)), ValueError, "tanh_backward", "y", "(2,)", "(3,)")
case("fastdl.ops.bias_act_backward", lambda: ops.bias_act_backward(A(2, 3), A(2, 4), "tanh"), ValueError, "bias_act_backward", "y", "(2, 3)", "(2, 4)")
case("fastdl.ops.activation_backward", lambda: ops.activation_backward("gelu", A(2), A(2)), ValueError, "activation_backward", "activation", "relu", "'gelu'", "name")
case("fastdl.ops.attention", lambda: ops.attention(A(2, 3, 4), A(2, 3, 5), A(2, 3, 4)), ValueError, "attention", "k", "4", "5")
case("fastdl.ops.attention_forward", lambda: ops.attention_forward(A(2, 3, 4), A(2, 3, 4), A(2, 5, 4)), ValueError, "attention_forward", "v", "3", "5")
case("fastdl.ops.attention_backward", lambda: ops.attention_backward(A(2, 3, 4), A(2, 3, 4), A(2, 3, 4), A(2, 3, 4), A(2, 3, 3), A(2, 3, 4)), ValueError, "attention_backward", "out", "(2, 3, 4)", "(2, 3, 3)")
case("fastdl.ops.batch_norm_forward", lambda: ops.batch_norm_forward(A(2, 3), A(4), A(3)), ValueError, "batch_norm_forward", "weight", "(3,)", "(4,)")
case("fastdl.ops.batch_norm_inference", lambda: ops.batch_norm_inference(A(2, 3), A(3), A(2)), ValueError, "batch_norm_inference", "running_var", "(3,)", "(2,)")
case("fastdl.ops.batch_norm_backward", lambda: ops.batch_norm_backward(A(2, 3), A(2, 4), A(4), A(4)), ValueError, "batch_norm_backward", "grad", "(2, 4)", "(2, 3)")
case("fastdl.ops.batch_norm_stats", lambda: ops.batch_norm_stats(np.ones((2, 3), object)), TypeError, "batch_norm_stats", "x", "real", "object")
case("fastdl.ops.matmul", lambda: ops.matmul(A(2, 3), A(4, 5)), ValueError, "matmul", "b", "(2, 3)", "(4, 5)")
case("fastdl.ops.linear", lambda: ops.linear(A(2, 3), A(3, 4), A(5)), ValueError, "linear", "b", "(4,)", "(5,)")
case("fastdl.ops.adam_step", lambda: ops.adam_step([A(3)], [A(4)], [A(3)], [A(3)], step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8), ValueError, "adam_step", "grads[0]", "(3,)", "(4,)")
case("fastdl.ops.adam_step", lambda: ops.adam_step([A(3)], [A(3)], [A(3)], [A(3)], step=0, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8), ValueError, "adam_step", "step", ">= 1", "0", "step")
case("fastdl.ops.sgd_step", lambda: ops.sgd_step([A(3)], [A(3, dtype=np.float32)], [A(3)], lr=0.1), TypeError, "sgd_step", "grads[0]", "float64", "float32")
case("fastdl.ops.grad_norm", lambda: ops.grad_norm([A(3), "x"]), TypeError, "grad_norm", "arrays[1]", "array", "str")
case("fastdl.ops.scale_", lambda: ops.scale_([A(3)], "x"), TypeError, "scale_", "factor", "number", "str")
case("fastdl.ops.softmax", lambda: ops.softmax(A(2, 3), axis=2), ValueError, "softmax", "axis", "[-2, 1]", "2")
case("fastdl.ops.log_softmax", lambda: ops.log_softmax(A(2, 3), axis="x"), TypeError, "log_softmax", "axis", "int", "str")
case("fastdl.ops.softmax_backward", lambda: ops.softmax_backward(A(2, 3), A(2, 4)), ValueError, "softmax_backward", "y", "(2, 3)", "(2, 4)")
case("fastdl.ops.log_softmax_backward", lambda: ops.log_softmax_backward(A(2, 3), A(2, 3), out=A(2, 3, dtype=np.float32)), ValueError, "log_softmax_backward", "out", "float64", "float32")

# ------------------------------------------------------------------------- Tensor construction
case("fastdl.Tensor", lambda: Tensor(np.array([1, None], dtype=object)), TypeError, "Tensor", "data", "numbers", "object")
case("fastdl.Tensor", lambda: Tensor(np.array(["a"])), TypeError, "Tensor", "data", "numbers", "<U1", "str")
case("fastdl.tensor", lambda: fastdl.tensor("abc"), TypeError, "tensor", "data", "numbers", "<U3")
case("fastdl.tensor", lambda: fastdl.tensor([[1.0], [2.0, 3.0]]), ValueError, "tensor", "data", "rectangular", "list", "ragged")
case("fastdl.tensor", lambda: fastdl.tensor([1.0], dtype="foo"), TypeError, "tensor", "dtype", "dtype", "'foo'", "dtype")
case("fastdl.from_numpy", lambda: fastdl.from_numpy([1.0]), TypeError, "from_numpy", "a", "numpy.ndarray", "list")
case("fastdl.from_numpy", lambda: fastdl.from_numpy(np.array([object()])), TypeError, "from_numpy", "a", "numbers", "object", "object")

# ------------------------------------------------------------------------- creation
case("fastdl.zeros", lambda: fastdl.zeros(-1), ValueError, "zeros", "size", "non-negative", "-1")
case("fastdl.ones", lambda: fastdl.ones(2, dtype="foo"), TypeError, "ones", "dtype", "dtype", "'foo'")
case("fastdl.full", lambda: fastdl.full((2,), "x"), TypeError, "full", "fill_value", "real number", "str")
case("fastdl.empty", lambda: fastdl.empty(2.5), TypeError, "empty", "size", "int", "float")
case("fastdl.zeros_like", lambda: fastdl.zeros_like("x"), TypeError, "zeros_like", "x", "Tensor or array", "str")
case("fastdl.ones_like", lambda: fastdl.ones_like(T(2), dtype=object), TypeError, "ones_like", "dtype", "bool, int or float", "object")
case("fastdl.full_like", lambda: fastdl.full_like(T(2), "x"), TypeError, "full_like", "fill_value", "real number", "str")
case("fastdl.empty_like", lambda: fastdl.empty_like(None), TypeError, "empty_like", "x", "Tensor or array", "None")
case("fastdl.arange", lambda: fastdl.arange(0, 10, 0), ValueError, "arange", "step", "nonzero", "0")
case("fastdl.linspace", lambda: fastdl.linspace(0, 1, -2), ValueError, "linspace", "steps", "non-negative", "-2")
case("fastdl.eye", lambda: fastdl.eye(-1), ValueError, "eye", "n", "non-negative", "-1")
case("fastdl.rand", lambda: fastdl.rand(2, dtype=np.int32), TypeError, "rand", "dtype", "float", "int32")
case("fastdl.randn", lambda: fastdl.randn("a"), TypeError, "randn", "size", "int", "str")
case("fastdl.randint", lambda: fastdl.randint(5, 2, (3,)), ValueError, "randint", "high", "> low (5)", "2")

# ------------------------------------------------------------------------- Tensor free functions
case("fastdl.matmul", lambda: fastdl.matmul(T(2, 3), T(4, 5)), ValueError, "matmul", "b", "(2, 3)", "(4, 5)")
case("fastdl.matmul", lambda: fastdl.matmul(T(2, 3, dtype=np.int64), T(4, 5, dtype=np.int64)), ValueError, "matmul", "b", "(2, 3)", "(4, 5)", "int")
case("fastdl.matmul", lambda: fastdl.matmul(T(2, 3), 2.0), ValueError, "matmul", "b", "at least 1-d", "()", "0d")
case("fastdl.linear", lambda: fastdl.linear(T(2, 3), T(4, 5)), ValueError, "linear", "w", "(3, d_out)", "(4, 5)")
case("fastdl.linear", lambda: fastdl.linear(T(2, 3), T(3, 5), T(4)), ValueError, "linear", "b", "(5,)", "(4,)", "bias")
case("fastdl.linear", lambda: fastdl.linear(T(2, 3), T(3, 5), None, "gelu"), ValueError, "linear", "activation", "'relu'", "'gelu'", "act")
case("fastdl.concatenate", lambda: fastdl.concatenate([T(2, 3), T(2, 4)]), ValueError, "concatenate", "tensors", "match", "(2, 4)")
case("fastdl.concatenate", lambda: fastdl.concatenate([]), ValueError, "concatenate", "tensors", "at least one", "[]", "empty")
case("fastdl.stack", lambda: fastdl.stack([T(2, 3), T(2, 4)]), ValueError, "stack", "tensors", "one shape", "(2, 4)")
case("fastdl.where", lambda: fastdl.where(T(2, 3) > 0, T(2, 3), T(4)), ValueError, "where", "b", "broadcast", "(4,)")
case("fastdl.maximum", lambda: fastdl.maximum(T(2, 3), T(4)), ValueError, "maximum", "b", "broadcast", "(4,)")
case("fastdl.minimum", lambda: fastdl.minimum(T(2, 3), "x"), TypeError, "minimum", "b", "'x'", "str")
case("fastdl.clip", lambda: fastdl.clip(T(2, 3), T(4), None), ValueError, "clip", "a_min", "broadcast", "(4,)")
case("fastdl.exp", lambda: fastdl.exp("x"), TypeError, "exp", "x", "numbers", "<U1")
case("fastdl.log", lambda: fastdl.log(None), TypeError, "log", "x", "numbers", "object")
case("fastdl.sqrt", lambda: fastdl.sqrt([[1.0], [1.0, 2.0]]), ValueError, "sqrt", "x", "rectangular", "list")
case("fastdl.relu", lambda: fastdl.relu(T(2, dtype=np.complex64)), TypeError, "relu", "x", "real", "complex64")
case("fastdl.sigmoid", lambda: fastdl.sigmoid(T(2, dtype=np.complex64)), TypeError, "sigmoid", "x", "real", "complex64")
case("fastdl.tanh", lambda: fastdl.tanh(T(2, dtype=np.complex64)), TypeError, "tanh", "x", "real", "complex64")
case("fastdl.softmax", lambda: fastdl.softmax(T(2, 3), axis=3), AxisError, "softmax", "axis", "[-2, 1]", "3")
case("fastdl.log_softmax", lambda: fastdl.log_softmax(T(2, 3), axis=(0, 1)), TypeError, "log_softmax", "axis", "an int", "(0, 1)")
case("fastdl.logsumexp", lambda: fastdl.logsumexp(T(2, 3), axis=2), AxisError, "logsumexp", "axis", "[-2, 1]", "2")

# ------------------------------------------------------------------------- Tensor methods
t23 = lambda: T(2, 3)  # noqa: E731
case("Tensor.reshape", lambda: t23().reshape(4, 2), ValueError, "reshape", "shape", "6 elements", "(4, 2)")
case("Tensor.view", lambda: t23().view(5), ValueError, "reshape", "shape", "6 elements", "5")
case("Tensor.flatten", lambda: T(2, 3, grad=True).flatten().backward(), RuntimeError, "backward", "gradient", "one-element", "(6,)")
case("Tensor.ravel", lambda: t23().ravel().sum().backward(), RuntimeError, "backward", "self", "require grad", "no graph")
case("Tensor.backward", lambda: (T(2, 3, grad=True) * 2).backward(), RuntimeError, "backward", "gradient", "one-element", "(2, 3)")
case("Tensor.backward", lambda: (T(2, 3, grad=True) * 2).backward(np.ones(3)), ValueError, "backward", "gradient", "(2, 3)", "(3,)", "shape")
case("Tensor.transpose", lambda: t23().transpose(0, 1, 2), AxisError, "transpose", "axes", "[-2, 1]", "2")
case("Tensor.permute", lambda: t23().permute(0, 0), ValueError, "transpose", "axes", "distinct", "(0, 0)")
case("Tensor.swapaxes", lambda: t23().swapaxes(0, 2), AxisError, "swapaxes", "axis2", "[-2, 1]", "2")
case("Tensor.broadcast_to", lambda: t23().broadcast_to((4, 4)), ValueError, "broadcast_to", "shape", "(2, 3)", "(4, 4)")
case("Tensor.expand", lambda: t23().expand(3, 3), ValueError, "broadcast_to", "shape", "(2, 3)", "(3, 3)")
case("Tensor.expand_dims", lambda: t23().expand_dims(4), AxisError, "expand_dims", "axis", "[-3, 2]", "4")
case("Tensor.unsqueeze", lambda: t23().unsqueeze(-4), AxisError, "expand_dims", "axis", "[-3, 2]", "-4")
case("Tensor.squeeze", lambda: t23().squeeze(0), ValueError, "squeeze", "axis", "size 1", "size 2")
case("Tensor.sum", lambda: t23().sum(axis=5), AxisError, "sum", "axis", "[-2, 1]", "5")
case("Tensor.mean", lambda: t23().mean(axis="0"), TypeError, "mean", "axis", "an int", "'0'")
case("Tensor.max", lambda: T(0).max(), ValueError, "max", "self", "at least one element", "(0,)")
case("Tensor.min", lambda: t23().min(axis=(0, 0)), ValueError, "min", "axis", "distinct", "(0, 0)")
case("Tensor.var", lambda: t23().var(ddof="x"), TypeError, "var", "ddof", "numbers", "str")
case("Tensor.std", lambda: t23().std(axis=-3), AxisError, "std", "axis", "[-2, 1]", "-3")
case("Tensor.argmax", lambda: t23().argmax(axis=4), AxisError, "argmax", "axis", "[-2, 1]", "4")
case("Tensor.argmin", lambda: t23().argmin(axis=1.5), TypeError, "argmin", "axis", "int", "1.5")
case("Tensor.all", lambda: t23().all(axis=3), AxisError, "all", "axis", "[-2, 1]", "3")
case("Tensor.any", lambda: t23().any(axis=-5), AxisError, "any", "axis", "[-2, 1]", "-5")
case("Tensor.logsumexp", lambda: t23().logsumexp(axis=9), AxisError, "logsumexp", "axis", "[-2, 1]", "9")
case("Tensor.softmax", lambda: t23().softmax(axis=2), AxisError, "softmax", "axis", "[-2, 1]", "2")
case("Tensor.log_softmax", lambda: t23().log_softmax(axis=None), TypeError, "log_softmax", "axis", "an int", "None")
case("Tensor.clip", lambda: t23().clip(T(4)), ValueError, "clip", "a_min", "broadcast", "(4,)")
case("Tensor.clamp", lambda: t23().clamp(None, "x"), TypeError, "clip", "a_max", "'x'", "str")
case("Tensor.maximum", lambda: t23().maximum(T(4)), ValueError, "maximum", "b", "broadcast", "(4,)")
case("Tensor.minimum", lambda: t23().minimum(T(5)), ValueError, "minimum", "b", "broadcast", "(5,)")
case("Tensor.astype", lambda: t23().astype("foo"), TypeError, "astype", "dtype", "dtype", "'foo'")
case("Tensor.astype", lambda: t23().astype(object), TypeError, "astype", "dtype", "numbers", "object", "object")
case("Tensor.to", lambda: t23().to("bar"), TypeError, "astype", "dtype", "dtype", "'bar'")
case("Tensor.fill_", lambda: t23().fill_([1, 2]), ValueError, "fill_", "value", "scalar", "(2,)")
case("Tensor.zero_", lambda: T(2, grad=True).zero_(), RuntimeError, "zero_", "self", "no_grad", "requires grad")
case("Tensor.requires_grad_", lambda: fastdl.tensor([1, 2]).requires_grad_(), TypeError, "requires_grad_", "self", "float32/float64", "int64")
case("Tensor.item", lambda: t23().item(), ValueError, "item", "self", "one element", "(2, 3)")
case("Tensor.relu", lambda: T(2, dtype=np.complex128).relu(), TypeError, "relu", "x", "real", "complex128")
case("Tensor.sigmoid", lambda: T(2, dtype=np.complex128).sigmoid(), TypeError, "sigmoid", "x", "real", "complex128")
case("Tensor.tanh", lambda: T(2, dtype=np.complex128).tanh(), TypeError, "tanh", "x", "real", "complex128")
case("Tensor.__add__", lambda: t23() + T(4), ValueError, "add", "other", "broadcast", "(4,)")
case("Tensor.__radd__", lambda: np.ones(4) + t23(), ValueError, "add", "b", "broadcast", "(2, 3)")
case("Tensor.__sub__", lambda: t23() - "x", TypeError, "subtract", "other", "'x'", "str")
case("Tensor.__rsub__", lambda: [1.0, 2.0] - t23(), ValueError, "subtract", "other", "broadcast", "(2,)")
case("Tensor.__mul__", lambda: t23() * T(4), ValueError, "multiply", "other", "broadcast", "(4,)")
case("Tensor.__rmul__", lambda: [1.0, 2.0] * t23(), ValueError, "multiply", "other", "broadcast", "(2,)")
case("Tensor.__truediv__", lambda: t23() / T(4), ValueError, "divide", "b", "broadcast", "(4,)")
case("Tensor.__rtruediv__", lambda: [1.0, 2.0] / t23(), ValueError, "divide", "a", "broadcast", "(2,)")
case("Tensor.__pow__", lambda: t23() ** T(4), ValueError, "power", "b", "broadcast", "(4,)")
case("Tensor.__rpow__", lambda: [1.0, 2.0] ** t23(), ValueError, "power", "a", "broadcast", "(2,)")
case("Tensor.__matmul__", lambda: t23() @ T(4, 5), ValueError, "matmul", "b", "(2, 3)", "(4, 5)")
case("Tensor.__rmatmul__", lambda: np.ones((4, 5)).tolist() @ t23(), ValueError, "matmul", "b", "(4, 5)", "(2, 3)")
case("Tensor.__iadd__", lambda: t23().__iadd__(T(4)), ValueError, "add", "other", "broadcast", "(4,)")
case("Tensor.__isub__", lambda: t23().__isub__(T(4)), ValueError, "subtract", "other", "broadcast", "(4,)")
case("Tensor.__imul__", lambda: t23().__imul__(T(4)), ValueError, "multiply", "other", "broadcast", "(4,)")
case("Tensor.__itruediv__", lambda: t23().__itruediv__(T(4)), ValueError, "divide", "other", "broadcast", "(4,)")
case("Tensor.__neg__", lambda: -fastdl.tensor([True]), TypeError, "negative", "self", "logical_not", "bool")
case("Tensor.__getitem__", lambda: t23()[5], IndexError, "__getitem__", "index", "size 2", "5")
case("Tensor.__getitem__", lambda: t23()[0, 0, 0], IndexError, "__getitem__", "index", "2-dimensional", "(0, 0, 0)", "ndim")
case("Tensor.__getitem__", lambda: t23()[1.5], IndexError, "__getitem__", "index", "integers, slices", "1.5", "float")
case("Tensor.__setitem__", lambda: t23().__setitem__(0, np.ones(4)), ValueError, "__setitem__", "value", "(3,)", "(4,)")
case("Tensor.__setitem__", lambda: t23().__setitem__(9, 1.0), IndexError, "__setitem__", "index", "size 2", "9", "index")
case("Tensor.__eq__", lambda: t23() == T(4), ValueError, "equal", "other", "broadcast", "(4,)")
case("Tensor.__ne__", lambda: t23() != T(4), ValueError, "not_equal", "other", "broadcast", "(4,)")
case("Tensor.__lt__", lambda: t23() < T(4), ValueError, "less", "other", "broadcast", "(4,)")
case("Tensor.__le__", lambda: t23() <= T(4), ValueError, "less_equal", "other", "broadcast", "(4,)")
case("Tensor.__gt__", lambda: t23() > T(4), ValueError, "greater", "other", "broadcast", "(4,)")
case("Tensor.__ge__", lambda: t23() >= T(4), ValueError, "greater_equal", "other", "broadcast", "(4,)")
case("Tensor.__and__", lambda: t23() & True, TypeError, "bitwise_and", "self", "bools or ints", "float32")
case("Tensor.__or__", lambda: (t23() > 0) | (T(4) > 0), ValueError, "bitwise_or", "other", "broadcast", "(4,)")
case("Tensor.__invert__", lambda: ~t23(), TypeError, "invert", "self", "bools or ints", "float32")
case("Tensor.__bool__", lambda: bool(t23()), ValueError, "__bool__", "self", "one element", "(2, 3)")
case("Tensor.__float__", lambda: float(t23()), TypeError, "__float__", "self", "one element", "(2, 3)")
case("Tensor.__int__", lambda: int(t23()), TypeError, "__int__", "self", "one element", "(2, 3)")
case("Tensor.__index__", lambda: [0, 1][fastdl.tensor(1.0)], TypeError, "__index__", "self", "integer", "float32")
case("Tensor.__len__", lambda: len(fastdl.tensor(1.0)), TypeError, "__len__", "self", "at least 1-d", "()")
case("Tensor.__array__", lambda: np.asarray(t23(), dtype=np.float64, copy=False), ValueError, "__array__", "copy", "float32", "float64")

# ------------------------------------------------------------------------- autograd helpers
case("fastdl.grad", lambda: fastdl.grad(lambda x: x * 2)(T(2)), TypeError, "grad", "f", "scalar", "(2,)")
case("fastdl.value_and_grad", lambda: fastdl.value_and_grad(lambda x: x.sum(), argnums=3)(T(2)), ValueError, "value_and_grad", "argnums", "[-1, 0]", "3")
case("fastdl.gradcheck", lambda: fastdl.gradcheck(lambda x: x, ("a",)), TypeError, "gradcheck", "inputs[0]", "real numbers", "tuple")
case("fastdl.set_grad_enabled", lambda: fastdl.set_grad_enabled("yes"), TypeError, "set_grad_enabled", "mode", "bool", "str")
case("fastdl.set_num_threads", lambda: fastdl.set_num_threads(0), ValueError, "set_num_threads", "n", ">= 1", "0")
case("fastdl.manual_seed", lambda: fastdl.manual_seed("x"), TypeError, "manual_seed", "seed", "int", "str")

# ------------------------------------------------------------------------- serialization
case("fastdl.save", lambda: fastdl.save(nn.Linear(2, 2).state_dict(), "/nonexistent-dir/x.npz"), FileNotFoundError, "save", "f", "existing directory", "/nonexistent-dir/x.npz")
case("fastdl.save", lambda: fastdl.save({"a": object()}, io.BytesIO()), TypeError, "save", "obj", "arrays", "type object", "obj")
case("fastdl.load", lambda: fastdl.load("/nonexistent-dir/x.npz"), FileNotFoundError, "load", "f", "existing file", "/nonexistent-dir/x.npz")
case("fastdl.load", lambda: fastdl.load(io.BytesIO(b"not a zip")), ValueError, "load", "f", ".npz", "BytesIO", "junk")

# ------------------------------------------------------------------------- nn.functional
case("fastdl.nn.functional.linear", lambda: F.linear(T(2, 5), T(3, 4)), ValueError, "linear", "input", "last dimension 3", "5")
case("fastdl.nn.functional.relu", lambda: F.relu("x"), TypeError, "relu", "input", "Tensor or array", "str")
case("fastdl.nn.functional.sigmoid", lambda: F.sigmoid(np.array(["a"])), TypeError, "sigmoid", "input", "real numbers", "<U1")
case("fastdl.nn.functional.tanh", lambda: F.tanh(None), TypeError, "tanh", "input", "Tensor or array", "None")
case("fastdl.nn.functional.gelu", lambda: F.gelu(T(2), approximate="fast"), ValueError, "gelu", "approximate", "'tanh'", "'fast'")
case("fastdl.nn.functional.softmax", lambda: F.softmax(T(2, 3), dim=2), ValueError, "softmax", "dim", "[-2, 1]", "2")
case("fastdl.nn.functional.log_softmax", lambda: F.log_softmax(T(2, 3), dim="a"), TypeError, "log_softmax", "dim", "an int", "'a'")
case("fastdl.nn.functional.dropout", lambda: F.dropout(T(2), p=1.5), ValueError, "dropout", "p", "[0, 1]", "1.5")
case("fastdl.nn.functional.batch_norm", lambda: F.batch_norm(T(4, 5), A(3), A(3), training=False), ValueError, "batch_norm", "running_mean", "(5,)", "(3,)")
case("fastdl.nn.functional.layer_norm", lambda: F.layer_norm(T(2, 3), 4), ValueError, "layer_norm", "input", "normalized_shape (4,)", "(2, 3)")
case("fastdl.nn.functional.mse_loss", lambda: F.mse_loss(T(4, 1), T(4)), ValueError, "mse_loss", "target", "(4, 1)", "(4,)")
case("fastdl.nn.functional.mse_loss", lambda: F.mse_loss(T(4), T(4), reduction="avg"), ValueError, "mse_loss", "reduction", "'mean'", "'avg'", "reduction")
case("fastdl.nn.functional.binary_cross_entropy", lambda: F.binary_cross_entropy(T(4) * 3, T(4)), ValueError, "binary_cross_entropy", "input", "[0, 1]", "3.0")
case("fastdl.nn.functional.binary_cross_entropy_with_logits", lambda: F.binary_cross_entropy_with_logits(T(4), T(4), pos_weight=T(3)), ValueError, "binary_cross_entropy_with_logits", "pos_weight", "(4,)", "(3,)")
case("fastdl.nn.functional.cross_entropy", lambda: F.cross_entropy(T(4, 3), np.array([0.5, 1, 2, 0])), TypeError, "cross_entropy", "target", "int", "float64")
case("fastdl.nn.functional.cross_entropy", lambda: F.cross_entropy(T(4, 3), np.array([0, 1, 2])), ValueError, "cross_entropy", "target", "(4,)", "(3,)", "shape")
case("fastdl.nn.functional.cross_entropy", lambda: F.cross_entropy(T(4, 3), np.array([0, 1, 2, 3])), ValueError, "cross_entropy", "target", "[0, 2]", "3", "range")
case("fastdl.nn.functional.cross_entropy", lambda: F.cross_entropy(T(4), np.array([0, 1, 2, 3])), ValueError, "cross_entropy", "input", "(N, C)", "(4,)", "input")
case("fastdl.nn.functional.scaled_dot_product_attention", lambda: F.scaled_dot_product_attention(T(2, 3, 4), T(2, 3, 5), T(2, 3, 4)), ValueError, "scaled_dot_product_attention", "key", "4", "5")
case("fastdl.nn.functional.dot_product_attention", lambda: F.dot_product_attention(T(2, 3, 4), T(2, 3, 5)), ValueError, "dot_product_attention", "keys", "4", "5")

# ------------------------------------------------------------------------- nn.init, nn.utils
case("fastdl.nn.init.calculate_gain", lambda: init.calculate_gain("swish"), ValueError, "calculate_gain", "nonlinearity", "'relu'", "'swish'")
case("fastdl.nn.init.constant_", lambda: init.constant_(np.zeros(3, int), 1.0), TypeError, "constant_", "tensor", "floating", "int64")
case("fastdl.nn.init.ones_", lambda: init.ones_([1.0]), TypeError, "ones_", "tensor", "Tensor or ndarray", "list")
case("fastdl.nn.init.zeros_", lambda: init.zeros_(None), TypeError, "zeros_", "tensor", "Tensor or ndarray", "None")
case("fastdl.nn.init.uniform_", lambda: init.uniform_(P(3), a=2.0, b=1.0), ValueError, "uniform_", "b", ">= a (2.0)", "1.0")
case("fastdl.nn.init.normal_", lambda: init.normal_(P(3), std=-1.0), ValueError, "normal_", "std", ">= 0", "-1.0")
case("fastdl.nn.init.lecun_normal_", lambda: init.lecun_normal_(P(3)), ValueError, "lecun_normal_", "tensor", "2 dimensions", "(3,)")
case("fastdl.nn.init.kaiming_normal_", lambda: init.kaiming_normal_(P(3, 3), mode="fan"), ValueError, "kaiming_normal_", "mode", "'fan_in'", "'fan'")
case("fastdl.nn.init.kaiming_uniform_", lambda: init.kaiming_uniform_(P(3, 3), nonlinearity="swish"), ValueError, "calculate_gain", "nonlinearity", "'relu'", "'swish'")
case("fastdl.nn.init.xavier_normal_", lambda: init.xavier_normal_(P(3)), ValueError, "xavier_normal_", "tensor", "2 dimensions", "(3,)")
case("fastdl.nn.init.xavier_uniform_", lambda: init.xavier_uniform_(np.zeros((2, 2), np.int8)), TypeError, "xavier_uniform_", "tensor", "floating", "int8")
case("fastdl.nn.utils.clip_grad_norm_", lambda: utils.clip_grad_norm_([P(3)], max_norm="x"), TypeError, "clip_grad_norm_", "max_norm", "number", "str")
case("fastdl.nn.utils.clip_grad_value_", lambda: utils.clip_grad_value_([P(3)], clip_value=-1.0), ValueError, "clip_grad_value_", "clip_value", ">= 0", "-1.0")

# ------------------------------------------------------------------------- nn layers
case("fastdl.nn.Module", lambda: nn.Linear(3, 4).load_state_dict([1]), TypeError, "load_state_dict", "state_dict", "dict", "list")
case("fastdl.nn.Parameter", lambda: nn.Parameter(np.array(["a"])), TypeError, "Parameter", "data", "real numbers", "<U1")
case("fastdl.nn.Sequential", lambda: nn.Sequential(nn.ReLU(), 3), TypeError, "Sequential", "args[1]", "Module", "3")
case("fastdl.nn.ModuleList", lambda: nn.ModuleList([nn.ReLU(), "x"]), TypeError, "ModuleList.append", "module", "Module", "str")
case("fastdl.nn.Residual", lambda: nn.Residual(3), TypeError, "Residual", "block", "Module", "int")
case("fastdl.nn.Residual", lambda: nn.Residual(nn.Linear(3, 4))(T(2, 3)), ValueError, "Residual", "block", "(2, 3)", "(2, 4)", "forward")
case("fastdl.nn.Flatten", lambda: nn.Flatten(3)(T(2, 3)), ValueError, "Flatten", "start_dim", "[-2, 1]", "3")
case("fastdl.nn.Linear", lambda: nn.Linear(3, 4)(T(2, 5)), ValueError, "linear", "input", "last dimension 3", "5")
case("fastdl.nn.Linear", lambda: nn.Linear(0, 4), ValueError, "Linear", "in_features", "positive int", "0", "ctor")
case("fastdl.nn.Linear", lambda: nn.Linear(3, 4, dtype=np.int32), TypeError, "Linear", "dtype", "float32 or float64", "int32", "dtype")
case("fastdl.nn.GELU", lambda: nn.GELU("fast"), ValueError, "GELU", "approximate", "'tanh'", "'fast'")
case("fastdl.nn.Softmax", lambda: nn.Softmax(dim=3)(T(2, 3)), ValueError, "softmax", "dim", "[-2, 1]", "3")
case("fastdl.nn.LogSoftmax", lambda: nn.LogSoftmax(dim="x"), TypeError, "LogSoftmax", "dim", "int", "str")
case("fastdl.nn.ReLU", lambda: nn.ReLU()("x"), TypeError, "relu", "input", "Tensor or array", "str")
case("fastdl.nn.Sigmoid", lambda: nn.Sigmoid()(None), TypeError, "sigmoid", "input", "Tensor or array", "None")
case("fastdl.nn.Tanh", lambda: nn.Tanh()(np.array(["a"])), TypeError, "tanh", "input", "real numbers", "<U1")
case("fastdl.nn.BatchNorm1d", lambda: nn.BatchNorm1d(3)(T(4, 5)), ValueError, "BatchNorm1d", "input", "(N, 3)", "(4, 5)")
case("fastdl.nn.BatchNorm1d", lambda: nn.BatchNorm1d(0), ValueError, "BatchNorm1d", "num_features", "positive int", "0", "ctor")
case("fastdl.nn.LayerNorm", lambda: nn.LayerNorm(4)(T(2, 3)), ValueError, "layer_norm", "input", "normalized_shape (4,)", "(2, 3)")
case("fastdl.nn.LayerNorm", lambda: nn.LayerNorm(-1), ValueError, "LayerNorm", "normalized_shape", "positive", "-1", "ctor")
case("fastdl.nn.Dropout", lambda: nn.Dropout(2.0), ValueError, "Dropout", "p", "[0, 1]", "2.0")
case("fastdl.nn.MSELoss", lambda: nn.MSELoss(reduction="avg"), ValueError, "MSELoss", "reduction", "'mean'", "'avg'")
case("fastdl.nn.BCELoss", lambda: nn.BCELoss()(T(4), T(3)), ValueError, "binary_cross_entropy", "target", "(4,)", "(3,)")
case("fastdl.nn.BCEWithLogitsLoss", lambda: nn.BCEWithLogitsLoss(reduction="x"), ValueError, "BCEWithLogitsLoss", "reduction", "'mean'", "'x'")
case("fastdl.nn.CrossEntropyLoss", lambda: nn.CrossEntropyLoss(label_smoothing=2.0), ValueError, "CrossEntropyLoss", "label_smoothing", "[0, 1]", "2.0")
case("fastdl.nn.CrossEntropyLoss", lambda: nn.CrossEntropyLoss()(T(4, 3), np.array([0, 1, 2])), ValueError, "cross_entropy", "target", "(4,)", "(3,)", "forward")
case("fastdl.nn.MultiheadAttention", lambda: nn.MultiheadAttention(8, 3), ValueError, "MultiheadAttention", "num_heads", "divide embed_dim (8)", "3")
case("fastdl.nn.MultiheadAttention", lambda: nn.MultiheadAttention(8, 2)(T(2, 3, 7), T(2, 3, 8), T(2, 3, 8)), ValueError, "MultiheadAttention", "query", "(N, L, 8)", "(2, 3, 7)", "forward")
case("fastdl.nn.DotProductAttention", lambda: nn.DotProductAttention()(T(2, 3, 4), T(2, 3, 5)), ValueError, "dot_product_attention", "keys", "4", "5")
case("fastdl.nn.RNNCell", lambda: nn.RNNCell(3, 4)(T(2, 5)), ValueError, "RNNCell", "input", "(N, 3)", "(2, 5)")
case("fastdl.nn.RNN", lambda: nn.RNN(3, 4)(T(5, 2, 6)), ValueError, "RNN", "input", "(N, T, 3)", "(5, 2, 6)")
case("fastdl.nn.GRUCell", lambda: nn.GRUCell(3, 4)(T(2, 3), T(2, 5)), ValueError, "GRUCell", "hx", "(2, 4)", "(2, 5)")
case("fastdl.nn.GRU", lambda: nn.GRU(3, 0), ValueError, "GRU", "hidden_size", "positive int", "0")

# ------------------------------------------------------------------------- optim
case("fastdl.optim.Adam", lambda: optim.Adam([P(3)], lr=-1), ValueError, "Adam", "lr", ">= 0", "-1")
case("fastdl.optim.Adam", lambda: optim.Adam([P(3)], betas=(1.2, 0.9)), ValueError, "Adam", "betas", "[0, 1)", "1.2", "betas")
case("fastdl.optim.Adam", lambda: optim.Adam(3), TypeError, "Adam", "params", "iterable", "3", "params")
case("fastdl.optim.Adam", lambda: optim.Adam([]), ValueError, "Adam", "params", "at least one", "empty list", "empty")
case("fastdl.optim.Adam", lambda: optim.Adam([fastdl.tensor([1, 2])]), TypeError, "Adam", "params", "float32/float64", "int64", "dtype")
case("fastdl.optim.Adam", lambda: adam().load_state_dict({"x": 1}), ValueError, "load_state_dict", "state_dict", "'state' and 'param_groups'", "'x'", "lsd-keys")
case("fastdl.optim.Adam", lambda: adam().load_state_dict(optim.Adam([P(3), P(2)]).state_dict()), ValueError, "load_state_dict", "state_dict", "1 parameter(s)", "2", "lsd-count")
case("fastdl.optim.AdamW", lambda: optim.AdamW([P(3)], eps=-1e-8), ValueError, "AdamW", "eps", ">= 0", "-1e-08")
case("fastdl.optim.AdamW", lambda: optim.AdamW([P(3)], weight_decay=-0.1), ValueError, "AdamW", "weight_decay", ">= 0", "-0.1", "wd")
case("fastdl.optim.SGD", lambda: optim.SGD([P(3)], lr=0.1, momentum=-1), ValueError, "SGD", "momentum", ">= 0", "-1")
case("fastdl.optim.SGD", lambda: optim.SGD([P(3)], lr=0.1, nesterov=True), ValueError, "SGD", "nesterov", "momentum > 0", "0.0", "nesterov")
case("fastdl.optim.SGD", lambda: optim.SGD([P(3)], lr="x"), TypeError, "SGD", "lr", "number", "str", "lr-type")
case("fastdl.optim.Optimizer", lambda: optim.Optimizer([P(3)], {"lr": 0.1}).add_param_group([P(2)]), TypeError, "add_param_group", "param_group", "dict", "list")
case("fastdl.optim.lr_scheduler.StepLR", lambda: lr_scheduler.StepLR(adam(), 0), ValueError, "StepLR", "step_size", "positive int", "0")
case("fastdl.optim.lr_scheduler.CosineAnnealingLR", lambda: lr_scheduler.CosineAnnealingLR(adam(), T_max=0), ValueError, "CosineAnnealingLR", "T_max", "positive int", "0")
case("fastdl.optim.lr_scheduler.LRScheduler", lambda: lr_scheduler.LRScheduler(3), TypeError, "LRScheduler", "optimizer", "Optimizer", "3")

# ------------------------------------------------------------------------- data
case("fastdl.data.Dataset", lambda: data.Dataset()[0], NotImplementedError, "Dataset", "self", "__getitem__", "Dataset")
case("fastdl.data.TensorDataset", lambda: data.TensorDataset(A(3), A(4)), ValueError, "TensorDataset", "arrays[1]", "3 samples", "(4,)")
case("fastdl.data.Subset", lambda: data.Subset(data.TensorDataset(A(3)), [0, 5])[1], IndexError, "Subset", "indices", "[-3, 2]", "5")
case("fastdl.data.random_split", lambda: data.random_split(data.TensorDataset(A(3)), [2, 2]), ValueError, "random_split", "lengths", "length 3", "[2, 2]")
case("fastdl.data.DataLoader", lambda: data.DataLoader(data.TensorDataset(A(3)), batch_size=0), ValueError, "DataLoader", "batch_size", ">= 1", "0")
case("fastdl.data.DataLoader", lambda: data.DataLoader(5, batch_size=1), TypeError, "DataLoader", "dataset", "__getitem__", "5", "dataset")
case("fastdl.data.Standardizer", lambda: data.Standardizer().fit(A(3, 2)).transform(A(3, 3)), ValueError, "transform", "x", "(2,)", "(3, 3)")
case("fastdl.data.standardize", lambda: data.standardize(A(3, 2), A(3, 3)), ValueError, "transform", "x", "(2,)", "(3, 3)")

# ------------------------------------------------------------------------- train
case("fastdl.train.fit", lambda: train.fit(nn.Linear(3, 1), F.mse_loss, adam(), [], epochs=-1), ValueError, "fit", "epochs", ">= 0", "-1")
case("fastdl.train.evaluate", lambda: train.evaluate(nn.Linear(3, 1), F.mse_loss, 5), TypeError, "evaluate", "loader", "iterable", "5")
case("fastdl.train.EarlyStopping", lambda: train.EarlyStopping(patience=-1), ValueError, "EarlyStopping", "patience", ">= 0", "-1")
case("fastdl.train.accuracy", lambda: train.accuracy(A(3, 2), A(4)), ValueError, "accuracy", "target", "3 values", "(4,)")
case("fastdl.train.r2_score", lambda: train.r2_score(A(3), A(4)), ValueError, "r2_score", "target", "3 values", "(4,)")
case("fastdl.train.mse", lambda: train.mse(A(3), A(4)), ValueError, "mse", "target", "3 values", "(4,)")

# fmt: on


# ------------------------------------------------------------------------- the enumeration

# Entry points that take nothing a caller could get wrong (or only a Tensor that is already
# valid, for elementwise math defined on every numeric dtype).
NO_ARGUMENTS = {
    "fastdl.config",
    "fastdl.show_config",
    "fastdl.get_num_threads",
    "fastdl.empty_cache",
    "fastdl.memory_stats",
    "fastdl.get_generator",
    "fastdl.is_grad_enabled",
    "fastdl.no_grad",
    "fastdl.enable_grad",
    "fastdl.datasets.load_breast_cancer",
    "fastdl.datasets.load_diabetes",
    "fastdl.datasets.load_digits",
    "Tensor.abs",
    "Tensor.__abs__",
    "Tensor.__pos__",
    "Tensor.exp",
    "Tensor.log",
    "Tensor.log1p",
    "Tensor.expm1",
    "Tensor.sqrt",
    "Tensor.sin",
    "Tensor.cos",
    "Tensor.clone",
    "Tensor.detach",
    "Tensor.dim",
    "Tensor.numel",
    "Tensor.numpy",
    "Tensor.tolist",
    "Tensor.float",
    "Tensor.double",
    "Tensor.__iter__",
    "Tensor.__repr__",
    "Tensor.__str__",
    "Tensor.__format__",
    "Tensor.__hash__",
    "Tensor.__getstate__",
    "Tensor.__setstate__",
    "Tensor.__array_ufunc__",
    "Tensor.__array_function__",  # NumPy's protocols: tested in test_interop
    "fastdl.nn.Identity",  # takes and returns anything
}

# Cases whose message still lacks one of the four parts: each is a strict xfail, so fixing
# one fails the run until it leaves this set, and the cap keeps the set from growing.
KNOWN_BAD: set[str] = set()
KNOWN_BAD_CAP = 0

# Public entry points without a case yet: this set may only shrink (see the cap below).
NOT_YET_COVERED: set[str] = set()
NOT_YET_COVERED_CAP = 0


def _public_functions(mod, prefix):
    out = set()
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            continue
        out.add(f"{prefix}.{name}")
    return out


TENSOR_OPERATORS = [
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__iadd__", "__isub__",
    "__imul__", "__itruediv__", "__neg__", "__pos__", "__abs__", "__getitem__", "__setitem__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__or__",
    "__invert__", "__bool__", "__float__", "__int__", "__index__", "__len__", "__iter__",
    "__array__", "__array_ufunc__", "__array_function__", "__repr__", "__str__", "__format__",
    "__hash__", "__getstate__", "__setstate__",
]  # fmt: skip


def public_entry_points() -> set[str]:
    pts = _public_functions(fastdl, "fastdl")
    pts |= _public_functions(ops, "fastdl.ops")
    pts |= _public_functions(F, "fastdl.nn.functional")
    pts |= _public_functions(init, "fastdl.nn.init")
    pts |= _public_functions(utils, "fastdl.nn.utils")
    pts |= _public_functions(nn, "fastdl.nn")
    pts -= {"fastdl.nn.IncompatibleKeys"}  # a result type, not an entry point
    pts |= _public_functions(optim, "fastdl.optim")
    pts |= _public_functions(lr_scheduler, "fastdl.optim.lr_scheduler")
    pts |= _public_functions(data, "fastdl.data")
    pts |= _public_functions(train, "fastdl.train")
    pts |= _public_functions(fastdl.datasets, "fastdl.datasets")
    for name, obj in vars(Tensor).items():
        if name.startswith("_") or isinstance(obj, property) or not callable(obj):
            continue
        pts.add(f"Tensor.{name}")
    pts |= {f"Tensor.{n}" for n in TENSOR_OPERATORS}
    return pts


def test_every_public_entry_point_has_a_case():
    public = public_entry_points()
    covered = {c.entry for c in CASES}
    missing = public - covered - NO_ARGUMENTS - NOT_YET_COVERED
    assert not missing, f"public entry points without an error-message case: {sorted(missing)}"
    stale = (covered | NO_ARGUMENTS | NOT_YET_COVERED) - public
    assert not stale, f"cases or exemptions for names that are not public: {sorted(stale)}"
    assert not (NOT_YET_COVERED & covered), "covered now: remove from NOT_YET_COVERED"
    assert len(NOT_YET_COVERED) <= NOT_YET_COVERED_CAP


def _ids():
    seen: dict[str, int] = {}
    out = []
    for c in CASES:
        k = c.entry + (f"-{c.id}" if c.id else "")
        seen[k] = seen.get(k, 0) + 1
        out.append(k if seen[k] == 1 else f"{k}-{seen[k]}")
    return out


def test_known_bad_only_shrinks():
    assert len(KNOWN_BAD) <= KNOWN_BAD_CAP
    assert KNOWN_BAD <= set(_ids()), sorted(KNOWN_BAD - set(_ids()))


def _params():
    out = []
    for c, i in zip(CASES, _ids()):
        marks = [pytest.mark.xfail(strict=True, reason="message not fixed yet")]
        out.append(pytest.param(c, id=i, marks=marks if i in KNOWN_BAD else []))
    return out


@pytest.mark.parametrize("c", _params())
def test_message_names_function_argument_expected_and_actual(c: Case):
    with pytest.raises(Exception) as info:
        c.call()
    e = info.value
    assert isinstance(e, c.exc), f"{type(e).__name__} (expected {c.exc.__name__}): {e}"
    msg = str(e)
    if isinstance(e, KeyError) and e.args:
        msg = str(e.args[0])
    assert f"{c.fn}(" in msg or f"{c.fn}:" in msg or f"{c.fn}." in msg, f"function {c.fn!r}: {msg}"
    assert f"'{c.arg}'" in msg, f"argument '{c.arg}': {msg}"
    assert c.expected in msg, f"expected value {c.expected!r}: {msg}"
    assert c.actual in msg, f"actual value {c.actual!r}: {msg}"
