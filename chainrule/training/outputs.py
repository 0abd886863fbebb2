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
from .. import runfiles
from ..model_io import model_bytes
from .plots import matplotlib_available, plot_curves


class OutputError(ValueError):
    """The output directory cannot be used; the message says why."""


def _not_a_file(out, receives="model.npz, metrics.json, curves.png"):
    """``out`` as a Path, or an :class:`OutputError` where it is a file, not a directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; expected a directory (it would receive {receives})")
    return out


def prepare(out):
    """``out`` as a Path to a directory that exists and can be written, or an :class:`OutputError`."""
    out = _not_a_file(out)
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
    runfiles.recover(out)  # a run killed while committing its files is completed first
    return out


@contextlib.contextmanager
def lock(out, what):
    """Hold ``out`` for one writer (``what``: "chainrule train", "chainrule sweep"): a second one started while this
    one runs is refused at once instead of racing it file by file. The lock is the kernel's (``flock``) and dies with
    its process, so a killed run leaves nothing to clean up."""
    import fcntl
    out = _not_a_file(out, f"the files of {what}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--out {out} cannot be written: {e.strerror or e}") from None
    path = out / ".chainrule.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise OutputError(f"--out {out} is in use by {holder}; wait for it to finish or choose another --out") \
                from None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break  # the lock file that is there now: ours
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed it as we opened it: take the new one
    try:
        os.write(fd, f"{what} (process {os.getpid()})".encode())
        yield out
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: the folder is left as the run made it
        os.close(fd)


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    return Path(path)


def write(out, network, metrics, metadata, title, log=print):
    """Write the run's files into ``out`` as one unit (:func:`chainrule.runfiles.commit`); returns their names."""
    files = {"model.npz": model_bytes(network, metadata),
             "metrics.json": (json.dumps(metrics, indent=2) + "\n").encode()}
    if matplotlib_available():
        with contextlib.suppress(ImportError):
            files["curves.png"] = plot_curves(metrics["history"], None, title,
                                              evaluated="validation" if metrics.get("validation_samples") else "test")
    else:
        log("curves.png skipped: matplotlib is not installed (pip install 'chainrule[plot]')")
    return runfiles.commit(out, files)
