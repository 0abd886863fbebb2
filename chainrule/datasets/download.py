"""Find data files in one place, else download them with SHA-256 checks.

All files of a data set come from one directory: a directory counts only when
it holds every file, so a user's training files are never mixed with another
copy's test files. A download goes to a temporary file beside its destination
and is renamed into place only after its checksum matched; it is refused past a
size cap, and a connection cut off mid-transfer or a garbled HTTP reply is a
clear error naming the URL, never a traceback or a file that looks complete.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..atomic import atomic_write

#: no data file chainrule downloads is larger than this (MNIST's largest is 9.9 MB)
MAX_DOWNLOAD_BYTES = 64 << 20


class DataNotFoundError(FileNotFoundError):
    """No copy of a data set could be found or downloaded; the message says what was tried and how to fix it."""


class DownloadError(OSError):
    """One download failed; the message names the URL and why."""


def cache_dir(name=None):
    """The per-user cache: $CHAINRULE_DATA, else $XDG_CACHE_HOME/chainrule, else ~/.cache/chainrule."""
    root = os.environ.get("CHAINRULE_DATA")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chainrule"
    root = Path(root)
    return root / name if name else root


def download(url, destination, sha256, timeout=60, max_bytes=MAX_DOWNLOAD_BYTES):
    """Download ``url`` to ``destination`` atomically, refusing content whose SHA-256 differs.

    Raises :class:`DownloadError` for HTTP errors, unreachable hosts, a transfer
    cut off part-way, a garbled reply, content over ``max_bytes`` or a wrong checksum.
    """
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise DownloadError(f"{url}: {int(length):,} bytes is over the {max_bytes:,}-byte limit")
            with atomic_write(destination) as out:
                received = 0
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadError(f"{url}: more than {max_bytes:,} bytes; refusing the rest")
                    h.update(chunk)
                    out.write(chunk)
                if length is not None and length.isdigit() and received != int(length):
                    raise DownloadError(f"{url}: the transfer was cut off after {received:,} of {int(length):,} "
                                        "bytes")
                if h.hexdigest() != sha256:
                    raise DownloadError(f"{url}: SHA-256 mismatch (got {h.hexdigest()[:16]}…, expected "
                                        f"{sha256[:16]}…): the file is corrupt or not the published one")
    except DownloadError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {_printable(e.reason)}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: {e.reason}") from None
    except http.client.IncompleteRead as e:
        raise DownloadError(f"{url}: the transfer was cut off after {len(e.partial):,} bytes") from None
    except http.client.HTTPException as e:
        raise DownloadError(f"{url}: a broken HTTP reply ({type(e).__name__}: {_printable(e)})") from None
    except (OSError, ValueError) as e:
        raise DownloadError(f"{url}: {e}") from None
    return Path(destination)


def _printable(text, limit=80):
    """A server's words for a one-line message: control characters (a status line's \\r\\n) and quotes dropped,
    at most ``limit`` characters."""
    text = "".join(c if c.isprintable() else " " for c in str(text)).strip().strip("'\"").strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _find(name, directory):
    plain = name[:-3] if name.endswith(".gz") else name
    return next((p for p in (Path(directory) / name, Path(directory) / plain) if p.is_file()), None)


def files_in(directory, files):
    """name → path for the files found in ``directory`` (each as ``name`` or ``name`` without .gz)."""
    found = {name: _find(name, directory) for name in files}
    return {name: path for name, path in found.items() if path is not None}


def fetch(files, search_dirs, mirrors, download_dir, dataset, allow_download=True, help_lines=()):
    """Paths of ``files`` (name → SHA-256 of its .gz), all from one directory, or downloaded.

    The first directory of ``search_dirs`` that holds every file is used; else
    the missing files are downloaded into ``download_dir`` (which must then
    hold them all). Raises :class:`DataNotFoundError` saying what was looked at,
    what was tried and how to fix it.
    """
    partial = {}
    for d in search_dirs:
        found = files_in(d, files)
        if len(found) == len(files):
            return found
        if found:
            partial[str(d)] = sorted(set(files) - set(found))
    tried = []
    if allow_download:
        found = files_in(download_dir, files)
        for name, sha in files.items():
            if name in found:
                continue
            for mirror in mirrors:
                url = mirror.rstrip("/") + "/" + name
                try:
                    found[name] = download(url, Path(download_dir) / name, sha)
                    break
                except DownloadError as e:
                    tried.append(str(e))
            else:
                break
        if len(found) == len(files):
            return found
    lines = [f"{dataset}: the data files are not on this machine" + (" and could not be downloaded." if allow_download
                                                                     else ".")]
    for d in search_dirs:
        note = f" (has some files; missing {', '.join(partial[str(d)])})" if str(d) in partial else ""
        lines.append(f"  looked in {d}{note}")
    if tried:
        lines.extend(f"  download failed: {t}" for t in tried)
    elif not allow_download:
        lines.append("  downloading is switched off (download=False or CHAINRULE_OFFLINE=1)")
    lines.append(f"  to fix: put the four files ({', '.join(files)}; .gz or uncompressed) in one directory and pass "
                 "--data-dir DIR (Python: data_dir=DIR)")
    lines.extend(help_lines)
    raise DataNotFoundError("\n".join(lines))
