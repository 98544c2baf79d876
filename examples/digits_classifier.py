"""A residual MLP with BatchNorm classifying 8x8 handwritten digits.

1797 images (64 pixels each, 10 classes; 80% train, 20% held out), pixels standardised with
training statistics. The network: Linear 64->128, then two residual blocks
x + Linear(ReLU(BatchNorm(Linear(x)))) each followed by BatchNorm and ReLU, then Linear
128->10; cross-entropy, Adam with a cosine learning-rate schedule.

    python examples/digits_classifier.py [--fast] [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset, random_split, standardize
from fastdl.datasets import load_digits
from fastdl.train import evaluate, fit

WIDTH = 128


def block(width: int) -> nn.Module:
    """x -> ReLU(BatchNorm(x + Linear(ReLU(BatchNorm(Linear(x))))))."""
    branch = nn.Sequential(
        nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, width)
    )
    return nn.Sequential(nn.Residual(branch), nn.BatchNorm1d(width), nn.ReLU())


def make_model(d_in: int = 64, width: int = WIDTH, classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d_in, width),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        block(width),
        block(width),
        nn.Linear(width, classes),
    )


def main(argv: Optional[Sequence[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fast", action="store_true", help="fewer epochs (for the test suite)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    epochs = args.epochs or (8 if args.fast else 30)

    X, y = load_digits()
    train, test = standardize(*random_split(TensorDataset(X, y), [0.8, 0.2], seed=args.seed))
    fastdl.manual_seed(args.seed)
    model = make_model(X.shape[1])
    opt = optim.Adam(model.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    history = fit(
        model,
        nn.functional.cross_entropy,
        opt,
        DataLoader(train, batch_size=64, shuffle=True),
        epochs,
        val_loader=DataLoader(test, batch_size=256),
        metrics=["accuracy"],
        scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs),
        verbose=False if args.quiet else None,
    )
    seconds = time.perf_counter() - t0
    acc = evaluate(
        model, nn.functional.cross_entropy, DataLoader(test, batch_size=256), ["accuracy"]
    )["accuracy"]
    print(f"digits: held-out accuracy {100 * acc:.1f}%, {epochs} epochs in {seconds:.2f} s")
    return {"accuracy": acc, "history": history, "seconds": seconds}


if __name__ == "__main__":
    main()
