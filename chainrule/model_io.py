"""Save and load models as one ``.npz``: the architecture (JSON) and the parameters.

Loading never executes code: the file is read with ``allow_pickle=False``.
Saving writes a temporary file and renames it, so an interrupted save never
leaves a half-written model behind.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from . import backend, nets
from .atomic import atomic_write

FORMAT = "chainrule-model"
VERSION = 1


def save_model(path, network, metadata=None):
    """Write ``network`` (and JSON-able ``metadata``, e.g. the data set) to ``path`` (.npz)."""
    path = Path(path)
    header = {"format": FORMAT, "version": VERSION, "architecture": network.architecture(),
              "metadata": metadata or {}}
    arrays = {f"param/{k}": backend.to_numpy(v) for k, v in network.params.items()}
    arrays.update({f"buffer/{k}": backend.to_numpy(v) for k, v in network.buffers().items()})
    arrays["header"] = np.array(json.dumps(header, sort_keys=True))
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load_model(path):
    """``(network, metadata)`` from a file written by :func:`save_model`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz model file ({e})") from None
    try:
        header = json.loads(str(contents.pop("header")))
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{path}: no chainrule model header; was it written by chainrule's save_model?") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"{path}: format {header.get('format')!r} version {header.get('version')!r}; "
                         f"expected {FORMAT!r} version {VERSION}")
    try:
        network = nets.build(header["architecture"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: the architecture cannot be built ({e!r})") from None
    for prefix, kind, arrays in (("param", "parameter", network.params), ("buffer", "buffer", network.buffers())):
        for name, target in arrays.items():
            key = f"{prefix}/{name}"
            if key not in contents:
                raise ValueError(f"{path}: {kind} {name} is missing")
            value = contents.pop(key)
            if value.shape != target.shape or value.dtype != target.dtype:
                raise ValueError(f"{path}: {kind} {name} has shape {value.shape} and dtype {value.dtype}; the "
                                 f"architecture expects {target.shape} {target.dtype}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{path}: {kind} {name} holds NaN or infinite values")
            target[...] = backend.asarray(value)  # in place: the layers hold these arrays
    if contents:
        raise ValueError(f"{path}: unexpected entries {sorted(contents)}")
    return network, header.get("metadata", {})
