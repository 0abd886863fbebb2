"""Plain array math: what the layers compute with, each formula in one place.

These take and return arrays (NumPy or CuPy) and keep the floating dtype of
their input. They know nothing about graphs or layers; the differentiable
versions, which record graph nodes, are in :mod:`chainrule.functions`.
"""
from __future__ import annotations

import numpy as np

from .backend import get_array_module


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``: the backward rule of broadcasting.

    When ``b`` of shape (3,) is broadcast over a (2, 3) batch in forward, its
    gradient is the sum of the (2, 3) upstream gradient over the broadcast
    axes (the bias rule: db = Σ_rows dY, the column sums).
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
    """1 / (1 + exp(−x)), without overflow for large negative x."""
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


def softmax_and_loss(x, t):
    """(softmax(x), mean cross-entropy against t) for logits x (N, C), in one pass.

    The loss uses log y = x − max − log Σ exp(x − max) (:func:`cross_entropy`
    on log-probabilities), so it is finite for any logits and ~0 for a
    confident right answer. ``t`` must already be checked (:func:`check_labels`).
    """
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    e /= s
    n, c = x.shape
    if t.ndim == 1:  # log y at the labels = shifted − log Σ exp(shifted): no full log-softmax array needed
        picked = shifted.reshape(-1)[get_array_module(x).arange(0, n * c, c) + t].sum()
        return e, (np.log(s).sum() - picked) / n
    shifted -= np.log(s)
    return e, _cross_entropy(shifted, t)


def check_labels(t, n, classes, who="labels"):
    """``t`` as labels for ``n`` samples of ``classes`` classes, or a ValueError saying what is wrong.

    Class indices: integers of shape (n,) in [0, classes). One-hot (or
    probability) rows: floats of shape (n, classes), finite, ≥ 0, each row
    summing to 1 (for other rows, softmax-with-loss's gradient y − t would be
    wrong). Returns ``(t, is_indices)``.
    """
    xp = get_array_module(t)
    if not hasattr(t, "shape"):
        t = xp.asarray(t)
    if t.shape == (n,):
        if t.dtype.kind not in "iu":
            raise ValueError(f"{who} of shape {t.shape} must be integer class indices, got dtype {t.dtype} "
                             f"(convert whole numbers with .astype(int), or pass one-hot rows of shape {(n, classes)})")
        if n and (t.min() < 0 or t.max() >= classes):
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= classes:
                bad = lo if lo < 0 else hi
                raise ValueError(f"{who}: label {bad} is outside the classes [0, {classes}); a negative label "
                                 "is not 'counting from the end'")
        return t, True
    if t.shape == (n, classes):
        if t.dtype.kind not in "fiub":
            raise ValueError(f"{who}: one-hot rows have dtype {t.dtype}; expected numbers")
        if n:
            if not bool(xp.all(xp.isfinite(t))):
                raise ValueError(f"{who}: one-hot rows of shape {t.shape} hold NaN or infinite values")
            if bool(xp.any(t < 0)):
                raise ValueError(f"{who}: one-hot rows of shape {t.shape} hold negative values; expected "
                                 "probabilities in [0, 1]")
            row_sums = t.sum(axis=1)
            err = xp.abs(row_sums - 1)
            if float(err.max()) > 1e-3:
                bad = int(err.argmax())
                raise ValueError(f"{who}: label row {bad} (of shape {t.shape}) sums to {float(row_sums[bad]):g}; "
                                 "expected one-hot or probability rows that sum to 1")
        return t, False
    raise ValueError(f"{who} have shape {t.shape}; expected class indices of shape ({n},) or one-hot rows of "
                     f"shape {(n, classes)}")


def one_hot(labels, classes, dtype=np.float64):
    """Rows of zeros with a one at each label: (N,) integers in [0, classes) → (N, classes)."""
    xp = get_array_module(labels)
    labels = xp.asarray(labels)
    flat, _ = check_labels(labels.reshape(-1), labels.size, classes, "one_hot")
    out = xp.zeros((labels.size, classes), dtype=dtype)
    out[xp.arange(labels.size), flat] = 1
    return out.reshape(labels.shape + (classes,))


def _cross_entropy(log_probs, t):
    n = log_probs.shape[0]
    if t.shape == log_probs.shape:
        return -np.sum(t * log_probs) / n
    xp = get_array_module(log_probs)
    return -np.sum(log_probs[xp.arange(n), t]) / n


def cross_entropy(log_probs, t):
    """Mean cross-entropy −(1/N) Σ t ∘ log y over a batch, from log-probabilities.

    ``log_probs`` is (N, C); ``t`` is class indices of shape (N,) or one-hot
    rows of shape (N, C). Working from log-probabilities (not ``log(y + 1e-7)``)
    keeps the loss of a confident right answer at ~0 and of a confident wrong one finite.
    """
    if np.ndim(log_probs) != 2:
        raise ValueError(f"cross_entropy: log_probs have shape {np.shape(log_probs)}; expected (N, C)")
    n, c = log_probs.shape
    t, _ = check_labels(t, n, c, "cross_entropy")
    return _cross_entropy(log_probs, t)


def relu(x):
    """max(x, 0)."""
    return np.maximum(x, 0)


def is_float_array(a) -> bool:
    """True for a floating-point array (NumPy or CuPy)."""
    return hasattr(a, "dtype") and np.issubdtype(a.dtype, np.floating)
