"""The search space of a sweep, written as text (book §6.5: sample hyperparameters, on a log scale where they span
decades, train briefly, keep the best):

    lr=loguniform(1e-4,1e-1); weight_decay=loguniform(1e-8,1e-1); hidden=choice(100|256,128); dropout=uniform(0,0.5)

Entries are ``KEY=DISTRIBUTION`` separated by ``;`` (or new lines). The keys
are ``chainrule train`` options (underscores or dashes); the distributions:

=============================  ======================================================================
``loguniform(low, high)``      a number, uniform in log(low)…log(high): each decade equally likely
``uniform(low, high)``         a number, uniform in low…high
``int(low, high)``             a whole number low…high, each equally likely
``logint(low, high)``          a whole number low…high, uniform on a log scale
``choice(a|b|c)``              one of the values, each equally likely; ``|`` separates them, so a value may
                               hold commas (``hidden=choice(100|256,128)``: one layer of 100 or two of 256, 128)
=============================  ======================================================================

Nothing here imports Optuna: :func:`parse_space` checks the text at once, with
an error naming the entry and what was expected; :func:`suggest` asks an
Optuna trial for values and :func:`to_options` turns them into train options.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .options import searchable_options


class SpaceError(ValueError):
    """The space text is wrong; the message names the entry and says what was expected."""


#: the distributions and whether they draw numbers on a log scale
DISTRIBUTIONS = {"loguniform": ("float", True), "uniform": ("float", False), "int": ("int", False),
                 "logint": ("int", True), "choice": (None, False)}
_ENTRY = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=\s*([a-z]+)\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class Dimension:
    """One searched option: ``key`` drawn by ``kind`` (a name of :data:`DISTRIBUTIONS`) from ``low``…``high`` or
    from ``choices`` (their text, as written)."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    @property
    def log(self):
        """True when the values are drawn on a log scale."""
        return DISTRIBUTIONS[self.kind][1]

    def text(self):
        """The dimension written back in the space's syntax."""
        if self.kind == "choice":
            return f"{self.key}=choice({'|'.join(self.choices)})"
        return f"{self.key}={self.kind}({self.low:g},{self.high:g})"


def _split_entries(text):
    entries, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch in ";\n" and depth == 0:
            entries.append(current)
            current = ""
        else:
            current += ch
    entries.append(current)
    return [e.strip() for e in entries if e.strip()]


def _top_level_parts(text):
    """``text`` split at its commas outside parentheses (a spec's ``conv(16,3)`` stays whole)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in [*parts, current]]


def _as_meant(key, choices, check):
    """The choice as it was probably meant, written with commas between its values (Python's way) or with its
    values in quotes: ``key=choice(a|b)`` where every value so read is one of the option's, else None."""
    values = []
    for c in choices:
        for part in _top_level_parts(c):
            if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
                part = part[1:-1].strip()
            try:
                check(part)
            except ValueError:
                return None
            values.append(part)
    if len(values) < 2 or len(set(values)) != len(values) or tuple(values) == tuple(choices):
        return None
    return f"{key}=choice({'|'.join(values)})"


def parse_space(text):
    """The space text as a list of :class:`Dimension`, or a :class:`SpaceError` naming the wrong entry."""
    if not isinstance(text, str) or not text.strip():
        raise SpaceError("the space is empty; expected entries such as 'lr=loguniform(1e-4,1e-1); "
                         "hidden=choice(100|256,128)'")
    keys = searchable_options()
    dims, seen = [], set()
    for entry in _split_entries(text):
        m = _ENTRY.match(entry)
        if not m:
            raise SpaceError(f"{entry!r} is not KEY=DISTRIBUTION(...); expected e.g. lr=loguniform(1e-4,1e-1)")
        key, kind, inner = m.group(1).replace("-", "_"), m.group(2), m.group(3)
        if key not in keys:
            raise SpaceError(f"{entry!r}: {m.group(1)} is not a train option that can be searched; expected one "
                             f"of {', '.join(keys)}")
        if key in seen:
            raise SpaceError(f"{entry!r}: {key} is given twice")
        seen.add(key)
        if kind not in DISTRIBUTIONS:
            raise SpaceError(f"{entry!r}: {kind} is not a distribution; expected one of "
                             f"{', '.join(DISTRIBUTIONS)}")
        what, check, numeric = keys[key]
        if kind == "choice":
            choices = tuple(c.strip() for c in inner.split("|"))
            meant = _as_meant(key, choices, check)
            if not all(choices):
                raise SpaceError(f"{entry!r}: choice needs values separated by |, e.g. choice(100|256,128)")
            if len(choices) == 1 and meant:
                raise SpaceError(f"{entry!r}: choice needs two or more values separated by |; {choices[0]!r} is one "
                                 f"value: did you mean {meant}?")
            if len(set(choices)) != len(choices):
                raise SpaceError(f"{entry!r}: a value is listed twice")
            for c in choices:
                try:
                    check(c)
                except ValueError as e:
                    raise SpaceError(f"{entry!r}: {c!r} is not a value of {what}: {e}"
                                     + (f"; did you mean {meant}?" if meant else "")) from None
            if len(choices) == 1:
                raise SpaceError(f"{entry!r}: choice needs two or more values separated by |, e.g. "
                                 f"choice(100|256,128); give one value as the option itself "
                                 f"(--{key.replace('_', '-')} {choices[0]})")
            dims.append(Dimension(key, kind, choices=choices))
            continue
        draws, log = DISTRIBUTIONS[kind]
        if numeric is None:
            raise SpaceError(f"{entry!r}: {what} is not a number to draw with {kind}; use choice(a|b)")
        if numeric == "int" and draws == "float":
            raise SpaceError(f"{entry!r}: {what} takes whole numbers; draw it with int(…), logint(…) or choice(…)")
        parts = [p.strip() for p in inner.split(",")]
        try:
            low, high = (float(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            low = high = None
        if low is None:
            raise SpaceError(f"{entry!r}: {kind} takes two numbers, low and high, e.g. {kind}(1e-4,1e-1)"
                             if draws == "float" else f"{entry!r}: {kind} takes two whole numbers, e.g. {kind}(1,8)")
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise SpaceError(f"{entry!r}: {kind} needs low < high, got {low:g} and {high:g}")
        if log and low <= 0:
            raise SpaceError(f"{entry!r}: {kind} draws on a log scale and needs 0 < low, got {low:g}")
        if draws == "int" and (low != int(low) or high != int(high)):
            raise SpaceError(f"{entry!r}: {kind} takes whole numbers, got {low:g} and {high:g}")
        for bound in (low, high):
            try:
                check(int(bound) if draws == "int" else bound)
            except ValueError as e:
                raise SpaceError(f"{entry!r}: {bound:g} is not a value of {what}: {e}") from None
        dims.append(Dimension(key, kind, low, high))
    return dims


def space_text(dims):
    """The canonical text of a parsed space (what ``sweep.json`` and the reports show)."""
    return "; ".join(d.text() for d in dims)


def suggest(trial, dims):
    """Draw each dimension from an Optuna ``trial``; returns {key: value as Optuna stores it}."""
    values = {}
    for d in dims:
        if d.kind == "choice":
            values[d.key] = trial.suggest_categorical(d.key, list(d.choices))
        elif DISTRIBUTIONS[d.kind][0] == "int":
            values[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), log=d.log)
        else:
            values[d.key] = trial.suggest_float(d.key, d.low, d.high, log=d.log)
    return values


def to_options(values):
    """Train options from drawn values: choice texts converted (``"256,128"`` → [256, 128], ``"true"`` → True)."""
    keys = searchable_options()
    return {key: keys[key][1](value) for key, value in values.items()}
