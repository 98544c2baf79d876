"""fastdl.save / fastdl.load: round trips, atomic writes, and refusing anything needing pickle."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim


def test_nested_round_trip_keeps_structure_dtypes_and_scalars(tmp_path):
    obj = {
        "model": {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "0.bias": np.zeros(3)},
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": np.ones(2, np.float64)}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "amsgrad": False, "params": [0]}],
        },
        "epoch": 7,
        "note": "hi",
        "nothing": None,
        "count": np.int64(5),
    }
    path = tmp_path / "ckpt.npz"
    fastdl.save(obj, path)
    back = fastdl.load(path)
    assert back["model"]["0.weight"].dtype == np.float32
    np.testing.assert_array_equal(back["model"]["0.weight"], obj["model"]["0.weight"])
    assert back["optimizer"]["state"][0]["step"] == 3  # int keys stay ints
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)  # tuples stay tuples
    assert back["optimizer"]["param_groups"][0]["params"] == [0]
    assert back["epoch"] == 7 and back["note"] == "hi" and back["nothing"] is None
    assert back["count"] == 5 and isinstance(back["count"], np.int64)
    # dotted member names: readable with plain NumPy
    with np.load(path) as z:
        assert "model.0.weight" in z.files and "optimizer.state.0.exp_avg" in z.files


def test_save_writes_exact_name_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "weights"
    fastdl.save({"w": np.ones(2)}, path)
    assert sorted(os.listdir(tmp_path)) == ["weights"]


def test_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.npz"
    fastdl.save({"w": np.ones(2)}, path)
    with pytest.raises(TypeError, match="'obj' must hold only arrays"):
        fastdl.save({"w": np.zeros(2), "bad": object()}, path)
    np.testing.assert_array_equal(fastdl.load(path)["w"], np.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_object_array_cannot_be_saved(tmp_path):
    with pytest.raises(TypeError, match="object arrays would need pickle"):
        fastdl.save({"a": np.array([1, "x"], dtype=object)}, tmp_path / "x.npz")


def test_crafted_object_array_is_rejected_on_load(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([Boom()], dtype=object))
    with pytest.raises(ValueError, match="without pickle"):
        fastdl.load(path)
    assert not (tmp_path / "pwned").exists()


def test_pickle_file_is_rejected(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(ValueError, match="'f' must be a fastdl .npz file"):
        fastdl.load(path)


def test_malformed_header_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, __fastdl__=np.array('{"format": 1, "tree": {"a": "missing"}}'))
    with pytest.raises(ValueError, match="missing array member"):
        fastdl.load(path)
    np.savez(path, __fastdl__=np.array("not json"))
    with pytest.raises(ValueError, match="'f' must have a JSON __fastdl__ member, got .*malformed"):
        fastdl.load(path)


def test_plain_npz_loads_flat(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.ones(2), b=np.zeros(3))
    back = fastdl.load(path)
    assert set(back) == {"a", "b"}


def test_compressed_and_file_object(tmp_path):
    path = tmp_path / "c.npz"
    with open(path, "wb") as fh:
        fastdl.save({"w": np.zeros(1000)}, fh, compress=True)
    assert zipfile.ZipFile(path).infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(fastdl.load(fh)["w"], np.zeros(1000))


def test_module_and_optimizer_resume_training_identically(tmp_path):
    def make():
        fastdl.manual_seed(3)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        return model, optim.Adam(model.parameters(), lr=0.05, amsgrad=True)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 3)).astype(np.float32)
    Y = rng.normal(size=(16, 1)).astype(np.float32)

    def train(model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            nn.functional.mse_loss(model(X), Y).backward()
            opt.step()

    a, opt_a = make()
    train(a, opt_a, 3)
    fastdl.save(a, tmp_path / "ckpt.npz", optimizer=opt_a)
    train(a, opt_a, 4)

    b, opt_b = make()
    ckpt = fastdl.load(tmp_path / "ckpt.npz")
    b.load_state_dict(ckpt["model"])
    opt_b.load_state_dict(ckpt["optimizer"])
    train(b, opt_b, 4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
