"""The layer protocol every operation follows (book §5.4).

A layer computes ``forward(*inputs)``, keeps exactly what its backward rule
needs, and ``backward(dout)`` multiplies the upstream gradient ``dout`` by its
local derivative: one input gives ``dx``, two give ``(dx, dy)``. A layer never
writes into the ``dout`` it is given, so one gradient array can feed two
branches safely.

Calling a layer (``MulLayer()(a, b)``) is ``forward`` that also records a node
of the computational graph when an input is a :class:`chainrule.Variable`.
"""
from __future__ import annotations

import numpy as np


def shape_of(a):
    """The shape of an array (NumPy or CuPy) or of a Python number (``()``)."""
    shape = getattr(a, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(a))


def ndim_of(a):
    """The number of dimensions of an array (NumPy or CuPy) or of a Python number (0)."""
    ndim = getattr(a, "ndim", None)
    return ndim if ndim is not None else np.ndim(a)


class Layer:
    """Base class: ``forward`` / ``backward`` plus how to draw and explain it."""

    #: label of the operation node in a drawing (seed 002 draws ×, +, …)
    symbol = "?"
    #: one template per input for :func:`chainrule.draw.explain`; fields:
    #: ``{dout}``, ``{x}``/``{y}`` (input values), ``{out}`` and layer extras
    rules: tuple[str, ...] = ()
    #: True for layers whose inputs broadcast (their gradients are summed back)
    broadcasts = False
    #: True for layers whose forward takes ``train_flg`` (Dropout, BatchNormalization)
    uses_train_flg = False
    #: True for layers that draw random numbers in forward (they offer ``reuse_mask``)
    random = False

    @property
    def params(self) -> dict:
        """Trainable arrays by name (empty for layers without parameters)."""
        return {}

    @property
    def grads(self) -> dict:
        """Gradients of ``params`` by name, filled by ``backward``."""
        return {}

    def __call__(self, *inputs):
        from ..graph import apply
        return apply(self, inputs)

    def forward(self, *inputs):  # pragma: no cover - every layer overrides
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - every layer overrides
        raise NotImplementedError

    def explain_fields(self) -> dict:
        """Extra values a rule template may use (e.g. the exponent of Pow)."""
        return {}

    def error(self, message, cls=ValueError):
        """An exception whose message starts with this layer's name."""
        return cls(f"{type(self).__name__}: {message}")

    def check_broadcast(self, x, y):
        try:
            return np.broadcast_shapes(shape_of(x), shape_of(y))
        except ValueError:
            raise self.error(f"cannot broadcast x of shape {shape_of(x)} with y of shape {shape_of(y)}; "
                             "expected equal shapes or shapes that broadcast (e.g. (N, M) with (M,))") from None

    def __repr__(self):
        return f"{type(self).__name__}()"
