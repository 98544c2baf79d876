"""The seq2seq-with-attention example runs end to end in its fast mode."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seq2seq_attention.py"


def load_example():
    spec = importlib.util.spec_from_file_location("seq2seq_attention", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fast_mode_trains_and_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    ex = load_example()
    png = tmp_path / "attn.png"
    res = ex.main(["--fast", "--png", str(png)])
    out = capsys.readouterr().out
    assert "held-out exact-sequence accuracy" in out
    assert res["last_loss"] < res["first_loss"]  # it learns something in 60 steps
    assert 0.0 <= res["accuracy"] <= 1.0
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_held_out_sequences_never_sampled_for_training():
    ex = load_example()
    rng = np.random.default_rng(0)
    test = ex.sample(rng, 500, 5, set())
    held = set(ex.codes(test).tolist())
    train = ex.sample(rng, 20000, 5, held)
    assert not set(ex.codes(train).tolist()) & held
    pred = np.concatenate([test[:, ::-1], np.full((500, 1), ex.EOS)], 1)
    assert ex.exact_match(pred, test).all()
    pred[0, 2] = (pred[0, 2] + 1) % 10
    assert ex.exact_match(pred, test).sum() == 499
