"""Memory is checked before it is spent: a network, its batches and its model file are estimated first.

A legal spec such as ``conv(60000000,3)-pool(6)`` would allocate gigabytes before anything
failed; a 22 KB model file of ``conv(256,3,pad=1)-pool(28)`` made ``predict`` ask for 7.5 GB for
its batches. Here every such request is estimated from the network's plan (the shapes of every
layer, :mod:`chainrule.nets.plan`) and refused, with the estimate and the limit, when it would not
fit; inference batches are made smaller instead where that is enough.

The limit is half of this machine's physical memory, or what ``CHAINRULE_MEMORY_LIMIT`` says
(bytes, or with a unit: ``8G``, ``512M``), or what :func:`set_limit` sets (``None``: the default
again).
"""
from __future__ import annotations

import math
import os
import re


_limit = None


class MemoryLimitError(MemoryError, ValueError):
    """What was asked for would need more memory than the limit: the message has the estimate and the limit."""


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def parse_size(text):
    """Bytes from ``"8G"``, ``"512M"``, ``"1.5GB"``, ``"1000000"``.

    >>> parse_size("512M") == 512 * 2 ** 20, parse_size("1000")
    (True, 1000)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)[iI]?[bB]?\s*", str(text))
    if not m:
        raise ValueError(f"memory size {text!r}: expected bytes or a number with K, M, G or T (e.g. 8G)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index((m.group(2) or " ").upper()))


def limit():
    """The memory limit in bytes."""
    if _limit is not None:
        return _limit
    env = os.environ.get("CHAINRULE_MEMORY_LIMIT")
    if env:
        return parse_size(env)
    return _physical_memory() // 2


def set_limit(value):
    """Set the limit (bytes, or a size such as ``"8G"``); ``None`` restores the default."""
    global _limit
    _limit = None if value is None else (parse_size(value) if isinstance(value, str) else int(value))


def gigabytes(n):
    """A byte count as GB or MB for messages."""
    return f"{n / 2 ** 30:.3g} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:.3g} MB"


def check(needed, what):
    """Refuse ``what`` if it needs more than the limit."""
    allowed = limit()
    if needed > allowed:
        need, have = gigabytes(needed), gigabytes(allowed)
        if need == have:      # just above the limit: enough digits to show which is larger
            need, have = (f"{n / 2 ** 30:.6g} GB" for n in (needed, allowed))
        raise MemoryLimitError(f"{what} would need about {need}, more than the memory limit of {have} (half this "
                               "machine's memory by default; set CHAINRULE_MEMORY_LIMIT, e.g. 16G, to change it)")


def parameter_bytes(planned, itemsize):
    """The parameters and buffers of a plan, and when training their gradients and two optimizer states."""
    count = sum(math.prod(s) for p in planned for s in (*p.params.values(), *p.buffers.values()))
    return count * itemsize


def per_sample_bytes(planned, itemsize, training):
    """What one sample costs on its way through: every layer's output (kept for backward when training, and
    its gradient), and a convolution's working columns (C·FH·FW per output position)."""
    total = 0
    for p in planned:
        out = math.prod(p.out_shape)
        total += out * (3 if training else 1)
        if p.kind == "conv":
            c, fh, fw = p.params["W"][1:]
            positions = math.prod(p.out_shape[1:])
            total += positions * c * fh * fw * (2 if training else 1)
    return (total + math.prod(planned[0].in_shape)) * itemsize


def check_network(planned, itemsize, batch=1, training=True, what=None):
    """Refuse a network (and a batch of ``batch`` samples through it) that would not fit."""
    params = parameter_bytes(planned, itemsize) * (4 if training else 1)
    needed = params + batch * per_sample_bytes(planned, itemsize, training)
    check(needed, what or f"a network of {parameter_bytes(planned, 1) // 1:,} parameter numbers with a batch of "
                          f"{batch}")


#: inference batches are cut so that no layer's output is larger than this: glibc reuses freed blocks up to this
#: size (``backend.keep_freed_memory``), while larger ones are fresh memory that page-faults in every time
#: (measured: evaluating 20,000 Fashion-MNIST images with a 32-and-64-filter CNN took 4.7–9 s in batches of
#: 10,000 and 3.1 s in batches of 500)
REUSED_BYTES = 32 << 20


def reusable_batch(planned, itemsize, batch):
    """The largest batch of at most ``batch`` samples whose every layer output stays under ``REUSED_BYTES``."""
    largest = max(math.prod(p.out_shape) for p in planned) * itemsize
    return max(1, min(int(batch), REUSED_BYTES // max(largest, 1)))


def fit_batch(planned, itemsize, batch, what="prediction"):
    """The largest batch of at most ``batch`` samples whose inference fits (at least 1, else refused)."""
    room = limit() - parameter_bytes(planned, itemsize)
    one = per_sample_bytes(planned, itemsize, training=False)
    if one > room:
        check(parameter_bytes(planned, itemsize) + one, f"{what} of one sample")
    return max(1, min(int(batch), int(room // one)))
