"""Layers that sum or rearrange elements: Sum, Mean, Reshape, Transpose."""
from __future__ import annotations

import numpy as np

from .base import Layer, ndim_of, shape_of


def _normalize_axes(axis, ndim):
    """Sorted non-negative axes; None means all. Raises IndexError for an axis outside [−ndim, ndim)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if any(not -ndim <= a < ndim for a in axes):
        raise IndexError(axis)
    return tuple(sorted(a % ndim for a in axes))


class Sum(Layer):
    """y = Σ x over ``axis``.   Backward: dx = dout copied to every summed element (broadcast back to x's shape)."""

    symbol = "Σ"
    rules = ("{dout} copied to every summed element",)

    def __init__(self, axis=None, keepdims=False):
        self.axis = axis
        self.keepdims = keepdims
        self.x_shape = None

    def forward(self, x):
        self.x_shape = shape_of(x)
        try:
            self.axes = _normalize_axes(self.axis, len(self.x_shape))
        except TypeError:
            raise self.error(f"axis must be None, an int or a tuple of ints, got {self.axis!r}") from None
        except IndexError:
            raise self.error(f"axis {self.axis} is out of range for x of shape {self.x_shape}") from None
        return np.sum(x, axis=self.axis, keepdims=self.keepdims)

    def _spread(self, dout):
        if not self.keepdims and ndim_of(dout) < len(self.x_shape):
            dout = np.expand_dims(dout, self.axes)
        return np.broadcast_to(dout, self.x_shape).copy()

    def backward(self, dout):
        return self._spread(dout)


class Mean(Sum):
    """y = mean of x over ``axis``.   Backward: dx = dout / n copied to every averaged element."""

    symbol = "mean"
    rules = ("{dout} / n copied to every averaged element",)
    rule_meanings = (("n", "{n}, how many numbers each mean averages"),)

    def forward(self, x):
        out = super().forward(x)
        self.count = int(np.prod([self.x_shape[a] for a in self.axes])) if self.axes else 1
        if self.count == 0:
            raise self.error(f"x has shape {self.x_shape}: the mean over axis {self.axis} averages 0 elements")
        return out / self.count

    def backward(self, dout):
        return self._spread(dout / self.count)

    def explain_fields(self):
        return {"n": self.count}


class Reshape(Layer):
    """y = x reshaped.   Backward: dx = dout reshaped to x's shape."""

    symbol = "reshape"
    rules = ("{dout} reshaped to x's shape",)

    def __init__(self, shape):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
        try:
            self.shape = tuple(int(n) for n in shape)
        except (TypeError, ValueError):
            raise ValueError(f"Reshape: the shape must be an int or a tuple of ints, got {shape!r}") from None
        self.x_shape = None

    def forward(self, x):
        self.x_shape = shape_of(x)
        try:
            return np.reshape(x, self.shape)
        except ValueError:
            raise self.error(f"cannot reshape x of shape {self.x_shape} ({int(np.prod(self.x_shape))} elements) "
                             f"into {self.shape}") from None

    def backward(self, dout):
        return np.reshape(dout, self.x_shape)


class Transpose(Layer):
    """y = x with axes permuted (``.T`` reverses them).   Backward: dx = doutᵀ (the axes permuted back)."""

    symbol = "ᵀ"
    rules = ("{dout}ᵀ",)

    def __init__(self, axes=None):
        axes = (axes,) if isinstance(axes, (int, np.integer)) else axes
        try:
            self.axes = None if axes is None else tuple(int(a) for a in axes)
        except (TypeError, ValueError):
            raise ValueError(f"Transpose: axes must be None or a tuple of ints, got {axes!r}") from None

    def forward(self, x):
        n = ndim_of(x)
        if self.axes is not None and (any(not -n <= a < n for a in self.axes)
                                      or sorted(a % n for a in self.axes) != list(range(n))):
            raise self.error(f"axes {self.axes} are not a permutation of the {n} axes of x {shape_of(x)}")
        return np.transpose(x, self.axes)

    def backward(self, dout):
        if self.axes is None:
            return np.transpose(dout)
        return np.transpose(dout, np.argsort([a % ndim_of(dout) for a in self.axes]))
