"""``fastdl.Tensor``: an ndarray that records the ops applied to it, and its differentiable ops.

Primitive ops compute their value with NumPy or ``fastdl.ops`` and attach a node from
``_primitives`` (which owns every gradient formula); the other ops are compositions of
primitives. Nothing here calls the compiled ``_core`` directly.

Each op is on the hot path of a training step: one NumPy call, one grad-mode check and, only
when a gradient is needed, one node. Results follow NumPy's dtype promotion (a Python scalar
does not upcast a float32 tensor).
"""

from __future__ import annotations

import builtins
import numbers
import operator
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import _primitives as P
from . import autograd as _ag
from . import ops
from .autograd import _GradMode
from .ops._checks import arg_error, describe
from .ops.activation import FORWARD_IF_READY as _IF_READY

__all__ = [
    "Tensor",
    "tensor",
    "from_numpy",
    "matmul",
    "linear",
    "concatenate",
    "stack",
    "where",
    "maximum",
    "minimum",
    "clip",
    "exp",
    "log",
    "sqrt",
    "abs",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "logsumexp",
]

_ndarray = np.ndarray
_asarray = np.asarray
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_AxisError = getattr(np, "exceptions", np).AxisError
# What NumPy raises for input it cannot take (ZeroDivisionError, OverflowError: object operands
# and out-of-range Python ints); re-raised by _named. FloatingPointError (np.errstate
# "raise") is the caller's request and passes through.
_NP_ERRORS = (TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError)
_OBJECT = np.dtype(object)
AxisLike = Union[None, int, Sequence[int]]


class Tensor:
    """An ndarray plus autograd: ``data`` (np.ndarray), ``grad``, ``requires_grad``.

    ``Tensor(a)`` wraps an ndarray without copying (like :func:`from_numpy`); other data are
    converted as in :func:`tensor`.

    Example:
        >>> import numpy as np, fastdl
        >>> x = fastdl.Tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
        >>> y = (x * x).sum()
        >>> y.backward()
        >>> x.grad
        tensor([ 2., -4.])
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_oi", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = _to_array(data, dtype, False, "Tensor")
        self.grad: Optional[Tensor] = None
        self._ctx = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # --- basics ------------------------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements (NumPy's meaning)."""
        return self.data.size

    @property
    def T(self) -> Tensor:
        return self.transpose()

    @property
    def grad_fn(self) -> Any:
        """The node that made this tensor (None for leaves and untracked results)."""
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared memory, no copy)."""
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        try:
            return self.data.item()
        except ValueError:
            raise _one_element("item", self, ValueError) from None

    def tolist(self) -> Any:
        return self.data.tolist()

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf as needing a gradient (float32/float64 only); returns self."""
        if requires_grad and self.data.dtype not in _FLOATS:
            raise arg_error(
                "requires_grad_", "self", "be float32/float64 to require gradients",
                f"dtype {self.data.dtype}", TypeError,
            )  # fmt: skip
        if not requires_grad and self._ctx is not None:
            raise RuntimeError(
                "requires_grad_(False): only leaves can stop requiring grad; use .detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, outside the graph."""
        return _make(self.data, None)

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate gradients of this tensor into every leaf that requires grad.

        Example:
            >>> import fastdl
            >>> x = fastdl.tensor([3.0], requires_grad=True)
            >>> (x ** 2).sum().backward()
            >>> x.grad
            tensor([6.])
        """
        _ag.backward(self, gradient, retain_graph)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != np.float32 and self.data.dtype.kind == "f" or self.data.size == 0:
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={self._ctx!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __str__(self) -> str:
        return self.__repr__()

    def __len__(self) -> int:
        if not self.data.ndim:
            raise arg_error("Tensor.__len__", "self", "be at least 1-d", "shape ()", TypeError)
        return len(self.data)

    def __iter__(self):
        for i in range(len(self.data)):
            yield self[i]

    def __bool__(self) -> bool:
        try:
            return bool(self.data)
        except ValueError:
            raise _one_element("Tensor.__bool__", self, ValueError) from None

    def __float__(self) -> float:
        try:
            return float(self.data)
        except TypeError:
            raise _one_element("Tensor.__float__", self, TypeError) from None

    def __int__(self) -> int:
        try:
            return int(self.data)
        except TypeError:
            raise _one_element("Tensor.__int__", self, TypeError) from None

    def __index__(self) -> int:
        try:
            return self.data.__index__()
        except TypeError:
            raise arg_error(
                "Tensor.__index__", "self", "be a one-element integer tensor", describe(self),
                TypeError,
            ) from None  # fmt: skip

    def __format__(self, spec: str) -> str:
        if self.data.ndim == 0:
            return format(self.data.item(), spec)
        return format(str(self), spec)

    __hash__ = object.__hash__

    def __getstate__(self) -> dict:
        return {"data": self.data, "requires_grad": self.requires_grad}

    def __setstate__(self, state: dict) -> None:
        self.data = state["data"]
        self.grad = None
        self._ctx = None
        self.requires_grad = state["requires_grad"]

    # --- arithmetic (primitives) -------------------------------------------------------

    # __add__, __radd__, __sub__, __rsub__, __mul__, __rmul__: see _binop below.

    def __truediv__(self, other: Any) -> Tensor:
        return divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return divide(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return power(other, self)

    # __matmul__ is matmul() itself (one frame), assigned below.

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    def __neg__(self) -> Tensor:
        try:
            d = -self.data
        except _NP_ERRORS as e:
            _named(e, "negative", ("self", self))
        if self.requires_grad and _GradMode.enabled:
            return _make(d, P.Neg((self,)))
        return _make(d, None)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return abs(self)

    # In-place updates write into .data when no graph is being recorded (the optimizer's
    # ``with no_grad(): p -= lr * p.grad``); inside a recorded graph they are out-of-place.
    def _inplace(self, fn: Any, other: Any, method: str) -> Tensor:
        od = other.data if isinstance(other, Tensor) else other
        if _GradMode.enabled and (
            self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
        ):
            return getattr(self, method)(other)
        try:
            fn(self.data, od, out=self.data, casting="same_kind")
        except _NP_ERRORS as e:
            _named(e, fn.__name__, ("self", self), ("other", other))
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(np.add, other, "__add__")

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(np.subtract, other, "__sub__")

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(np.multiply, other, "__mul__")

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace(np.true_divide, other, "__truediv__")

    # Comparisons give bool tensors (no gradient).
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        try:
            return _make(self.data == _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "equal", ("self", self), ("other", other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        try:
            return _make(self.data != _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "not_equal", ("self", self), ("other", other))

    def __lt__(self, other: Any) -> Tensor:
        try:
            return _make(self.data < _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "less", ("self", self), ("other", other))

    def __le__(self, other: Any) -> Tensor:
        try:
            return _make(self.data <= _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "less_equal", ("self", self), ("other", other))

    def __gt__(self, other: Any) -> Tensor:
        try:
            return _make(self.data > _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "greater", ("self", self), ("other", other))

    def __ge__(self, other: Any) -> Tensor:
        try:
            return _make(self.data >= _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "greater_equal", ("self", self), ("other", other))

    def __invert__(self) -> Tensor:
        try:
            return _make(~self.data, None)
        except _NP_ERRORS as e:
            _named(e, "invert", ("self", self))

    def __and__(self, other: Any) -> Tensor:
        try:
            return _make(self.data & _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "bitwise_and", ("self", self), ("other", other))

    def __or__(self, other: Any) -> Tensor:
        try:
            return _make(self.data | _data(other), None)
        except _NP_ERRORS as e:
            _named(e, "bitwise_or", ("self", self), ("other", other))

    # --- unary math ----------------------------------------------------------------------

    # exp, log, sqrt, abs, relu, sigmoid, tanh: see _unary below.

    def softmax(self, axis: int = -1) -> Tensor:
        return softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return log_softmax(self, axis)

    def logsumexp(self, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
        return logsumexp(self, axis, keepdims)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:
        return clip(self, min, max)

    clamp = clip

    def maximum(self, other: Any) -> Tensor:
        return maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return minimum(self, other)

    def astype(self, dtype: Any, copy: bool = True) -> Tensor:
        """Cast (differentiable between float dtypes)."""
        dt = _dtype(dtype, "astype")
        if dt == self.data.dtype and not copy:
            return self
        d = self.data.astype(dt)
        if self.requires_grad and _GradMode.enabled and dt in _FLOATS:
            return _make(d, P.Cast((self,)))
        return _make(d, None)

    def float(self) -> Tensor:
        return self.astype(np.float32, copy=False)

    def double(self) -> Tensor:
        return self.astype(np.float64, copy=False)

    def to(self, dtype: Any) -> Tensor:
        """PyTorch's spelling of a cast: ``astype(dtype, copy=False)`` (CPU is the only device).

        Example:
            >>> import fastdl
            >>> fastdl.tensor([1.0]).to("float64").dtype
            dtype('float64')
        """
        return self.astype(dtype, copy=False)

    # --- PyTorch conveniences ------------------------------------------------------------

    def numel(self) -> int:
        """Number of elements (PyTorch's name for ``size``).

        Example:
            >>> import fastdl
            >>> fastdl.zeros(2, 3).numel()
            6
        """
        return self.data.size

    def dim(self) -> int:
        """Number of dimensions (PyTorch's name for ``ndim``).

        Example:
            >>> import fastdl
            >>> fastdl.zeros(2, 3).dim()
            2
        """
        return self.data.ndim

    def clone(self) -> Tensor:
        """A copy with its own memory; gradients flow back to ``self``.

        Example:
            >>> import fastdl
            >>> a = fastdl.ones(2)
            >>> b = a.clone()
            >>> b += 1
            >>> a.tolist(), b.tolist()
            ([1.0, 1.0], [2.0, 2.0])
        """
        return self.astype(self.data.dtype, copy=True)

    def all(self, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
        """Whether every element (along ``axis``) is nonzero: a bool tensor, no gradient.

        Example:
            >>> import fastdl
            >>> bool((fastdl.ones(3) > 0).all())
            True
        """
        try:
            return _make(np.all(self.data, axis=axis, keepdims=keepdims), None)
        except _NP_ERRORS as e:
            _named(e, "all", ("self", self), ("axis", axis))

    def any(self, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
        """Whether any element (along ``axis``) is nonzero: a bool tensor, no gradient.

        Example:
            >>> import fastdl
            >>> bool((fastdl.zeros(3) > 0).any())
            False
        """
        try:
            return _make(np.any(self.data, axis=axis, keepdims=keepdims), None)
        except _NP_ERRORS as e:
            _named(e, "any", ("self", self), ("axis", axis))

    def _check_writable(self, method: str) -> None:
        if _GradMode.enabled and self.requires_grad:
            raise arg_error(
                f"Tensor.{method}",
                "self",
                "not require grad for an in-place update (do it under fastdl.no_grad(), as "
                "optimizers do, or on a detached tensor)",
                "a tensor that requires grad",
                RuntimeError,
            )

    def zero_(self) -> Tensor:
        """Set every element to zero in place; returns ``self``.

        Example:
            >>> import fastdl
            >>> fastdl.ones(2).zero_().tolist()
            [0.0, 0.0]
        """
        self._check_writable("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value`` in place; returns ``self``.

        Example:
            >>> import fastdl
            >>> fastdl.zeros(2).fill_(3).tolist()
            [3.0, 3.0]
        """
        self._check_writable("fill_")
        v = _data(value)
        if np.ndim(v) != 0:
            raise ValueError(
                f"Tensor.fill_: argument 'value' must be a scalar, got shape {np.shape(v)}"
            )
        self.data[...] = v
        return self

    # --- reductions --------------------------------------------------------------------

    def sum(self, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes when None); negative axes count from the end."""
        axes = _norm_axes(axis, self.data.ndim, "sum")
        try:
            d = self.data.sum(axis=axes, keepdims=keepdims)  # the method: no fromnumeric wrapper
        except _NP_ERRORS as e:
            _named(e, "sum", ("self", self), ("axis", axis))
        if self.requires_grad and _GradMode.enabled:
            return _make(d, P.Sum((self,), (axes, keepdims)))
        return _make(d, None)

    def mean(self, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
        axes = _norm_axes(axis, self.data.ndim, "mean")
        n = _count(self.data.shape, axes)
        if self.data.dtype == np.float16:  # as NumPy: accumulated in float32, float16 result
            return self.astype(np.float32).mean(axes, keepdims).astype(np.float16)
        s = self.sum(axes, keepdims)
        if s.data.dtype.kind in "biu":  # ints and bools: a float64 mean, as NumPy
            s = s.astype(np.float64)
        return s / n

    def max(self, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
        return self._extremum(axis, keepdims, "max")

    def min(self, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
        # Not -max(-x): negation wraps unsigned and minimal ints, and fails on bools.
        return self._extremum(axis, keepdims, "min")

    def _extremum(self, axis: AxisLike, keepdims: bool, fn: str) -> Tensor:
        axes = _norm_axes(axis, self.data.ndim, fn)
        x = self.data
        try:
            outk = getattr(x, fn)(axis=axes, keepdims=True)
        except _NP_ERRORS as e:
            if "zero-size" in str(e):
                raise arg_error(
                    fn, "self", "have at least one element along the reduced axes",
                    f"shape {x.shape} reduced over axis {axis}",
                ) from None  # fmt: skip
            _named(e, fn, ("self", self), ("axis", axis))
        d = outk if keepdims else outk.reshape(_reduced_shape(x.shape, axes))
        if self.requires_grad and _GradMode.enabled:
            return _make(d, P.Max((self,), (x, outk, axes, keepdims)))
        return _make(d, None)

    def var(self, axis: AxisLike = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        axes = _norm_axes(axis, self.data.ndim, "var")
        n = _count(self.data.shape, axes)
        if self.data.dtype == np.float16:  # as mean: float32 inside, float16 result
            return self.astype(np.float32).var(axes, keepdims, ddof).astype(np.float16)
        try:
            c = self - self.mean(axes, keepdims=True)
            sq = c * c if c.data.dtype.kind != "c" else abs(c) * abs(c)  # complex: |c|^2
            return sq.sum(axes, keepdims) / builtins.max(n - ddof, 0)
        except _NP_ERRORS as e:
            _named(e, "var", ("self", self), ("ddof", ddof))

    def std(self, axis: AxisLike = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        try:
            return self.var(axis, keepdims, ddof).sqrt()
        except _NP_ERRORS as e:
            _named(e, "std", ("self", self), ("ddof", ddof))

    def argmax(self, axis: Optional[int] = None, keepdims: bool = False) -> Tensor:
        try:
            return _make(np.argmax(self.data, axis=axis, keepdims=keepdims), None)
        except _NP_ERRORS as e:
            _named(e, "argmax", ("self", self), ("axis", axis))

    def argmin(self, axis: Optional[int] = None, keepdims: bool = False) -> Tensor:
        try:
            return _make(np.argmin(self.data, axis=axis, keepdims=keepdims), None)
        except _NP_ERRORS as e:
            _named(e, "argmin", ("self", self), ("axis", axis))

    # --- shapes -----------------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        try:
            if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
                shape = shape[0]  # one sequence (None: unchanged, as NumPy), not varargs
            d = self.data.reshape(shape)
        except _NP_ERRORS as e:
            if isinstance(e, ValueError) and "cannot reshape" in str(e):
                raise arg_error(
                    "reshape",
                    "shape",
                    f"keep the tensor's {self.data.size} elements (it has shape {self.shape})",
                    f"{shape}",
                ) from None
            _named(e, "reshape", ("self", self), ("shape", shape))
        if self.requires_grad and _GradMode.enabled:
            return _make(d, P.Reshape((self,)))
        return _make(d, None)

    view = reshape

    def flatten(self) -> Tensor:
        return self.reshape(-1)

    ravel = flatten

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes (reverse them when none are given), as ndarray.transpose."""
        nd = self.data.ndim
        try:
            if not axes:  # t.transpose()
                axes = None
            elif len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], numbers.Integral)):
                axes = axes[0]  # one sequence (or None), not varargs
            if axes is None:
                axes = tuple(range(nd - 1, -1, -1))
            else:  # a permutation: distinct axes, in range, one per dimension
                axes = _norm_axes(tuple(axes), nd, "transpose", "axes")
                if len(axes) != nd:
                    raise arg_error("transpose", "axes", f"hold {nd} axes, one per dimension", axes)
            d = self.data.transpose(axes)
        except _NP_ERRORS as e:
            _named(e, "transpose", ("self", self), ("axes", axes))
        if self.requires_grad and _GradMode.enabled:
            return _make(d, P.Transpose((self,), axes))
        return _make(d, None)

    def permute(self, *axes: Any) -> Tensor:
        return self.transpose(*axes)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        nd = self.data.ndim
        perm = list(range(nd))
        a = _one_axis(axis1, nd, "swapaxes", "axis1")
        b = _one_axis(axis2, nd, "swapaxes", "axis2")
        perm[a], perm[b] = perm[b], perm[a]
        return self.transpose(perm)

    def expand_dims(self, axis: AxisLike) -> Tensor:
        try:
            shape = np.expand_dims(self.data, axis).shape
        except _NP_ERRORS as e:
            _named(e, "expand_dims", ("self", self), ("axis", axis))
        return self.reshape(shape)

    unsqueeze = expand_dims

    def squeeze(self, axis: AxisLike = None) -> Tensor:
        try:
            shape = np.squeeze(self.data, axis).shape
        except _NP_ERRORS as e:
            if type(e) is ValueError:  # an axis of size > 1 (out-of-range axes: AxisError)
                sizes = [self.data.shape[a] for a in _norm_axes(axis, self.data.ndim, "squeeze")]
                raise arg_error(
                    "squeeze", "axis", f"select dimensions of size 1 of shape {self.shape}",
                    f"{axis} (size {', '.join(map(str, sizes))})",
                ) from None  # fmt: skip
            _named(e, "squeeze", ("self", self), ("axis", axis))
        return self.reshape(shape)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        try:
            d = np.broadcast_to(self.data, shape)
        except _NP_ERRORS as e:
            if isinstance(e, ValueError) and "broadcast" in str(e):
                raise arg_error(
                    "broadcast_to", "shape", f"be a shape that {self.shape} broadcasts to", shape
                ) from None
            _named(e, "broadcast_to", ("self", self), ("shape", shape))
        if self.requires_grad and _GradMode.enabled:
            return _make(d, P.BroadcastTo((self,)))
        return _make(d, None)

    def expand(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = shape[0]  # one sequence, not varargs
        return self.broadcast_to(shape)

    def __getitem__(self, idx: Any) -> Tensor:
        try:
            idx, scatter = _norm_index(idx)
            d = self.data[idx]
        except _NP_ERRORS as e:
            _named(e, "Tensor.__getitem__", ("self", self), ("index", idx))
        if self.requires_grad and _GradMode.enabled:
            return _make(d, P.GetItem((self,), (idx, scatter)))
        return _make(d, None)

    def __setitem__(self, idx: Any, value: Any) -> None:
        if _GradMode.enabled and (
            self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
        ):
            raise arg_error(
                "Tensor.__setitem__",
                "self",
                "not take part in autograd for an in-place assignment (build the result with "
                "where()/concatenate(), or assign under fastdl.no_grad())",
                "a tensor that requires grad" if self.requires_grad else "a value that does",
                RuntimeError,
            )
        try:
            idx, _ = _norm_index(idx)
            self.data[idx] = _data(value)
        except _NP_ERRORS as e:
            _named(e, "Tensor.__setitem__", ("self", self), ("index", idx), ("value", value))

    # --- NumPy protocols -------------------------------------------------------------

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        d = self.data
        if dtype is not None and np.dtype(dtype) != d.dtype:
            if copy is False:
                raise arg_error(
                    "Tensor.__array__", "copy", f"allow the copy that changes {d.dtype} to "
                    f"{np.dtype(dtype)}", "False",
                )  # fmt: skip
            return d.astype(dtype)
        return d.copy() if copy else d

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _interop.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return _interop.array_function(func, types, args, kwargs)


_new = object.__new__
_MatMul = P.MatMul
_F32, _F64 = _FLOATS
_ops_matmul = ops.matmul
_ops_linear = ops.linear
_Linear = P.Linear


def _make(d: Any, ctx: Any) -> Tensor:
    """A result Tensor: ``d`` (made an ndarray if NumPy gave a scalar) and its node or None.

    An object result (NumPy computes with an operand holding Python objects) is refused here,
    the one place every op's result passes; the hottest ops name their argument themselves.
    """
    t = _new(Tensor)
    t.data = d if type(d) is _ndarray else _asarray(d)
    if t.data.dtype is _OBJECT:  # the callers' _named puts their op's name in front
        raise TypeError(
            f"a Tensor holds numbers, but an operand held Python objects: the result would be "
            f"{describe(t.data)}"
        )
    t.grad = None
    t._ctx = ctx
    t.requires_grad = ctx is not None
    return t


_ag._wrap = _make  # the engine wraps gradients and Function outputs with ``_wrap(a, None)``
_ag._tensor_type = Tensor


# The hottest ops are generated from one template each, so every call is a single Python
# frame: one NumPy call, a grad-mode check, a node only when a gradient is needed, and the
# result built inline (no helper calls).


def _numbers(d: Any, fn: str, *args: tuple) -> _ndarray:
    """``d``, the result of op ``fn`` on ``args`` (``(name, value)`` pairs), as an ndarray; an
    object result is refused (see _refuse_object), naming the first operand not a Tensor."""
    if type(d) is not _ndarray:
        d = _asarray(d)
    if d.dtype is _OBJECT:
        _refuse_object(fn, *next((a for a in args if not isinstance(a[1], Tensor)), args[0]))
    return d


def _refuse_object(fn: str, arg: str, value: Any) -> None:
    """NumPy computes with an operand holding Python objects; a Tensor holds numbers (as in
    PyTorch), so op ``fn`` refuses it, naming the operand (argument ``arg``)."""
    raise arg_error(
        fn, arg, "be a Tensor, array or number holding numbers", describe(value), TypeError
    )


def _binop(cls: Any, op: Any, save: bool, name: str, ufname: str) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        sd = self.data
        if isinstance(other, Tensor):
            od = other.data
            try:
                d = op(sd, od)
            except _NP_ERRORS as e:
                _named(e, ufname, ("self", self), ("other", other))
            sr = self.requires_grad
            orq = other.requires_grad
            if (sr or orq) and _GradMode.enabled:
                ctx = _new(cls)  # no __init__ frame: slots set here
                ctx.parents = (self if sr else None, other if orq else None)
                ctx.saved = (sd, od) if save else None
            else:
                ctx = None
        else:
            try:
                d = op(sd, other)
            except _NP_ERRORS as e:
                _named(e, ufname, ("self", self), ("other", other))
            if type(d) is not _ndarray:
                d = _asarray(d)
            if d.dtype is _OBJECT:  # an object operand: NumPy computes, a Tensor holds numbers
                _refuse_object(ufname, "other", other)
            if self.requires_grad and _GradMode.enabled:
                ctx = _new(cls)
                ctx.parents = (self, None)
                ctx.saved = (sd, other) if save else None
            else:
                ctx = None
        t = _new(Tensor)
        t.data = d if type(d) is _ndarray else _asarray(d)
        t.grad = None
        t._ctx = ctx
        t.requires_grad = ctx is not None
        return t

    method.__name__ = method.__qualname__ = name
    return method


def _rbinop(cls: Any, op: Any, save: bool, name: str, ufname: str) -> Any:
    # ``other OP self`` with ``other`` not a Tensor (else its own method ran first), except a
    # Tensor subclass on the right (Python tries the subclass's reflected method first).
    def method(self: Tensor, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return getattr(other, name.replace("__r", "__", 1))(self)
        sd = self.data
        try:
            d = op(other, sd)
        except _NP_ERRORS as e:
            _named(e, ufname, ("other", other), ("self", self))
        if type(d) is not _ndarray:
            d = _asarray(d)
        if d.dtype is _OBJECT:
            _refuse_object(ufname, "other", other)
        if self.requires_grad and _GradMode.enabled:
            ctx = _new(cls)
            ctx.parents = (None, self)
            ctx.saved = (other, sd) if save else None
        else:
            ctx = None
        t = _new(Tensor)
        t.data = d if type(d) is _ndarray else _asarray(d)
        t.grad = None
        t._ctx = ctx
        t.requires_grad = ctx is not None
        return t

    method.__name__ = method.__qualname__ = name
    return method


def _unary(cls: Any, fast: Any, general: Any, save_out: bool, name: str) -> Any:
    # ``fast(data)``, or ``general(data)`` when ``fast`` declines with None (a kernel entry
    # that takes only C-contiguous float arrays; NumPy's ufuncs never decline).
    def method(self: Tensor) -> Tensor:
        sd = self.data
        try:
            d = fast(sd)
            if d is None:
                d = general(sd)
        except _NP_ERRORS as e:
            _named(e, name, ("self", self))
        if self.requires_grad and _GradMode.enabled:
            ctx = _new(cls)
            ctx.parents = (self,)
            ctx.saved = d if save_out else sd
        else:
            ctx = None
        t = _new(Tensor)
        t.data = d if type(d) is _ndarray else _asarray(d)
        t.grad = None
        t._ctx = ctx
        t.requires_grad = ctx is not None
        return t

    method.__name__ = method.__qualname__ = name
    return method


def _free_unary(name: str, doc: str, arg: str, want: str, via: str = "fastdl") -> Any:
    # fastdl.exp(x) and the like: the Tensor method on x, made a Tensor view if it is not one.
    # ``via``: the namespace the docstring's example calls it from (np for those fastdl does
    # not export, reached through NumPy's ufuncs).
    method = getattr(Tensor, name)
    doc = f"""{doc}

    Example:
        >>> import numpy as np, fastdl
        >>> {via}.{name}(fastdl.tensor({arg}))
        {want}
    """

    def fn(x: Any) -> Tensor:
        return method(x if isinstance(x, Tensor) else _checked_tensor(x, name))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


for _name, _ufname, _cls, _op, _save in (
    ("add", "add", P.Add, operator.add, False),
    ("sub", "subtract", P.Sub, operator.sub, False),
    ("mul", "multiply", P.Mul, operator.mul, True),
):
    setattr(Tensor, f"__{_name}__", _binop(_cls, _op, _save, f"__{_name}__", _ufname))
    setattr(Tensor, f"__r{_name}__", _rbinop(_cls, _op, _save, f"__r{_name}__", _ufname))

# name, node, fast function, general function (when the fast one returns None: NumPy's are
# their own), whether backward needs the output (else the input).
for _name, _cls, _fast, _general, _save_out in (
    ("exp", P.Exp, np.exp, np.exp, True),
    ("log", P.Log, np.log, np.log, False),
    ("log1p", P.Log1p, np.log1p, np.log1p, False),
    ("expm1", P.Expm1, np.expm1, np.expm1, True),
    ("sqrt", P.Sqrt, np.sqrt, np.sqrt, True),
    ("abs", P.Abs, np.abs, np.abs, False),
    ("sin", P.Sin, np.sin, np.sin, False),
    ("cos", P.Cos, np.cos, np.cos, False),
    ("relu", P.Relu, _IF_READY["relu"], P.relu, True),
    ("sigmoid", P.Sigmoid, _IF_READY["sigmoid"], ops.sigmoid, True),
    ("tanh", P.Tanh, _IF_READY["tanh"], ops.tanh, True),
):
    setattr(Tensor, _name, _unary(_cls, _fast, _general, _save_out, _name))

exp = _free_unary("exp", "e**x elementwise.", "[0.0]", "tensor([1.])")
log = _free_unary("log", "Natural logarithm elementwise.", "[1.0]", "tensor([0.])")
log1p = _free_unary("log1p", "log(1 + x), accurate for small x.", "[0.0]", "tensor([0.])", "np")
expm1 = _free_unary("expm1", "exp(x) - 1, accurate for small x.", "[0.0]", "tensor([0.])", "np")
sqrt = _free_unary("sqrt", "Square root elementwise.", "[4.0]", "tensor([2.])")
abs = _free_unary(
    "abs", "|x| elementwise (gradient sign(x), 0 at 0).", "[-2.0]", "tensor([2.])", "np"
)
sin = _free_unary("sin", "Sine elementwise.", "[0.0]", "tensor([0.])", "np")
cos = _free_unary("cos", "Cosine elementwise.", "[0.0]", "tensor([1.])", "np")
relu = _free_unary("relu", "max(x, 0) on the activation kernel.", "[-1.0, 2.0]", "tensor([0., 2.])")
sigmoid = _free_unary(
    "sigmoid", "1 / (1 + exp(-x)) on the activation kernel.", "[0.0]", "tensor([0.5])"
)
tanh = _free_unary("tanh", "Hyperbolic tangent on the activation kernel.", "[0.0]", "tensor([0.])")


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _to_array(data: Any, dtype: Any, copy: bool, fn: str, arg: str = "data") -> np.ndarray:
    """``data`` as an ndarray of numbers; object, string, bytes, void and datetime data are a
    TypeError, as in PyTorch (complex is kept: NumPy's elementwise math works on it)."""
    if type(data) is _ndarray and dtype is None and not copy and data.dtype.kind in "biufc":
        return data  # Tensor(ndarray): the common case, no np.asarray call
    dt = None if dtype is None else _dtype(dtype, fn)
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        if dt is None:
            a = np.array(data, copy=True) if copy else np.asarray(data)
        else:
            a = np.array(data, dtype=dt, copy=True) if copy else np.asarray(data, dtype=dt)
    else:
        try:
            a = np.array(data, dtype=dt)
        except (ValueError, TypeError, OverflowError) as e:
            raise arg_error(
                fn, arg, "be a number or a rectangular nested sequence of numbers",
                f"{describe(data)} ({e})", ValueError if isinstance(e, ValueError) else TypeError,
            ) from None  # fmt: skip
        if dt is None:  # Python floats and complex: float32 and complex64, as PyTorch
            if a.dtype is _F64:
                return a.astype(np.float32)
            if a.dtype == np.complex128:
                return a.astype(np.complex64)
    if a.dtype.kind not in "biufc":
        raise arg_error(
            fn, arg, "hold numbers (bool, int, float or complex)", f"dtype {a.dtype}", TypeError
        )
    return a


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a copy of ``data``.

    Python floats (and lists of them) become float32, Python ints int64, bools bool, as in
    PyTorch; ndarrays keep their dtype. ``dtype`` overrides.

    Example:
        >>> import fastdl
        >>> fastdl.tensor([1.0, 2.0]).dtype
        dtype('float32')
    """
    if isinstance(data, Tensor):
        data = data.data
    t = Tensor(_to_array(data, dtype, True, "tensor"))
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(a: np.ndarray) -> Tensor:
    """A Tensor sharing ``a``'s memory (writes to either are seen by both).

    Example:
        >>> import numpy as np, fastdl
        >>> a = np.zeros(2); t = fastdl.from_numpy(a); a[0] = 5
        >>> t
        tensor([5., 0.], dtype=float64)
    """
    if not isinstance(a, np.ndarray):
        raise arg_error("from_numpy", "a", "be a numpy.ndarray", type(a).__name__, TypeError)
    return Tensor(_to_array(a, None, False, "from_numpy", "a"))


# --- op helpers ---------------------------------------------------------------------------


def _binary(cls: Any, fn: Any, a: Any, b: Any, save: bool) -> Tensor:
    if isinstance(a, Tensor):
        ad = a.data
        ar = a.requires_grad
    else:
        ad = a
        ar = False
    if isinstance(b, Tensor):
        bd = b.data
        br = b.requires_grad
    else:
        bd = b
        br = False
    try:
        d = fn(ad, bd)
    except _NP_ERRORS as e:
        _named(e, fn.__name__, ("a", a), ("b", b))
    d = _numbers(d, fn.__name__, ("a", a), ("b", b))
    if (ar or br) and _GradMode.enabled:
        if save:  # the operands as arrays: scalars and lists become arrays once, here
            return _make(
                d,
                cls(
                    (a if ar else None, b if br else None),
                    (
                        ad if type(ad) is _ndarray else _asarray(ad),
                        bd if type(bd) is _ndarray else _asarray(bd),
                    ),
                ),
            )
        return _make(d, cls((a if ar else None, b if br else None)))
    return _make(d, None)


def _as_tensor(x: Any) -> Tensor:
    """A Tensor view of ``x`` (no copy; Python scalars keep NumPy's weak promotion)."""
    return x if isinstance(x, Tensor) else _make(_asarray(x), None)


def _checked_tensor(x: Any, fn: str, arg: str = "x") -> Tensor:
    """:func:`_as_tensor` for the first argument of a ``fastdl.<fn>``: data that are not
    numbers are refused as by :func:`tensor`."""
    if isinstance(x, Tensor):
        return x
    try:
        a = _asarray(x)
    except (ValueError, TypeError, OverflowError) as e:
        raise arg_error(
            fn, arg, "be a number or a rectangular nested sequence of numbers",
            f"{describe(x)} ({e})", ValueError if isinstance(e, ValueError) else TypeError,
        ) from None  # fmt: skip
    if a.dtype.kind not in "biufc":
        shown = describe(x) if isinstance(x, np.ndarray) else f"{describe(x)} (dtype {a.dtype})"
        raise arg_error(fn, arg, "hold numbers (bool, int, float or complex)", shown, TypeError)
    return _make(a, None)


def _named(e: Exception, fn: str, *args: tuple) -> None:
    """Raise NumPy's error ``e`` for the Tensor op ``fn`` with its name in front, in the same
    family (AxisError, IndexError, TypeError, else ValueError), chained to ``e``.

    ``args``: the op's ``(name, value)`` arguments. A broadcasting failure becomes
    :func:`arg_error` over their shapes; other errors list them after NumPy's text. Runs only
    on the failure path, so the ops pay nothing for it.
    """
    msg = str(e)
    if msg.startswith(f"{fn}()"):
        raise e
    if isinstance(e, _AxisError) and getattr(e, "ndim", None) is not None:
        nd = e.ndim
        raise arg_error(
            fn, "axis", f"be in [{-nd}, {nd - 1}] for a tensor of dimension {nd}", e.axis,
            _AxisError,
        ) from e  # fmt: skip
    if isinstance(e, TypeError) and fn in ("bitwise_and", "bitwise_or", "invert"):
        for n, v in args:
            if np.asarray(_data(v)).dtype.kind not in "biu":
                raise arg_error(fn, n, "hold bools or ints", describe(v), TypeError) from e
    if isinstance(e, TypeError):
        for n, v in args:
            if not _numeric(v):
                raise arg_error(
                    fn, n, "be a Tensor, array or number holding numbers", describe(v), TypeError
                ) from e
    if args and "could not be broadcast" in msg:
        shapes = [str(_shape_of(v)) for _, v in args]
        shapes = ", ".join(shapes[:-1]) + " and " + shapes[-1]
        names = tuple(n for n, _ in args)
        raise arg_error(fn, names, "have shapes that broadcast together", shapes) from e
    if args:
        msg += " (" + "; ".join(f"argument '{n}': {describe(v)}" for n, v in args) + ")"
    msg = f"{fn}(): {msg}"
    for cls in (_AxisError, IndexError, TypeError):
        if isinstance(e, cls):
            raise cls(msg) from e
    raise ValueError(msg) from e


def _numeric(v: Any) -> bool:
    """Whether NumPy sees ``v`` as numbers (bool, int, float, complex); None for axes etc."""
    if v is None or isinstance(v, (tuple, slice)):
        return True
    try:
        return np.asarray(_data(v)).dtype.kind in "biufc"
    except Exception:  # noqa: BLE001 - ragged or junk
        return False


def _one_element(fn: str, t: Tensor, cls: type) -> Exception:
    return arg_error(fn, "self", "have exactly one element", f"shape {t.shape}", cls)


def _dtype(dtype: Any, fn: str) -> np.dtype:
    """``dtype`` as a NumPy dtype of numbers (Tensors hold bool, int, float or complex)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise arg_error(fn, "dtype", "be a NumPy dtype", repr(dtype), TypeError) from None
    if dt.kind not in "biufc":
        raise arg_error(
            fn, "dtype", "be a dtype of numbers (bool, int, float or complex)", dt, TypeError
        )
    return dt


def _shape_of(v: Any) -> Any:
    try:
        return np.shape(_data(v))
    except Exception:  # noqa: BLE001 - ragged or junk: the error message says "?"
        return "?"


def _norm_axes(axis: AxisLike, ndim: int, fn: str, arg: str = "axis") -> Optional[tuple]:
    """``axis`` (None, an int or a sequence of ints; NumPy's rules) as a tuple of distinct
    non-negative axes, or None for all."""
    if axis is None:
        return None
    items = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in items:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral):
            raise arg_error(fn, arg, "be None, an int or a tuple of ints", repr(axis), TypeError)
        a = int(a)
        if not -ndim <= a < ndim:
            raise arg_error(
                fn, arg, f"be in [{-ndim}, {ndim - 1}] for a tensor of dimension {ndim}", a,
                _AxisError,
            )  # fmt: skip
        out.append(a + ndim if a < 0 else a)
    if len(set(out)) != len(out):
        raise arg_error(fn, arg, "hold distinct axes", repr(axis))
    return tuple(out)


def _one_axis(axis: Any, ndim: int, fn: str, arg: str = "axis") -> int:
    """A single axis (an int, negative counting from the end) as a non-negative int."""
    if axis is None or isinstance(axis, tuple):
        raise arg_error(fn, arg, "be an int", repr(axis), TypeError)
    return _norm_axes(axis, ndim, fn, arg)[0]


def _count(shape: tuple, axes: Optional[tuple]) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _reduced_shape(shape: tuple, axes: Optional[tuple]) -> tuple:
    if axes is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _norm_index(idx: Any) -> tuple:
    """Index with Tensors replaced by their arrays; and whether it has integer arrays."""
    if isinstance(idx, tuple):
        items = tuple(_data(i) for i in idx)
    else:
        items = (_data(idx),)
        idx = items[0]
    scatter = False
    for i in items:
        if isinstance(i, (list, np.ndarray)) and np.asarray(i).dtype.kind in "iu":
            scatter = True
    if isinstance(idx, tuple):
        idx = items
    return idx, scatter


# --- free functions (NumPy names) ----------------------------------------------------------


def add(a: Any, b: Any) -> Tensor:
    """a + b with broadcasting (np.add on Tensors).

    Example:
        >>> import fastdl
        >>> fastdl.tensor([1.0]) + 2
        tensor([3.])
    """
    return _binary(P.Add, np.add, a, b, False)


def subtract(a: Any, b: Any) -> Tensor:
    """a - b with broadcasting (np.subtract on Tensors).

    Example:
        >>> import fastdl
        >>> 2 - fastdl.tensor([1.0])
        tensor([1.])
    """
    return _binary(P.Sub, np.subtract, a, b, False)


def multiply(a: Any, b: Any) -> Tensor:
    """a * b with broadcasting (np.multiply on Tensors).

    Example:
        >>> import fastdl
        >>> fastdl.tensor([2.0]) * 3
        tensor([6.])
    """
    return _binary(P.Mul, np.multiply, a, b, True)


def divide(a: Any, b: Any) -> Tensor:
    """a / b with broadcasting.

    Example:
        >>> import fastdl
        >>> fastdl.tensor([3.0]) / 2
        tensor([1.5])
    """
    ad, bd = _data(a), _data(b)
    ar = isinstance(a, Tensor) and a.requires_grad
    br = isinstance(b, Tensor) and b.requires_grad
    try:
        d = np.true_divide(ad, bd)
    except _NP_ERRORS as e:
        _named(e, "divide", ("a", a), ("b", b))
    d = _numbers(d, "divide", ("a", a), ("b", b))
    if (ar or br) and _GradMode.enabled:
        return _make(d, P.Div((a if ar else None, b if br else None), (_asarray(bd), d)))
    return _make(d, None)


def power(a: Any, b: Any) -> Tensor:
    """a ** b with broadcasting (differentiable in both).

    Example:
        >>> import fastdl
        >>> fastdl.tensor([3.0]) ** 2
        tensor([9.])
    """
    ad, bd = _data(a), _data(b)
    ar = isinstance(a, Tensor) and a.requires_grad
    br = isinstance(b, Tensor) and b.requires_grad
    try:
        d = ad**bd  # the operator: NumPy fast-paths scalar exponents (x**2 is a square)
    except _NP_ERRORS as e:
        _named(e, "power", ("a", a), ("b", b))
    d = _numbers(d, "power", ("a", a), ("b", b))
    if (ar or br) and _GradMode.enabled:
        # as arrays: a list exponent would break the backward's ``b - 1``
        saved = (_asarray(ad), _asarray(bd), d)
        return _make(d, P.Pow((a if ar else None, b if br else None), saved))
    return _make(d, None)


def negative(x: Any) -> Tensor:
    """-x.

    Example:
        >>> import fastdl
        >>> -fastdl.tensor([1.0])
        tensor([-1.])
    """
    return -_checked_tensor(x, "negative")


def square(x: Any) -> Tensor:
    """x * x.

    Example:
        >>> import numpy as np, fastdl
        >>> np.square(fastdl.tensor([3.0]))
        tensor([9.])
    """
    x = _checked_tensor(x, "square")
    return x * x


def reciprocal(x: Any) -> Tensor:
    """1 / x.

    Example:
        >>> import numpy as np, fastdl
        >>> np.reciprocal(fastdl.tensor([4.0]))
        tensor([0.25])
    """
    x = _checked_tensor(x, "reciprocal")
    return divide(np.array(1, x.data.dtype), x)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with np.matmul semantics (batched, 1-d operands), on the fastdl kernel.

    Example:
        >>> import numpy as np, fastdl
        >>> (fastdl.tensor(np.eye(2)) @ fastdl.tensor([[1.0], [2.0]])).shape
        (2, 1)
    """
    if isinstance(a, Tensor):
        ad = a.data
        ar = a.requires_grad
    else:
        try:
            ad = _asarray(a)
        except _NP_ERRORS as e:
            _named(e, "matmul", ("a", a))
        ar = False
    if isinstance(b, Tensor):
        bd = b.data
        br = b.requires_grad
    else:
        try:
            bd = _asarray(b)
        except _NP_ERRORS as e:
            _named(e, "matmul", ("b", b))
        br = False
    dt = ad.dtype
    if (dt is _F32 or dt is _F64) and bd.dtype is dt:
        d = _ops_matmul(ad, bd)  # the kernel call inline: this is the hot path of a model
    else:
        if not ad.ndim or not bd.ndim:
            raise arg_error(
                "matmul", ("a", "b"), "be at least 1-d", f"shapes {ad.shape} and {bd.shape}"
            )
        try:
            d = P.matmul(ad, bd)
        except _NP_ERRORS as e:
            k = bd.shape[-2] if bd.ndim > 1 else bd.shape[0]
            if ad.shape[-1] != k:
                raise arg_error(
                    "matmul",
                    ("a", "b"),
                    "have matching inner dimensions (a's last, b's second-to-last)",
                    f"shapes {ad.shape} and {bd.shape} ({ad.shape[-1]} != {k})",
                ) from None
            _named(e, "matmul", ("a", a), ("b", b))
        d = _numbers(d, "matmul", ("a", a), ("b", b))
    if (ar or br) and _GradMode.enabled:
        ctx = _new(_MatMul)
        ctx.parents = (a if ar else None, b if br else None)
        ctx.saved = (ad, bd)
    else:
        ctx = None
    t = _new(Tensor)
    t.data = d if type(d) is _ndarray else _asarray(d)
    t.grad = None
    t._ctx = ctx
    t.requires_grad = ctx is not None
    return t


def linear(x: Any, w: Any, b: Any = None, activation: Optional[str] = None) -> Tensor:
    """Fused ``act(x @ w + b)`` with ``w`` of shape (d_in, d_out); activation None, 'relu',
    'sigmoid' or 'tanh'. One kernel forward, one backward.

    Example:
        >>> import numpy as np, fastdl
        >>> y = fastdl.linear(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4), "relu")
        >>> y.shape
        (2, 4)
    """
    xd, wd = _asarray(_data(x)), _asarray(_data(w))
    bd = None if b is None else _asarray(_data(b))
    if xd.ndim < 1:
        raise arg_error("linear", "x", "be at least 1-d (..., d_in)", f"shape {xd.shape}")
    if wd.ndim != 2 or xd.shape[-1] != wd.shape[0]:
        raise arg_error(
            "linear", "w", f"have shape ({xd.shape[-1]}, d_out) for x of shape {xd.shape}",
            f"shape {wd.shape}",
        )  # fmt: skip
    if bd is not None and bd.shape != (wd.shape[1],):
        raise arg_error("linear", "b", f"have shape ({wd.shape[1]},)", f"shape {bd.shape}")
    if activation not in (None, "relu", "sigmoid", "tanh"):
        raise arg_error(
            "linear", "activation", "be None, 'relu', 'sigmoid' or 'tanh'", repr(activation)
        )
    return _linear(x, xd, w, wd, b, bd, activation)


def _linear(x: Any, xd: Any, w: Any, wd: Any, b: Any, bd: Any, activation: Any) -> Tensor:
    """:func:`linear` on operands already checked, with their arrays: a layer's hot path."""
    y = _ops_linear(xd, wd, bd, activation)
    xr = isinstance(x, Tensor) and x.requires_grad
    wr = isinstance(w, Tensor) and w.requires_grad
    br = isinstance(b, Tensor) and b.requires_grad
    if (xr or wr or br) and _GradMode.enabled:
        ctx = _new(_Linear)
        ctx.parents = (x if xr else None, w if wr else None, b if br else None)
        ctx.saved = (xd, wd, y, activation, bd is not None)
        return _make(y, ctx)
    return _make(y, None)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, on the softmax kernel.

    Example:
        >>> import fastdl
        >>> fastdl.softmax(fastdl.tensor([0.0, 0.0])).tolist()
        [0.5, 0.5]
    """
    x = _checked_tensor(x, "softmax")
    ax = _one_axis(axis, x.data.ndim, "softmax")
    d = P.softmax(x.data, ax)
    if x.requires_grad and _GradMode.enabled:
        return _make(d, P.Softmax((x,), (d, ax)))
    return _make(d, None)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, on the softmax kernel.

    Example:
        >>> import fastdl
        >>> fastdl.log_softmax(fastdl.tensor([0.0, 0.0])).exp()
        tensor([0.5, 0.5])
    """
    x = _checked_tensor(x, "log_softmax")
    ax = _one_axis(axis, x.data.ndim, "log_softmax")
    d = P.log_softmax(x.data, ax)
    if x.requires_grad and _GradMode.enabled:
        return _make(d, P.LogSoftmax((x,), (d, ax)))
    return _make(d, None)


def logsumexp(x: Any, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) along ``axis``, shifted by the (constant) max for stability.

    Example:
        >>> import fastdl
        >>> float(fastdl.logsumexp(fastdl.tensor([1000.0, 1000.0])))
        1000.693...
    """
    x = _checked_tensor(x, "logsumexp")
    axes = _norm_axes(axis, x.data.ndim, "logsumexp")
    if x.data.dtype.kind not in "biufc":
        raise arg_error("logsumexp", "x", "hold numbers", f"dtype {x.data.dtype}", TypeError)
    if x.data.dtype.kind in "biu":  # x - max(x) would wrap (or fail on bools): as the kernels
        x = x.astype(np.result_type(x.data.dtype, np.float32))
    try:
        # initial=-inf: an empty sum is 0, its log -inf (as torch), not a reduction error
        m = np.max(x.data, axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, np.zeros((), m.dtype))
        out = (x - m).exp().sum(axes, keepdims=True).log() + m
    except _NP_ERRORS as e:
        _named(e, "logsumexp", ("x", x), ("axis", axis))
    if not keepdims:
        out = out.reshape(_reduced_shape(x.data.shape, axes))
    return out


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` else ``b``, broadcasting all three (gradient flows to a and b).

    Example:
        >>> import fastdl
        >>> x = fastdl.tensor([-1.0, 2.0])
        >>> fastdl.where(x > 0, x, 0.0)
        tensor([0., 2.])
    """
    ad, bd = _data(a), _data(b)
    ar = isinstance(a, Tensor) and a.requires_grad
    br = isinstance(b, Tensor) and b.requires_grad
    try:
        c = _data(cond)
        if not (type(c) is _ndarray and c.dtype == bool):  # NumPy's truth of each element
            c = np.where(c, True, False)  # (b"\x00" is false: not so for asarray(dtype=bool))
        d = np.where(c, ad, bd)
    except _NP_ERRORS as e:
        _named(e, "where", ("cond", cond), ("a", a), ("b", b))
    d = _numbers(d, "where", ("a", a), ("b", b))
    if (ar or br) and _GradMode.enabled:
        return _make(d, P.Where((a if ar else None, b if br else None), c))
    return _make(d, None)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max; NaN propagates; at ties the gradient goes to ``a``.

    Example:
        >>> import fastdl
        >>> fastdl.maximum(fastdl.tensor([-1.0, 2.0]), 0.0)
        tensor([0., 2.])
    """
    return _extreme(np.maximum, np.greater_equal, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min; NaN propagates; at ties the gradient goes to ``a``.

    Example:
        >>> import fastdl
        >>> fastdl.minimum(fastdl.tensor([-1.0, 2.0]), 0.0)
        tensor([-1.,  0.])
    """
    return _extreme(np.minimum, np.less_equal, a, b)


def _extreme(fn: Any, pick: Any, a: Any, b: Any) -> Tensor:
    """np.maximum/np.minimum's value (its dtype, NaN rule and errors); the gradient goes where
    ``pick(a, b)`` holds or a is NaN (x != x, any dtype), else to b."""
    ad, bd = _data(a), _data(b)
    try:
        d = fn(ad, bd)
    except _NP_ERRORS as e:
        _named(e, fn.__name__, ("a", a), ("b", b))
    d = _numbers(d, fn.__name__, ("a", a), ("b", b))
    ar = isinstance(a, Tensor) and a.requires_grad
    br = isinstance(b, Tensor) and b.requires_grad
    if (ar or br) and _GradMode.enabled:
        c = pick(ad, bd) | np.not_equal(ad, ad)
        return _make(d, P.Where((a if ar else None, b if br else None), c))
    return _make(d, None)


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Tensor:
    """Limit values to [a_min, a_max] (either may be None), as np.clip.

    Example:
        >>> import fastdl
        >>> fastdl.clip(fastdl.tensor([-2.0, 0.5, 2.0]), -1, 1)
        tensor([-1. ,  0.5,  1. ])
    """
    out = _checked_tensor(x, "clip")
    if a_min is None and a_max is None:
        return out
    lo_t, hi_t = isinstance(a_min, Tensor), isinstance(a_max, Tensor)
    if not _GradMode.enabled or not (
        out.requires_grad or lo_t and a_min.requires_grad or hi_t and a_max.requires_grad
    ):
        try:  # no gradient: np.clip itself (its promotion, and its range rule for Python ints)
            return _make(np.clip(out.data, _data(a_min), _data(a_max)), None)
        except _NP_ERRORS as e:
            _named(e, "clip", ("x", x), ("a_min", a_min), ("a_max", a_max))
    try:
        # NumPy promotes x and both bounds at once (int8 x, bounds 0.0 and a float16: float16)
        bounds = [_data(b) for b in (a_min, a_max) if b is not None]
        if all(isinstance(b, (np.ndarray, np.generic, int, float, complex)) for b in bounds):
            dt = np.result_type(out.data, *bounds)
            if dt != out.data.dtype:
                out = out.astype(dt)
        if a_min is not None:
            out = maximum(out, a_min)
        if a_max is not None:
            out = minimum(out, a_max)
    except _NP_ERRORS as e:
        _named(e, "clip", ("x", x), ("a_min", a_min), ("a_max", a_max))
    return out


def concatenate(tensors: Sequence[Any], axis: Optional[int] = 0) -> Tensor:
    """Join along an existing axis (``axis=None`` flattens first), as np.concatenate.

    Example:
        >>> import fastdl
        >>> fastdl.concatenate([fastdl.tensor([1.0]), fastdl.tensor([2.0, 3.0])])
        tensor([1., 2., 3.])
    """
    try:
        ts = list(tensors)
        if not ts:
            raise arg_error("concatenate", "tensors", "hold at least one tensor", "[]")
        flat = axis is None
        if flat:  # Tensors flattened here (their gradients reshape back); the rest by NumPy,
            ts = [t.reshape(-1) if isinstance(t, Tensor) else t for t in ts]  # scalars weak
        arrays = [_data(t) for t in ts]
        d = np.concatenate(arrays, axis=None if flat else axis)
        ax = 0 if flat else int(axis) % d.ndim
        sizes = [np.size(a) if flat else np.shape(a)[ax] for a in arrays]
    except _NP_ERRORS as e:
        _named(e, "concatenate", ("tensors", tensors), ("axis", axis))
    d = _numbers(d, "concatenate", ("tensors", tensors))
    need = [isinstance(t, Tensor) and t.requires_grad for t in ts]
    if any(need) and _GradMode.enabled:
        parents = tuple(t if n else None for t, n in zip(ts, need))
        return _make(d, P.Concatenate(parents, (ax, sizes)))
    return _make(d, None)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join along a new axis, as np.stack.

    Example:
        >>> import fastdl
        >>> fastdl.stack([fastdl.tensor([1.0]), fastdl.tensor([2.0])], axis=1)
        tensor([[1., 2.]])
    """
    try:
        ts = [_checked_tensor(t, "stack", "tensors") for t in tensors]
        if not ts:
            raise arg_error("stack", "tensors", "hold at least one tensor", "[]")
        nd = ts[0].data.ndim + 1
        ax = _one_axis(axis, nd, "stack")
        shapes = [t.data.shape for t in ts]
        if len(set(shapes)) != 1:
            raise arg_error("stack", "tensors", "hold tensors of one shape", f"shapes {shapes}")
        return concatenate([t.expand_dims(ax) for t in ts], axis=ax)
    except _NP_ERRORS as e:
        _named(e, "stack", ("tensors", tensors), ("axis", axis))


Tensor.__matmul__ = matmul  # type: ignore[assignment]  # one frame for ``a @ b``

# The NumPy protocol tables map NumPy's functions onto the ones above, so they load last.
from . import _interop  # noqa: E402
