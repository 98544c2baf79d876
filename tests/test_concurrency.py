"""Kernels called from several Python threads at once, and the GIL released inside them."""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time

import numpy as np
import pytest
from conftest import using_threads

from fastdl import ops


def _adam(p, g):
    p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    ops.adam_step([p], [g], [m], [v], step=1, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    return p


# name -> (make inputs from a seed, run the kernel on them); sizes above the parallel
# threshold so each call opens an OpenMP region of its own.
KERNELS = {
    "tanh": (lambda r: (r.standard_normal(300_001),), lambda x: ops.tanh(x)),
    "bias_act": (
        lambda r: (r.standard_normal((301, 517)).astype(np.float32), r.standard_normal(517)),
        lambda x, b: ops.bias_act(x, b.astype(np.float32), "sigmoid"),
    ),
    "bias_act_backward": (
        lambda r: (r.standard_normal((301, 517)), r.random((301, 517))),
        lambda g, y: np.concatenate([a.ravel() for a in ops.bias_act_backward(g, y, "tanh")]),
    ),
    "softmax": (lambda r: (r.standard_normal((257, 1031)),), lambda x: ops.softmax(x, axis=0)),
    "adam_step": (
        lambda r: (r.standard_normal(200_003), r.standard_normal(200_003)),
        _adam,
    ),
}


def test_eight_python_threads_get_correct_answers():
    jobs = []
    for t in range(8):
        for name, (make, run) in KERNELS.items():
            args = make(np.random.default_rng(1000 * t + len(name)))
            jobs.append((t, name, run, args, run(*args)))  # expected: computed alone
    failures: list[str] = []
    barrier = threading.Barrier(8)

    def worker(t):
        mine = [j for j in jobs if j[0] == t]
        barrier.wait()  # all eight start together
        for _ in range(10):
            for _, name, run, args, want in mine:
                got = run(*args)
                if got.tobytes() != want.tobytes():
                    failures.append(f"thread {t}: {name}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    assert not failures, failures


LONG_KERNELS = {
    "tanh": (lambda: (np.linspace(-3, 3, 12_000_000),), lambda x: ops.tanh(x)),
    "bias_act_backward": (
        lambda: (np.ones((4000, 3000)), np.full((4000, 3000), 0.5)),
        lambda g, y: ops.bias_act_backward(g, y, "sigmoid"),
    ),
    "softmax": (lambda: (np.ones((4000, 3000)),), lambda x: ops.log_softmax(x, axis=0)),
    "adam_step": (
        lambda: (np.ones(12_000_000), np.ones(12_000_000)),
        _adam,
    ),
}


def _main_thread_gap_during(run, args):
    """Longest stretch (s) in which this thread could not run Python while `run` ran in
    another thread, and how long the call took."""
    stamps: list[float] = []
    span = [0.0, 0.0]
    started = threading.Event()

    def worker():
        started.set()
        span[0] = time.perf_counter()
        run(*args)  # one long call: the GIL must be released inside it
        span[1] = time.perf_counter()

    th = threading.Thread(target=worker)
    th.start()
    started.wait()
    while th.is_alive():
        stamps.append(time.perf_counter())
    th.join()
    inside = [span[0]] + [t for t in stamps if span[0] < t < span[1]] + [span[1]]
    return max(b - a for a, b in zip(inside, inside[1:])), span[1] - span[0]


@contextlib.contextmanager
def _fast_gil_handoff():
    """A 0.1 ms switch interval: a thread that wants the GIL from one running Python code gets
    it after 0.1 ms instead of 5 ms. The start and the end of a call each cost one such wait,
    which at 5 ms made up to a third of a 30 ms call's gap. A C call that holds the GIL never
    looks at the interval, so the check loses nothing."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("name", list(LONG_KERNELS))
def test_gil_is_released_inside_long_kernels(name):
    """Python code in this thread keeps running while a kernel call runs in another one.

    Were the GIL held inside the call, this thread could not run at all until it returned:
    the longest gap between its time stamps would be the whole call, in every attempt.

    A call under 20 ms is too short to tell (the 0.1 ms hand-offs and one scheduler tick are
    a fair part of it): the data are doubled along axis 0 and the call timed again.

    Up to eight attempts spread over ~3 s, passing at the first good one: on a loaded machine
    (five engineers on two cores) the OS may not run this thread for tens of ms, which widens
    the gap for reasons that have nothing to do with the GIL (CPU time cannot tell the two
    apart, and this kernel has no schedstat); a burst of load can last a few 50 ms attempts,
    hence the growing pauses. Load only ever widens the gap, so one short gap is proof that
    the GIL was released, and a GIL-holding kernel still fails all eight.
    """
    make, run = LONG_KERNELS[name]
    args = make()
    seen = []
    with using_threads(1), _fast_gil_handoff():  # a long call that leaves a core to this thread
        for attempt in range(8):
            time.sleep(0.1 * attempt)
            gap, duration = _main_thread_gap_during(run, args)
            seen.append(f"{gap * 1e3:.1f}/{duration * 1e3:.1f} ms")
            if duration <= 0.02:  # too short to tell (a faster kernel, warm pooled outputs)
                args = tuple(np.concatenate([a, a]) for a in args)  # twice the rows
                continue
            if gap < 0.5 * duration:
                return
    assert any(float(s.split("/")[1][:-3]) > 20 for s in seen), f"{name} too short: {seen}"
    raise AssertionError(
        f"this thread was blocked for most of every {name} call (gap/call: {', '.join(seen)}): "
        "GIL held?"
    )


def test_gil_check_detects_a_call_that_holds_the_gil():
    # The same measurement on a C call known to keep the GIL (a backtracking regex).
    text = "a" * 25 + "b"
    with _fast_gil_handoff():
        gap, duration = _main_thread_gap_during(lambda: re.match(r"(a+)+$", text), ())
    assert duration > 0.02
    assert gap > 0.5 * duration
