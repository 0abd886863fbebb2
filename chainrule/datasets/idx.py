"""The IDX file format of MNIST and Fashion-MNIST (raw or gzip-compressed).

Header: two zero bytes, a type code, the number of dimensions, then each
dimension as a big-endian uint32; then the data, big-endian. ``read_idx``
checks all of it and says clearly what is wrong with a truncated or corrupt file.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
         0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dimension


class IDXError(ValueError):
    """A file that is not a valid IDX file."""


def _read_bytes(path):
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise IDXError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise IDXError(f"{path}: the gzip data is truncated or corrupt ({e}); delete the file and fetch it again") \
                from None
    return raw


def read_idx(path, expect_magic=None):
    """The array stored in an IDX file (``.gz`` or raw), in native byte order."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: {len(data)} bytes is too short for an IDX header")
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    magic = struct.unpack(">I", data[:4])[0]
    if zero != 0 or type_code not in TYPES or ndim == 0:
        raise IDXError(f"{path}: not an IDX file (magic number {magic:#010x}; expected 0x000008NN with a known type "
                       "code and at least one dimension)")
    if expect_magic is not None and magic != expect_magic:
        raise IDXError(f"{path}: magic number {magic} ({magic:#010x}); expected {expect_magic} ({expect_magic:#010x}) "
                       f"for {'images' if expect_magic == IMAGES_MAGIC else 'labels'}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: truncated header ({len(data)} bytes; {header} needed for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = TYPES[type_code]
    expected = math.prod(dims) * dtype.itemsize      # Python integers: a forged header cannot wrap around
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise IDXError(f"{path}: file is {what}: dimensions {dims} need {expected} data bytes, found {actual}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in .gz). Used by tests and tools."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    payload = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(TYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
    return path


def read_images_and_labels(images_path, labels_path):
    """MNIST-format images (N, rows, cols) uint8 and labels (N,) uint8, checked against each other."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise IDXError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
                       "expected the same number")
    return images, labels
