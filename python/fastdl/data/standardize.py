"""Standardisation (zero mean, unit variance per feature) fitted on training data only."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..ops._checks import arg_error
from ._arrays import Tensor, as_array, to_tensor
from .dataset import Dataset, TensorDataset
from .loader import _collate

__all__ = ["Standardizer", "standardize"]


class Standardizer:
    """``x -> (x - mean) / std`` per feature (column), with mean and std from :meth:`fit`.

    Fit it on the training data alone and apply the same transform to validation and test
    data, so no statistic leaks from held-out samples. A feature whose std is below ``eps`` is
    only centred. Float32 input stays float32 (statistics are computed in float64); a Tensor
    in gives a Tensor out.

    Example:
        >>> import numpy as np
        >>> s = Standardizer().fit(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> s.transform(np.array([[2.0, 50.0]]))
        array([[0., 3.]])
    """

    def __init__(self, eps: float = 1e-12) -> None:
        self.eps = float(eps)
        self.mean: Optional[np.ndarray] = None
        self.std: Optional[np.ndarray] = None

    def fit(self, x: Any) -> Standardizer:
        """Learn the per-feature mean and std of ``x`` (samples along axis 0)."""
        a = as_array(x, "Standardizer.fit", "x")
        if a.ndim < 1 or a.shape[0] == 0:
            raise arg_error("Standardizer.fit", "x", "have at least one sample", f"shape {a.shape}")
        self.mean = a.mean(axis=0, dtype=np.float64)
        std = a.std(axis=0, dtype=np.float64)
        self.std = np.where(std < self.eps, 1.0, std)
        return self

    def _check(self, a: np.ndarray, fn: str) -> None:
        if self.mean is None:
            raise arg_error(
                f"Standardizer.{fn}", "self", "be fitted (call fit() first)", "an unfitted one",
                RuntimeError,
            )  # fmt: skip
        if a.shape[1:] != self.mean.shape:
            raise arg_error(
                f"Standardizer.{fn}", "x", f"have feature shape {self.mean.shape} (as fitted)",
                f"shape {a.shape}",
            )  # fmt: skip

    def transform(self, x: Any) -> Any:
        """Standardise ``x`` with the fitted statistics (a new array; ``x`` is untouched)."""
        a = as_array(x, "Standardizer.transform", "x")
        self._check(a, "transform")
        dt = a.dtype if a.dtype.kind == "f" else np.result_type(a.dtype, np.float32)
        out = ((a - self.mean) / self.std).astype(dt, copy=False)
        return to_tensor(out) if isinstance(x, Tensor) else out

    def fit_transform(self, x: Any) -> Any:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, x: Any) -> Any:
        """Undo :meth:`transform`: ``x * std + mean``."""
        a = as_array(x, "Standardizer.inverse_transform", "x")
        self._check(a, "inverse_transform")
        dt = a.dtype if a.dtype.kind == "f" else np.result_type(a.dtype, np.float32)
        out = (a * self.std + self.mean).astype(dt, copy=False)
        return to_tensor(out) if isinstance(x, Tensor) else out


def _dataset_arrays(ds: Dataset) -> tuple[np.ndarray, ...]:
    n = len(ds)
    arrays = ds._gather(slice(0, n)) if hasattr(ds, "_gather") else None
    if arrays is None:
        arrays = _collate([ds[i] for i in range(n)], "standardize")
        arrays = arrays if isinstance(arrays, tuple) else (arrays,)
    return arrays


def standardize(train: Any, *others: Any, eps: float = 1e-12) -> tuple:
    """Standardise features with statistics fitted on ``train`` only; returns all, transformed.

    Each argument is an array (or Tensor) of features, or a dataset whose items are tuples
    with the features first (a :class:`TensorDataset` or a :class:`Subset` of one, e.g. from
    :func:`random_split`). A dataset comes back as a new :class:`TensorDataset` with its
    features standardised and its other arrays (targets) unchanged, held contiguously so an
    unshuffled DataLoader over it slices without copying.

    Example:
        >>> import numpy as np
        >>> from fastdl.data import TensorDataset, random_split, standardize
        >>> ds = TensorDataset(np.random.rand(100, 3), np.zeros(100))
        >>> train, test = standardize(*random_split(ds, [80, 20], seed=0))
        >>> bool(np.allclose(train.arrays[0].mean(axis=0), 0))
        True
    """
    items = (train, *others)
    unpacked = [_dataset_arrays(x) if isinstance(x, Dataset) else None for x in items]
    feats = [u[0] if u is not None else x for u, x in zip(unpacked, items)]
    scaler = Standardizer(eps).fit(feats[0])
    out = []
    for u, f in zip(unpacked, feats):
        z = scaler.transform(f)
        out.append(z if u is None else TensorDataset(z, *(np.ascontiguousarray(a) for a in u[1:])))
    return tuple(out)
