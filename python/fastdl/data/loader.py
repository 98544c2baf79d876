"""DataLoader: a dataset in minibatches of Tensors, in order or shuffled."""

from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np

from .._random import get_generator
from ..ops._checks import arg_error, describe
from ._arrays import as_array, to_tensor
from .dataset import Dataset, TensorDataset

__all__ = ["DataLoader"]


def _collate(items: list, fn: str) -> Any:
    """Stack a list of samples field by field (tuples stay tuples, dicts stay dicts)."""
    first = items[0]
    if isinstance(first, (tuple, list)):
        return tuple(_collate([it[k] for it in items], fn) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _collate([it[k] for it in items], fn) for k in first}
    return np.stack([as_array(it, fn, "sample") for it in items])


def _wrap(batch: Any) -> Any:
    if isinstance(batch, tuple):
        return tuple(_wrap(b) for b in batch)
    if isinstance(batch, dict):
        return {k: _wrap(v) for k, v in batch.items()}
    return to_tensor(batch)


class DataLoader:
    """Iterate over ``dataset`` in minibatches of ``batch_size`` samples, as Tensors.

    - Each pass (epoch) visits every sample exactly once; the last batch is smaller when
      ``batch_size`` does not divide the length, unless ``drop_last=True`` drops it.
    - ``shuffle=True`` draws a fresh permutation each epoch from ``fastdl.get_generator()``
      (so ``fastdl.manual_seed`` makes it reproducible), or from the loader's own generator
      when ``seed`` is given (two loaders with the same seed give the same epochs).
    - Over a :class:`TensorDataset` a batch is gathered in one step per array; without
      shuffling it is a slice sharing memory with the dataset's arrays (no copy). Other
      datasets are read item by item and stacked.
    - A batch has the structure of an item: a tuple of Tensors for a TensorDataset.

    Example:
        >>> import numpy as np
        >>> from fastdl.data import DataLoader, TensorDataset
        >>> ds = TensorDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
        >>> [tuple(y.shape) for _, y in DataLoader(ds, batch_size=2)]
        [(2,), (2,), (1,)]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: Optional[int] = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise arg_error(
                "DataLoader", "batch_size", "be an int", describe(batch_size), TypeError
            )
        if batch_size < 1:
            raise arg_error("DataLoader", "batch_size", "be >= 1", batch_size)
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise arg_error(
                "DataLoader", "dataset", "define __len__ and __getitem__", describe(dataset),
                TypeError,
            )  # fmt: skip
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        ds, bs = self.dataset, self.batch_size
        n = len(ds)
        order = None
        if self.shuffle:
            rng = self._rng if self._rng is not None else get_generator()
            order = rng.permutation(n)
        stop = n - n % bs if self.drop_last else n
        if isinstance(ds, TensorDataset):
            # The common case, kept lean: a few microseconds per batch matter for small models.
            arrays = ds.arrays
            if order is None:
                for start in range(0, stop, bs):
                    end = start + bs
                    yield tuple([to_tensor(a[start:end]) for a in arrays])
            else:
                for start in range(0, stop, bs):
                    rows = order[start : start + bs]
                    yield tuple([to_tensor(a.take(rows, axis=0)) for a in arrays])
            return
        gather = getattr(ds, "_gather", None)
        for start in range(0, stop, bs):
            end = min(start + bs, n)
            rows = order[start:end] if order is not None else slice(start, end)
            batch = gather(rows) if gather is not None else None
            if batch is None:
                idx = range(start, end) if order is None else rows.tolist()
                batch = _collate([ds[i] for i in idx], "DataLoader")
            yield _wrap(batch)
