"""``fastdl.save`` / ``fastdl.load``: state dicts in ``.npz`` files, never pickle.

A saved object is a tree of dicts (str or int keys), lists, tuples, arrays and plain scalars
(int, float, bool, str, None), e.g. a model's ``state_dict()`` or ``{"model": ...,
"optimizer": ...}``. Arrays are stored as ``.npy`` members named by their dotted path
(``model.0.weight``), so ``np.load(path)`` shows a readable flat view; the tree's shape and its
scalars go into one JSON string member, ``__fastdl__``. Loading uses ``allow_pickle=False``
and only ``json``, so a file can never run code; a file holding an object array is rejected.
Writes go to a temporary file in the same directory, then ``os.replace``: a crash never leaves
a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import IO, Any, Union

import numpy as np

from .ops._checks import arg_error, describe

__all__ = ["save", "load"]

_META = "__fastdl__"
_FORMAT = 1

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


def _as_array(value: Any) -> np.ndarray | None:
    """The ndarray behind an ndarray or a fastdl Tensor/Parameter, else None."""
    if isinstance(value, np.ndarray):
        return value
    from .tensor import Tensor  # late: serialization must not import the autograd layer eagerly

    if isinstance(value, Tensor):
        return value.data
    return None


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _key(self, path: str) -> str:
        key = path or "_"
        if key == _META or key in self.arrays:
            n = 1
            while f"{key}#{n}" in self.arrays:
                n += 1
            key = f"{key}#{n}"
        return key

    def node(self, value: Any, path: str) -> Any:
        if hasattr(value, "state_dict") and callable(value.state_dict):
            value = value.state_dict()  # a Module or an Optimizer
        arr = _as_array(value)
        if arr is not None or isinstance(value, np.generic):
            a = np.asarray(arr if arr is not None else value)
            if a.dtype.hasobject or a.dtype.kind not in "biufcSUM":
                raise arg_error(
                    "save", "obj", f"hold numeric, bool or string arrays (at '{path}'; object "
                    "arrays would need pickle)", f"dtype {a.dtype}", TypeError,
                )  # fmt: skip
            key = self._key(path)
            self.arrays[key] = a
            return {"a": key, "s": True} if arr is None else {"a": key}
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"v": value}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise arg_error(
                        "save", "obj", f"have str or int dict keys (at '{path or '<root>'}')",
                        f"key of type {type(k).__name__}", TypeError,
                    )  # fmt: skip
                items.append([k, self.node(v, f"{path}.{k}" if path else str(k))])
            return {"d": items}
        if isinstance(value, (list, tuple)):
            nodes = [self.node(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
            return {"t" if isinstance(value, tuple) else "l": nodes}
        raise arg_error(
            "save", "obj", "hold only arrays, Tensors, dicts, lists, tuples or "
            f"int/float/bool/str/None (at '{path or '<root>'}')", f"type {type(value).__name__}",
            TypeError,
        )  # fmt: skip


def save(obj: Any, f: PathOrFile, *, optimizer: Any = None, compress: bool = False) -> None:
    """Save a state dict (or a Module / Optimizer, via its ``state_dict()``) to an ``.npz`` file.

    Nested dicts are flattened into dotted member names. ``optimizer=opt`` saves
    ``{"model": obj, "optimizer": opt}`` so training can resume. The file is written to a
    temporary name in the same directory and renamed into place (atomic on POSIX); the name is
    used exactly as given (no ``.npz`` is appended). ``compress=True`` deflates the members.

    Example:
        >>> import numpy as np, fastdl, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
        >>> fastdl.save({"layer": {"weight": np.eye(2)}, "epoch": 3}, path)
        >>> state = fastdl.load(path)
        >>> state["epoch"], state["layer"]["weight"].shape
        (3, (2, 2))
    """
    if optimizer is not None:
        obj = {"model": obj, "optimizer": optimizer}
    enc = _Encoder()
    tree = enc.node(obj, "")
    members = dict(enc.arrays)
    members[_META] = np.array(json.dumps({"format": _FORMAT, "tree": tree}))
    writer = np.savez_compressed if compress else np.savez

    if hasattr(f, "write"):
        writer(f, **members)
        return
    path = os.fspath(f)
    if not isinstance(path, str):
        raise arg_error("save", "f", "be a str path or a file", describe(path), TypeError)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):  # else mkstemp's error names the temporary file
        raise arg_error(
            "save", "f", "be a path in an existing directory", repr(path), FileNotFoundError
        )
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh, **members)
            fh.flush()
            os.fsync(fh.fileno())
        _match_permissions(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _match_permissions(tmp: str, path: str) -> None:
    # mkstemp creates 0600 files; give the result the mode a plain open() would have.
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if not isinstance(node, dict) or len(node) == 0:
        raise arg_error("load", "f", "be a well-formed fastdl file", f"{_META} entry {node!r}")
    if "a" in node:
        key = node["a"]
        if not isinstance(key, str) or key not in arrays:
            raise arg_error(
                "load", "f", "be a well-formed fastdl file", f"a missing array member {key!r}"
            )
        a = arrays[key]
        return a[()] if node.get("s") else a
    if "v" in node:
        v = node["v"]
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise arg_error("load", "f", "be a well-formed fastdl file", f"a scalar {v!r}")
        return v
    if "d" in node:
        out = {}
        for item in node["d"]:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))):
                raise arg_error("load", "f", "be a well-formed fastdl file", f"dict item {item!r}")
            out[item[0]] = _decode(item[1], arrays)
        return out
    if "l" in node:
        return [_decode(n, arrays) for n in node["l"]]
    if "t" in node:
        return tuple(_decode(n, arrays) for n in node["t"])
    raise arg_error("load", "f", "be a well-formed fastdl file", f"{_META} entry {node!r}")


def load(f: PathOrFile) -> Any:
    """Load what :func:`save` wrote: nested dicts/lists of ndarrays and scalars.

    Arrays come back as ``np.ndarray`` (``load_state_dict`` accepts them). A plain ``.npz``
    written by ``np.savez`` loads as a flat ``{name: array}`` dict. Pickled data and object
    arrays are refused with ValueError, so loading never executes code from the file.

    Example:
        >>> import numpy as np, fastdl, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
        >>> fastdl.save({"w": np.arange(3.0)}, path)
        >>> fastdl.load(path)["w"]
        array([0., 1., 2.])
    """
    name = f if not hasattr(f, "read") else getattr(f, "name", f"a {type(f).__name__}")
    try:
        npz = np.load(f, allow_pickle=False)
    except FileNotFoundError:
        raise arg_error("load", "f", "be an existing file", repr(name), FileNotFoundError) from None
    except ValueError as e:  # pickled payloads, junk
        raise arg_error("load", "f", "be a fastdl .npz file", f"{name!r} ({e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise arg_error("load", "f", "be an .npz archive", f"{name!r}, a single .npy array")
    with npz:
        arrays = {}
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except ValueError as e:  # object arrays need pickle
                raise ValueError(
                    f"load(): member {key!r} of {name!r} cannot be loaded without pickle "
                    f"(refused: {e})"
                ) from None
    meta = arrays.pop(_META, None)
    if meta is None:
        return arrays
    if meta.dtype.kind != "U" or meta.shape != ():
        raise arg_error(
            "load", "f", f"have a 0-d string {_META} member", f"{name!r} with one of {meta.dtype}"
        )
    try:
        header = json.loads(str(meta[()]))
    except json.JSONDecodeError as e:
        raise arg_error(
            "load", "f", f"have a JSON {_META} member", f"{name!r} with a malformed one ({e})"
        ) from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT or "tree" not in header:
        raise arg_error("load", "f", f"be in fastdl format {_FORMAT!r}", repr(name))
    return _decode(header["tree"], arrays)
