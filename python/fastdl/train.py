"""A small trainer: :func:`fit` runs epochs of minibatch training, :func:`evaluate` scores a model.

``fit`` shows a tqdm progress bar per epoch with the running loss and metrics when stdout is a
terminal (``verbose=`` overrides; without tqdm it prints one line per epoch), returns the
per-epoch history, can checkpoint the model each epoch with ``fastdl.save`` and stop early
when a monitored quantity stops improving.

Metrics are callables ``metric(output, target) -> float`` on NumPy arrays, or the names of the
built-ins: ``"accuracy"`` (:func:`accuracy`), ``"r2"`` (:func:`r2_score`), ``"mse"``
(:func:`mse`). Epoch metrics are computed on the whole epoch's outputs at once (exact for R²);
the bar shows a batch-weighted running mean.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .ops._checks import arg_error, describe

__all__ = ["fit", "evaluate", "EarlyStopping", "accuracy", "r2_score", "mse"]

Metric = Callable[[np.ndarray, np.ndarray], float]


def _np(x: Any) -> np.ndarray:
    """The ndarray behind a Tensor (or the array itself)."""
    return x if isinstance(x, np.ndarray) else np.asarray(getattr(x, "data", x))


def _same_count(fn: str, out: np.ndarray, tgt: np.ndarray, want: Any = None) -> None:
    """The target has one value per output (``want``: the shape whose size it must have)."""
    n = out.size if want is None else int(np.prod(want))
    if tgt.size != n:
        raise arg_error(
            fn, "target", f"have {n} values, one per output (output shape {out.shape})",
            f"shape {tgt.shape}",
        )  # fmt: skip


def _iterable(fn: str, arg: str, loader: Any) -> None:
    if not hasattr(loader, "__iter__"):
        raise arg_error(fn, arg, "be an iterable of batches", describe(loader), TypeError)


def accuracy(output: Any, target: Any) -> float:
    """Fraction of correct predictions.

    With one output per sample (shape (N,) or (N, 1)) the output is read as Pr(Y=1) and
    thresholded at 0.5; with C > 1 outputs per sample the prediction is the argmax, compared
    with integer class targets.

    Example:
        >>> import numpy as np
        >>> accuracy(np.array([[0.9], [0.2], [0.7]]), np.array([1.0, 0.0, 0.0]))
        0.6666666666666666
        >>> accuracy(np.array([[1.0, 3.0], [2.0, 0.0]]), np.array([1, 1]))
        0.5
    """
    out, tgt = _np(output), _np(target)
    classes = out.ndim >= 2 and out.shape[-1] > 1
    _same_count("accuracy", out, tgt, out.shape[:-1] if classes else None)
    if classes:
        pred = out.argmax(axis=-1)
        return float(np.mean(pred == tgt.reshape(pred.shape)))
    pred = out.reshape(-1) > 0.5
    return float(np.mean(pred == (tgt.reshape(-1) > 0.5)))


def r2_score(output: Any, target: Any) -> float:
    """Coefficient of determination: 1 - sum((y - yhat)^2) / sum((y - mean(y))^2).

    Example:
        >>> import numpy as np
        >>> r2_score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
        0.7857142857142857
    """
    out = _np(output).astype(np.float64)
    tgt = _np(target).astype(np.float64)
    _same_count("r2_score", out, tgt)
    out, tgt = out.reshape(-1), tgt.reshape(-1)
    ss_res = float(np.sum((tgt - out) ** 2))
    ss_tot = float(np.sum((tgt - tgt.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def mse(output: Any, target: Any) -> float:
    """Mean squared error, mean((yhat - y)^2).

    Example:
        >>> import numpy as np
        >>> mse(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
        2.0
    """
    out = _np(output).astype(np.float64)
    tgt = _np(target).astype(np.float64)
    _same_count("mse", out, tgt)
    out, tgt = out.reshape(-1), tgt.reshape(-1)
    return float(np.mean((out - tgt) ** 2))


_BUILTIN: dict[str, Metric] = {"accuracy": accuracy, "r2": r2_score, "mse": mse}


def _metric_table(metrics: Union[None, Mapping[str, Any], Sequence[Any]]) -> dict[str, Metric]:
    if metrics is None:
        return {}
    items = metrics.items() if isinstance(metrics, Mapping) else [(None, m) for m in metrics]
    table = {}
    for name, m in items:
        if isinstance(m, str):
            if m not in _BUILTIN:
                raise arg_error(
                    "fit", "metrics", f"name built-in metrics {sorted(_BUILTIN)} or be callables "
                    "metric(output, target) -> float", repr(m),
                )  # fmt: skip
            name, m = name or m, _BUILTIN[m]
        elif not callable(m):
            raise arg_error("fit", "metrics", "hold names or callables", describe(m), TypeError)
        name = name or getattr(m, "__name__", "metric")
        if name == "loss" or name.startswith("val_"):
            raise arg_error(
                "fit", "metrics", "use names other than 'loss' and 'val_*' (reserved)", repr(name)
            )
        table[name] = m
    return table


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode`` is "min" or "max"; by default "min" for names containing "loss", "mse" or
    "error", else "max". With ``restore_best`` the model gets back the weights of its best
    epoch when training stops (or ends).

    Example:
        >>> EarlyStopping(patience=3).monitor
        'val_loss'
    """

    patience: int = 5
    monitor: str = "val_loss"
    min_delta: float = 0.0
    mode: Optional[str] = None
    restore_best: bool = True

    def __post_init__(self) -> None:
        if self.patience < 0:
            raise arg_error("EarlyStopping", "patience", "be >= 0", self.patience)
        if self.mode is None:
            lower = any(k in self.monitor for k in ("loss", "mse", "error"))
            self.mode = "min" if lower else "max"
        if self.mode not in ("min", "max"):
            raise arg_error("EarlyStopping", "mode", "be 'min', 'max' or None", repr(self.mode))
        self.best: float = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int = -1
        self.best_state: Optional[dict] = None
        self._bad = 0

    def update(self, value: float, epoch: int, model: Any) -> bool:
        """Record one epoch's value; True when training should stop."""
        better = (
            value < self.best - self.min_delta
            if self.mode == "min"
            else value > self.best + self.min_delta
        )
        if better or self.best_epoch < 0:
            self.best, self.best_epoch, self._bad = value, epoch, 0
            if self.restore_best and hasattr(model, "state_dict"):
                self.best_state = {k: np.array(_np(v)) for k, v in model.state_dict().items()}
            return False
        self._bad += 1
        return self._bad >= self.patience


def _split_batch(batch: Any) -> tuple[tuple, Any]:
    """(inputs, target) from a loader batch: the last element is the target."""
    if isinstance(batch, (tuple, list)):
        if len(batch) < 2:
            raise arg_error(
                "fit", "train_loader", "yield batches (inputs..., target)",
                f"a {type(batch).__name__} of {len(batch)} element(s)",
            )  # fmt: skip
        return tuple(batch[:-1]), batch[-1]
    raise arg_error(
        "fit", "train_loader", "yield tuples (inputs..., target)", describe(batch), TypeError
    )


def _set_mode(model: Any, training: bool) -> None:
    fn = getattr(model, "train" if training else "eval", None)
    if callable(fn):
        fn()


class _Progress:
    """A tqdm bar when available; else a line per epoch; or nothing when quiet."""

    def __init__(self, verbose: Optional[bool]) -> None:
        if verbose is None:
            isatty = getattr(sys.stdout, "isatty", None)
            verbose = bool(isatty and isatty())
        self.verbose = verbose
        self.tqdm = None
        if verbose:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            self.tqdm = tqdm
        self.bar = None
        self._last = 0.0

    def start(self, epoch: int, epochs: int, total: int) -> None:
        self._desc = f"epoch {epoch + 1}/{epochs}"
        if self.tqdm is not None:
            self.bar = self.tqdm(
                total=total, desc=self._desc, file=sys.stdout, leave=True, dynamic_ncols=True
            )

    def step(self, loss_sum: float, count: int, running: dict) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.monotonic()
        if now - self._last > 0.1 and count:  # formatting every batch would cost more
            self._last = now
            values = {"loss": loss_sum / count, **{k: v / count for k, v in running.items()}}
            self.bar.set_postfix_str(_fmt(values), refresh=False)

    def end(self, values: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(_fmt(values), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            print(f"{self._desc}: {_fmt(values)}", flush=True)


def _fmt(values: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in values.items())


def _batch_size(t: Any) -> int:
    shape = getattr(t, "shape", ())
    return int(shape[0]) if len(shape) else 1


def _run_epoch(
    model: Any,
    loss_fn: Callable,
    loader: Iterable,
    metrics: dict[str, Metric],
    optimizer: Any = None,
    progress: Optional[_Progress] = None,
) -> dict[str, float]:
    """One pass: trains when ``optimizer`` is given, else only scores. Returns epoch means."""
    loss_sum, count = 0.0, 0
    outs: list[np.ndarray] = []
    tgts: list[np.ndarray] = []
    running = {k: 0.0 for k in metrics}
    show = progress is not None and progress.bar is not None
    for batch in loader:
        inputs, target = _split_batch(batch)
        out = model(*inputs)
        loss = loss_fn(out, target)
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        n = _batch_size(target)
        loss_sum += float(loss.item()) * n
        count += n
        if metrics:
            o, t = _np(out), _np(target)
            outs.append(o)
            tgts.append(t)
            if show:
                for k, m in metrics.items():
                    running[k] += m(o, t) * n
        if progress is not None:
            progress.step(loss_sum, count, running)
    if count == 0:
        raise arg_error("fit/evaluate", "loader", "yield at least one sample", "no batches")
    result = {"loss": loss_sum / count}
    if metrics:
        o, t = np.concatenate(outs), np.concatenate(tgts)
        result.update({k: float(m(o, t)) for k, m in metrics.items()})
    return result


def evaluate(
    model: Any,
    loss_fn: Callable,
    loader: Iterable,
    metrics: Union[None, Mapping[str, Any], Sequence[Any]] = None,
) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``loader``, in eval mode and without gradients.

    The model is left in eval mode.

    Example:
        >>> # scores = evaluate(model, nn.functional.binary_cross_entropy, test_loader,
        >>> #                   metrics=["accuracy"])   # {'loss': ..., 'accuracy': ...}
    """
    import fastdl

    table = _metric_table(metrics)
    _iterable("evaluate", "loader", loader)
    _set_mode(model, False)
    with fastdl.no_grad():
        return _run_epoch(model, loss_fn, loader, table)


def fit(
    model: Any,
    loss_fn: Callable,
    optimizer: Any,
    train_loader: Iterable,
    epochs: int,
    val_loader: Optional[Iterable] = None,
    metrics: Union[None, Mapping[str, Any], Sequence[Any]] = None,
    *,
    scheduler: Any = None,
    checkpoint: Union[None, str, os.PathLike] = None,
    early_stopping: Union[None, int, EarlyStopping] = None,
    verbose: Optional[bool] = None,
) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` passes over ``train_loader``; returns the history.

    Each batch is ``(inputs..., target)``: ``loss_fn(model(*inputs), target)`` is minimised
    with ``optimizer`` (``zero_grad``, ``backward``, ``step``). After each epoch the model is
    scored on ``val_loader`` (eval mode, no gradients) and ``scheduler.step()`` is called.

    Args:
        metrics: names ("accuracy", "r2", "mse"), callables ``f(output, target) -> float``, or
            a dict name -> either.
        checkpoint: a path for ``fastdl.save(model.state_dict(), path)`` after every epoch;
            ``{epoch}`` in it (e.g. ``"ckpt/epoch{epoch}.npz"``) keeps one file per epoch.
        early_stopping: an :class:`EarlyStopping`, or an int patience on "val_loss" (on
            "loss" when there is no ``val_loader``).
        verbose: progress bar (True), nothing (False), or a bar only when stdout is a
            terminal (None).

    Returns:
        ``{"loss": [...], "<metric>": [...], "val_loss": [...], "val_<metric>": [...],
        "time": [...]}``, one entry per epoch run (``time`` in seconds).

    Example:
        >>> # history = fit(model, nn.functional.binary_cross_entropy, optim.Adam(...),
        >>> #               train_loader, epochs=20, val_loader=val_loader,
        >>> #               metrics=["accuracy"], early_stopping=5)
        >>> # history["val_accuracy"][-1]
    """
    import fastdl

    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise arg_error("fit", "epochs", "be an int >= 0", repr(epochs))
    _iterable("fit", "train_loader", train_loader)
    if val_loader is not None:
        _iterable("fit", "val_loader", val_loader)
    table = _metric_table(metrics)
    stopper = early_stopping
    if isinstance(stopper, (int, np.integer)) and not isinstance(stopper, bool):
        stopper = EarlyStopping(
            patience=int(stopper), monitor="val_loss" if val_loader is not None else "loss"
        )
    elif stopper is not None and not isinstance(stopper, EarlyStopping):
        raise arg_error(
            "fit", "early_stopping", "be an int patience or an EarlyStopping", describe(stopper),
            TypeError,
        )  # fmt: skip
    if stopper is not None:
        stopper = copy.copy(stopper)
        stopper.__post_init__()  # fresh state, so one EarlyStopping can serve several fits
    progress = _Progress(verbose)
    history: dict[str, list[float]] = {}
    try:
        total = len(train_loader)  # type: ignore[arg-type]
    except TypeError:
        total = None
    for epoch in range(int(epochs)):
        t0 = time.perf_counter()
        _set_mode(model, True)
        progress.start(epoch, int(epochs), total)
        row = _run_epoch(model, loss_fn, train_loader, table, optimizer, progress)
        if val_loader is not None:
            _set_mode(model, False)
            with fastdl.no_grad():
                val = _run_epoch(model, loss_fn, val_loader, table)
            row.update({f"val_{k}": v for k, v in val.items()})
        row["time"] = time.perf_counter() - t0
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        progress.end({k: v for k, v in row.items() if k != "time"})
        if scheduler is not None:
            scheduler.step()
        if checkpoint is not None:
            path = os.fspath(checkpoint)
            fastdl.save(model.state_dict(), path.format(epoch=epoch + 1))
        if stopper is not None:
            if stopper.monitor not in row:
                raise arg_error(
                    "fit", "early_stopping", f"monitor one of the epoch's values {sorted(row)}",
                    repr(stopper.monitor),
                )  # fmt: skip
            if stopper.update(row[stopper.monitor], epoch, model):
                break
    if stopper is not None and stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    _set_mode(model, True)
    return history
