"""fastdl.data: DataLoader coverage, shuffling, drop_last, no-copy slices; splits; standardising."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl.data import (
    DataLoader,
    Dataset,
    Standardizer,
    Subset,
    TensorDataset,
    random_split,
    standardize,
)


def arr(t):
    """The ndarray behind a batch element (checks it is a Tensor once Tensor exists)."""
    if hasattr(fastdl, "Tensor"):
        assert isinstance(t, fastdl.Tensor), type(t)
        return t.data
    assert isinstance(t, np.ndarray)
    return t


def make(n=23, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)
    return x, y, TensorDataset(x, y)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n,bs", [(23, 5), (20, 5), (3, 7), (1, 1), (0, 4)])
def test_every_sample_once_per_epoch(n, bs, shuffle):
    x, y, ds = make(n)
    loader = DataLoader(ds, batch_size=bs, shuffle=shuffle, seed=3)
    for _ in range(2):
        seen = []
        sizes = []
        for xb, yb in loader:
            xb, yb = arr(xb), arr(yb)
            np.testing.assert_array_equal(xb, x[yb])  # rows stay paired with their targets
            seen.extend(yb.tolist())
            sizes.append(len(yb))
        assert sorted(seen) == list(range(n))
        assert len(sizes) == len(loader) == -(-n // bs)
        assert all(s == bs for s in sizes[:-1])
        if n:
            assert sizes[-1] == n - bs * (len(sizes) - 1)  # the last, partial batch


def test_unshuffled_order_is_the_dataset_order():
    x, y, ds = make(11)
    got = np.concatenate([arr(yb) for _, yb in DataLoader(ds, batch_size=4)])
    np.testing.assert_array_equal(got, y)


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last(shuffle):
    x, y, ds = make(23)
    loader = DataLoader(ds, batch_size=5, shuffle=shuffle, drop_last=True, seed=0)
    sizes = [len(arr(yb)) for _, yb in loader]
    assert sizes == [5, 5, 5, 5] and len(loader) == 4
    assert len(DataLoader(ds, batch_size=30, drop_last=True)) == 0
    assert list(DataLoader(ds, batch_size=30, drop_last=True)) == []


def test_seeded_shuffle_is_reproducible_and_varies_by_epoch():
    _, _, ds = make(50)

    def epochs(loader, k=3):
        return [np.concatenate([arr(yb) for _, yb in loader]) for _ in range(k)]

    a = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=42))
    b = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=42))
    c = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=43))
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], a[1])  # a new permutation each epoch
    assert not np.array_equal(a[0], np.arange(50))
    assert not np.array_equal(a[0], c[0])


def test_unseeded_shuffle_follows_manual_seed():
    _, _, ds = make(50)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    fastdl.manual_seed(7)
    a = np.concatenate([arr(yb) for _, yb in loader])
    fastdl.manual_seed(7)
    b = np.concatenate([arr(yb) for _, yb in loader])
    fastdl.manual_seed(8)
    c = np.concatenate([arr(yb) for _, yb in loader])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unshuffled_batches_are_views_not_copies():
    x, y, ds = make(23)
    for xb, yb in DataLoader(ds, batch_size=5):
        assert np.shares_memory(arr(xb), x) and np.shares_memory(arr(yb), y)
    # Shuffled batches are gathered: fresh arrays, so writing into them cannot touch the data.
    for xb, _ in DataLoader(ds, batch_size=5, shuffle=True, seed=0):
        assert not np.shares_memory(arr(xb), x)


def test_subset_with_consecutive_indices_still_slices():
    x, y, ds = make(23)
    sub = Subset(ds, np.arange(5, 15))
    batches = [arr(xb) for xb, _ in DataLoader(sub, batch_size=4)]
    assert all(np.shares_memory(b, x) for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), x[5:15])


def test_tensor_inputs_are_held_without_copy():
    if not hasattr(fastdl, "from_numpy"):
        pytest.skip("fastdl.Tensor not available yet")
    x = np.ones((4, 2), np.float32)
    ds = TensorDataset(fastdl.from_numpy(x), np.zeros(4))
    assert ds.arrays[0] is x


class Items(Dataset):
    """A map-style dataset with per-item access only (no batched gather)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full(2, i, np.float32), i % 3


def test_generic_dataset_is_collated_item_by_item():
    loader = DataLoader(Items(7), batch_size=3, shuffle=True, seed=1)
    seen = []
    for xb, yb in loader:
        xb, yb = arr(xb), arr(yb)
        assert xb.shape[1:] == (2,) and xb.dtype == np.float32
        np.testing.assert_array_equal(yb, xb[:, 0].astype(np.int64) % 3)
        seen.extend(xb[:, 0].tolist())
    assert sorted(seen) == list(range(7))
    sub = random_split(Items(7), [4, 3], seed=0)[1]
    vals = sorted(v for xb, _ in DataLoader(sub, batch_size=2) for v in arr(xb)[:, 0].tolist())
    assert vals == sorted(float(i) for i in sub.indices)


def test_random_split_partitions_reproducibly():
    _, _, ds = make(23)
    parts = random_split(ds, [10, 8, 5], seed=0)
    assert [len(p) for p in parts] == [10, 8, 5]
    allidx = np.concatenate([p.indices for p in parts])
    assert sorted(allidx.tolist()) == list(range(23))
    again = random_split(ds, [10, 8, 5], seed=0)
    for p, q in zip(parts, again):
        np.testing.assert_array_equal(p.indices, q.indices)
    fr = random_split(ds, [0.5, 0.5], seed=1)
    assert [len(p) for p in fr] == [12, 11]  # remainder goes to the first subset
    fastdl.manual_seed(5)
    g1 = random_split(ds, [12, 11])[0].indices
    fastdl.manual_seed(5)
    g2 = random_split(ds, [12, 11])[0].indices
    np.testing.assert_array_equal(g1, g2)


def test_bad_arguments_raise_clearly():
    x, y, ds = make(5)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        DataLoader(ds, batch_size=2.0)
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(3)
    with pytest.raises(ValueError, match=r"'arrays\[1\]' must have \d+ samples"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="sum"):
        random_split(ds, [2, 2])
    with pytest.raises(ValueError, match="fractions"):
        random_split(ds, [0.5, 0.6])
    with pytest.raises(IndexError):
        Subset(ds, [0, 5])


def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, size=(200, 4)).astype(np.float32)
    train[:, 3] = 2.0  # a constant feature: centred, not divided by zero
    test = rng.normal(-1.0, 1.0, size=(50, 4)).astype(np.float32)
    s = Standardizer().fit(train)
    zt, ze = s.transform(train), s.transform(test)
    assert zt.dtype == np.float32 and ze.dtype == np.float32
    np.testing.assert_allclose(zt[:, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(zt[:, :3].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(zt[:, 3], 0)
    expect = (test.astype(np.float64) - train.mean(0, dtype=np.float64)) / np.where(
        train.std(0, dtype=np.float64) > 0, train.std(0, dtype=np.float64), 1
    )
    np.testing.assert_allclose(ze, expect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.inverse_transform(ze), test, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="feature shape"):
        s.transform(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="fit"):
        Standardizer().transform(test)


def test_standardize_datasets_from_random_split():
    rng = np.random.default_rng(1)
    x = rng.normal(10, 2, size=(100, 3))
    y = rng.integers(0, 2, size=100)
    tr, te = random_split(TensorDataset(x, y), [80, 20], seed=0)
    ztr, zte = standardize(tr, te)
    assert isinstance(ztr, TensorDataset) and len(ztr) == 80 and len(zte) == 20
    mu, sd = x[tr.indices].mean(0), x[tr.indices].std(0)
    np.testing.assert_allclose(ztr.arrays[0], (x[tr.indices] - mu) / sd)
    np.testing.assert_allclose(zte.arrays[0], (x[te.indices] - mu) / sd)
    np.testing.assert_array_equal(zte.arrays[1], y[te.indices])
    # Arrays in, arrays out.
    a, b = standardize(x[:80], x[80:])
    np.testing.assert_allclose(b, (x[80:] - x[:80].mean(0)) / x[:80].std(0))
