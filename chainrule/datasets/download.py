"""Fetch data files: look in the given places, else download with SHA-256 checks.

A download goes to a temporary file beside its destination and is renamed
into place only after its checksum matched, so a broken download never leaves
a file that looks complete.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..atomic import atomic_write


class DataNotFoundError(FileNotFoundError):
    """No copy of a data set could be found or downloaded; the message says what was tried."""


def cache_dir(name=None):
    """The per-user cache: $CHAINRULE_DATA, else $XDG_CACHE_HOME/chainrule, else ~/.cache/chainrule."""
    root = os.environ.get("CHAINRULE_DATA")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chainrule"
    root = Path(root)
    return root / name if name else root


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url, destination, sha256, timeout=60):
    """Download ``url`` to ``destination`` atomically, refusing content whose SHA-256 differs."""
    h = hashlib.sha256()
    with atomic_write(destination) as out, urllib.request.urlopen(url, timeout=timeout) as response:
        for chunk in iter(lambda: response.read(1 << 20), b""):
            h.update(chunk)
            out.write(chunk)
        if h.hexdigest() != sha256:
            raise ValueError(f"SHA-256 mismatch for {url}: got {h.hexdigest()}, expected {sha256}")
    return Path(destination)


def fetch(files, search_dirs, mirrors, download_dir, dataset, allow_download=True):
    """Paths of ``files`` (name → SHA-256 of its .gz): found in ``search_dirs`` or downloaded.

    A file counts as found under its name or its name without ``.gz``. Raises
    :class:`DataNotFoundError` listing every place and URL tried.
    """
    found, tried, unreachable = {}, [], set()
    for name, sha in files.items():
        plain = name[:-3] if name.endswith(".gz") else name
        for d in search_dirs:
            candidates = [Path(d) / name, Path(d) / plain]
            hit = next((c for c in candidates if c.is_file()), None)
            if hit:
                found[name] = hit
                break
        else:
            if not allow_download:
                continue
            for mirror in mirrors:
                if mirror in unreachable:
                    continue
                url = mirror.rstrip("/") + "/" + name
                try:
                    found[name] = download(url, Path(download_dir) / name, sha)
                    break
                except urllib.error.HTTPError as e:
                    tried.append(f"{url} (HTTP {e.code})")
                except (urllib.error.URLError, OSError) as e:  # the host itself: do not ask it again
                    unreachable.add(mirror)
                    tried.append(f"{mirror} ({getattr(e, 'reason', None) or e})")
                except ValueError as e:
                    tried.append(str(e))
    missing = [n for n in files if n not in found]
    if missing:
        places = ", ".join(str(d) for d in search_dirs) or "(none)"
        lines = [f"{dataset}: could not find {', '.join(missing)}.", f"  looked in: {places}"]
        if tried:
            lines.append("  download failed: " + "; ".join(tried))
        elif not allow_download:
            lines.append("  downloading was switched off (download=False or CHAINRULE_OFFLINE=1)")
        lines.append(f"  to supply the files yourself, put the four files ({', '.join(files)}, .gz or not) in a "
                     "directory and pass --data-dir DIR (Python: data_dir=DIR)")
        raise DataNotFoundError("\n".join(lines))
    return found
