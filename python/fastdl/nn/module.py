"""``Module``: the base of every layer -- parameters, buffers, submodules, modes, state dicts.

Registered parameters, buffers and submodules also live in the instance ``__dict__``, so
``self.weight`` is a plain attribute read on the training hot path (no ``__getattr__`` detour);
``__setattr__`` keeps the registries and the attributes in step.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np

from ..ops._checks import arg_error, describe
from .parameter import Parameter, canonical_dtype

__all__ = ["Module", "StateDictError", "IncompatibleKeys"]


class StateDictError(ValueError, RuntimeError):
    """A state dict that does not fit the module: missing, unexpected or mis-shaped entries.

    A ValueError (bad input, as everywhere in fastdl) that is also a RuntimeError, which is
    what PyTorch raises in the same situation.

    Example:
        >>> from fastdl import nn
        >>> try:
        ...     nn.Linear(2, 2).load_state_dict({})
        ... except nn.StateDictError as e:
        ...     print(str(e).splitlines()[1].strip())
        Missing key(s) in state_dict: 'weight', 'bias'
    """


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped.

    Example:
        >>> from fastdl import nn
        >>> nn.Linear(2, 2).load_state_dict({"extra": 0}, strict=False).unexpected_keys
        ['extra']
    """

    missing_keys: List[str]
    unexpected_keys: List[str]


def _state_array(value: Any) -> np.ndarray:
    from ..tensor import Tensor

    if isinstance(value, Tensor):
        return value.data
    return np.asarray(value)


class Module:
    """Base class of layers and models (PyTorch's ``nn.Module`` API).

    Subclasses assign Parameters, buffers (``register_buffer``) and submodules as attributes in
    ``__init__`` and define ``forward``; calling the module calls ``forward``.

    Example:
        >>> import fastdl
        >>> from fastdl import nn
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = nn.Linear(2, 1)
        ...     def forward(self, x):
        ...         return self.fc(x)
        >>> [name for name, _ in Net().named_parameters()]
        ['fc.weight', 'fc.bias']
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()

    # -- registration -------------------------------------------------------------------------
    def _check_ready(self, name: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign '{name}' before Module.__init__() call (call super().__init__())"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_ready(name)
            self._forget(name, "_parameters")
            d["_parameters"][name] = value
        elif isinstance(value, Module):
            self._check_ready(name)
            self._forget(name, "_modules")
            d["_modules"][name] = value
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise arg_error(
                    f"{type(self).__name__}.__setattr__", name,
                    "be a fastdl.nn.Parameter or None (it is a parameter)", describe(value),
                    TypeError,
                )  # fmt: skip
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise arg_error(
                    f"{type(self).__name__}.__setattr__", name,
                    "be a fastdl.nn.Module or None (it is a child module)", describe(value),
                    TypeError,
                )  # fmt: skip
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, np.ndarray):
                raise arg_error(
                    f"{type(self).__name__}.__setattr__", name,
                    "be a numpy.ndarray or None (it is a buffer)", describe(value), TypeError,
                )  # fmt: skip
            d["_buffers"][name] = value
        object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str = "") -> None:
        """Drop ``name`` from every registry but ``keep`` (where it is replaced in place,
        keeping its position, e.g. ``seq[1] = nn.Tanh()``)."""
        d = self.__dict__
        for reg in ("_parameters", "_modules", "_buffers"):
            if reg != keep:
                d[reg].pop(name, None)
        d["_non_persistent"].discard(name)

    def __delattr__(self, name: str) -> None:
        if "_parameters" in self.__dict__:
            self._forget(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Add a parameter (or None, a declared but absent parameter) under ``name``.

        Example:
            >>> import numpy as np; from fastdl import nn
            >>> m = nn.Module(); m.register_parameter("w", nn.Parameter(np.zeros(2)))
            >>> [n for n, _ in m.named_parameters()]
            ['w']
        """
        self._check_ready(name)
        self._check_name(name, "register_parameter")
        if param is not None and not isinstance(param, Parameter):
            raise arg_error(
                "register_parameter", "param", "be a Parameter or None", describe(param), TypeError
            )
        self._forget(name, "_parameters")
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(
        self, name: str, tensor: Optional[np.ndarray], persistent: bool = True
    ) -> None:
        """Add a state array that is not a parameter (e.g. BatchNorm's running mean).

        Persistent buffers are part of ``state_dict()``.

        Example:
            >>> import numpy as np; from fastdl import nn
            >>> m = nn.Module(); m.register_buffer("count", np.zeros(()))
            >>> list(m.state_dict())
            ['count']
        """
        self._check_ready(name)
        self._check_name(name, "register_buffer")
        if tensor is not None:
            tensor = _state_array(tensor)
        self._forget(name, "_buffers")
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Optional[Module]) -> None:
        """Add a child module under ``name`` (like attribute assignment).

        Example:
            >>> from fastdl import nn
            >>> m = nn.Module(); m.add_module("act", nn.ReLU())
            >>> list(dict(m.named_children()))
            ['act']
        """
        self._check_ready(name)
        self._check_name(name, "add_module")
        if module is not None and not isinstance(module, Module):
            raise arg_error(
                "add_module", "module", "be a Module or None", describe(module), TypeError
            )
        self._forget(name, "_modules")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    @staticmethod
    def _check_name(name: Any, fn: str) -> None:
        if not isinstance(name, str):
            raise arg_error(fn, "name", "be a str", describe(name), TypeError)
        if name == "" or "." in name:
            raise arg_error(fn, "name", "be non-empty and contain no '.'", repr(name), KeyError)

    # -- calling ------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- traversal ----------------------------------------------------------------------------
    def named_modules(
        self, memo: Optional[set] = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[Tuple[str, Module]]:
        """Yield ``(dotted name, module)`` for this module and every descendant.

        Example:
            >>> from fastdl import nn
            >>> [n for n, _ in nn.Sequential(nn.Linear(2, 2), nn.ReLU()).named_modules()]
            ['', '0', '1']
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(
                memo, f"{prefix}.{name}" if prefix else name, remove_duplicate
            )

    def modules(self) -> Iterator[Module]:
        """Every module of the tree, this one first.

        Example:
            >>> from fastdl import nn
            >>> len(list(nn.Sequential(nn.Linear(2, 2), nn.ReLU()).modules()))
            3
        """
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[Tuple[str, Module]]:
        """Yield ``(name, module)`` for the direct submodules.

        Example:
            >>> from fastdl import nn
            >>> [n for n, _ in nn.Sequential(nn.ReLU(), nn.Tanh()).named_children()]
            ['0', '1']
        """
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct submodules.

        Example:
            >>> from fastdl import nn
            >>> len(list(nn.Sequential(nn.ReLU(), nn.Tanh()).children()))
            2
        """
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, registry: str, prefix: str, recurse: bool
    ) -> Iterator[Tuple[str, Any]]:
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, v in m.__dict__[registry].items():
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), v

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[Tuple[str, Parameter]]:
        """Yield ``(dotted name, Parameter)``, each shared parameter once.

        Example:
            >>> from fastdl import nn
            >>> [n for n, _ in nn.Linear(3, 2).named_parameters()]
            ['weight', 'bias']
        """
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters of this module and (by default) its descendants.

        Example:
            >>> from fastdl import nn
            >>> sum(p.data.size for p in nn.Linear(3, 2).parameters())
            8
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[Tuple[str, np.ndarray]]:
        """Yield ``(dotted name, ndarray)`` for every buffer.

        Example:
            >>> from fastdl import nn
            >>> [n for n, _ in nn.BatchNorm1d(2).named_buffers()]
            ['running_mean', 'running_var', 'num_batches_tracked']
        """
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """The buffers of this module and (by default) its descendants.

        Example:
            >>> from fastdl import nn
            >>> len(list(nn.BatchNorm1d(2).buffers()))
            3
        """
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on this module; returns self.

        Example:
            >>> from fastdl import nn
            >>> seen = []
            >>> _ = nn.Sequential(nn.ReLU()).apply(lambda m: seen.append(type(m).__name__))
            >>> seen
            ['ReLU', 'Sequential']
        """
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active, BatchNorm uses batch statistics); returns self.

        Example:
            >>> from fastdl import nn
            >>> nn.Dropout().train(False).training
            False
        """
        if not isinstance(mode, bool):
            raise arg_error("train", "mode", "be a bool", describe(mode), TypeError)
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``.

        Example:
            >>> from fastdl import nn
            >>> nn.BatchNorm1d(3).eval().training
            False
        """
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient tracking of every parameter (freeze with False); returns self.

        Example:
            >>> from fastdl import nn
            >>> all(not p.requires_grad for p in nn.Linear(2, 2).requires_grad_(False).parameters())
            True
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (to None by default, as PyTorch does).

        Example:
            >>> from fastdl import nn
            >>> m = nn.Linear(2, 2); m.zero_grad(); m.weight.grad is None
            True
        """
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def to(self, dtype: Any) -> Module:
        """Convert every floating-point parameter and buffer to ``dtype``, in place; returns self.

        Parameters keep their identity (their ``.data`` is replaced), so create optimizers
        after converting.

        Example:
            >>> import numpy as np; from fastdl import nn
            >>> nn.Linear(2, 2).to(np.float64).weight.dtype
            dtype('float64')
        """
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise arg_error("to", "dtype", "be a NumPy dtype", repr(dtype), TypeError) from None
        if dt.kind != "f":
            raise arg_error("to", "dtype", "be a floating dtype", dt, TypeError)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.data.dtype != dt:
                    p.data = np.ascontiguousarray(p.data, dtype=dt)
                    p.grad = None
            for name, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f" and b.dtype != dt:
                    setattr(m, name, b.astype(dt))
        return self

    def double(self) -> Module:
        """Convert to float64 (for gradcheck); returns self.

        Example:
            >>> from fastdl import nn
            >>> nn.Linear(2, 2).double().weight.dtype
            dtype('float64')
        """
        return self.to(np.float64)

    def float(self) -> Module:
        """Convert to float32; returns self.

        Example:
            >>> from fastdl import nn
            >>> nn.Linear(2, 2).double().float().weight.dtype
            dtype('float32')
        """
        return self.to(np.float32)

    # -- state dicts --------------------------------------------------------------------------
    def state_dict(
        self,
        destination: Optional[Dict[str, Any]] = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> Dict[str, Any]:
        """An ordered ``{dotted name: ndarray}`` of parameters and persistent buffers.

        The arrays are the live ones (no copy, as PyTorch shares storage): copy them, or save
        with ``fastdl.save``, to keep a snapshot. ``keep_vars=True`` gives the Parameters.

        Example:
            >>> from fastdl import nn
            >>> list(nn.Sequential(nn.Linear(2, 2)).state_dict())
            ['0.weight', '0.bias']
        """
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.data
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                destination[prefix + name] = b
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict: Dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into the parameters and buffers, in place.

        Values may be ndarrays, Tensors or nested lists, and are cast to each target's dtype.
        A mis-shaped entry is always an error; with ``strict=True`` (default) missing and
        unexpected keys are too. Errors are :class:`StateDictError` (a ValueError) listing
        every problem; nothing is copied unless everything fits. Returns
        ``(missing_keys, unexpected_keys)``.

        Example:
            >>> from fastdl import nn
            >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
            >>> b.load_state_dict(a.state_dict())
            IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        """
        if not hasattr(state_dict, "items"):
            raise arg_error(
                "load_state_dict", "state_dict", "be a dict of arrays", describe(state_dict),
                TypeError,
            )  # fmt: skip
        targets: Dict[str, Tuple[Module, str, bool]] = OrderedDict()
        for mod_prefix, m in self.named_modules(remove_duplicate=False):
            base = mod_prefix + "." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    targets[base + name] = (m, name, True)
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    targets[base + name] = (m, name, False)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        problems = []
        plan = []
        for key, (m, name, is_param) in targets.items():
            if key not in state_dict:
                continue
            dst = m._parameters[name].data if is_param else m._buffers[name]
            try:
                src = _state_array(state_dict[key])
            except Exception as e:  # e.g. ragged lists
                problems.append(f"{key}: cannot be read as an array ({e})")
                continue
            if src.shape != dst.shape:
                problems.append(
                    f"size mismatch for {key}: copying an array of shape {src.shape}, the "
                    f"shape in the current model is {dst.shape}"
                )
            elif src.dtype.kind not in "biuf" and not (
                dst.dtype.kind == "f" and src.dtype.kind == "f"
            ):
                problems.append(f"{key}: cannot copy dtype {src.dtype} into {dst.dtype}")
            else:
                plan.append((dst, src))
        if strict:
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
            if unexpected:
                problems.insert(
                    0, "Unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected))
                )
        if problems:
            raise StateDictError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(problems)
            )
        for dst, src in plan:
            np.copyto(dst, src, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        # unpickled buffers get NumPy's interned dtype objects (see canonical_dtype)
        for reg in ("_buffers",):
            bufs = state.get(reg)
            if bufs:
                for name, b in list(bufs.items()):
                    bufs[name] = state[name] = canonical_dtype(b)
        self.__dict__.update(state)

    # -- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Extra text shown in ``repr`` after the class name (override in layers).

        Example:
            >>> from fastdl import nn
            >>> nn.Linear(2, 3).extra_repr()
            'in_features=2, out_features=3, bias=True'
        """
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()))
