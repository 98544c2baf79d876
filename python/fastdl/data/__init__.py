"""Datasets, minibatch loading, splitting and standardisation (PyTorch-shaped names).

- :class:`Dataset` / :class:`TensorDataset` / :class:`Subset` — what to load.
- :class:`DataLoader` — minibatches of Tensors, shuffled from ``fastdl.get_generator()`` or a
  seed; an unshuffled loader over a :class:`TensorDataset` yields slices that share memory with
  the arrays (no copy).
- :func:`random_split` — disjoint random subsets.
- :class:`Standardizer` / :func:`standardize` — zero mean, unit variance, fitted on training
  data only.
"""

from __future__ import annotations

from .dataset import Dataset, Subset, TensorDataset, random_split
from .loader import DataLoader
from .standardize import Standardizer, standardize

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "random_split",
    "DataLoader",
    "Standardizer",
    "standardize",
]
