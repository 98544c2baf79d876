"""Small real datasets, offline: the ones that ship inside scikit-learn (extra ``examples``).

Each loader returns ``(X, y)`` NumPy arrays, features as float32:

- :func:`load_breast_cancer` — 569 x 30, binary ``y`` (1 = benign, 0 = malignant), float32
  so it feeds binary cross-entropy directly.
- :func:`load_diabetes` — 442 x 10, ``y`` a float32 measure of disease progression.
- :func:`load_digits` — 1797 8x8 images flattened to 64 values in [0, 16], ``y`` int64 in 0..9.

scikit-learn stores them in its own package, so nothing is downloaded. The files are read
straight from that package with NumPy (importing scikit-learn itself, which pulls in SciPy,
takes ~2.5 s); if their layout is not the expected one, scikit-learn's own loaders are used.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = ["load_breast_cancer", "load_diabetes", "load_digits"]


def _missing(fn: str) -> ImportError:
    return ImportError(
        f"fastdl.datasets.{fn}() needs scikit-learn, which ships this dataset; install "
        "fastdl's 'examples' extra: pip install \"fastdl[examples]\" (or, from a clone, "
        'pip install ".[examples]")'
    )


def _sklearn_datasets(fn: str) -> Any:
    try:
        from sklearn import datasets
    except ImportError as e:
        raise _missing(fn) from e
    return datasets


def _data_file(fn: str, name: str) -> Optional[Path]:
    """``sklearn/datasets/data/<name>`` of the installed scikit-learn, found without importing
    it; None when the file is not there (then the caller falls back to scikit-learn's loader)."""
    if "sklearn" in sys.modules and sys.modules["sklearn"] is None:
        raise _missing(fn)  # import blocked on purpose
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise _missing(fn)
    path = Path(spec.origin).parent / "datasets" / "data" / name
    return path if path.is_file() else None


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """The Wisconsin breast-cancer data: ``X`` (569, 30) float32, ``y`` (569,) float32 in {0, 1}.

    Example:
        >>> from fastdl.datasets import load_breast_cancer
        >>> X, y = load_breast_cancer()
        >>> X.shape, y.shape, sorted(set(y.tolist()))
        ((569, 30), (569,), [0.0, 1.0])
    """
    path = _data_file("load_breast_cancer", "breast_cancer.csv")
    if path is not None:
        a = np.loadtxt(path, delimiter=",", skiprows=1)
        if a.shape == (569, 31):
            return a[:, :30].astype(np.float32), a[:, 30].astype(np.float32)
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
    raw = _data_file("load_diabetes", "diabetes_data_raw.csv.gz")
    tgt = _data_file("load_diabetes", "diabetes_target.csv.gz")
    if raw is not None and tgt is not None:
        x, y = np.loadtxt(raw), np.loadtxt(tgt)
        if x.shape == (442, 10) and y.shape == (442,):
            # scikit-learn's scaling: centred, unit std, then divided by sqrt(n_samples).
            x = (x - x.mean(axis=0)) / x.std(axis=0) / np.sqrt(x.shape[0])
            return x.astype(np.float32), y.astype(np.float32)
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
    path = _data_file("load_digits", "digits.csv.gz")
    if path is not None:
        a = np.loadtxt(path, delimiter=",")
        if a.shape == (1797, 65):
            return a[:, :64].astype(np.float32), a[:, 64].astype(np.int64)
    d = _sklearn_datasets("load_digits").load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)
