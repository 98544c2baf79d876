"""The docstring examples of fastdl.nn, fastdl.optim and save/load run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "fastdl.nn.module",
    "fastdl.nn.parameter",
    "fastdl.nn.linear",
    "fastdl.nn.activation",
    "fastdl.nn.containers",
    "fastdl.nn.normalization",
    "fastdl.nn.dropout",
    "fastdl.nn.flatten",
    "fastdl.nn.loss",
    "fastdl.nn.functional",
    "fastdl.nn.init",
    "fastdl.nn.utils",
    "fastdl.optim.optimizer",
    "fastdl.optim.sgd",
    "fastdl.optim.adam",
    "fastdl.optim.lr_scheduler",
    "fastdl.serialization",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
