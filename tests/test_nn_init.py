"""fastdl.nn.init: distributions, fans in fastdl's (d_in, d_out) layout, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.nn import init


def test_linear_default_is_lecun_normal_with_zero_bias():
    fastdl.manual_seed(0)
    layer = nn.Linear(500, 400)
    w = layer.weight.data
    assert w.shape == (500, 400) and w.dtype == np.float32
    assert abs(w.mean()) < 3e-3
    assert abs(w.var() * 500 - 1.0) < 0.02  # N(0, 1/d_in): the fan is d_in = shape[0]
    np.testing.assert_array_equal(layer.bias.data, 0)


def test_manual_seed_reproduces_initialisation():
    fastdl.manual_seed(42)
    a = nn.Linear(7, 5).weight.data.copy()
    fastdl.manual_seed(42)
    b = nn.Linear(7, 5).weight.data.copy()
    c = nn.Linear(7, 5).weight.data.copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


@pytest.mark.parametrize(
    "fn, expected_std",
    [
        (lambda w: init.kaiming_normal_(w, nonlinearity="relu"), math.sqrt(2 / 300)),
        (
            lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
            math.sqrt(2 / 200),
        ),
        (lambda w: init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(2 / 300)),
        (lambda w: init.xavier_normal_(w), math.sqrt(2 / 500)),
        (lambda w: init.xavier_uniform_(w, gain=2.0), 2 * math.sqrt(2 / 500)),
        (lambda w: init.lecun_normal_(w), math.sqrt(1 / 300)),
        (lambda w: init.normal_(w, 0.0, 0.3), 0.3),
    ],
)
def test_distributions_have_the_documented_spread(fn, expected_std):
    fastdl.manual_seed(1)
    w = np.empty((300, 200), np.float64)  # fan_in 300, fan_out 200
    assert fn(w) is w
    assert abs(w.std() / expected_std - 1) < 0.02
    assert abs(w.mean()) < 0.05 * expected_std + 1e-3


def test_uniform_bounds_and_fill_helpers():
    fastdl.manual_seed(2)
    w = init.kaiming_uniform_(np.empty((50, 10)), nonlinearity="relu")
    assert np.abs(w).max() <= math.sqrt(6 / 50)
    p = nn.Parameter(np.empty((3, 2), np.float32))
    init.ones_(p)
    np.testing.assert_array_equal(p.data, 1)
    init.zeros_(p)
    np.testing.assert_array_equal(p.data, 0)
    init.constant_(p, 2.5)
    np.testing.assert_array_equal(p.data, 2.5)
    assert p.data.dtype == np.float32


def test_gains_match_pytorch():
    torch = pytest.importorskip("torch")
    for nl in ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        assert init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2)
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(np.empty(3))
    with pytest.raises(TypeError, match="floating point"):
        init.normal_(np.empty(3, np.int64))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(np.empty((2, 2)), mode="fan")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
