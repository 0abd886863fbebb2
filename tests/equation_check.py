"""An independent reader of the equations chainrule displays: recompute each from its own digits.

It shares no code with ``chainrule.draw.rulemath``: it reads the text a student reads
(``d x = dout × y = 1096.6 × 3 = 3290``), turns the numeric part into NumPy arithmetic,
evaluates it with the digits shown, and checks that the result shown is that value
rounded to the result's own last digit (for a summary ``(4×5) min a, mean b, max c``:
each of the three). Equations whose operands are written as shapes have no digits to
recompute and are only counted.
"""
from __future__ import annotations

import re
from decimal import Decimal

import numpy as np


class Arr:
    """A NumPy array with the displayed notation's operators: × ∘ elementwise, · matrix product, ᵀ."""

    def __init__(self, a):
        self.a = np.asarray(a.a if isinstance(a, Arr) else a, dtype=np.float64)

    def _v(self, o):
        return o.a if isinstance(o, Arr) else np.float64(o)

    def __mul__(self, o): return Arr(self.a * self._v(o))
    def __rmul__(self, o): return Arr(self._v(o) * self.a)
    def __truediv__(self, o): return Arr(self.a / self._v(o))
    def __rtruediv__(self, o): return Arr(self._v(o) / self.a)
    def __add__(self, o): return Arr(self.a + self._v(o))
    def __radd__(self, o): return Arr(self._v(o) + self.a)
    def __sub__(self, o): return Arr(self.a - self._v(o))
    def __rsub__(self, o): return Arr(self._v(o) - self.a)
    def __neg__(self): return Arr(-self.a)
    def __pow__(self, o): return Arr(self.a ** self._v(o))

    def __matmul__(self, o):
        b = self._v(o)
        if self.a.ndim == 0 or np.ndim(b) == 0:
            return Arr(self.a * b)
        return Arr(self.a @ b)

    def __rmatmul__(self, o): return Arr(np.float64(o) * self.a)

    @property
    def T(self):
        return Arr(self.a if self.a.ndim < 2 else np.swapaxes(self.a, -1, -2))

    def reshape(self, *shape):
        return Arr(self.a.reshape(shape))


def _rows(x):
    a = Arr(x).a
    return Arr(a.sum(axis=0) if a.ndim else a)


def _row(x):
    a = Arr(x).a
    return Arr(a.sum(axis=-1, keepdims=True) if a.ndim else a)


def _all(x):
    return Arr(np.sum(Arr(x).a))


def _sum_to(shape, x):
    a = Arr(x).a
    while a.ndim > len(shape):
        a = a.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and a.shape[axis] != 1:
            a = a.sum(axis=axis, keepdims=True)
    return Arr(a.reshape(shape))


SHAPE = re.compile(r"\((\d+(?:×\d+)*)\)")


def to_python(text):
    """The displayed numeric form as a Python expression over :class:`Arr` (None when it has shapes, not digits)."""
    text = re.sub(r"reshaped to \((\d+(?:×\d+)*)\)", lambda m: ".reshape(" + m.group(1).replace("×", ",") + ")", text)
    text = re.sub(r"sum to \((\d+(?:×\d+)*)\) of", lambda m: "SUMTO((" + m.group(1).replace("×", ",") + ",),", text)
    if SHAPE.search(text.replace(".reshape(", "").replace("SUMTO((", "")) and re.search(r"\(\d+×", text):
        return None
    out, depth = [], 0
    for ch in text:
        if ch == "[":
            if depth == 0:
                out.append("A(")
            depth += 1
            out.append(ch)
        elif ch == "]":
            depth -= 1
            out.append(ch)
            if depth == 0:
                out.append(")")
        else:
            out.append(ch)
    py = "".join(out)
    for a, b in (("Σ_rows", "ROWS"), ("Σ_row", "ROW"), ("Σ", "ALL"), ("×", "*"), ("∘", "*"), ("·", "@"),
                 ("−", "-"), ("ᵀ", ".T"), ("²", "**2"), ("^", "**")):
        py = py.replace(a, b)
    # a prefix sum applies to the operand that follows: ROWS X → ROWS(X)
    py = re.sub(r"\b(ROWS|ALL) (A\(\[.*?\]\)|\()", lambda m: m.group(1) + "(" + m.group(2), py)
    if re.search(r"[A-Za-z_]", re.sub(r"\b(A|ROWS|ROW|ALL|SUMTO|reshape|T)\b", "", py).replace("e-", "").replace(
            "e+", "")):
        raise ValueError(f"not a numeric form: {text!r}")
    return py


def evaluate(text):
    py = to_python(text)
    if py is None:
        return None
    # balance a prefix sum's opened parenthesis
    py += ")" * (py.count("(") - py.count(")"))
    env = {"A": lambda v: Arr(v), "ROWS": _rows, "ROW": _row, "ALL": _all, "SUMTO": _sum_to, "__builtins__": {}}
    with np.errstate(all="ignore"):
        try:
            value = eval(py, env)  # noqa: S307 - our own displayed text, translated to arithmetic on Arr only
        except OverflowError:
            return np.array(np.inf)
    return Arr(value).a


def _half_unit(token):
    """Half a unit in the last digit written: 3290 → 0.5, 0.2983 → 0.00005, 1.235e-05 → 0.0005e-05."""
    d = Decimal(token)
    return float(Decimal(1).scaleb(d.as_tuple().exponent)) / 2


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?|-?inf|NaN")


def agrees(value, shown):
    """Does ``value`` rounded to the digits of ``shown`` give ``shown``? (A small slack for float rounding.)"""
    value = np.asarray(value, dtype=np.float64)
    summary = re.fullmatch(r"\((\d+(?:×\d+)*)\) min (\S+), mean (\S+), max (\S+)", shown)
    if summary:
        shape = tuple(int(n) for n in summary.group(1).split("×"))
        if value.size != int(np.prod(shape)):
            return False
        stats = (value.min(), value.mean(), value.max())
        return all(_close_to(v, t) for v, t in zip(stats, summary.groups()[1:]))
    numbers = NUMBER.findall(shown)
    if len(numbers) != value.size:
        return False
    return all(_close_to(v, t) for v, t in zip(value.ravel(), numbers))


def _close_to(v, token):
    if token in ("NaN", "inf", "-inf"):
        return str(v) == {"NaN": "nan", "inf": "inf", "-inf": "-inf"}[token]
    shown = float(token)
    return abs(v - shown) <= _half_unit(token) * (1 + 1e-9) + 1e-12 * abs(shown)


LINE = re.compile(r"^\s+d (\S+) = (.*)$")


def equations(explanation):
    """(numeric text, relation, result) of every backward line of an explanation that shows a numeric form."""
    found = []
    for line in explanation.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        body = m.group(2).split("   (local derivative")[0]
        for relation in (" = ", " ≈ "):
            parts = body.split(relation)
            if relation == " ≈ " and len(parts) == 3:
                found.append((parts[1], "≈", parts[2]))
                break
            if relation == " = " and len(parts) >= 3:
                found.append((parts[-2], "=", parts[-1]))
                break
    return found


def branch_sums(explanation):
    """(terms, relation, total) of every branch-rule line."""
    found = []
    for line in explanation.splitlines():
        m = re.search(r"is used \d+ times: d \S+ = (.*) (=|≈) (.*)$", line)
        if m:
            terms = [re.sub(r" \(via .*?\)$", "", t) for t in m.group(1).split(" + ")]
            found.append((terms, m.group(2), m.group(3)))
    return found
