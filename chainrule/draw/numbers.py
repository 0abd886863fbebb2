"""How numbers and arrays are written in drawings, explanations and the interactive page: one format.

``format_number`` writes a float with 4 significant digits, whole numbers as
integers (``220``, not ``220.00000000000003``), very large or small ones with an
exponent (``1.235e-05``). Ties round away from zero on the exact binary value,
which is what JavaScript's ``toFixed``/``toExponential`` do, so the page's
``formatNumber`` (in ``static/engine.js``) gives the same text for every number.

``format_value`` writes an array in full when it is small (at most
``FULL_LIMIT`` numbers); a larger one as its shape and a summary that cannot be
mistaken for its values (min, mean, max), never "the first few numbers, …".

``label_lines`` breaks such a label for a drawing: a matrix a row per line, and
any row of more than ``NUMBERS_PER_LINE + 1`` numbers on lines of
``NUMBERS_PER_LINE`` (the page's ``labelLines`` is the same rule).
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from ..backend import to_numpy

SIGNIFICANT = 4
FULL_LIMIT = 12
#: a row of more numbers than this plus one is drawn on lines of this many (a bias of 10 on one line made one
#: arrow label so wide that a model's whole graph had to be drawn small)
NUMBERS_PER_LINE = 5


def format_number(v, significant=SIGNIFICANT) -> str:
    """One number as text: ``220``, ``1.1``, ``-0.3333``, ``1.235e-05``, ``NaN``, ``inf``.

    ``significant`` digits at most (4 by default; explanations raise it where an equation needs it).

    >>> format_number(220.00000000000003), format_number(-1 / 3), format_number(1096.6331584, 5)
    ('220', '-0.3333', '1096.6')
    >>> format_number(0.0000123456), format_number(1234567.8)
    ('0.00001235', '1.235e+06')
    """
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if abs(v) < 1e15 and v == int(v):
        return str(int(v))
    exact = Decimal(v)
    exponent = exact.adjusted()
    mantissa = exact.scaleb(-exponent).quantize(Decimal(1).scaleb(1 - significant), rounding=ROUND_HALF_UP)
    if abs(mantissa) >= 10:  # 9.9995 rounded up to 10.000: one more power of ten
        exponent += 1
        mantissa = exact.scaleb(-exponent).quantize(Decimal(1).scaleb(1 - significant), rounding=ROUND_HALF_UP)
    if -5 <= exponent < 6:
        decimals = max(significant - 1 - exponent, 0)
        text = f"{exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):f}"
        return _strip(text) if "." in text else text
    return f"{_strip(f'{mantissa:f}')}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _strip(text):
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def shape_text(shape) -> str:
    """``(4×5)``: a shape as it meets others in a product; ``()`` is a number."""
    return "(" + "×".join(str(n) for n in shape) + ")"


def _nested(a, significant=SIGNIFICANT):
    if a.ndim == 0:
        return format_number(a, significant)
    return "[" + ", ".join(_nested(row, significant) for row in a) + "]"


def format_value(value, limit=FULL_LIMIT, significant=SIGNIFICANT) -> str:
    """A value as a label: the number, the whole (small) array, or its shape and min / mean / max (on a drawing's
    lines: ``label_lines``)."""
    a = np.asarray(to_numpy(getattr(value, "data", value)), dtype=np.float64)
    if a.ndim == 0:
        return format_number(a, significant)
    if a.size <= limit:
        return _nested(a, significant)
    if a.size == 0:
        return f"{shape_text(a.shape)} empty"
    return (f"{shape_text(a.shape)} min {format_number(a.min())}, mean {format_number(a.mean())}, "
            f"max {format_number(a.max())}")


def label_lines(text) -> list[str]:
    """A label's lines in a drawing: ``[[1, 2], [3, 4]]`` as ``[[1, 2],`` and `` [3, 4]]``; a row of more than
    ``NUMBERS_PER_LINE + 1`` numbers (``d b = [0, 1, …, 9]``) on lines of ``NUMBERS_PER_LINE``. Joined back
    without the line breaks and the indents, the lines are the label."""
    rows = str(text).split("], [")
    lines = [(" [" if i else "") + row + ("]," if i < len(rows) - 1 else "") for i, row in enumerate(rows)]
    out = []
    for line in lines:
        parts = line.split(", ")
        if len(parts) <= NUMBERS_PER_LINE + 1:
            out.append(line)
            continue
        for i in range(0, len(parts), NUMBERS_PER_LINE):
            chunk = ", ".join(parts[i:i + NUMBERS_PER_LINE])
            out.append((" " if i else "") + chunk + ("," if i + NUMBERS_PER_LINE < len(parts) else ""))
    return out
