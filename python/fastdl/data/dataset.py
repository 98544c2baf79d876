"""Datasets: the map-style protocol, arrays held in memory, subsets and random splits."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import numpy as np

from .._random import get_generator
from ..ops._checks import arg_error
from ._arrays import as_array, to_tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split"]


class Dataset:
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` the i-th one (PyTorch's protocol).

    Subclass it and define ``__len__`` and ``__getitem__``; an item is an array, a number, or a
    tuple of them, and :class:`~fastdl.data.DataLoader` stacks items into batches.

    Example:
        >>> import numpy as np
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         return np.float32(i), np.float32(i * i)
        >>> Squares()[3]
        (np.float32(3.0), np.float32(9.0))
    """

    def __len__(self) -> int:
        raise arg_error(
            f"{type(self).__name__}.__len__", "self", "be a Dataset subclass that defines "
            "__len__", type(self).__name__, NotImplementedError,
        )  # fmt: skip

    def __getitem__(self, index: int) -> Any:
        raise arg_error(
            f"{type(self).__name__}.__getitem__", "self", "be a Dataset subclass that defines "
            "__getitem__", type(self).__name__, NotImplementedError,
        )  # fmt: skip

    # Batched access used by DataLoader; datasets that can gather many rows at once (arrays in
    # memory) override it. ``rows`` is a slice or an int64 index array.
    def _gather(self, rows: Union[slice, np.ndarray]) -> Optional[tuple[np.ndarray, ...]]:
        return None


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays (features, targets, ...), kept as given.

    Arrays and Tensors are held without copying; ``ds[i]`` is a tuple of Tensors, one row of
    each. A DataLoader over it gathers whole batches at once (a slice, hence no copy, when
    not shuffled).

    Example:
        >>> import numpy as np
        >>> ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.array([0, 1, 0]))
        >>> len(ds), ds.arrays[0].shape
        (3, (3, 2))
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise arg_error("TensorDataset", "arrays", "hold at least one array", "none")
        held = tuple(as_array(a, "TensorDataset", f"arrays[{i}]") for i, a in enumerate(arrays))
        for i, a in enumerate(held):
            if a.ndim == 0:
                raise arg_error(
                    "TensorDataset", f"arrays[{i}]", "have a first (sample) dimension",
                    "a 0-d array",
                )  # fmt: skip
            if a.shape[0] != held[0].shape[0]:
                raise arg_error(
                    "TensorDataset", f"arrays[{i}]", f"have {held[0].shape[0]} samples (first "
                    "dimension) like arrays[0]", f"shape {a.shape}",
                )  # fmt: skip
        self.arrays: tuple[np.ndarray, ...] = held

    @property
    def tensors(self) -> tuple:
        """The held arrays as Tensors sharing their memory (PyTorch's attribute name)."""
        return tuple(to_tensor(a) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: int) -> tuple:
        return tuple(to_tensor(np.asarray(a[index])) for a in self.arrays)

    def _gather(self, rows: Union[slice, np.ndarray]) -> tuple[np.ndarray, ...]:
        # A slice is a view; an index array is one gather (a copy) per array (take is ~3x
        # faster than fancy indexing on small batches).
        if isinstance(rows, slice):
            return tuple([a[rows] for a in self.arrays])
        return tuple([a.take(rows, axis=0) for a in self.arrays])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Example:
        >>> import numpy as np
        >>> base = TensorDataset(np.arange(5.0))
        >>> sub = Subset(base, [4, 0])
        >>> len(sub), float(sub[0][0].item())
        (2, 4.0)
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise arg_error(
                "Subset", "indices", "be a 1-d sequence of ints",
                f"dtype {idx.dtype} and shape {idx.shape}", TypeError,
            )  # fmt: skip
        idx = idx.astype(np.int64, copy=False)
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise arg_error(
                "Subset", "indices", f"be in [{-n}, {n - 1}] for a dataset of {n} samples", bad,
                IndexError,
            )  # fmt: skip
        self.dataset = dataset
        self.indices = np.where(idx < 0, idx + n, idx)

    def __len__(self) -> int:
        return self.indices.shape[0]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def _gather(self, rows: Union[slice, np.ndarray]) -> Optional[tuple[np.ndarray, ...]]:
        base = self.indices[rows]
        # A run of consecutive indices becomes a slice, so the base can hand out a view.
        if base.size and base[-1] - base[0] == base.size - 1 and np.all(np.diff(base) == 1):
            return self.dataset._gather(slice(int(base[0]), int(base[-1]) + 1))
        return self.dataset._gather(base)


def random_split(
    dataset: Dataset,
    lengths: Sequence[Union[int, float]],
    seed: Optional[int] = None,
) -> list[Subset]:
    """Split ``dataset`` into disjoint random :class:`Subset` s of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (rounded
    down, the remainder dealt one by one to the first subsets, as PyTorch does). The
    permutation comes from ``fastdl.get_generator()``, or from its own generator when ``seed``
    is given.

    Example:
        >>> import numpy as np
        >>> train, test = random_split(TensorDataset(np.arange(10.0)), [0.8, 0.2], seed=0)
        >>> len(train), len(test)
        (8, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise arg_error("random_split", "lengths", "be non-empty", "[]")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lengths):
        counts = [int(v) for v in lengths]
        if any(c < 0 for c in counts) or sum(counts) != n:
            raise arg_error(
                "random_split", "lengths", f"be non-negative and sum to the dataset's length {n}",
                counts,
            )  # fmt: skip
    else:
        fracs = [float(v) for v in lengths]
        if any(f < 0 or f > 1 for f in fracs) or not math.isclose(sum(fracs), 1.0, abs_tol=1e-6):
            raise arg_error(
                "random_split", "lengths", "be fractions in [0, 1] summing to 1 (or integer "
                f"counts summing to the dataset's length {n})", fracs,
            )  # fmt: skip
        counts = [int(math.floor(n * f)) for f in fracs]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    rng = np.random.default_rng(seed) if seed is not None else get_generator()
    perm = rng.permutation(n)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start : start + c]))
        start += c
    return out
