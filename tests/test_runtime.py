"""Runtime: configuration, threads, ISA selection at import, fork safety, the wait policy."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SUPPORTED_ISAS, using_threads

import fastdl
from fastdl import _core

PYTHON_DIR = str(Path(fastdl.__file__).resolve().parent.parent)


def run_py(code: str, env: dict | None = None, timeout: float = 120, **kw):
    """Run code in a fresh interpreter that imports this fastdl; returns CompletedProcess."""
    e = {k: v for k, v in os.environ.items() if k not in ("FASTDL_CPU",)}
    e["PYTHONPATH"] = PYTHON_DIR + os.pathsep + e.get("PYTHONPATH", "")
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


# ---------------------------------------------------------------- config


def test_config_keys_and_values():
    cfg = fastdl.config()
    expected = {
        "version",
        "isa",
        "isa_available",
        "isa_compiled",
        "num_threads",
        "available_cpus",
        "openmp_library",
        "openmp_version",
        "omp_wait",
        "build_type",
        "cxx_flags",
        "compiler",
        "sanitize",
    }
    assert expected <= set(cfg)
    assert cfg["version"] == fastdl.__version__
    assert cfg["isa"] == _core.current_isa()
    assert cfg["isa"] in cfg["isa_available"]
    assert set(cfg["isa_available"]) <= set(cfg["isa_compiled"])
    assert cfg["isa_available"] == SUPPORTED_ISAS
    assert "baseline" in cfg["isa_available"]
    assert cfg["num_threads"] == fastdl.get_num_threads()
    assert cfg["available_cpus"] == len(os.sched_getaffinity(0))
    assert isinstance(cfg["openmp_version"], int) and cfg["openmp_version"] >= 200805
    assert "omp" in cfg["openmp_library"].lower() or cfg["openmp_library"] == "unknown"
    assert "-march=native" not in cfg["cxx_flags"]
    assert isinstance(cfg["sanitize"], bool)


def test_show_config_prints_every_key():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fastdl.show_config()
    text = buf.getvalue()
    lines = text.splitlines()
    cfg = fastdl.config()
    assert lines[0] == f"fastdl {cfg['version']}"
    shown = {}
    for line in lines[1:]:
        key, _, value = line.partition(" : ")
        shown[key.strip()] = value.strip()
    assert set(shown) == set(cfg) - {"version"}
    assert shown["isa"] == cfg["isa"]
    assert shown["isa_available"] == ", ".join(cfg["isa_available"])
    assert shown["num_threads"] == str(cfg["num_threads"])


def test_python_dash_m_fastdl_prints_config_and_passes_selfcheck():
    r = run_py("import runpy; runpy.run_module('fastdl', run_name='__main__')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("fastdl ")
    assert "self-check passed" in r.stdout


# ---------------------------------------------------------------- threads


def test_set_num_threads_validation():
    before = fastdl.get_num_threads()
    try:
        fastdl.set_num_threads(1)
        assert fastdl.get_num_threads() == 1
        fastdl.set_num_threads(3)
        assert fastdl.get_num_threads() == 3
        for bad in (0, -1):
            with pytest.raises(ValueError, match=rf"set_num_threads\(\): argument 'n'.*{bad}"):
                fastdl.set_num_threads(bad)
        for bad in (1.5, "2", None, True, np.float64(2)):
            with pytest.raises(TypeError, match=r"set_num_threads\(\): argument 'n'"):
                fastdl.set_num_threads(bad)
        assert fastdl.get_num_threads() == 3  # unchanged by the failures
    finally:
        fastdl.set_num_threads(before)


def test_numpy_integer_thread_count_accepted():
    with using_threads(int(np.int64(1))):
        assert fastdl.get_num_threads() == 1


def test_default_threads_follow_cpu_affinity():
    cpus = sorted(os.sched_getaffinity(0))
    r = run_py(
        "import fastdl; print(fastdl.get_num_threads())",
        preexec_fn=lambda: os.sched_setaffinity(0, cpus[:1]),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    r = run_py("import fastdl; print(fastdl.get_num_threads())")
    assert r.stdout.strip() == str(len(cpus))


# ---------------------------------------------------------------- ISA selection at import


@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_fastdl_cpu_override_takes_effect(name):
    code = """
        import numpy as np, fastdl
        x = np.linspace(-3, 3, 1001)
        assert np.allclose(fastdl.ops.tanh(x), np.tanh(x))
        print(fastdl.config()["isa"])
    """
    r = run_py(code, env={"FASTDL_CPU": f" {name.upper()} "})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == name


def test_fastdl_cpu_unset_picks_best():
    r = run_py("import fastdl; print(fastdl.config()['isa'])")
    assert r.stdout.strip() == SUPPORTED_ISAS[-1] == _core.best_isa()


def test_fastdl_cpu_bogus_is_clear_error_at_import():
    r = run_py("import fastdl", env={"FASTDL_CPU": "sse9"})
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: FASTDL_CPU")
    for word in ("'sse9'", "baseline", "avx2", "avx512"):
        assert word in last


def test_fastdl_cpu_unsupported_is_clear_error_at_import():
    # This CPU may have every ISA: mask one, as a CPU without it would report, then run the
    # package's import again (a reload re-executes fastdl/__init__.py with _core loaded).
    code = """
        import importlib, os, fastdl, fastdl._core as c
        c._mask_isa("avx512")
        assert not c.isa_supported("avx512") and c.current_isa() != "avx512"
        os.environ["FASTDL_CPU"] = "avx512"
        importlib.reload(fastdl)
    """
    r = run_py(code)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: FASTDL_CPU: instruction set 'avx512' is not supported")
    assert "best available is" in last


def test_isa_runtime_functions_validate():
    with pytest.raises(ValueError, match="expected one of"):
        _core.set_isa("neon")
    with pytest.raises(ValueError, match="expected one of"):
        _core.isa_supported("")
    assert _core.isa_supported("baseline")


# ---------------------------------------------------------------- fork


FORK_CODE = """
    import os, sys, numpy as np, fastdl
    from fastdl import ops
    fastdl.set_num_threads(2)
    x = np.linspace(-5, 5, 4_000_003)
    want = np.tanh(x)
    assert np.allclose(ops.tanh(x), want)  # parent: a multithreaded region has run
    pid = os.fork()
    if pid == 0:
        ok = fastdl._core.in_forked_child()
        for _ in range(3):
            ok = ok and np.allclose(ops.tanh(x), want)
            gx, gb = ops.bias_act_backward(np.ones((2000, 2001)), np.ones((2000, 2001)), "relu")
            ok = ok and np.all(gb == 2000)
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), status
    assert os.WEXITSTATUS(status) == 0, "child got wrong results"
    assert not fastdl._core.in_forked_child()
    assert np.allclose(ops.tanh(x), want)  # the parent's pool still works
    print("ok")
"""


def test_fork_child_runs_kernels_without_hanging():
    r = run_py(FORK_CODE, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_multiprocessing_fork_pool():
    code = """
        import multiprocessing as mp, numpy as np, fastdl
        from fastdl import ops

        def work(seed):
            x = np.random.default_rng(seed).standard_normal(300_000)
            return float(np.abs(ops.sigmoid(x) - 0.5 * (1 + np.tanh(x / 2))).max())

        if __name__ == "__main__":
            ops.sigmoid(np.ones(4_000_000))
            with mp.get_context("fork").Pool(2) as pool:
                errs = pool.map(work, range(4))
            assert max(errs) < 1e-12, errs
            print("ok")
    """
    r = run_py(code, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


# ---------------------------------------------------------------- wait policy


def test_default_wait_policy_is_set_before_libgomp_loads():
    code = """
        import os, fastdl
        print(os.environ.get("GOMP_SPINCOUNT"), "|", fastdl.config()["omp_wait"])
    """
    r = run_py(code, env={"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None})
    assert r.returncode == 0, r.stderr
    spin, wait = (s.strip() for s in r.stdout.split("|"))
    from fastdl import _threadenv

    assert spin == _threadenv.DEFAULT_SPINCOUNT
    assert wait == f"GOMP_SPINCOUNT={_threadenv.DEFAULT_SPINCOUNT} (set by fastdl)"


@pytest.mark.parametrize(
    "env, want",
    [
        ({"OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": None}, "OMP_WAIT_POLICY=passive"),
        ({"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": "7"}, "GOMP_SPINCOUNT=7"),
        (
            {"OMP_WAIT_POLICY": "active", "GOMP_SPINCOUNT": "9"},
            "OMP_WAIT_POLICY=active, GOMP_SPINCOUNT=9",
        ),
    ],
)
def test_user_wait_policy_is_respected(env, want):
    code = """
        import os, fastdl
        print(os.environ.get("GOMP_SPINCOUNT"), "|", fastdl.config()["omp_wait"])
    """
    r = run_py(code, env=env)
    assert r.returncode == 0, r.stderr
    spin, wait = (s.strip() for s in r.stdout.split("|"))
    assert spin == str(env["GOMP_SPINCOUNT"])  # "None" when the user did not set it
    assert wait == want


# The delay is far longer than the work, and the arrays are touched and the thread pool started
# before the timed call: first-touch page faults inside a region count as busy time in both
# threads and could hide a short delay.
DELAY_NS = 20_000_000


@pytest.fixture
def fresh_backoff():
    """Start from a started pool and no backoff; leave none behind (it would make later
    regions serial)."""
    with using_threads(2):
        fastdl.ops.relu(np.ones(1 << 21, np.float32))
    _core._reset_parallel_stats()
    yield
    _core._set_worker_delay_for_test(0)
    _core._reset_parallel_stats()


def _late_regions(fn, x, out, times=2):
    """Calls of fn(x, out=out) whose worker starts DELAY_NS late; two in a row start a backoff."""
    _core._set_worker_delay_for_test(DELAY_NS)
    try:
        for _ in range(times):
            fn(x, out=out)
    finally:
        _core._set_worker_delay_for_test(0)


def test_late_worker_starts_backoff_with_same_bits(fresh_backoff):
    x = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    late, during = np.zeros_like(x), np.zeros_like(x)
    with using_threads(1):
        want = fastdl.ops.sigmoid(x)
    with using_threads(2):
        _late_regions(fastdl.ops.sigmoid, x, late, times=1)
        stats = _core._parallel_stats()
        assert stats["regions"] == 1 and stats["lost"] == 1, stats
        assert not stats["backoff_active"]  # one loss may be a slow wake-up: no backoff yet
        _late_regions(fastdl.ops.sigmoid, x, late, times=1)
        t_late = time.perf_counter()
        stats = _core._parallel_stats()
        assert stats["regions"] == 2 and stats["lost"] == 2, stats
        assert stats["backoff_active"]
        assert stats["backoff_work"] >= 4 * x.nbytes * 2  # 4x the losing region's bytes
        fastdl.ops.sigmoid(x, out=during)  # same size: serial while the backoff runs
        if time.perf_counter() - t_late < 0.004:  # a preempted test may outlive the 5 ms
            assert _core._parallel_stats()["regions"] == 2
    np.testing.assert_array_equal(late, want)
    np.testing.assert_array_equal(during, want)


def test_slow_wake_after_a_backoff_does_not_rearm_it(fresh_backoff):
    # The first region after a backoff wakes a worker that slept through it, often late: that
    # alone re-armed the backoff, and an idle machine stayed serial, 5 ms at a time.
    x = np.ones(1 << 20, np.float32)
    out = np.zeros_like(x)
    with using_threads(2):
        _late_regions(fastdl.ops.relu, x, out)
        assert _core._parallel_stats()["backoff_active"]
        time.sleep(0.02)  # the backoff lasts 5 ms
        _late_regions(fastdl.ops.relu, x, out, times=1)  # the slow first wake
        stats = _core._parallel_stats()
        assert stats["regions"] == 3 and stats["lost"] == 3, stats
        assert not stats["backoff_active"], stats
        _late_regions(fastdl.ops.relu, x, out, times=1)  # a second loss in a row is contention
        assert _core._parallel_stats()["backoff_active"]


def test_worker_keeps_off_the_cpu_it_was_woken_onto(fresh_backoff):
    # A worker woken onto the starting thread's CPU shared it for the whole region, and kept
    # landing there; it must move off and stay off, with the same bits.
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs 2 CPUs")
    x = np.random.default_rng(0).standard_normal(1 << 21).astype(np.float32)
    out = np.zeros_like(x)
    with using_threads(1):
        want = fastdl.ops.sigmoid(x)
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpus[0]})  # this thread only: the worker keeps its own mask
    try:
        with using_threads(2):
            for _ in range(20):  # the scheduler may still wake it elsewhere: retry
                assert _core._move_worker_for_test(cpus[0])
                _core._reset_parallel_stats()
                fastdl.ops.sigmoid(x, out=out)
                if _core._parallel_stats()["moved"]:
                    break
            else:
                pytest.skip("the worker never woke on this thread's CPU (or the process was busy)")
            np.testing.assert_array_equal(out, want)
            _core._reset_parallel_stats()
            for _ in range(5):
                fastdl.ops.sigmoid(x, out=out)
            assert _core._parallel_stats()["moved"] == 0  # it no longer lands on cpus[0]
            np.testing.assert_array_equal(out, want)
    finally:
        os.sched_setaffinity(0, mine)


def test_backoff_lets_much_larger_regions_stay_parallel(fresh_backoff):
    small, big = np.ones(1 << 20, np.float32), np.ones(1 << 23, np.float32)  # 8x the work
    out_small, out_big = np.zeros_like(small), np.zeros_like(big)
    with using_threads(2):
        _late_regions(fastdl.ops.relu, small, out_small)
        assert _core._parallel_stats()["backoff_active"]
        fastdl.ops.relu(big, out=out_big)
        assert _core._parallel_stats()["regions"] == 3


def test_a_region_on_time_resets_the_streak(fresh_backoff):
    x, big = np.ones(1 << 20, np.float32), np.ones(1 << 23, np.float32)
    out = np.zeros_like(x)
    with using_threads(2):
        for _ in range(5):  # on a loaded machine the on-time region can lose for real: retry
            _core._reset_parallel_stats()
            _late_regions(fastdl.ops.relu, x, out, times=1)
            fastdl.ops.relu(big, out=big)  # long halves: an awake worker is on time
            if _core._parallel_stats()["lost"] != 1:
                continue
            _late_regions(fastdl.ops.relu, x, out, times=1)
            assert not _core._parallel_stats()["backoff_active"]
            return
    pytest.skip("every on-time region lost: the machine is too busy to test this")


def test_backoff_ends(fresh_backoff):
    x = np.ones(1 << 20, np.float32)
    out = np.zeros_like(x)
    with using_threads(2):
        _late_regions(fastdl.ops.relu, x, out)
        assert _core._parallel_stats()["lost"] == 2
        time.sleep(0.02)  # the backoff lasts 5 ms
        assert not _core._parallel_stats()["backoff_active"]
        fastdl.ops.relu(x, out=out)
        assert _core._parallel_stats()["regions"] == 3
