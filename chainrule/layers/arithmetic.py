"""Two-input arithmetic layers: the ×, + nodes of the shopping graphs, and friends.

All of them broadcast like NumPy; the gradient of a broadcast input is summed
back to that input's shape (:func:`chainrule.functions.sum_to`, the bias rule).
"""
from __future__ import annotations

from ..functions import sum_to
from .base import Layer, shape_of


class MulLayer(Layer):
    """out = x · y.   Backward: dx = dout · y, dy = dout · x (the *other* input)."""

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


class AddLayer(Layer):
    """out = x + y.   Backward: dx = dout · 1, dy = dout · 1 (passed on unchanged)."""

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


class SubLayer(Layer):
    """out = x − y.   Backward: dx = dout, dy = −dout."""

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


class DivLayer(Layer):
    """out = x / y.   Backward: dx = dout / y, dy = −dout · x / y²."""

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


class NegLayer(Layer):
    """out = −x.   Backward: dx = −dout."""

    symbol = "−x"
    rules = ("−{dout}",)

    def forward(self, x):
        return -x

    def backward(self, dout):
        return -dout


class PowLayer(Layer):
    """out = x ** p for a constant exponent p.   Backward: dx = dout · p · x^(p−1)."""

    symbol = "**"
    rules = ("{dout} × {p} × {x}^({p}−1)",)

    def __init__(self, p):
        if not isinstance(p, (int, float)) or isinstance(p, bool):
            raise TypeError(f"PowLayer: the exponent must be a Python int or float, got {type(p).__name__}")
        self.p = p
        self.symbol = f"**{p:g}"
        self.x = None

    def forward(self, x):
        self.x = x
        return x ** self.p

    def backward(self, dout):
        return dout * self.p * self.x ** (self.p - 1)

    def explain_fields(self):
        return {"p": f"{self.p:g}"}

    def __repr__(self):
        return f"PowLayer({self.p!r})"
