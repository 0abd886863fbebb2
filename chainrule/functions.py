"""Plain array functions: the math the layers use, one rule in one place.

These take and return arrays (NumPy or CuPy) and keep the floating dtype of
their input. They know nothing about graphs or layers.
"""
from __future__ import annotations

import numpy as np

from .backend import get_array_module


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``: the backward rule of broadcasting.

    When ``b`` of shape (3,) is broadcast over a (2, 3) batch in forward, its
    gradient is the sum of the (2, 3) upstream gradient over the broadcast
    axes (SPEC §3, the bias rule ``db = [1…1]·dC``).
    """
    shape = tuple(shape)
    x_shape = tuple(getattr(x, "shape", ()))
    if x_shape == shape:
        return x
    ndim = len(shape)
    lead = len(x_shape) - ndim
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and x_shape[i + lead] != 1)
    y = np.sum(x, axis=axes, keepdims=True) if axes else x
    if lead:
        y = y.reshape(y.shape[lead:])
    return y.reshape(shape)


def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow for large negative x."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def _shifted_exp(x, axis):
    """x − max, exp(x − max) and its sum along ``axis``: the overflow-free core of softmax."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return shifted, e, np.sum(e, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along ``axis`` (each row of a batch sums to 1)."""
    _, e, s = _shifted_exp(x, axis)
    e /= s
    return e


def log_softmax(x, axis=-1):
    """log softmax(x) = x − max − log Σ exp(x − max): finite for any finite x."""
    shifted, _, s = _shifted_exp(x, axis)
    shifted -= np.log(s)
    return shifted


def softmax_cross_entropy(x, t):
    """(softmax(x), mean cross-entropy against t) for logits x (N, C), in one pass.

    The loss uses log y = x − max − log Σ exp(x − max) (:func:`cross_entropy`
    on log-probabilities), so it is finite for any logits and ~0 for a
    confident right answer.
    """
    shifted, e, s = _shifted_exp(x, -1)
    e /= s
    shifted -= np.log(s)
    return e, cross_entropy(shifted, t)


def one_hot(labels, classes, dtype=np.float64):
    """Rows of zeros with a one at each label: (N,) ints → (N, classes)."""
    xp = get_array_module(labels)
    labels = xp.asarray(labels)
    out = xp.zeros((labels.size, classes), dtype=dtype)
    out[xp.arange(labels.size), labels.ravel()] = 1
    return out.reshape(labels.shape + (classes,))


def cross_entropy(log_probs, t):
    """Mean cross-entropy −Σ t·log y over a batch, from log-probabilities.

    ``log_probs`` is (N, C); ``t`` is class indices of shape (N,) or one-hot
    rows of shape (N, C). Working from log-probabilities (not ``log(y + 1e-7)``)
    keeps the loss of a confident right answer at ~0 and of a confident wrong one finite.
    """
    n = log_probs.shape[0]
    if t.shape == log_probs.shape:
        return -np.sum(t * log_probs) / n
    xp = get_array_module(log_probs)
    return -np.sum(log_probs[xp.arange(n), t]) / n


def relu(x):
    """max(x, 0)."""
    return np.maximum(x, 0)


def is_float_array(a) -> bool:
    return hasattr(a, "dtype") and np.issubdtype(a.dtype, np.floating)
