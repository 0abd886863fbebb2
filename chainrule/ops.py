"""Graph functions on Variables: each one calls its layer from :mod:`chainrule.layers`.

They accept Variables (recorded in the graph) or plain arrays (computed
directly) and hold no math of their own.
"""
from __future__ import annotations

from . import layers as L
from .graph import Variable, apply


def _as_constant(a):
    return a.data if isinstance(a, Variable) else a


def exp(x): return apply(L.Exp(), (x,))
def log(x): return apply(L.Log(), (x,))
def relu(x): return apply(L.Relu(), (x,))
def sigmoid(x): return apply(L.Sigmoid(), (x,))
def tanh(x): return apply(L.Tanh(), (x,))
def softmax(x): return apply(L.Softmax(), (x,))
def matmul(a, b): return apply(L.MatMul(), (a, b))
def sum(x, axis=None, keepdims=False): return apply(L.Sum(axis, keepdims), (x,))  # noqa: A001
def mean(x, axis=None, keepdims=False): return apply(L.Mean(axis, keepdims), (x,))
def reshape(x, shape): return apply(L.Reshape(shape), (x,))
def transpose(x, axes=None): return apply(L.Transpose(axes), (x,))


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against labels (indices or one-hot rows; a constant)."""
    return apply(L.SoftmaxWithLoss(), (logits, _as_constant(labels)))


def mean_squared_error(y, t):
    """½ Σ (y − t)² per row, averaged over the batch; ``t`` is a constant."""
    return apply(L.MeanSquaredError(), (y, _as_constant(t)))


__all__ = ["exp", "log", "relu", "sigmoid", "tanh", "softmax", "matmul", "sum", "mean", "reshape",
           "transpose", "softmax_cross_entropy", "mean_squared_error"]
