"""The book's ``save_params`` / ``load_params`` files: a network's arrays by name, without running anyone's code.

The book saves ``network.params`` with :mod:`pickle`, and loading a pickle can run any code the file's author
wrote. chainrule writes the same dictionary (and batch-norm statistics) as an uncompressed ``.npz`` under the
name given (``params.pkl`` included), atomically; it reads those, a model file of ``chainrule train``, and the
book's own pickles (such as its trained ``deep_convnet_params.pkl``) with an unpickler that builds NumPy arrays
and nothing else: any other object in the file is refused before it is made.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write

#: what a pickle of NumPy arrays refers to, in every protocol (2 spells bytes with _codecs.encode, 5 rebuilds an
#: array with _frombuffer; NumPy 1 and 2 name their modules differently): nothing else is built
_NUMPY_ONLY = {(f"numpy.{core}.{module}", name) for core in ("core", "_core")
               for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                                    ("numeric", "_frombuffer"))} | {("numpy", "ndarray"), ("numpy", "dtype"),
                                                                     ("_codecs", "encode")}


class ParamsFileError(ValueError):
    """A parameters file that cannot be read; the message says why."""


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _NUMPY_ONLY:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}; only NumPy arrays are read from a pickle")


def save_arrays(path, arrays):
    """Write name → array to ``path`` as an uncompressed .npz (whatever its suffix), atomically; refuses
    arrays with NaN or infinite values (a broken model is not saved)."""
    for name, a in arrays.items():
        if not bool(np.all(np.isfinite(a))):
            raise ValueError(f"save_params: {name} holds NaN or infinite values; refusing to save a broken model")
    with atomic_write(Path(path)) as f:
        np.savez(f, **{name: np.asarray(getattr(a, "get", lambda: a)()) for name, a in arrays.items()})
    return Path(path)


def load_arrays(path, expected=None):
    """name → array from ``path``: a file of :func:`save_arrays`, a model file of ``chainrule train`` (its
    parameters and buffers), or the book's pickle of ``params`` (NumPy arrays only). With ``expected`` (name →
    this network's array) an .npz's names and shapes are checked before its arrays are read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such parameters file")
    with open(path, "rb") as f:
        start = f.read(4)
    if start.startswith(b"PK"):
        return _from_npz(path, expected)
    if start[:1] == b"\x80":
        return _from_pickle(path)
    raise ParamsFileError(f"{path}: neither a .npz nor a pickle of arrays (it starts with {start!r})")


def _from_npz(path, expected=None):
    """The arrays of an .npz. With ``expected`` (name → array), every entry's shape is read from its own small
    header and checked first, so that a file claiming arrays this network does not have is refused before
    anything that size is read or allocated."""
    try:
        with zipfile.ZipFile(path) as archive:
            shapes = {}
            for info in archive.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with archive.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shapes[name] = reader(f)[0]
        shapes.pop("header", None)
        if expected is not None:
            check_arrays(path, {_plain(n): np.empty((0,) * len(s)) for n, s in shapes.items()}, expected,
                         shapes={_plain(n): s for n, s in shapes.items()})
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, ParamsFileError):
            raise
        raise ParamsFileError(f"{path}: not a readable .npz ({e})") from None
    arrays.pop("header", None)                     # a model file: its config; the arrays are param/…, buffer/…
    return {_plain(name): a for name, a in arrays.items()}


def _plain(name):
    """A model file's ``param/W1`` or ``buffer/running_mean1`` as the parameter's own name."""
    return name.partition("/")[2] if name.startswith(("param/", "buffer/")) else name


def _from_pickle(path):
    try:
        with open(path, "rb") as f:
            value = _ArraysOnly(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError) as e:
        raise ParamsFileError(f"{path}: not a pickle of NumPy arrays ({e})") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(a, np.ndarray)
                                              for k, a in value.items()):
        raise ParamsFileError(f"{path}: the pickle holds {type(value).__name__}; expected the book's dictionary of "
                              "parameter names to arrays")
    return value


def check_arrays(path, arrays, expected, shapes=None):
    """The arrays of a parameters file that fit ``expected`` (name → array of this network), or a
    ParamsFileError naming what is missing, extra or of another shape or kind (``shapes``: the arrays' shapes
    as their headers declare them, before they are read)."""
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ParamsFileError(f"{path} does not fit this network: " + "; ".join(
            part for part in (f"missing {', '.join(missing)}" if missing else "",
                              f"unexpected {', '.join(extra)}" if extra else "") if part))
    for name, a in arrays.items():
        shape = tuple(shapes[name]) if shapes is not None else a.shape
        if shapes is None and a.dtype.kind not in "fiu":
            raise ParamsFileError(f"{path}: {name} holds {a.dtype} values; expected numbers")
        if shape != tuple(expected[name].shape):
            raise ParamsFileError(f"{path}: {name} has shape {shape}; this network's has "
                                  f"{tuple(expected[name].shape)}")
    return arrays
