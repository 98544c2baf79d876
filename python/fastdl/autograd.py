"""Reverse-mode autodiff: graph nodes, the backward engine, grad mode and ``Function``.

A Tensor made by a differentiable op holds a *node* (``Tensor._ctx``): the op's backward and
its parents (the input Tensors that need a gradient, ``None`` for the others). The engine
(:func:`backward`) walks those nodes once in topological order, without recursion, passing
NumPy arrays: every backward works on ndarrays, so no graph is recorded during backward.

After a backward the nodes it went through drop their parents and saved arrays (memory goes
back at once); a second backward through them raises RuntimeError unless the first one was
called with ``retain_graph=True``.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, Callable, Optional, TypeVar

import numpy as np

from .ops._checks import CacheBlock, arg_error, describe

__all__ = [
    "Function",
    "FunctionCtx",
    "Node",
    "backward",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])


class _GradModeState(threading.local):
    """Grad mode, per thread as in PyTorch (a loader or evaluation thread inside no_grad must
    not switch off recording in the training thread). Read on every op that needs a gradient.
    """

    enabled = True


_GradMode = _GradModeState()


def is_grad_enabled() -> bool:
    """True when new ops record the graph.

    Example:
        >>> import fastdl
        >>> with fastdl.no_grad():
        ...     fastdl.is_grad_enabled()
        False
    """
    return _GradMode.enabled


class set_grad_enabled:
    """Set grad mode on or off; usable as a call, a context manager or a decorator.

    Example:
        >>> import fastdl
        >>> with fastdl.set_grad_enabled(False):
        ...     fastdl.is_grad_enabled()
        False
    """

    _mode = True

    def __init__(self, mode: bool = True) -> None:
        self._prev = _GradMode.enabled
        if not isinstance(mode, (bool, np.bool_)):
            raise arg_error("set_grad_enabled", "mode", "be a bool", describe(mode), TypeError)
        self._mode = bool(mode)
        _GradMode.enabled = self._mode

    def __enter__(self) -> None:
        _GradMode.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self._prev

    def __call__(self, func: F) -> F:
        mode = self._mode

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _GradMode.enabled
            _GradMode.enabled = mode
            try:
                return func(*args, **kwargs)
            finally:
                _GradMode.enabled = prev

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):
    """Context manager and decorator: ops inside record no graph (for inference, updates).

    Example:
        >>> import fastdl
        >>> x = fastdl.tensor([1.0], requires_grad=True)
        >>> with fastdl.no_grad():
        ...     y = x * 2
        >>> y.requires_grad
        False
    """

    def __init__(self) -> None:
        self._prev = _GradMode.enabled
        self._mode = False

    def __enter__(self) -> None:
        self._prev = _GradMode.enabled
        _GradMode.enabled = False


class enable_grad(set_grad_enabled):
    """Context manager and decorator that turns recording back on inside ``no_grad``.

    Example:
        >>> import fastdl
        >>> with fastdl.no_grad(), fastdl.enable_grad():
        ...     fastdl.is_grad_enabled()
        True
    """

    def __init__(self) -> None:
        self._prev = _GradMode.enabled
        self._mode = True

    def __enter__(self) -> None:
        self._prev = _GradMode.enabled
        _GradMode.enabled = True


class Node:
    """One recorded op: ``parents`` (Tensor or None per input) and the arrays it saved.

    Subclasses implement ``backward(g) -> tuple`` with one ndarray (or None) per parent, each
    already of that parent's shape. ``parents is None`` marks a node whose buffers were freed.
    """

    __slots__ = ("parents", "saved")
    nout = 1

    def __init__(self, parents: tuple, saved: Any = None) -> None:
        self.parents = parents
        self.saved = saved

    def backward(self, g: Any) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def name(self) -> str:
        return type(self).__name__ + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time: its saved arrays were freed by the "
    "first backward. Pass retain_graph=True to the first backward() to keep them."
)

# Set by fastdl.tensor (which imports this module) so the engine can create .grad Tensors.
_wrap: Callable[[np.ndarray, Any], Any] = None  # type: ignore[assignment]
_tensor_type: type = object


_ndarray = np.ndarray
_refcount = sys.getrefcount
# References to a gradient array inside _run's loop when nothing else holds it: the tuple
# the node's backward returned, the loop variable, and getrefcount's own argument (CPython).
_LOOP_REFS = 3


def _accumulate(leaf: Any, g: Any, owned: bool) -> None:
    """Add ``g`` into ``leaf.grad``, created on first use in the leaf's dtype.

    ``owned``: nothing but the engine refers to ``g``, so a fresh contiguous array of the
    right dtype (owning its memory or a cache block) becomes the gradient as it is
    (no copy: later backwards add into it in place, which is safe only because no one else can
    see it). Anything else (a view, the seed the caller passed, an array a node also returned
    for another input) is copied.
    """
    gt = leaf.grad
    if gt is None:
        dt = leaf.data.dtype
        if (
            owned
            and type(g) is _ndarray
            and g.dtype is dt
            and (
                g.base is None  # owns its memory, or owns a cache block (views of it would
                or type(g.base) is CacheBlock  # hold g itself, and g is owned)
            )
            and g.flags.c_contiguous
            and g.flags.writeable
        ):
            leaf.grad = _wrap(g, None)
        else:
            leaf.grad = _wrap(np.array(g, dtype=dt), None)
    else:
        gd = gt.data
        gd += g


def backward(tensor: Any, gradient: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    ``gradient`` is the vector of the vector-Jacobian product (same shape as ``tensor``);
    it may be omitted for a one-element tensor.

    Example:
        >>> import fastdl
        >>> x = fastdl.tensor([1.0, 2.0], requires_grad=True)
        >>> fastdl.autograd.backward((x * x).sum())
        >>> x.grad
        tensor([2., 4.])
    """
    if not tensor.requires_grad:
        raise arg_error(
            "backward",
            "self",
            "require grad (be made from inputs that require grad, outside no_grad)",
            "a tensor that does not require grad and has no graph",
            RuntimeError,
        )
    data = tensor.data
    if gradient is None:
        if data.size != 1:
            raise arg_error(
                "backward",
                "gradient",
                f"be given (of shape {data.shape}): it may be omitted only for a one-element "
                "tensor",
                f"None for a tensor of shape {data.shape}",
                RuntimeError,
            )
        # not np.ones/ones_like: their Python wrappers cost ~1 us, the array itself ~0.1 us
        g = np.array(1, data.dtype) if data.ndim == 0 else np.ones(data.shape, data.dtype)
    else:
        g = gradient.data if isinstance(gradient, _tensor_type) else np.asarray(gradient)
        if g.shape != data.shape:
            raise arg_error("backward", "gradient", f"have shape {data.shape}", f"{g.shape}")
    root = tensor._ctx
    if root is None:
        _accumulate(tensor, g, gradient is None)
        return
    if root.nout != 1:
        gl: list = [None] * root.nout
        gl[tensor._oi] = g
        g = gl
    _run(root, g, retain_graph)


def _run(root: Node, g: Any, retain: bool) -> None:
    # Pass 1: count, for every node, the edges from its consumers (Kahn's algorithm), and
    # refuse before touching any .grad if part of the graph was already freed.
    if root.parents is None:
        raise RuntimeError(_SECOND_BACKWARD)
    deps = {root: 0}
    stack = [root]
    while stack:
        n = stack.pop()
        for p in n.parents:
            if p is not None:
                c = p._ctx
                if c is not None:
                    if c in deps:
                        deps[c] += 1
                    else:
                        if c.parents is None:
                            raise RuntimeError(_SECOND_BACKWARD)
                        deps[c] = 1
                        stack.append(c)
    # Pass 2: a node runs once all its consumers have passed their gradients to it.
    grads = {root: g}
    ready = [root]
    while ready:
        n = ready.pop()
        pgs = n.backward(grads.pop(n))
        parents = n.parents
        if not retain:
            n.parents = None
            n.saved = None
        for i in range(len(parents)):  # not zip: its reused tuple holds a reference to gp
            p = parents[i]
            gp = pgs[i]
            if p is None or gp is None:
                continue
            c = p._ctx
            if c is None:
                owned = _refcount(gp) == _LOOP_REFS  # before the call below pushes gp
                _accumulate(p, gp, owned)
                continue
            if c.nout == 1:
                old = grads.get(c)
                grads[c] = gp if old is None else old + gp
            else:
                gl = grads.get(c)
                if gl is None:
                    gl = grads[c] = [None] * c.nout
                oi = p._oi
                gl[oi] = gp if gl[oi] is None else gl[oi] + gp
            left = deps[c] - 1
            deps[c] = left
            if left == 0:
                ready.append(c)


class FunctionCtx(Node):
    """The ``ctx`` of a user :class:`Function`: save arrays, set attributes, read flags."""

    # Fixed fields in slots (read on every backward); user attributes go to __dict__.
    __slots__ = ("needs_input_grad", "_fn", "_meta", "nout", "__dict__")

    def __init__(self, fn: type, parents: tuple, needs: tuple) -> None:
        self.parents = parents
        self.saved = None
        self.needs_input_grad = needs
        self._fn = fn
        self._meta = None
        self.nout = 1

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for backward (freed after it, unless retain_graph=True)."""
        self.saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """The arrays given to :meth:`save_for_backward` (ndarrays)."""
        if self.parents is None:
            raise RuntimeError(_SECOND_BACKWARD)
        return self.saved or ()

    def name(self) -> str:
        return self._fn.__name__ + "Backward"

    def backward(self, g: Any) -> tuple:
        if self.nout == 1:
            gs = [g]
        else:
            gs = list(g)
            for i, gi in enumerate(gs):
                if gi is None:  # an output nobody used: its gradient is zero
                    shape, dtype = self._meta[i]
                    gs[i] = np.zeros(shape, dtype)
        res = self._fn.backward(self, *gs)
        if type(res) is not tuple:
            res = (res,)
        parents = self.parents
        np_ = len(parents)
        if len(res) != np_ and (len(res) < np_ or any(r is not None for r in res[np_:])):
            raise RuntimeError(
                f"{self._fn.__name__}.backward returned {len(res)} gradients, expected {np_} "
                f"(one per positional input of forward, None for those without a gradient)"
            )
        out = []
        for i in range(np_):
            p = parents[i]
            r = res[i]
            if p is None or r is None:
                out.append(None)
                continue
            if type(r) is not _ndarray:
                r = np.asarray(r)
            if r.shape != p.data.shape:
                raise RuntimeError(
                    f"{self._fn.__name__}.backward returned a gradient of shape {r.shape} for "
                    f"input {i}, expected {p.data.shape} (the engine does not reduce broadcast "
                    f"gradients)"
                )
            out.append(r)
        return tuple(out)


class Function:
    """Base class for ops with a hand-written backward on ndarrays (PyTorch-style).

    Example:
        >>> import numpy as np, fastdl
        >>> class Square(fastdl.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         (x,) = ctx.saved_tensors
        ...         return 2 * x * g
        >>> x = fastdl.tensor([3.0], requires_grad=True)
        >>> Square.apply(x).sum().backward()
        >>> x.grad
        tensor([6.])
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on the ndarrays of the Tensor arguments; record the graph if needed."""
        T = _tensor_type
        arrays = []
        parents = []
        needs = []
        for a in args:
            if isinstance(a, T):
                arrays.append(a.data)
                if a.requires_grad:
                    parents.append(a)
                    needs.append(True)
                    continue
            else:
                arrays.append(a)
            parents.append(None)
            needs.append(False)
        if kwargs:
            for k, v in kwargs.items():
                if isinstance(v, T):
                    kwargs[k] = v.data
        mode = _GradMode
        prev = mode.enabled
        track = prev and True in needs
        ctx = FunctionCtx(cls, tuple(parents) if track else None, tuple(needs))
        mode.enabled = False  # forward works on ndarrays; nothing inside it is recorded
        try:
            out = cls.forward(ctx, *arrays, **kwargs)
        finally:
            mode.enabled = prev
        if type(out) is tuple:
            res = tuple(_output(o, ctx if track else None, i) for i, o in enumerate(out))
            if track:
                ctx.nout = len(out)
                ctx._meta = [(t.data.shape, t.data.dtype) for t in res]
            return res
        return _output(out, ctx if track else None, 0)


def _output(o: Any, ctx: Optional[FunctionCtx], i: int) -> Any:
    t = _wrap(o if type(o) is np.ndarray else np.asarray(o), ctx)
    if ctx is not None:
        t._oi = i
    return t
