"""A run's files as one unit: ``model.npz``, ``metrics.json`` and ``curves.png`` are committed together.

Writing them one after the other left, after a SIGKILL or a full disk between two of them, a new
model beside the old run's metrics. Here the new files are first written in full beside the old
ones (hidden, staged under the run's id), then ``run.json`` (the manifest: the run's id and each
file's SHA-256) replaces the old manifest in one atomic rename, the commit; only then are the staged
files renamed into place. A run killed before the commit leaves the old files as they were (the
staged ones are removed by the next write); one killed after it is completed by the next reader
(:func:`recover`), and a file that does not match the manifest is reported, never used silently.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from pathlib import Path

from .atomic import _fsync_directory, atomic_write, sha256_of

MANIFEST = "run.json"


class RunFilesError(ValueError):
    """The files of a run directory do not belong together; the message says which and why."""


def _staged(out, name, run):
    return out / f".{name}.{run}.staged"


def commit(out, files):
    """Write ``files`` (name → bytes) into ``out`` as one unit; returns their names. On an error (a full disk)
    nothing is replaced, and the message says so."""
    out = Path(out)
    run = secrets.token_hex(6)
    staged = []
    try:
        for name, data in files.items():
            path = _staged(out, name, run)
            staged.append(path)
            with open(path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        manifest = {"run": run, "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
        with atomic_write(out / MANIFEST, "w") as f:  # the commit
            json.dump(manifest, f, indent=2)
    except OSError as e:
        for path in staged:
            with contextlib.suppress(OSError):
                path.unlink()
        raise OSError(e.errno, f"cannot write the run's files into {out} ({e.strerror or e}); nothing was "
                               "replaced: the files there are still the previous run's") from None
    recover(out)
    return list(files)


def _manifest(out):
    path = Path(out) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None
    except (OSError, ValueError):
        return None


def recover(out):
    """Finish a commit a killed run left half done (rename its staged files into place) and remove what runs
    killed before their commit staged."""
    out = Path(out)
    manifest = _manifest(out)
    run = manifest.get("run") if manifest else None
    for name in (manifest or {}).get("files", {}):
        staged = _staged(out, name, run)
        if staged.exists():
            os.replace(staged, out / name)
    for stale in out.glob(".*.staged"):
        with contextlib.suppress(OSError):
            stale.unlink()
    _fsync_directory(out)


def check(path):
    """Refuse ``path`` when it belongs to a run directory whose manifest names another version of it."""
    path = Path(path)
    manifest = _manifest(path.parent)
    if manifest is None or path.name not in manifest["files"]:
        return
    recover(path.parent)
    if path.exists() and sha256_of(path) != manifest["files"][path.name]:
        raise RunFilesError(f"{path} is not the {path.name} of the run recorded in {path.parent / MANIFEST}: the "
                            "folder holds files of two runs (one was changed after the run wrote it)")
