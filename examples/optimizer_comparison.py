"""The seed's optimiser comparison: full-batch gradient descent, minibatch SGD, momentum, Adam.

The same network (the demo's sigmoid(W2 ReLU(W1 x + b1) + b2)), the same initial weights and
the same data (breast cancer, standardised, 80% train) are trained for the same number of
epochs by each optimiser; the training-loss curves go into one PNG.

- full-batch GD: one step per epoch on all training samples;
- minibatch SGD: batches of 32, so ~15 steps per epoch;
- momentum: minibatch SGD with the seed's momentum form m <- mu m + (1 - mu) g, w <- w - lr m;
- Adam: minibatches with adaptive per-weight steps.

    python examples/optimizer_comparison.py [--fast] [--epochs N] [--out PNG]
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

import numpy as np

import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset, random_split, standardize
from fastdl.datasets import load_breast_cancer
from fastdl.demo import make_model
from fastdl.train import evaluate, fit

OPTIMIZERS = {
    # name: (batch size or None for the whole training set, optimiser factory)
    "full-batch GD": (None, lambda p: optim.SGD(p, lr=0.5)),
    "minibatch SGD": (32, lambda p: optim.SGD(p, lr=0.05)),
    "momentum": (32, lambda p: optim.SGD(p, lr=0.5, momentum=0.9, seed_form=True)),
    "Adam": (32, lambda p: optim.Adam(p, lr=0.005)),
}


def main(argv: Optional[Sequence[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fast", action="store_true", help="fewer epochs (for the test suite)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="optimizer_comparison.png", help="PNG path ('' for none)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    epochs = args.epochs or (15 if args.fast else 60)

    X, y = load_breast_cancer()
    split = random_split(TensorDataset(X, y.reshape(-1, 1)), [0.8, 0.2], seed=args.seed)
    train, test = standardize(*split)
    loss_fn = nn.functional.binary_cross_entropy
    results = {}
    for name, (batch, make_opt) in OPTIMIZERS.items():
        fastdl.manual_seed(args.seed)  # identical initial weights for every optimiser
        model = make_model(X.shape[1])
        t0 = time.perf_counter()
        history = fit(
            model,
            loss_fn,
            make_opt(model.parameters()),
            DataLoader(train, batch_size=batch or len(train), shuffle=batch is not None),
            epochs,
            verbose=False if args.quiet else None,
        )
        seconds = time.perf_counter() - t0
        acc = evaluate(model, loss_fn, DataLoader(test, batch_size=len(test)), ["accuracy"])
        results[name] = {"loss": history["loss"], "accuracy": acc["accuracy"], "seconds": seconds}
        print(
            f"{name:<14} final training loss {history['loss'][-1]:.4f}, held-out accuracy "
            f"{100 * acc['accuracy']:.1f}%, {seconds:.2f} s"
        )
    if args.out and plot(results, args.out):
        print(f"loss curves written to {args.out}")
    return results


def plot(results: dict, path: str) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print('matplotlib is not installed (pip install "fastdl[examples]"): no plot written')
        return False
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for name, r in results.items():
        ax.plot(np.arange(1, len(r["loss"]) + 1), r["loss"], label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (binary cross-entropy)")
    ax.set_yscale("log")
    ax.set_title("Same network, same data, four optimisers")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


if __name__ == "__main__":
    main()
