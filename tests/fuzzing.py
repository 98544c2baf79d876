"""Hypothesis strategies shared by the fuzz tests (test_fuzz_ops.py, test_fuzz_tensor.py).

Examples per property: FASTDL_FUZZ_EXAMPLES, 40 by default (CI); the long mode sets 10000.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

EXAMPLES = int(os.environ.get("FASTDL_FUZZ_EXAMPLES", "40"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,  # shared machine: timings are noise
    suppress_health_check=list(HealthCheck),
    database=None,
    # CI (the default 40 examples) replays one fixed set, so a run fails only for a change
    # in the code; the long mode (FASTDL_FUZZ_EXAMPLES set) explores fresh examples each run.
    derandomize="FASTDL_FUZZ_EXAMPLES" not in os.environ,
)

REAL = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_]
NONREAL = [np.complex64, np.complex128, object]
ALL_DTYPES = REAL + NONREAL
LAYOUTS = ["c", "c", "strided", "negative", "transposed", "readonly"]
ERRORS = (TypeError, ValueError)

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


def elements(dtype):
    """Any value of ``dtype``, NaN and +-Inf included (ints kept small)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return st.floats(allow_nan=True, allow_infinity=True, width=8 * dt.itemsize)
    if dt.kind == "b":
        return st.booleans()
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return st.integers(max(info.min, -1000), min(info.max, 1000))
    if dt.kind == "c":
        return st.complex_numbers(allow_nan=True, allow_infinity=True, width=8 * dt.itemsize)
    return st.floats(allow_nan=False, allow_infinity=False, width=32)  # object


def layout(a: np.ndarray, how: str) -> np.ndarray:
    """An array equal to ``a`` with the given memory layout."""
    if how == "strided" and a.ndim >= 1:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if how == "negative" and a.ndim >= 1:
        return a[::-1].copy()[::-1]
    if how == "transposed" and a.ndim >= 2:
        return np.ascontiguousarray(a.T).T
    if how == "readonly":
        a = a.copy()
        a.setflags(write=False)
    return a


@st.composite
def arrays(draw, shape=None, dtypes=ALL_DTYPES, elements_for=elements):
    """An array of a drawn dtype and shape (or the given ones) in a drawn memory layout."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes) if shape is None else shape
    a = draw(hnp.arrays(dtype, shape, elements=elements_for(dtype)))
    return layout(a, draw(st.sampled_from(LAYOUTS)))


JUNK = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(allow_nan=False, width=32), max_size=4),
    st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3),  # maybe ragged
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.just(object()),
    st.complex_numbers(max_magnitude=10),
)


def inputs(shape=None, dtypes=ALL_DTYPES):
    """Mostly arrays, sometimes junk objects."""
    return st.one_of(arrays(shape, dtypes), arrays(shape, dtypes), JUNK)


def f64(a):
    return np.asarray(a).astype(np.float64)
