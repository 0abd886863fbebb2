"""Atomic file writes: a temporary file beside the target, flushed to disk, then renamed into place.

A crash, a full disk or Ctrl-C in the middle never leaves a half-written file
under the real name (model files, metrics, drawings, downloads), and an older
file of that name stays untouched until the new one is complete. Files get the
usual permissions (0666 less the umask, e.g. 0644), not a temporary file's 0600.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path


def _fsync_directory(directory):
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_parts(path):
    """Remove the temporary files of earlier writes of ``path`` whose writer is gone (killed with SIGKILL, or the
    machine went down): each is named after its writer's process id, so a live writer's file stays."""
    for part in Path(path).parent.glob(f".{Path(path).name}.*.part"):
        tag = part.name[len(path.name) + 2:-len(".part")]
        pid = tag.split("-", 1)[0]
        if not pid.isdigit() or not _alive(int(pid)):
            with contextlib.suppress(OSError):
                part.unlink()


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """``with atomic_write(path) as f: f.write(...)``: ``path`` appears only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; expected a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(path)
        while True:
            tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
                break
            except FileExistsError:
                continue
    except FileExistsError:
        raise FileExistsError(f"{path} cannot be written: {path.parent} is not a directory") from None
    except OSError as e:    # named by the file asked for, not by the temporary file beside it
        raise type(e)(f"{path} cannot be written: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None and not e.filename:   # a full disk: name the file
            raise type(e)(e.errno, f"{path} cannot be written ({e.strerror or e}); nothing was written there") \
                from None
        raise


def sha256_of(path):
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)
