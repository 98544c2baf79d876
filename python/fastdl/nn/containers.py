"""Containers: ``Sequential``, ``ModuleList`` and the seed's skip connection ``Residual``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator, List, Optional, Union, overload

from ..ops._checks import arg_error, describe
from . import functional as F
from .activation import ReLU, Sigmoid, Tanh
from .linear import Linear
from .module import Module

__all__ = ["Sequential", "ModuleList", "Residual"]

_FUSABLE_ACTS = (ReLU, Sigmoid, Tanh)


def _fused_linear(lin: Linear, act: str) -> Callable[[Any], Any]:
    def run(x: Any) -> Any:
        return F.linear(x, lin.weight, lin.bias, activation=act)

    return run


class _IndexedContainer(Module):
    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not isinstance(idx, int):
            raise arg_error(
                f"{type(self).__name__}.__getitem__", "idx", "be an int or a slice",
                describe(idx), TypeError,
            )  # fmt: skip
        if not -n <= idx < n:
            raise arg_error(
                f"{type(self).__name__}.__getitem__", "idx", f"be in [{-n}, {n - 1}]", idx,
                IndexError,
            )  # fmt: skip
        return list(self._modules)[idx % n]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def _renumber(self, modules: List[Module]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __delitem__(self, idx: Union[int, slice]) -> None:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[list(self._modules).index(self._index(idx))]
        self._renumber(mods)

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._index(idx), module)

    def append(self, module: Module) -> _IndexedContainer:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> _IndexedContainer:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)


class Sequential(_IndexedContainer):
    """Modules applied in order: ``Sequential(a, b)(x) == b(a(x))``.

    Also accepts one ``OrderedDict`` of named modules. A ``Linear`` directly followed by
    ``ReLU``, ``Sigmoid`` or ``Tanh`` runs as one fused kernel call (same result, one graph
    node and one pass fewer).

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> net(np.zeros((3, 2))).shape
        (3, 1)
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        self.__dict__["_plan"] = None
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                if not isinstance(m, Module):
                    raise arg_error(
                        "Sequential", f"args[{i}]", "be a Module", describe(m), TypeError
                    )
                self.add_module(str(i), m)

    # any change of children invalidates the fused plan
    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        self.__dict__["_plan"] = None

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        self.__dict__["_plan"] = None

    def add_module(self, name: str, module: Optional[Module]) -> None:
        super().add_module(name, module)
        self.__dict__["_plan"] = None

    def __getstate__(self) -> dict:
        # the plan's closures point at *these* children: a copy must build its own
        state = self.__dict__.copy()
        state["_plan"] = None
        return state

    @overload
    def __getitem__(self, idx: int) -> Module: ...
    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...

    def __getitem__(self, idx: Union[int, slice]) -> Union[Module, Sequential]:
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]

    def _build_plan(self) -> List[Callable[[Any], Any]]:
        mods = [m for m in self._modules.values() if m is not None]
        plan: List[Callable[[Any], Any]] = []
        i = 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if type(m) is Linear and nxt is not None and type(nxt) in _FUSABLE_ACTS:
                plan.append(_fused_linear(m, nxt.activation))
                i += 2
            else:
                plan.append(m)
                i += 1
        return plan

    def forward(self, input: Any) -> Any:
        plan = self._plan
        if plan is None:
            plan = self.__dict__["_plan"] = self._build_plan()
        for step in plan:
            input = step(input)
        return input


class ModuleList(_IndexedContainer):
    """A list of modules, registered so their parameters are found; no ``forward``.

    Example:
        >>> from fastdl import nn
        >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        >>> len(list(layers.parameters()))
        6
    """

    def __init__(self, modules: Optional[Iterable[Module]] = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self.

        Example:
            >>> from fastdl import nn
            >>> len(nn.ModuleList().append(nn.ReLU()))
            1
        """
        if not isinstance(module, Module):
            raise arg_error(
                "ModuleList.append", "module", "be a Module", describe(module), TypeError
            )
        self.add_module(str(len(self)), module)
        return self

    def __getitem__(self, idx: Union[int, slice]) -> Union[Module, ModuleList]:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)


class Residual(Module):
    """The seed's skip connection: ``Residual(block)(x) = x + block(x)``.

    ``block`` must map its input to the same shape.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> res = nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))
        >>> res(np.ones((2, 3))).shape
        (2, 3)
    """

    def __init__(self, block: Module) -> None:
        super().__init__()
        if not isinstance(block, Module):
            raise arg_error("Residual", "block", "be a Module", describe(block), TypeError)
        self.block = block

    def forward(self, input: Any) -> Any:
        out = self.block(input)
        if out.shape != input.shape:
            raise arg_error(
                "Residual.forward", "block", f"keep the input's shape {tuple(input.shape)} "
                "(x + block(x))", f"output shape {tuple(out.shape)}",
            )  # fmt: skip
        return out + input
