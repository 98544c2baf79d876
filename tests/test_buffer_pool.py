"""The block cache behind fastdl's large outputs (kernels/buffer_pool.h, _core.empty)."""

from __future__ import annotations

import ctypes
import doctest
import io
import os
import pickle
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import using_threads

import fastdl
from fastdl import _core, ops
from fastdl.autograd import Function

MIB = 1 << 20
MIN = _core._pool_stats()["min_bytes"]
PYTHON_DIR = str(Path(fastdl.__file__).resolve().parent.parent)


def addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def pooled(a: np.ndarray) -> bool:
    """True when a's memory is a cache block (a view's base is the array that owns it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return type(a.base) is _core._CacheBlock


@pytest.fixture
def pool():
    """The pool enabled with its default limit and an empty cache; restored afterwards."""
    before = _core._pool_set_limit(_core._pool_stats()["limit_bytes"] or 1 << 30)
    _core._pool_empty_cache()
    _core._pool_reset_counters()
    yield
    _core._pool_set_limit(before)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONPATH=PYTHON_DIR, **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=e, capture_output=True, text=True
    )


# ------------------------------------------------------------------------------ reuse


def test_a_freed_block_comes_back(pool):
    a = _core.empty((MIB,), np.float32)  # 4 MiB
    assert pooled(a)
    p = addr(a)
    s0 = _core._pool_stats()
    del a
    s1 = _core._pool_stats()
    assert s1["cached_blocks"] == s0["cached_blocks"] + 1
    assert s1["live_bytes"] == s0["live_bytes"] - 4 * MIB
    b = _core.empty((2, MIB // 2), np.float32)  # the same bytes, another shape
    assert addr(b) == p
    s2 = _core._pool_stats()
    assert s2["hits"] == s1["hits"] + 1 and s2["misses"] == s1["misses"]


def test_an_op_output_is_reused_across_steps(pool):
    x = np.random.default_rng(0).standard_normal((1024, 512), np.float32)  # 2 MiB
    seen = set()
    for _ in range(5):
        y = ops.relu(x)
        assert pooled(y)
        seen.add(addr(y))
        del y
    assert len(seen) == 1
    s = _core._pool_stats()
    assert s["misses"] == 1 and s["hits"] == 4


@pytest.mark.parametrize(
    "keep",
    [
        lambda a: a[1:],  # a slice
        lambda a: a.reshape(-1, 2)[::3],  # a view of a view
        lambda a: a.T,
        lambda a: memoryview(a),
        lambda a: fastdl.from_numpy(a),  # a Tensor holding it
        lambda a: np.frombuffer(a, np.uint8),
    ],
    ids=["slice", "view-of-view", "transpose", "memoryview", "tensor", "frombuffer"],
)
def test_never_reused_while_anything_references_it(pool, keep):
    a = _core.empty((MIB // 8 * 2,), np.float64)  # 2 MiB
    a[:] = np.arange(a.size)
    p = addr(a)
    ref = keep(a)
    want = np.array(np.asarray(ref.numpy() if isinstance(ref, fastdl.Tensor) else ref))
    del a
    others = [_core.empty((MIB // 8 * 2,), np.float64) for _ in range(3)]
    for o in others:
        assert addr(o) != p
        o.fill(-1.0)
    got = np.asarray(ref.numpy() if isinstance(ref, fastdl.Tensor) else ref)
    np.testing.assert_array_equal(got, want)
    cached = _core._pool_stats()["cached_blocks"]
    del ref, got
    assert _core._pool_stats()["cached_blocks"] == cached + 1  # now it is free


def test_a_torch_tensor_on_the_memory_keeps_the_block(pool):
    torch = pytest.importorskip("torch")
    a = _core.empty((512, 1024), np.float32)
    a[:] = 3.0
    t = torch.from_numpy(a)
    p = addr(a)
    del a
    b = _core.empty((512, 1024), np.float32)
    assert addr(b) != p
    b.fill(-1.0)
    assert bool((t == 3.0).all())
    del t
    assert addr(_core.empty((512, 1024), np.float32)) == p


def test_best_fit_never_hands_a_much_larger_block(pool):
    big = _core.empty((64 * MIB,), np.uint8)
    p_big = addr(big)
    del big
    small = _core.empty((2 * MIB,), np.uint8)
    assert addr(small) != p_big  # 64 MiB for a 2 MiB request would waste 62 MiB
    del small
    # within a quarter of the request: taken
    near = _core.empty((56 * MIB,), np.uint8)
    assert addr(near) == p_big


def test_smallest_fitting_block_is_taken(pool):
    a, b, c = (_core.empty((n * MIB,), np.uint8) for n in (8, 5, 6))
    pb, pc = addr(b), addr(c)
    del a, b, c
    assert addr(_core.empty((5 * MIB,), np.uint8)) == pb
    assert addr(_core.empty((5 * MIB + 1,), np.uint8)) == pc


def test_of_equal_blocks_the_most_recently_freed_comes_first(pool):
    a, b, c = (_core.empty((2 * MIB,), np.uint8) for _ in range(3))
    pa, pb, pc = addr(a), addr(b), addr(c)
    del b, c, a  # freed in the order b, c, a
    x, y, z = (_core.empty((2 * MIB,), np.uint8) for _ in range(3))
    assert (addr(x), addr(y), addr(z)) == (pa, pc, pb)


def test_the_block_object(pool):
    a = _core.empty((MIB,), np.float32)
    assert repr(a.base).startswith("<fastdl cache block of 4194304 bytes at 0x")
    assert a[5:].base is a and a.reshape(2, -1).T.base is a  # views hold the array
    if sys.version_info >= (3, 10):
        with pytest.raises(TypeError):
            _core._CacheBlock()


class _SameGradTwice(Function):
    """Returns one pooled array and a view of it as the gradients of its two inputs."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        buf = ops.relu(g)
        return buf, buf[...]


def test_autograd_adopts_a_pooled_gradient_only_when_alone_on_its_block(pool):
    x = fastdl.tensor(np.ones((1024, 512), np.float32), requires_grad=True)
    fastdl.relu(x).backward(np.ones((1024, 512), np.float32))
    assert pooled(x.grad.data)  # relu_backward's output became the gradient, no copy
    a, b = (fastdl.tensor(np.ones((512, 512), np.float32), requires_grad=True) for _ in "ab")
    _SameGradTwice.apply(a, b).backward(np.ones((512, 512), np.float32))
    # the view holds buf: neither may be adopted, else the second backward's in-place
    # accumulation into one would change the other
    assert not np.shares_memory(a.grad.data, b.grad.data)
    _SameGradTwice.apply(a, b).backward(np.ones((512, 512), np.float32))
    np.testing.assert_array_equal(a.grad.data, 2)
    np.testing.assert_array_equal(b.grad.data, 2)


# ------------------------------------------------------------------------------ array facts

DTYPES = [
    np.bool_,
    np.int8,
    np.uint8,
    np.int16,
    np.int32,
    np.uint32,
    np.int64,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.complex64,
    np.complex128,
    "datetime64[ns]",
    "timedelta64[s]",
    ">f4",  # non-native byte order
]


SHAPES = [(3 * MIB,), (1024, 2048), (7, 1, 384, 513), (2, 3, 4, 5, 6, 2000)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES)
def test_arrays_look_like_np_empty(pool, dtype, shape):
    a = _core.empty(shape, dtype)
    ref = np.empty(shape, dtype)
    assert type(a) is np.ndarray
    assert a.shape == ref.shape and a.dtype == ref.dtype and a.strides == ref.strides
    assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
    assert a.flags.f_contiguous == ref.flags.f_contiguous
    assert pooled(a) == (a.nbytes >= MIN)
    if pooled(a):
        assert addr(a) % 4096 == 0
    a.view(np.uint8)[...] = 7  # the whole block is writeable
    assert (a.view(np.uint8) == 7).all()


@pytest.mark.parametrize(
    "shape, dtype",
    [((0,), np.float32), ((0, 4096, 4096), np.float64), ((), np.float32), ((8,), np.float32),
     ((MIN // 4 - 1,), np.float32), ((MIN // 8 - 1,), np.float64)],
)  # fmt: skip
def test_small_and_empty_arrays_are_numpys(pool, shape, dtype):
    a = _core.empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype
    assert a.base is None and a.flags.owndata
    assert _core._pool_stats()["misses"] == 0


def test_object_and_structured_dtypes_are_numpys(pool):
    a = _core.empty((MIB,), object)
    assert a.base is None and a[0] is None and a[-1] is None  # NumPy initialises objects
    s = _core.empty((MIB,), np.dtype([("a", np.float64), ("b", np.int32)]))
    assert s.base is None and s.shape == (MIB,)
    u = _core.empty((MIB,), "U4")
    assert u.base is None and u.dtype == np.dtype("U4")


def test_shape_and_dtype_arguments_like_np_empty(pool):
    assert _core.empty(np.int64(MIB), np.float32).shape == (MIB,)
    assert _core.empty([2, MIB], "f4").shape == (2, MIB)
    assert _core.empty((np.int32(4), MIB), None).dtype == np.float64  # None: float64, as NumPy
    for bad, err in [
        (((-1, 3), np.float32), ValueError),
        (((1.5,), np.float32), TypeError),
        (((3,), "nope"), TypeError),
        (("abc", np.float32), TypeError),
        (((1 << 40, 1 << 40), np.float32), ValueError),  # NumPy's "array is too big"
    ]:
        with pytest.raises(err):
            _core.empty(*bad)
    with pytest.raises(TypeError, match="2 arguments"):
        _core.empty((3,))


def test_pickle_save_copy_resize(pool, tmp_path):
    a = _core.empty((512, 1024), np.float64)
    a[:] = np.arange(a.size).reshape(a.shape)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a, b)
    assert not pooled(b)
    buf = io.BytesIO()
    np.save(buf, a)
    buf.seek(0)
    np.testing.assert_array_equal(np.load(buf), a)
    fastdl.save({"w": a}, tmp_path / "s.npz")
    np.testing.assert_array_equal(fastdl.load(tmp_path / "s.npz")["w"], a)
    np.testing.assert_array_equal(a.copy(), a)
    assert np.resize(a, (3, 3)).shape == (3, 3)
    with pytest.raises(ValueError):  # like any array that does not own its data
        a.resize((3, 3))


# ------------------------------------------------------------------------------ bounds


def test_limit_bounds_the_cached_bytes_lru_first(pool):
    _core._pool_set_limit(10 * MIB)
    a, b, c = (_core.empty((4 * MIB,), np.uint8) for _ in range(3))
    pa, pb, pc = addr(a), addr(b), addr(c)
    del a  # cached: 4
    del b  # cached: 8
    del c  # 12 > 10: the least recently freed (a) goes back to the OS
    s = _core._pool_stats()
    assert s["cached_bytes"] == 8 * MIB and s["cached_blocks"] == 2
    assert s["unmapped"] == 1
    got = {addr(_core.empty((4 * MIB,), np.uint8)) for _ in range(1)}
    assert got <= {pb, pc} and pa not in got


def test_a_block_larger_than_the_limit_is_never_cached(pool):
    _core._pool_set_limit(4 * MIB)
    a = _core.empty((8 * MIB,), np.uint8)
    del a
    s = _core._pool_stats()
    assert s["cached_bytes"] == 0 and s["unmapped"] == 1


def test_lowering_the_limit_evicts(pool):
    blocks = [_core.empty((2 * MIB,), np.uint8) for _ in range(4)]
    del blocks
    assert _core._pool_stats()["cached_bytes"] == 8 * MIB
    _core._pool_set_limit(3 * MIB)
    assert _core._pool_stats()["cached_bytes"] == 2 * MIB
    with pytest.raises(ValueError, match="bytes"):
        _core._pool_set_limit(-1)


def test_empty_cache_releases_everything_cached(pool):
    keep = _core.empty((3 * MIB,), np.uint8)
    blocks = [_core.empty((n * MIB,), np.uint8) for n in (2, 5)]
    del blocks
    assert _core._pool_stats()["cached_bytes"] == 7 * MIB
    assert fastdl.empty_cache() == 7 * MIB
    s = fastdl.memory_stats()
    assert s["cached_bytes"] == 0 and s["cached_blocks"] == 0
    assert s["live_bytes"] >= 3 * MIB  # blocks in use are untouched
    keep[:] = 1
    del keep
    assert fastdl.memory_stats()["cached_bytes"] == 3 * MIB
    assert fastdl.empty_cache() == 3 * MIB and fastdl.empty_cache() == 0


def test_disabled_pool_allocates_with_numpy(pool):
    _core._pool_set_limit(0)
    assert not _core._pool_stats()["enabled"]
    y = ops.relu(np.ones((1024, 1024), np.float32))
    assert not pooled(y) and y.flags.owndata


def test_cache_bytes_env_zero_disables():
    r = run_python(
        """
        import numpy as np, fastdl
        s = fastdl.memory_stats()
        y = fastdl.ops.relu(np.ones((1024, 1024), np.float32))
        print(s["enabled"], s["limit_bytes"], y.base is None, fastdl.memory_stats()["misses"])
        """,
        FASTDL_CACHE_BYTES="0",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "0", "True", "0"]


@pytest.mark.parametrize(
    "value, limit", [("512M", 512 << 20), ("3G", 3 << 30), ("64KiB", 64 << 10), ("12345", 12345)]
)
def test_cache_bytes_env_values(value, limit):
    r = run_python(
        "import fastdl; print(fastdl.memory_stats()['limit_bytes'])", FASTDL_CACHE_BYTES=value
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == limit


@pytest.mark.parametrize("value", ["lots", "-5", "12X", "1.5G"])
def test_cache_bytes_env_junk_is_an_error_naming_it(value):
    r = run_python("import fastdl", FASTDL_CACHE_BYTES=value)
    assert r.returncode != 0
    # raised while _core initialises, so Python reports it as an ImportError
    assert "Error: FASTDL_CACHE_BYTES must be a byte count" in r.stderr and value in r.stderr


def test_default_limit_is_a_quarter_of_ram_at_most_4_gib():
    r = run_python(
        """
        import os, fastdl
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        print(fastdl.memory_stats()["limit_bytes"], min(ram // 4, 4 << 30))
        """,
        FASTDL_CACHE_BYTES="",  # unset: the default
    )
    assert r.returncode == 0, r.stderr
    got, want = r.stdout.split()
    assert got == want


# ------------------------------------------------------------------------------ threads, fork


def test_eight_threads_allocating_and_freeing(pool):
    """Each thread fills its arrays with its own pattern; another thread frees them."""
    n_threads, rounds = 8, 40
    handoff: queue.Queue = queue.Queue()
    errors = []

    def work(t):
        try:
            mine = []
            for i in range(rounds):
                a = _core.empty(((1 + (i + t) % 3) * MIB // 4,), np.int32)
                a.fill(t * 1000 + i)
                mine.append((a, t * 1000 + i))
                if len(mine) > 3:
                    b, v = mine.pop(0)
                    if not (b == v).all():
                        errors.append(f"thread {t}: block overwritten")
                    handoff.put(b)  # freed by the main thread: destructors in another thread
            for b, v in mine:
                if not (b == v).all():
                    errors.append(f"thread {t}: block overwritten")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    live0 = _core._pool_stats()["live_blocks"]
    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads) or not handoff.empty():
        try:
            handoff.get(timeout=0.01)
        except queue.Empty:
            pass
    for th in threads:
        th.join()
    assert not errors, errors[:5]
    s = _core._pool_stats()
    assert s["live_blocks"] == live0
    assert s["hits"] > 0 and s["hits"] + s["misses"] == n_threads * rounds


def test_ops_give_the_same_bits_with_one_and_two_threads(pool):
    x = np.random.default_rng(1).standard_normal((2048, 512), np.float32)
    with using_threads(1):
        y1, m1, s1 = ops.batch_norm_forward(x)
    with using_threads(2):
        y2, m2, s2 = ops.batch_norm_forward(x)
    assert pooled(y1) and pooled(y2)
    for a, b in ((y1, y2), (m1, m2), (s1, s2)):
        assert a.tobytes() == b.tobytes()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_its_own_copy_of_the_cache(pool):
    a = _core.empty((2 * MIB,), np.uint8)
    a.fill(5)
    b = _core.empty((2 * MIB,), np.uint8)
    del b  # cached in the parent, inherited by the child
    pid = os.fork()
    if pid == 0:  # child: reuse the inherited block, allocate, free; report through the exit code
        try:
            c = _core.empty((2 * MIB,), np.uint8)
            c.fill(9)
            d = ops.relu(np.ones((1024, 1024), np.float32))
            ok = (a == 5).all() and (c == 9).all() and (d == 1).all()
            del c, d
            os._exit(0 if ok and _core._pool_stats()["hits"] >= 1 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert (a == 5).all()  # the child's writes went to its own copy
    assert _core._pool_stats()["cached_blocks"] == 1


# ------------------------------------------------------------------------------ ops


def _outputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1024, 768), np.float32)  # 3 MiB
    g = rng.standard_normal(x.shape, np.float32)
    w = rng.standard_normal(768, np.float32)
    b = rng.standard_normal(768, np.float32)
    y, mean, invstd = ops.batch_norm_forward(x, w, b)
    q = rng.standard_normal((2, 4, 256, 128), np.float32)  # 1 MiB
    go = rng.standard_normal(q.shape, np.float32)
    o, lse = ops.attention_forward(q, q, q)
    return {
        "relu": ops.relu(x),
        "relu_backward": ops.relu_backward(g, x),
        "bias_act": ops.bias_act(x, b, "tanh"),
        "bias_act_backward": ops.bias_act_backward(g, x, "sigmoid")[0],
        "softmax": ops.softmax(x),
        "log_softmax_backward": ops.log_softmax_backward(g, x),
        "matmul": ops.matmul(x, x.T),
        "bn_y": y,
        "bn_inference": ops.batch_norm_inference(x, mean, 1 / invstd**2, w, b),
        "bn_dx": ops.batch_norm_backward(g, x, mean, invstd, w)[0],
        "attention": o,
        "attention_dq": ops.attention_backward(go, q, q, q, o, lse)[0],
        "tensor_empty": fastdl.empty(1024, 1024).numpy(),
    }


def test_ops_return_pooled_arrays_with_the_same_values_as_unpooled(pool):
    with_pool = {k: v.copy() if k != "tensor_empty" else v for k, v in _outputs().items()}
    for k, v in _outputs().items():
        assert pooled(v), k
    _core._pool_set_limit(0)
    without = _outputs()
    for k, v in without.items():
        assert not pooled(v), k
        if k != "tensor_empty":
            assert with_pool[k].tobytes() == v.tobytes(), k


def test_ops_into_preallocated_out_do_not_touch_the_pool(pool):
    x = np.ones((1024, 1024), np.float32)
    out = np.empty_like(x)
    assert ops.relu(x, out=out) is out
    assert _core._pool_stats()["misses"] == 0


def test_docstring_examples():
    import fastdl.memory

    res = doctest.testmod(fastdl.memory, optionflags=doctest.ELLIPSIS)
    assert res.attempted >= 4 and res.failed == 0


# ------------------------------------------------------------------------------ sanitizer


@pytest.mark.skipif(not fastdl.config()["sanitize"], reason="needs the ASan build")
def test_asan_reports_a_read_of_a_cached_block():
    r = run_python(
        """
        import ctypes, numpy as np
        from fastdl import _core
        a = _core.empty((1 << 21,), np.uint8)
        p = a.__array_interface__["data"][0]
        del a  # cached, poisoned
        buf = ctypes.create_string_buffer(16)
        ctypes.memmove(buf, p, 16)
        print("not caught")
        """,
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1",
    )
    assert r.returncode != 0 and "not caught" not in r.stdout
    assert "use-after-poison" in r.stderr, r.stderr[-2000:]


def test_ctypes_reads_a_live_block():
    a = _core.empty((1 << 21,), np.uint8)
    a[:16] = np.arange(16, dtype=np.uint8)
    buf = ctypes.create_string_buffer(16)
    ctypes.memmove(buf, addr(a), 16)
    assert buf.raw == bytes(range(16))
