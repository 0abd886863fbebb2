"""Random expressions in the grammar of ``chainrule graph "EXPR"``, with values of several sizes.

``random_expression(rng)`` gives (text, values): every op the grammar has (+ − × ÷, powers,
exp log relu sigmoid tanh softmax sum mean, @ and .T), constants on either side, broadcasting
(a scalar with an array, a row vector over a matrix) and names used more than once. Used by the
property tests of the displayed equations and of the page's engine.
"""
from __future__ import annotations

import math
import re

import numpy as np

#: kinds of values by shape: s scalar, v (3,), w (2,), m (2, 3)
SHAPES = {"s": (), "v": (3,), "w": (2,), "m": (2, 3)}
NAMES = {"s": ["x", "y"], "v": ["u", "v"], "w": ["b"], "m": ["M"]}
SCALES = [1.0, 1e-3, 0.05, 7.0, 300.0]


def _constant(rng):
    value = rng.choice([2, 0.5, 1.1, 3, 0.001, 12.5, 100, -1, -2.5, 1 / 3])
    text = repr(value) if not isinstance(value, float) or value == round(value, 6) else f"{value:.6f}"
    return f"({text})" if value < 0 else text


def _expr(rng, kind, depth):
    if depth <= 0 or rng.random() < 0.25:
        if kind == "s" and rng.random() < 0.3:
            return _constant(rng)
        return rng.choice(NAMES[kind])
    choice = rng.random()
    if choice < 0.35:  # arithmetic, same kind or a scalar on either side (broadcast)
        op = rng.choice(["+", "-", "*", "/"])
        left_kind, right_kind = kind, kind
        if kind != "s" and rng.random() < 0.4:
            left_kind, right_kind = rng.choice([("s", kind), (kind, "s")])
        if kind == "m" and rng.random() < 0.3:
            right_kind = "v"  # a row vector added to every row
        left, right = _expr(rng, left_kind, depth - 1), _expr(rng, right_kind, depth - 1)
        if op == "/":
            right = f"({right}*{right} + 1)"  # never divide by zero
        return f"({left} {op} {right})"
    if choice < 0.6:
        f = rng.choice(["exp", "relu", "sigmoid", "tanh", "neg", "log", "pow"])
        inner = _expr(rng, kind, depth - 1)
        if f == "exp":
            return f"exp(tanh({inner}))" if rng.random() < 0.5 else f"exp({inner} * 0.01)"
        if f == "log":
            return f"log({inner}*{inner} + 0.5)"
        if f == "neg":
            return f"-{inner}" if inner[0] == "(" or inner.isidentifier() else f"-({inner})"
        if f == "pow":
            if rng.random() < 0.3:
                return f"({inner}*{inner} + 1)**{rng.choice([0.5, -1])}"
            return f"({inner})**{rng.choice([2, 3])}"
        return f"{f}({inner})"
    if choice < 0.75 and kind == "s":
        source = rng.choice(["v", "m", "w"])
        return f"{rng.choice(['sum', 'mean'])}({_expr(rng, source, depth - 1)})"
    if choice < 0.85:
        if kind == "w":
            return f"(M @ {_expr(rng, 'v', depth - 1)})"
        if kind == "v":
            inner = _expr(rng, "w", depth - 1)
            return f"({inner} @ M)" if rng.random() < 0.5 else f"(M.T @ {inner})"
        if kind == "s":
            return f"({_expr(rng, 'v', depth - 1)} @ {_expr(rng, 'v', depth - 1)})"
        if kind == "m":
            return f"softmax({_expr(rng, 'm', depth - 1)})"
    if kind == "v":
        return f"sum({_expr(rng, 'm', depth - 1)}, axis=0)"
    if kind == "w":
        return f"softmax({_expr(rng, 'w', depth - 1)})"
    return _expr(rng, kind, depth - 1)


def random_expression(rng, depth=4):
    """(text, values) of a random scalar expression; values only for the names it uses."""
    text = _expr(rng, "s", depth)
    scale = rng.choice(SCALES)
    values = {}
    for kind, names in NAMES.items():
        for name in names:
            if _uses(text, name):
                shape = SHAPES[kind]
                a = np.asarray([rng.gauss(0, 1) * scale for _ in range(int(math.prod(shape)) or 1)])
                values[name] = a.reshape(shape) if shape else float(a[0])
    return text, values


def _uses(text, name):
    return re.search(rf"(?<![A-Za-z_.]){name}(?![A-Za-z_(])", text) is not None
