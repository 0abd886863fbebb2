"""Save and load models as one ``.npz``: the network's config (JSON) and its state (parameters, buffers).

Loading is safe for files from strangers: nothing is unpickled
(``allow_pickle=False``), the header is checked field by field, and the shape
and dtype of every stored array are read from its own small header and compared
with what the config plans *before* any network is allocated, so a small file
claiming a huge layer is refused at once. Saving refuses non-finite weights and
writes atomically, so an interrupted save never leaves a broken model behind.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from . import backend, memory, nets, runfiles
from .atomic import atomic_write

FORMAT = "chainrule-model"
VERSION = 1
_HEADER_LIMIT = 1 << 20  # bytes: a config is a few hundred


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message says why."""


def _arrays(network, metadata, caller):
    for name, value in {**network.params, **network.buffers()}.items():
        if not bool(np.all(np.isfinite(value))):
            raise ValueError(f"{caller}: {name} holds NaN or infinite values; refusing to save a broken model")
    header = {"format": FORMAT, "version": VERSION, "architecture": network.config(), "metadata": metadata or {}}
    arrays = {f"param/{k}": backend.to_numpy(v) for k, v in network.params.items()}
    arrays.update({f"buffer/{k}": backend.to_numpy(v) for k, v in network.buffers().items()})
    arrays["header"] = np.array(json.dumps(header, sort_keys=True))
    return arrays


def save_model(path, network, metadata=None):
    """Write ``network`` (and JSON-able ``metadata``, e.g. the data set) to ``path`` (.npz)."""
    path = Path(path)
    arrays = _arrays(network, metadata, "save_model")
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def model_bytes(network, metadata=None):
    """The bytes of the model file :func:`save_model` would write (to send a model between processes)."""
    buffer = io.BytesIO()
    np.savez(buffer, **_arrays(network, metadata, "model_bytes"))
    return buffer.getvalue()


def _member_headers(archive, path):
    """name → (shape, dtype) of every array in the archive, read from the .npy headers alone."""
    found = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise ModelFileError(f"{path}: unexpected entry {info.filename!r} in the archive")
        if info.compress_type != zipfile.ZIP_STORED:
            # chainrule writes stored entries only; a compressed one could inflate without bound
            raise ModelFileError(f"{path}: entry {info.filename!r} is compressed; chainrule's model files store "
                                 "their arrays uncompressed, and a compressed entry is refused rather than inflated")
        with archive.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = reader(f)
                header_bytes = f.tell()
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise ModelFileError(f"{path}: entry {info.filename!r} is not a readable array ({e})") from None
        dtype = np.dtype(dtype)
        expected = header_bytes + math.prod(shape) * dtype.itemsize
        if dtype.kind in "fiub" and info.file_size != expected:
            raise ModelFileError(f"{path}: entry {info.filename!r} holds {info.file_size:,} bytes but its header "
                                 f"describes {expected:,} ({tuple(shape)} {dtype}); the file is damaged or truncated")
        found[info.filename[:-4]] = (tuple(shape), dtype, info.file_size)
    return found


def read_header(path):
    """The checked JSON header of a model file: ``{"architecture": …, "metadata": …}``."""
    return _open(Path(path))[0]


def _open(path):
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory; expected a model file (model.npz)")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable .npz model file ({e})") from None
    with archive:
        members = _member_headers(archive, path)
        if "header" not in members:
            raise ModelFileError(f"{path}: no chainrule model header; was it written by chainrule's save_model?")
        shape, dtype, size = members.pop("header")
        if shape != () or dtype.kind != "U" or size > _HEADER_LIMIT:
            raise ModelFileError(f"{path}: the header entry is not a short text ({dtype}, {size} bytes)")
        with archive.open("header.npy") as f:
            text = str(np.lib.format.read_array(f, allow_pickle=False))
    try:
        header = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the header is {type(header).__name__}; expected a JSON object")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ModelFileError(f"{path}: format {header.get('format')!r} version {header.get('version')!r}; "
                             f"expected {FORMAT!r} version {VERSION}")
    if not isinstance(header.get("architecture"), dict):
        raise ModelFileError(f"{path}: the header's architecture is {header.get('architecture')!r}; expected a "
                             "network config (a JSON object)")
    if not isinstance(header.get("metadata", {}), dict):
        raise ModelFileError(f"{path}: the header's metadata is not a JSON object")
    return header, members


def load_model(path):
    """``(network, metadata)`` from a file written by :func:`save_model`; in a run's folder, only the model that
    run committed (:mod:`chainrule.runfiles`)."""
    path = Path(path)
    try:
        runfiles.check(path)
    except runfiles.RunFilesError as e:
        raise ModelFileError(str(e)) from None
    header, members = _open(path)
    config = header["architecture"]
    try:
        planned = nets.planned_state(config)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: the architecture cannot be built: {e}") from None
    try:
        dtype = nets.plan.as_dtype(config.get("dtype", "float64"))
    except ValueError as e:
        raise ModelFileError(f"{path}: {e}") from None
    params, buffers = {}, {}
    for key in members:
        kind, _, name = key.partition("/")
        if kind not in ("param", "buffer") or not name:
            raise ModelFileError(f"{path}: unexpected entry {key!r}")
        (params if kind == "param" else buffers)[name] = key
    stored = {**params, **buffers}
    missing = sorted(set(planned) - set(stored))
    unexpected = sorted(set(stored) - set(planned))
    if missing:
        raise ModelFileError(f"{path}: {', '.join(missing)} missing for the {config.get('class')} it describes")
    if unexpected:
        raise ModelFileError(f"{path}: unexpected entries {', '.join(unexpected)}")
    for name, key in stored.items():
        shape, array_dtype, _ = members[key]
        if shape != planned[name] or array_dtype != dtype:
            kind = "parameter" if key.startswith("param/") else "buffer"
            raise ModelFileError(f"{path}: {kind} {name} has shape {shape} and dtype {array_dtype}; the "
                                 f"architecture expects {planned[name]} {dtype}")
    try:
        network = nets.build(config)
    except memory.MemoryLimitError as e:
        raise ModelFileError(f"{path}: {e}") from None
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{path}: the architecture cannot be built: {e}") from None
    try:
        with np.load(path, allow_pickle=False) as data:
            state = {name: data[key] for name, key in stored.items()}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: the arrays cannot be read ({e}); the file is damaged or truncated") from None
    try:
        network.load_state_dict(state)
    except ValueError as e:
        raise ModelFileError(f"{path}: {e}") from None
    return network, header.get("metadata", {})
