"""fastdl.datasets: the scikit-learn datasets, and the message when scikit-learn is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fastdl import datasets


def test_shapes_and_dtypes():
    pytest.importorskip("sklearn")
    X, y = datasets.load_breast_cancer()
    assert X.shape == (569, 30) and X.dtype == np.float32 and y.dtype == np.float32
    assert set(np.unique(y).tolist()) == {0.0, 1.0}
    X, y = datasets.load_diabetes()
    assert X.shape == (442, 10) and y.shape == (442,) and X.dtype == np.float32
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and y.dtype == np.int64
    assert np.array_equal(np.unique(y), np.arange(10)) and X.max() == 16


@pytest.mark.parametrize("name", ["load_breast_cancer", "load_diabetes", "load_digits"])
def test_missing_sklearn_names_the_extra(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    with pytest.raises(ImportError, match=r"scikit-learn.*examples") as info:
        getattr(datasets, name)()
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["load_breast_cancer", "load_diabetes", "load_digits"])
def test_same_values_as_sklearns_loaders(name):
    # fastdl reads the files shipped in scikit-learn directly; they must match its loaders.
    skd = pytest.importorskip("sklearn.datasets")
    X, y = getattr(datasets, name)()
    ref = getattr(skd, name)()
    np.testing.assert_allclose(X, ref.data.astype(np.float32), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(y, ref.target.astype(y.dtype))


def test_falls_back_to_sklearn_when_the_files_are_elsewhere(monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.setattr(datasets, "_data_file", lambda fn, name: None)
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and y.dtype == np.int64
