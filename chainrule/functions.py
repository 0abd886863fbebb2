"""Differentiable functions: each one calls its layer from :mod:`chainrule.layers`.

Given Variables they record a node of the graph and return a Variable; given
plain arrays they return the layer's forward value. They hold no math of their
own, so "where is the backward rule of ``exp``" has one answer: ``layers.Exp``.
The operators of :class:`~chainrule.graph.Variable` (``+ - * / @ **``, unary
``-``, ``.T``) and its methods (``x.sum()``, ``x.exp()``, …) are defined at the
bottom of this module, each as one of these functions.
"""
from __future__ import annotations

from .graph import Variable
from .layers import (Add, Div, Dropout, Exp, Log, MatMul, Mean, MeanSquaredError, Mul, Neg, Pow, Relu, Reshape,
                     Sigmoid, Softmax, SoftmaxWithLoss, Sub, Sum, Tanh, Transpose)


def add(x, y):
    """x + y (broadcasting), :class:`~chainrule.layers.Add`."""
    return Add()(x, y)


def sub(x, y):
    """x − y, :class:`~chainrule.layers.Sub`."""
    return Sub()(x, y)


def mul(x, y):
    """x × y elementwise, :class:`~chainrule.layers.Mul` (the book's MulLayer)."""
    return Mul()(x, y)


def div(x, y):
    """x / y elementwise, :class:`~chainrule.layers.Div`."""
    return Div()(x, y)


def neg(x):
    """−x, :class:`~chainrule.layers.Neg`."""
    return Neg()(x)


def power(x, p):
    """x ** p for a constant p, :class:`~chainrule.layers.Pow`."""
    return Pow(p)(x)


def matmul(a, b):
    """a · b (``@``), :class:`~chainrule.layers.MatMul`."""
    return MatMul()(a, b)


def exp(x):
    """exp(x), :class:`~chainrule.layers.Exp`."""
    return Exp()(x)


def log(x):
    """log(x), :class:`~chainrule.layers.Log` (negative x is an error)."""
    return Log()(x)


def relu(x):
    """max(x, 0), :class:`~chainrule.layers.Relu`."""
    return Relu()(x)


def sigmoid(x):
    """1 / (1 + exp(−x)), :class:`~chainrule.layers.Sigmoid`."""
    return Sigmoid()(x)


def tanh(x):
    """tanh(x), :class:`~chainrule.layers.Tanh`."""
    return Tanh()(x)


def softmax(x):
    """softmax along the last axis, :class:`~chainrule.layers.Softmax`."""
    return Softmax()(x)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Σ x over ``axis`` (all by default), :class:`~chainrule.layers.Sum`."""
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """the mean of x over ``axis`` (all by default), :class:`~chainrule.layers.Mean`."""
    return Mean(axis, keepdims)(x)


def reshape(x, shape):
    """x in another shape, :class:`~chainrule.layers.Reshape`."""
    return Reshape(shape)(x)


def transpose(x, axes=None):
    """x with its axes permuted (reversed by default), :class:`~chainrule.layers.Transpose`."""
    return Transpose(axes)(x)


def dropout(x, dropout_ratio=0.5, seed=None):
    """Dropout in the current mode (training unless inside ``chainrule.eval_mode()``)."""
    return Dropout(dropout_ratio, seed)(x)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against labels (class indices or one-hot rows: data, not a Variable)."""
    return SoftmaxWithLoss()(logits, labels)


def mean_squared_error(y, t):
    """½ Σ (y − t)² per row, averaged over the batch; a Variable ``t`` gets its gradient too."""
    return MeanSquaredError()(y, t)


# --- the operators and methods of Variables, each one of the functions above ------------------------
def _shape_args(args):
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


Variable.__add__ = lambda self, other: add(self, other)
Variable.__radd__ = lambda self, other: add(other, self)
Variable.__sub__ = lambda self, other: sub(self, other)
Variable.__rsub__ = lambda self, other: sub(other, self)
Variable.__mul__ = lambda self, other: mul(self, other)
Variable.__rmul__ = lambda self, other: mul(other, self)
Variable.__truediv__ = lambda self, other: div(self, other)
Variable.__rtruediv__ = lambda self, other: div(other, self)
Variable.__matmul__ = lambda self, other: matmul(self, other)
Variable.__rmatmul__ = lambda self, other: matmul(other, self)
Variable.__neg__ = lambda self: neg(self)
Variable.__pow__ = lambda self, p: power(self, p)
Variable.T = property(lambda self: transpose(self))
Variable.sum = lambda self, axis=None, keepdims=False: sum(self, axis, keepdims)
Variable.mean = lambda self, axis=None, keepdims=False: mean(self, axis, keepdims)
Variable.reshape = lambda self, *shape: reshape(self, _shape_args(shape))
Variable.transpose = lambda self, *axes: transpose(self, _shape_args(axes) or None)
Variable.exp = lambda self: exp(self)
Variable.log = lambda self: log(self)
Variable.relu = lambda self: relu(self)
Variable.sigmoid = lambda self: sigmoid(self)
Variable.tanh = lambda self: tanh(self)
Variable.softmax = lambda self: softmax(self)

_METHOD_DOCS = {
    "sum": "Σ over ``axis`` (all by default): :func:`sum`.",
    "mean": "The mean over ``axis``: :func:`mean`.",
    "reshape": "This Variable in another shape: :func:`reshape`.",
    "transpose": "This Variable with its axes permuted (reversed by default): :func:`transpose`.",
    "exp": "exp of this Variable: :func:`exp`.", "log": "log of this Variable: :func:`log`.",
    "relu": "ReLU of this Variable: :func:`relu`.", "sigmoid": "σ of this Variable: :func:`sigmoid`.",
    "tanh": "tanh of this Variable: :func:`tanh`.", "softmax": "softmax of this Variable: :func:`softmax`.",
}
for _name, _doc in _METHOD_DOCS.items():
    getattr(Variable, _name).__doc__ = _doc
Variable.T = property(Variable.T.fget, doc="The transpose (axes reversed): :func:`transpose`.")

__all__ = ["add", "sub", "mul", "div", "neg", "power", "matmul", "exp", "log", "relu", "sigmoid", "tanh",
           "softmax", "sum", "mean", "reshape", "transpose", "dropout", "softmax_cross_entropy",
           "mean_squared_error"]
