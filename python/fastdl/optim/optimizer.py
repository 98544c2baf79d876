"""``Optimizer``: parameter groups, per-parameter state laid out for one fused kernel call.

State arrays (momentum, Adam moments) are created once per parameter, C-contiguous in the
parameter's dtype, and kept per group in lists in parameter order, exactly what
``ops.adam_step``/``ops.sgd_step`` take: a step gathers the live ``.data`` and ``.grad``
arrays and makes one kernel call per group, with no per-parameter arithmetic in Python.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..autograd import enable_grad
from ..ops._checks import arg_error, describe
from ..tensor import Tensor

__all__ = ["Optimizer"]

Group = Dict[str, Any]
Arrays = List[np.ndarray]
State = Dict[str, Arrays]


def hyperparameters(args: Dict[str, Any]) -> Group:
    """A param group's defaults from an optimizer constructor's ``locals()``.

    Every argument but ``self`` and ``params``: the signature is the one list of names.
    """
    return {k: v for k, v in args.items() if k not in ("self", "params", "__class__")}


class _GroupState:
    """The fused-kernel view of one parameter group's state."""

    __slots__ = ("arrays", "steps", "common")

    def __init__(self, arrays: Dict[str, List[np.ndarray]], steps: np.ndarray) -> None:
        self.arrays = arrays  # state name -> one array per parameter, in group order
        self.steps = steps  # int64 step count per parameter (valid when common is None)
        # Usually every parameter is at the same step: then the count is this one Python int
        # and the hot path does no NumPy work. None once counts diverge (a parameter had no
        # gradient on some step).
        self.common: Optional[int] = None
        self._merge()

    def _merge(self) -> None:
        st = self.steps
        if len(st) and (st == st[0]).all():
            self.common = int(st[0])

    def counts(self) -> np.ndarray:
        """Step count per parameter (read-only view)."""
        return np.full(len(self.steps), self.common) if self.common is not None else self.steps

    def split(self) -> np.ndarray:
        """Switch to per-parameter counts and return them for updating."""
        if self.common is not None:
            self.steps[:] = self.common
            self.common = None
        return self.steps


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with 'params' and hyper-parameters).

    Subclasses name their per-parameter state arrays in ``_state_names`` and implement
    ``_step_group``.

    Example:
        >>> from fastdl import nn, optim
        >>> opt = optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
        >>> opt.param_groups[0]["lr"]
        0.1
    """

    _state_names: tuple = ()

    def __init__(self, params: Any, defaults: Dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: List[Dict[str, Any]] = []
        self._gstate: List[Optional[_GroupState]] = []
        if isinstance(params, Tensor):
            raise arg_error(
                type(self).__name__, "params", "be an iterable of Tensors or of dicts",
                "a single Tensor (wrap it in a list)", TypeError,
            )  # fmt: skip
        try:
            groups = list(params)
        except TypeError:
            raise arg_error(
                type(self).__name__, "params", "be an iterable of Tensors or of dicts",
                describe(params), TypeError,
            ) from None  # fmt: skip
        if not groups:
            raise arg_error(
                type(self).__name__, "params", "hold at least one parameter", "an empty list"
            )
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # -- groups -----------------------------------------------------------------------------
    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (defaults fill the rest).

        Example:
            >>> from fastdl import nn, optim
            >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
            >>> opt = optim.SGD(a.parameters(), lr=0.1)
            >>> opt.add_param_group({"params": b.parameters(), "lr": 0.01})
            >>> [g["lr"] for g in opt.param_groups]
            [0.1, 0.01]
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise arg_error(
                f"{name}.add_param_group", "param_group", "be a dict", describe(param_group),
                TypeError,
            )  # fmt: skip
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        params = list(params) if params is not None else []
        for p in params:
            if not isinstance(p, Tensor):
                raise arg_error(name, "params", "hold Tensors", describe(p), TypeError)
            if p.data.dtype not in (np.float32, np.float64):
                raise arg_error(
                    name, "params", "hold float32/float64 Tensors", f"dtype {p.data.dtype}",
                    TypeError,
                )  # fmt: skip
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise arg_error(
                name, "params", "hold each parameter once", "parameters in more than one group"
            )
        group["params"] = params
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._validate_group(group)
        self.param_groups.append(group)
        self._gstate.append(None)

    def _validate_group(self, group: Dict[str, Any]) -> None:
        _at_least(type(self).__name__, "lr", group["lr"], 0)

    # -- state --------------------------------------------------------------------------------
    def _group_state(self, gi: int) -> _GroupState:
        gs = self._gstate[gi]
        if gs is None:
            params = self.param_groups[gi]["params"]
            arrays = {
                name: [np.zeros(p.data.shape, p.data.dtype) for p in params]
                for name in self._names_for(self.param_groups[gi])
            }
            gs = self._gstate[gi] = _GroupState(arrays, np.zeros(len(params), np.int64))
        return gs

    def _names_for(self, group: Dict[str, Any]) -> tuple:
        return self._state_names

    @property
    def state(self) -> Dict[Tensor, Dict[str, Any]]:
        """Per-parameter state ``{param: {'step': int, name: live ndarray}}`` (a fresh view).

        Example:
            >>> import numpy as np
            >>> from fastdl import nn, optim
            >>> p = nn.Parameter(np.zeros(2)); opt = optim.Adam([p])
            >>> p.grad = nn.Parameter(np.ones(2)); opt.step()
            >>> opt.state[p]["step"], opt.state[p]["exp_avg"].round(2)
            (1, array([0.1, 0.1]))
        """
        out: Dict[Tensor, Dict[str, Any]] = {}
        for group, gs in zip(self.param_groups, self._gstate):
            if gs is None:
                continue
            counts = gs.counts()
            for i, p in enumerate(group["params"]):
                if counts[i] == 0:
                    continue
                entry: Dict[str, Any] = {"step": int(counts[i])}
                for name, arrs in gs.arrays.items():
                    entry[name] = arrs[i]
                out[p] = entry
        return out

    def state_dict(self) -> Dict[str, Any]:
        """``{'state': {index: {...}}, 'param_groups': [...]}``, PyTorch's layout.

        Parameters are numbered across groups in order; state arrays are the live ones (save
        with ``fastdl.save`` for a snapshot).

        Example:
            >>> from fastdl import nn, optim
            >>> sd = optim.Adam(nn.Linear(2, 1).parameters()).state_dict()
            >>> sd["param_groups"][0]["params"], sd["state"]
            ([0, 1], {})
        """
        state: Dict[int, Dict[str, Any]] = {}
        groups = []
        start = 0
        for group, gs in zip(self.param_groups, self._gstate):
            n = len(group["params"])
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = list(range(start, start + n))
            groups.append(g)
            if gs is not None:
                counts = gs.counts()
                for i in range(n):
                    if counts[i] == 0:
                        continue
                    entry: Dict[str, Any] = {"step": int(counts[i])}
                    for name, arrs in gs.arrays.items():
                        entry[name] = arrs[i]
                    state[start + i] = entry
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict` (copies the arrays).

        The optimizer must have been built over parameters of the same shapes, in the same
        groups and order. Mismatches are a ValueError naming the entry.

        Example:
            >>> from fastdl import nn, optim
            >>> model = nn.Linear(2, 1)
            >>> opt = optim.Adam(model.parameters(), lr=0.5)
            >>> opt2 = optim.Adam(model.parameters()); opt2.load_state_dict(opt.state_dict())
            >>> opt2.param_groups[0]["lr"]
            0.5
        """
        name = type(self).__name__
        if (
            not isinstance(state_dict, dict)
            or "param_groups" not in state_dict
            or "state" not in state_dict
        ):
            shown = sorted(state_dict) if isinstance(state_dict, dict) else describe(state_dict)
            raise arg_error(
                f"{name}.load_state_dict", "state_dict", "be a dict with 'state' and "
                "'param_groups'", f"keys {shown}" if isinstance(state_dict, dict) else shown,
            )  # fmt: skip
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise arg_error(
                f"{name}.load_state_dict", "state_dict", f"have {len(self.param_groups)} "
                "parameter groups (as this optimizer)", len(saved_groups),
            )  # fmt: skip
        saved_state = {int(k): v for k, v in state_dict["state"].items()}
        new_groups, new_gstate = [], []
        for gi, (group, sg) in enumerate(zip(self.param_groups, saved_groups)):
            params = group["params"]
            ids = list(sg["params"])
            if len(ids) != len(params):
                raise arg_error(
                    f"{name}.load_state_dict", "state_dict", f"have {len(params)} parameter(s) "
                    f"in group {gi} (as this optimizer)", len(ids),
                )  # fmt: skip
            ng = {k: (copy.deepcopy(v)) for k, v in sg.items() if k != "params"}
            ng["params"] = params
            if isinstance(ng.get("betas"), list):
                ng["betas"] = tuple(ng["betas"])
            names = self._names_for(ng)
            arrays = {n: [] for n in names}
            steps = np.zeros(len(params), np.int64)
            for i, (pid, p) in enumerate(zip(ids, params)):
                entry = saved_state.get(int(pid))
                for n in names:
                    arrays[n].append(self._state_array(entry, n, pid, p.data))
                if entry is not None:
                    steps[i] = int(np.asarray(entry.get("step", 0)))
            self._validate_group(ng)
            new_groups.append(ng)
            new_gstate.append(_GroupState(arrays, steps))
        self.param_groups[:] = new_groups
        self._gstate[:] = new_gstate

    _optional_names: tuple = ()

    def _state_array(self, entry: Any, n: str, pid: Any, p: np.ndarray) -> np.ndarray:
        """A C-contiguous copy of saved state ``n`` for parameter array ``p`` (zeros if absent)."""
        name = type(self).__name__
        if entry is None or n not in entry:
            if entry is not None and entry.get("step", 0) > 0 and n not in self._optional_names:
                raise arg_error(
                    f"{name}.load_state_dict", "state_dict", f"hold '{n}' for parameter {pid}",
                    f"its keys {sorted(entry)}",
                )  # fmt: skip
            return np.zeros(p.shape, p.dtype)
        v = entry[n]
        src = np.asarray(v.data if isinstance(v, Tensor) else v)
        if src.shape != p.shape:
            raise arg_error(
                f"{name}.load_state_dict", "state_dict", f"hold '{n}' of parameter {pid} in its "
                f"shape {p.shape}", f"shape {src.shape}",
            )  # fmt: skip
        return np.array(src, dtype=p.dtype, order="C")

    # -- stepping -----------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient (to None by default, as PyTorch does).

        Example:
            >>> import numpy as np
            >>> from fastdl import nn, optim
            >>> p = nn.Parameter(np.zeros(2)); p.grad = nn.Parameter(np.ones(2))
            >>> optim.SGD([p], lr=0.1).zero_grad(); p.grad is None
            True
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Update every parameter that has a gradient: one fused kernel call per group.

        ``closure`` (optional) re-evaluates the model and returns the loss, which is returned.

        Example:
            >>> import numpy as np
            >>> from fastdl import nn, optim
            >>> p = nn.Parameter(np.ones(2)); p.grad = nn.Parameter(np.ones(2))
            >>> optim.SGD([p], lr=0.5).step(); p.numpy()
            array([0.5, 0.5])
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            params = group["params"]
            grads = [p.grad for p in params]
            gs = self._group_state(gi)
            if len(gs.arrays) != len(self._names_for(group)):  # e.g. momentum or amsgrad turned on
                for name in self._names_for(group):
                    if name not in gs.arrays:
                        gs.arrays[name] = [np.zeros(p.data.shape, p.data.dtype) for p in params]
            try:
                gdata = [g.data for g in grads]
            except AttributeError:  # some gradients are None
                gdata = None
            if gdata is not None and gs.common is not None:
                # the hot path: every parameter has a gradient and the same step count
                gs.common += 1
                self._step_group(group, [p.data for p in params], gdata, gs.arrays, gs.common)
                continue
            # rare path: a subset has gradients, or the parameters' step counts differ
            idx = [i for i, g in enumerate(grads) if g is not None]
            if not idx:
                continue
            steps = gs.split()
            steps[idx] += 1
            by_step: Dict[int, List[int]] = {}
            for i in idx:
                by_step.setdefault(int(steps[i]), []).append(i)
            for s, sub in by_step.items():
                self._step_group(
                    group,
                    [params[i].data for i in sub],
                    [grads[i].data for i in sub],
                    {n: [a[i] for i in sub] for n, a in gs.arrays.items()},
                    s,
                )
            gs._merge()
        return loss

    def _step_group(self, group: Group, params: Arrays, grads: Arrays, state: State, step: int):
        """Update one group's parameters in one kernel call (subclasses)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _at_least(fn: str, arg: str, v: Any, lo: float) -> None:
    """A hyper-parameter that must be a real number >= ``lo`` (TypeError for other types)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
        raise arg_error(fn, arg, "be a real number", describe(v), TypeError)
    if not v >= lo:
        raise arg_error(fn, arg, f"be >= {lo}", v)
