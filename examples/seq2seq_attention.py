"""Reverse digit sequences with a GRU encoder-decoder and the seed's dot-product attention.

The encoder reads x_1 .. x_L (L from 5 to 12) into states h_1 .. h_L. The decoder, a second GRU
started from h_L, reads <sos>, y_1, ... (teacher forcing) and at each step t attends to the
encoder: a_t = sum_i softmax_i(s_t . h_i) h_i (Luong's "dot" score, the seed's formula). The
output layer sees tanh(W_c [a_t; s_t]) and predicts the next digit, or <eos>. After training,
greedy decoding runs on held-out sequences (never seen in training) until <eos>; a sequence
counts only if every digit and the stop are right.

    python examples/seq2seq_attention.py            # trains to >= 99% exact-sequence accuracy
    python examples/seq2seq_attention.py --fast     # a short run (used by the tests)

Writes a PNG of one attention matrix (decoder step x encoder position): for reversal the
weight concentrates on the anti-diagonal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

import fastdl
from fastdl import nn
from fastdl.nn import functional as F
from fastdl.nn.attention import attention_weights

DIGITS, SOS, EOS = 10, 10, 11
VOCAB = 12
MIN_LEN, MAX_LEN = 5, 12


def codes(x: np.ndarray) -> np.ndarray:
    """One int64 per sequence (digits and length), to keep held-out sequences out of training."""
    place = 10 ** np.arange(x.shape[1], dtype=np.int64)
    return (x.astype(np.int64) * place).sum(1) + x.shape[1] * 10**13


def sample(rng: np.random.Generator, n: int, length: int, exclude: set) -> np.ndarray:
    """n random digit sequences of one length, none of them in ``exclude``."""
    out = rng.integers(0, DIGITS, (n, length))
    bad = np.isin(codes(out), list(exclude)) if exclude else np.zeros(n, bool)
    while bad.any():
        out[bad] = rng.integers(0, DIGITS, (int(bad.sum()), length))
        bad = np.isin(codes(out), list(exclude))
    return out


def one_hot(tokens: np.ndarray) -> np.ndarray:
    return np.eye(VOCAB, dtype=np.float32)[tokens]


class Seq2Seq(nn.Module):
    """GRU encoder, GRU decoder, dot-product attention over the encoder states."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.encoder = nn.GRU(VOCAB, hidden)
        self.decoder = nn.GRU(VOCAB, hidden)
        self.attend = nn.DotProductAttention()  # a_t = sum_i softmax_i(s_t . h_i) h_i
        self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, VOCAB)

    def encode(self, x: np.ndarray):
        states, h_n = self.encoder(one_hot(x))
        return states, h_n

    def readout(self, s, states):
        """Logits from decoder states s (N, T, H) attending over encoder states (N, L, H)."""
        context = self.attend(s, states)
        mixed = F.linear(fastdl.concatenate([context, s], axis=-1), self.combine.weight,
                         self.combine.bias, activation="tanh")  # fmt: skip
        return self.out(mixed)

    def forward(self, x: np.ndarray, y_in: np.ndarray):
        states, h_n = self.encode(x)
        s, _ = self.decoder(one_hot(y_in), h_n)
        return self.readout(s, states)

    @fastdl.no_grad()
    def greedy(self, x: np.ndarray, max_steps: int = MAX_LEN + 1):
        """Greedy decoding until every row has emitted <eos>; returns tokens and decoder states."""
        states, h_n = self.encode(x)
        cell = self.decoder.cells[0]
        h = h_n[0]
        tok = np.full(len(x), SOS)
        toks, ss = [], []
        done = np.zeros(len(x), bool)
        for _ in range(max_steps):
            gi = F.linear(one_hot(tok), cell.weight_ih, cell.bias_ih)
            h = cell.step(gi, h)
            s = h.reshape(h.shape[0], 1, h.shape[1])
            tok = self.readout(s, states).data[:, 0].argmax(-1)
            toks.append(tok)
            ss.append(s.data)
            done |= tok == EOS
            if done.all():
                break
        return np.stack(toks, 1), np.concatenate(ss, 1), states.data


def exact_match(pred: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows where pred is reversed(x) followed by <eos>."""
    want = np.concatenate([x[:, ::-1], np.full((len(x), 1), EOS)], 1)
    n = want.shape[1]
    if pred.shape[1] < n:
        return np.zeros(len(x), bool)
    return (pred[:, :n] == want).all(1)


def evaluate(model: Seq2Seq, test: dict) -> float:
    hits = total = 0
    for x in test.values():
        pred, _, _ = model.greedy(x)
        hits += int(exact_match(pred, x).sum())
        total += len(x)
    return hits / total


def save_attention_png(model: Seq2Seq, x: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred, s, states = model.greedy(x[None])
    w = attention_weights(s, states, scale=1.0)[0]  # (decoder steps, encoder positions)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(x)), [str(d) for d in x])
    labels = ["<eos>" if t == EOS else str(t) for t in pred[0]]
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("encoder input")
    ax.set_ylabel("decoder output")
    ax.set_title("attention weights (reversal: anti-diagonal)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Optional[list] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="a short run for the tests")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 4000)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--target", type=float, default=0.995, help="stop at this held-out accuracy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", type=Path, default=Path("seq2seq_attention.png"))
    args = p.parse_args(argv)
    steps = args.steps or (60 if args.fast else 4000)
    hidden = 32 if args.fast else args.hidden
    per_len = 25 if args.fast else 250
    every = 30 if args.fast else 250

    fastdl.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    test = {n: sample(rng, per_len, n, set()) for n in range(MIN_LEN, MAX_LEN + 1)}
    held_out = set(np.concatenate([codes(x) for x in test.values()]).tolist())
    model = Seq2Seq(hidden)
    opt = fastdl.optim.Adam(model.parameters(), lr=args.lr)
    print(
        f"seq2seq reversal: GRU {hidden} + dot-product attention, {steps} steps of "
        f"{args.batch}, {len(held_out)} held-out sequences, {fastdl.get_num_threads()} threads"
    )
    t0 = time.perf_counter()
    first_loss = last_loss = None
    acc = 0.0
    running = []
    for step in range(1, steps + 1):
        length = int(rng.integers(MIN_LEN, MAX_LEN + 1))
        x = sample(rng, args.batch, length, held_out)
        y = np.concatenate([x[:, ::-1], np.full((args.batch, 1), EOS)], 1)  # targets
        y_in = np.concatenate([np.full((args.batch, 1), SOS), y[:, :-1]], 1)  # teacher forcing
        logits = model(x, y_in)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running.append(float(loss.data))
        if first_loss is None:
            first_loss = running[0]
        if step % every == 0 or step == steps:
            last_loss = float(np.mean(running))
            running = []
            acc = evaluate(model, test)
            print(
                f"step {step:5d}  loss {last_loss:.4f}  held-out exact-sequence accuracy "
                f"{acc:.2%}  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
            if acc >= args.target:
                break
    seconds = time.perf_counter() - t0
    save_attention_png(model, test[MAX_LEN][0], args.png)
    print(f"final held-out accuracy {acc:.2%} after {seconds:.0f} s; attention map: {args.png}")
    return {"accuracy": acc, "first_loss": first_loss, "last_loss": last_loss, "seconds": seconds}


if __name__ == "__main__":
    res = main()
    sys.exit(0)
