"""One epoch of minibatches from arrays in memory: fastdl's DataLoader vs PyTorch's and NumPy.

A (8192, 32) float32 feature array with (8192, 1) targets, batch 16 and 128, in order and
shuffled. PyTorch's DataLoader reads a TensorDataset item by item and collates (its default);
the NumPy peer is the loop a user would write by hand (``x[perm[i:i+b]]``).
"""

from __future__ import annotations

import numpy as np
from harness import Case, main, setup, try_torch

from fastdl.data import DataLoader, TensorDataset

N, D = 8192, 32


def cases(torch) -> list[Case]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D), dtype=np.float32)
    y = rng.integers(0, 2, size=(N, 1)).astype(np.float32)
    out = []
    for batch in (16, 128):
        for shuffle in (False, True):
            loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=shuffle, seed=0)

            def numpy_epoch(batch=batch, shuffle=shuffle):
                order = rng.permutation(N) if shuffle else None
                for i in range(0, N, batch):
                    if order is None:
                        _ = (x[i : i + batch], y[i : i + batch])
                    else:
                        rows = order[i : i + batch]
                        _ = (x[rows], y[rows])

            impls = {
                "fastdl": lambda loader=loader: [None for _ in loader],
                "numpy": numpy_epoch,
            }
            if torch is not None:
                tds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
                g = torch.Generator().manual_seed(0)
                tl = torch.utils.data.DataLoader(
                    tds, batch_size=batch, shuffle=shuffle, generator=g
                )
                impls["torch"] = lambda tl=tl: [None for _ in tl]
            name = f"epoch {N}x{D} batch {batch} {'shuffled' if shuffle else 'in order'}"
            out.append(Case(name, impls, note=f"{N // batch} batches"))
    return out


if __name__ == "__main__":
    args = setup()
    title = "DataLoader: one epoch over arrays in memory"
    main("data", title, cases(try_torch(args.threads)), args)
