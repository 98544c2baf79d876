"""Regression on the diabetes data with the seed's loss 1/2 (yhat - y)^2.

An MLP 10-32-1 (ReLU) predicts disease progression one year after baseline from 10 baseline
measurements (442 patients; 80% train, 20% held out). Features and target are standardised
with training statistics only; the held-out R^2 is reported in the original units. Strong
decoupled weight decay (AdamW) keeps the MLP from overfitting 354 samples.

The held-out R^2 depends on which 88 patients are held out: over split seeds 0-9 it ranges
0.37-0.55 (mean 0.47; ordinary least squares: 0.30-0.55, mean 0.45). The default seed's split
gives ~0.55.

    python examples/diabetes_regression.py [--fast] [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, Standardizer, TensorDataset, random_split, standardize
from fastdl.datasets import load_diabetes
from fastdl.train import evaluate, fit, r2_score


def half_squared_error(yhat, y):
    """The seed's loss, 1/2 (yhat - y)^2, averaged over the batch."""
    return nn.functional.mse_loss(yhat, y, half=True)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fast", action="store_true", help="fewer epochs (for the test suite)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    epochs = args.epochs or (40 if args.fast else 100)

    X, y = load_diabetes()
    y_scaler = Standardizer()
    split = random_split(TensorDataset(X, y.reshape(-1, 1)), [0.8, 0.2], seed=args.seed)
    train, test = standardize(*split)
    # Standardise the target too (training statistics), so the loss is O(1) from the start.
    y_scaler.fit(train.arrays[1])
    train = TensorDataset(train.arrays[0], y_scaler.transform(train.arrays[1]))
    test_z = TensorDataset(test.arrays[0], y_scaler.transform(test.arrays[1]))

    fastdl.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(X.shape[1], 32), nn.ReLU(), nn.Linear(32, 1))
    t0 = time.perf_counter()
    history = fit(
        model,
        half_squared_error,
        optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0),
        DataLoader(train, batch_size=32, shuffle=True),
        epochs,
        val_loader=DataLoader(test_z, batch_size=len(test_z)),
        metrics=["r2"],
        verbose=False if args.quiet else None,
    )
    seconds = time.perf_counter() - t0
    scores = evaluate(model, half_squared_error, DataLoader(test_z, batch_size=len(test_z)))
    with fastdl.no_grad():
        pred = y_scaler.inverse_transform(model(fastdl.from_numpy(test.arrays[0])).numpy())
    r2 = r2_score(pred, test.arrays[1])
    print(
        f"diabetes: held-out R^2 {r2:.3f}, held-out 1/2 (yhat-y)^2 {scores['loss']:.3f} "
        f"(standardised units), {epochs} epochs in {seconds:.2f} s"
    )
    return {"r2": r2, "history": history, "seconds": seconds}


if __name__ == "__main__":
    main()
