"""Arithmetic layers: the ×, + nodes of the shopping graphs (book §5.3–5.4), and −, ÷, negation, powers.

All of them broadcast like NumPy; the gradient of a broadcast input is summed
back to that input's shape (:func:`chainrule.array_math.sum_to`, the bias rule:
the gradient of a row vector added to every row is the column sum).
``MulLayer`` and ``AddLayer`` are the book's names for :class:`Mul` and :class:`Add`.
"""
from __future__ import annotations

import numpy as np

from ..array_math import sum_to
from .base import Layer, shape_of


class Mul(Layer):
    """out = x × y.   Backward: dx = dout × y, dy = dout × x (each input gets the *other* one)."""

    symbol = "×"
    broadcasts = True
    rules = ("{dout} × {y}", "{dout} × {x}")

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.check_broadcast(x, y)
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        dx = sum_to(dout * self.y, shape_of(self.x))
        dy = sum_to(dout * self.x, shape_of(self.y))
        return dx, dy


class Add(Layer):
    """out = x + y.   Backward: dx = dout × 1, dy = dout × 1 (passed on unchanged)."""

    symbol = "+"
    broadcasts = True
    rules = ("{dout} × 1", "{dout} × 1")

    def __init__(self):
        self.x_shape = None
        self.y_shape = None

    def forward(self, x, y):
        self.check_broadcast(x, y)
        self.x_shape, self.y_shape = shape_of(x), shape_of(y)
        return x + y

    def backward(self, dout):
        # two fresh arrays: the caller may change one without touching the other
        return sum_to(dout * 1, self.x_shape), sum_to(dout * 1, self.y_shape)


class Sub(Layer):
    """out = x − y.   Backward: dx = dout × 1, dy = dout × (−1)."""

    symbol = "−"
    broadcasts = True
    rules = ("{dout} × 1", "{dout} × (−1)")

    def __init__(self):
        self.x_shape = None
        self.y_shape = None

    def forward(self, x, y):
        self.check_broadcast(x, y)
        self.x_shape, self.y_shape = shape_of(x), shape_of(y)
        return x - y

    def backward(self, dout):
        return sum_to(dout * 1, self.x_shape), sum_to(-dout, self.y_shape)


class Div(Layer):
    """out = x / y.   Backward: dx = dout / y, dy = −dout × x / y²."""

    symbol = "÷"
    broadcasts = True
    rules = ("{dout} / {y}", "−{dout} × {x} / {y}²")

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.check_broadcast(x, y)
        self.x, self.y = x, y
        return x / y

    def backward(self, dout):
        dx = sum_to(dout / self.y, shape_of(self.x))
        dy = sum_to(-dout * self.x / (self.y * self.y), shape_of(self.y))
        return dx, dy


class Neg(Layer):
    """out = −x.   Backward: dx = −dout."""

    symbol = "neg"
    rules = ("−{dout}",)

    def forward(self, x):
        return -x

    def backward(self, dout):
        return -dout


class Pow(Layer):
    """out = x ** p for a constant exponent p.   Backward: dx = dout × p × x^(p−1)  (0 when p = 0, also at x = 0)."""

    symbol = "**"
    rules = ("{dout} × {p} × {x}^({p}−1)",)

    def __init__(self, p):
        if not isinstance(p, (int, float, np.integer, np.floating)) or isinstance(p, (bool, np.bool_)):
            raise TypeError(f"Pow: the exponent must be a number, got {type(p).__name__} (a Variable exponent "
                            "has no layer: write exp(p × log(x)))")
        if not np.isfinite(p):
            raise ValueError(f"Pow: the exponent must be finite, got {p}")
        self.p = float(p) if isinstance(p, (float, np.floating)) else int(p)
        self.symbol = f"**{self.p:g}" if self.p >= 0 else f"**({self.p:g})"
        self.x = None

    def forward(self, x):
        self.x = x
        return x ** self.p

    def backward(self, dout):
        if self.p == 0:  # x⁰ = 1 is constant: 0 everywhere, not 0 · x⁻¹ = NaN at x = 0
            return dout * np.zeros_like(self.x)
        return dout * self.p * self.x ** (self.p - 1)

    def explain_fields(self):
        return {"p": f"{self.p:g}" if self.p >= 0 else f"({self.p:g})"}

    def rule_values(self):
        return {"p": self.p}

    def __repr__(self):
        return f"Pow({self.p!r})"


#: the book's names (§5.4)
MulLayer = Mul
AddLayer = Add
