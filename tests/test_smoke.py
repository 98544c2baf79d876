"""Import, config and the activation self-check (the full kernel tests live per module)."""

from __future__ import annotations

import pytest

import fastdl
from fastdl._selfcheck import check_all

pytestmark = pytest.mark.kernel


def test_selfcheck_passes_on_every_isa():
    assert check_all() == []


def test_config_reports_isa_and_threads():
    cfg = fastdl.config()
    assert cfg["isa"] in cfg["isa_available"]
    assert cfg["num_threads"] == fastdl.get_num_threads() >= 1
