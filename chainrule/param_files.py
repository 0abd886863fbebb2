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


def load_arrays(path):
    """name → array from ``path``: a file of :func:`save_arrays`, a model file of ``chainrule train`` (its
    parameters and buffers), or the book's pickle of ``params`` (NumPy arrays only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such parameters file")
    with open(path, "rb") as f:
        start = f.read(4)
    if start.startswith(b"PK"):
        return _from_npz(path)
    if start[:1] == b"\x80":
        return _from_pickle(path)
    raise ParamsFileError(f"{path}: neither a .npz nor a pickle of arrays (it starts with {start!r})")


def _from_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ParamsFileError(f"{path}: not a readable .npz ({e})") from None
    arrays.pop("header", None)                     # a model file: its config; the arrays are param/…, buffer/…
    return {name.partition("/")[2] if name.startswith(("param/", "buffer/")) else name: a
            for name, a in arrays.items()}


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


def check_arrays(path, arrays, expected):
    """The arrays of a parameters file that fit ``expected`` (name → array of this network), or a
    ParamsFileError naming what is missing, extra or of another shape or kind."""
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ParamsFileError(f"{path} does not fit this network: " + "; ".join(
            part for part in (f"missing {', '.join(missing)}" if missing else "",
                              f"unexpected {', '.join(extra)}" if extra else "") if part))
    for name, a in arrays.items():
        if a.dtype.kind not in "fiu":
            raise ParamsFileError(f"{path}: {name} holds {a.dtype} values; expected numbers")
        if a.shape != tuple(expected[name].shape):
            raise ParamsFileError(f"{path}: {name} has shape {a.shape}; this network's has "
                                  f"{tuple(expected[name].shape)}")
    return arrays
