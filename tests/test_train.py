"""fastdl.train: fit's history, metrics, checkpoints, early stopping, progress output; evaluate."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset
from fastdl.train import EarlyStopping, accuracy, evaluate, fit, mse, r2_score


def regression_data(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal((d, 1)).astype(np.float32)
    y = (x @ w + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)
    return x, y


def setup_model(d=3, lr=0.05, seed=0):
    fastdl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, 1))
    return model, optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def outputs(model, x):
    model.eval()
    with fastdl.no_grad():
        return model(fastdl.from_numpy(x)).numpy()


def test_history_matches_the_model_and_the_loss_falls():
    x, y = regression_data()
    xv, yv = regression_data(n=20, seed=1)
    model, opt = setup_model()
    hist = fit(
        model,
        nn.functional.mse_loss,
        opt,
        DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=0),
        6,
        val_loader=DataLoader(TensorDataset(xv, yv), batch_size=7),
        metrics=["r2", "mse"],
        verbose=False,
    )
    assert set(hist) == {"loss", "r2", "mse", "val_loss", "val_r2", "val_mse", "time"}
    assert all(len(v) == 6 for v in hist.values())
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    # The validation numbers are those of the final model, computed over the whole set.
    out = outputs(model, xv)
    expect_mse = float(np.mean((out.astype(np.float64) - yv) ** 2))
    assert hist["val_loss"][-1] == pytest.approx(expect_mse, rel=1e-5)
    assert hist["val_mse"][-1] == pytest.approx(expect_mse, rel=1e-5)
    ss_tot = float(np.sum((yv - yv.mean()) ** 2))
    assert hist["val_r2"][-1] == pytest.approx(1 - expect_mse * len(yv) / ss_tot, rel=1e-4)
    scores = evaluate(model, nn.functional.mse_loss, DataLoader(TensorDataset(xv, yv), 20), ["r2"])
    assert scores["loss"] == pytest.approx(hist["val_loss"][-1], rel=1e-5)
    assert scores["r2"] == pytest.approx(hist["val_r2"][-1], rel=1e-5)


def test_training_loss_is_the_sample_weighted_mean_over_batches():
    # lr=0: the model does not change, so the epoch loss must equal the full-data loss even
    # with a partial last batch (23 = 10 + 10 + 3).
    x, y = regression_data(n=23)
    model, _ = setup_model()
    hist = fit(
        model,
        nn.functional.mse_loss,
        optim.SGD(model.parameters(), lr=0.0),
        DataLoader(TensorDataset(x, y), batch_size=10),
        2,
        verbose=False,
    )
    full = float(np.mean((outputs(model, x).astype(np.float64) - y) ** 2))
    assert hist["loss"] == pytest.approx([full, full], rel=1e-5)


def test_same_seed_same_history():
    x, y = regression_data()

    def run():
        model, opt = setup_model()
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
        return fit(model, nn.functional.mse_loss, opt, loader, 3, verbose=False)["loss"]

    assert run() == run()


def test_checkpoint_every_epoch(tmp_path):
    x, y = regression_data()
    model, opt = setup_model()
    pattern = str(tmp_path / "ck{epoch}.npz")
    fit(
        model,
        nn.functional.mse_loss,
        opt,
        DataLoader(TensorDataset(x, y), 16),
        3,
        checkpoint=pattern,
        verbose=False,
    )
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ck1.npz", "ck2.npz", "ck3.npz"]
    last = fastdl.load(str(tmp_path / "ck3.npz"))
    first = fastdl.load(str(tmp_path / "ck1.npz"))
    state = model.state_dict()
    assert set(last) == set(state)
    for k in state:
        np.testing.assert_array_equal(np.asarray(last[k]), np.asarray(state[k]))
    assert any(not np.array_equal(np.asarray(first[k]), np.asarray(state[k])) for k in state)
    # A fixed path is overwritten each epoch.
    fit(
        model,
        nn.functional.mse_loss,
        opt,
        DataLoader(TensorDataset(x, y), 16),
        2,
        checkpoint=tmp_path / "last.npz",
        verbose=False,
    )
    assert (tmp_path / "last.npz").exists()


def test_early_stopping_stops_and_restores_the_best_weights(tmp_path):
    x, y = regression_data(n=32)
    xv, yv = regression_data(n=10, seed=1)
    # A metric scripted per epoch on the validation set (10 samples; training has 32):
    # best at epoch 3, then 2 epochs without improvement -> stop after epoch 5 with patience 2.
    script = [5.0, 4.0, 3.0, 3.5, 3.2, 1.0, 0.5]

    def scripted(out, target):
        return script.pop(0) if len(target) == 10 else 0.0

    model, opt = setup_model()
    hist = fit(
        model,
        nn.functional.mse_loss,
        opt,
        DataLoader(TensorDataset(x, y), 8),
        20,
        val_loader=DataLoader(TensorDataset(xv, yv), 10),
        metrics={"score": scripted},
        early_stopping=EarlyStopping(patience=2, monitor="val_score", mode="min"),
        checkpoint=str(tmp_path / "ck{epoch}.npz"),
        verbose=False,
    )
    assert hist["val_score"] == [5.0, 4.0, 3.0, 3.5, 3.2]
    best = fastdl.load(str(tmp_path / "ck3.npz"))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), np.asarray(best[k]))


def test_early_stopping_int_patience_monitors_val_loss():
    x, y = regression_data(n=32)
    model, _ = setup_model()
    # lr=0: val_loss never improves after the first epoch -> stops after 1 + patience epochs.
    hist = fit(
        model,
        nn.functional.mse_loss,
        optim.SGD(model.parameters(), lr=0.0),
        DataLoader(TensorDataset(x, y), 8),
        50,
        val_loader=DataLoader(TensorDataset(x, y), 32),
        early_stopping=3,
        verbose=False,
    )
    assert len(hist["loss"]) == 4


def test_progress_output(capsys, monkeypatch):
    x, y = regression_data(n=16)
    model, opt = setup_model()
    loader = DataLoader(TensorDataset(x, y), 8)
    fit(model, nn.functional.mse_loss, opt, loader, 2)  # stdout is captured: not a terminal
    assert capsys.readouterr().out == ""
    fit(model, nn.functional.mse_loss, opt, loader, 2, metrics=["r2"], verbose=True)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "loss=" in out and "r2=" in out
    monkeypatch.setitem(sys.modules, "tqdm", None)  # without tqdm: one line per epoch
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    fit(model, nn.functional.mse_loss, opt, loader, 2, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: loss=")


def test_evaluate_uses_eval_mode_and_records_no_graph():
    x = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    y = np.arange(40) % 3
    fastdl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    scores = evaluate(
        model, nn.functional.cross_entropy, DataLoader(TensorDataset(x, y), 7), ["accuracy"]
    )
    assert not model.training
    for k, v in model.state_dict().items():  # running statistics untouched in eval mode
        np.testing.assert_array_equal(np.asarray(v), before[k])
    assert all(p.grad is None for p in model.parameters())
    with fastdl.no_grad():
        logits = model(fastdl.from_numpy(x)).numpy()
    assert scores["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))


def test_builtin_metrics():
    assert accuracy(np.array([0.2, 0.8, 0.6]), np.array([0.0, 1.0, 0.0])) == pytest.approx(2 / 3)
    assert accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == 0.5
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(np.full(4, y.mean()), y) == 0.0
    assert mse(y + 1, y) == 1.0


def test_bad_arguments():
    x, y = regression_data(n=8)
    model, opt = setup_model()
    loader = DataLoader(TensorDataset(x, y), 4)
    with pytest.raises(ValueError, match="'metrics' must name built-in metrics"):
        fit(model, nn.functional.mse_loss, opt, loader, 1, metrics=["acc"], verbose=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, nn.functional.mse_loss, opt, loader, -1, verbose=False)
    with pytest.raises(ValueError, match="val_loss"):
        fit(
            model,
            nn.functional.mse_loss,
            opt,
            loader,
            1,
            verbose=False,
            early_stopping=EarlyStopping(monitor="val_loss"),
        )
    with pytest.raises(
        ValueError, match=r"'train_loader' must yield batches \(inputs..., target\)"
    ):
        fit(model, nn.functional.mse_loss, opt, DataLoader(TensorDataset(x), 4), 1, verbose=False)
