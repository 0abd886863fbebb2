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


def add(x, y): return Add()(x, y)
def sub(x, y): return Sub()(x, y)
def mul(x, y): return Mul()(x, y)
def div(x, y): return Div()(x, y)
def neg(x): return Neg()(x)
def power(x, p): return Pow(p)(x)
def matmul(a, b): return MatMul()(a, b)
def exp(x): return Exp()(x)
def log(x): return Log()(x)
def relu(x): return Relu()(x)
def sigmoid(x): return Sigmoid()(x)
def tanh(x): return Tanh()(x)
def softmax(x): return Softmax()(x)
def sum(x, axis=None, keepdims=False): return Sum(axis, keepdims)(x)  # noqa: A001
def mean(x, axis=None, keepdims=False): return Mean(axis, keepdims)(x)
def reshape(x, shape): return Reshape(shape)(x)
def transpose(x, axes=None): return Transpose(axes)(x)


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

__all__ = ["add", "sub", "mul", "div", "neg", "power", "matmul", "exp", "log", "relu", "sigmoid", "tanh",
           "softmax", "sum", "mean", "reshape", "transpose", "dropout", "softmax_cross_entropy",
           "mean_squared_error"]
