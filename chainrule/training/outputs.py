"""A run's output directory: checked before training starts, written only for a finished epoch.

``prepare(out)`` makes sure ``out`` is (or can become) a writable directory,
so that a problem shows up at once, not after an hour of training. ``write``
saves ``model.npz``, ``metrics.json`` and ``curves.png`` atomically; it is only
called when at least one epoch finished, so an interrupted run never replaces a
good model with an untrained one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from ..atomic import atomic_write
from ..model_io import save_model
from .plots import matplotlib_available, plot_curves


class OutputError(ValueError):
    """The output directory cannot be used; the message says why."""


def prepare(out):
    """``out`` as a Path to a directory that exists and can be written, or an :class:`OutputError`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; expected a directory (it would receive model.npz, "
                          "metrics.json, curves.png)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"--out {out} cannot be written: {e.strerror or e}") from None
    for name in ("model.npz", "metrics.json", "curves.png"):
        if (out / name).is_dir():
            raise OutputError(f"--out {out}: {out / name} is a directory; it would be replaced by a file")
    return out


def write_json(path, obj):
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    return Path(path)


def write(out, network, metrics, metadata, title, log=print):
    """Write the run's files into ``out``; returns their names."""
    out = Path(out)
    save_model(out / "model.npz", network, metadata)
    write_json(out / "metrics.json", metrics)
    written = ["model.npz", "metrics.json"]
    if matplotlib_available():
        with contextlib.suppress(ImportError):
            plot_curves(metrics["history"], out / "curves.png", title)
            written.append("curves.png")
    else:
        log("curves.png skipped: matplotlib is not installed (pip install 'chainrule[plot]')")
    return written
