"""Small real datasets, offline: the ones that ship inside scikit-learn (extra ``examples``).

Each loader returns ``(X, y)`` NumPy arrays, features as float32:

- :func:`load_breast_cancer` — 569 x 30, binary ``y`` (1 = benign, 0 = malignant), float32
  so it feeds binary cross-entropy directly.
- :func:`load_diabetes` — 442 x 10, ``y`` a float32 measure of disease progression.
- :func:`load_digits` — 1797 8x8 images flattened to 64 values in [0, 16], ``y`` int64 in 0..9.

scikit-learn stores them in its own package, so nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["load_breast_cancer", "load_diabetes", "load_digits"]


def _sklearn_datasets(fn: str) -> Any:
    try:
        from sklearn import datasets
    except ImportError as e:
        raise ImportError(
            f"fastdl.datasets.{fn}() needs scikit-learn, which ships this dataset; install "
            "fastdl's 'examples' extra: pip install \"fastdl[examples]\" (or, from a clone, "
            'pip install ".[examples]")'
        ) from e
    return datasets


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """The Wisconsin breast-cancer data: ``X`` (569, 30) float32, ``y`` (569,) float32 in {0, 1}.

    Example:
        >>> from fastdl.datasets import load_breast_cancer
        >>> X, y = load_breast_cancer()
        >>> X.shape, y.shape, sorted(set(y.tolist()))
        ((569, 30), (569,), [0.0, 1.0])
    """
    d = _sklearn_datasets("load_breast_cancer").load_breast_cancer()
    return d.data.astype(np.float32), d.target.astype(np.float32)


def load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    """The diabetes regression data: ``X`` (442, 10) float32 (already scaled), ``y`` (442,).

    ``y`` (float32, 25..346) is disease progression one year after baseline.

    Example:
        >>> from fastdl.datasets import load_diabetes
        >>> X, y = load_diabetes()
        >>> X.shape, y.shape
        ((442, 10), (442,))
    """
    d = _sklearn_datasets("load_diabetes").load_diabetes()
    return d.data.astype(np.float32), d.target.astype(np.float32)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Handwritten digits: ``X`` (1797, 64) float32 pixels in [0, 16], ``y`` (1797,) int64.

    Example:
        >>> from fastdl.datasets import load_digits
        >>> X, y = load_digits()
        >>> X.shape, int(y.max())
        ((1797, 64), 9)
    """
    d = _sklearn_datasets("load_digits").load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)
