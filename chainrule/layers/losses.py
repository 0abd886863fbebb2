"""Loss layers: SoftmaxWithLoss (book §5.6.3) and MeanSquaredError.

Both return the loss as a scalar averaged over the batch and take
``backward(dout=1)``; their backward returns the gradient for the prediction
only (the labels are data, not something to learn).
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..backend import get_array_module
from .base import Layer, ndim_of, shape_of


def _scale(dout, n):
    """dout / n as a Python number when dout is a scalar, so float32 stays float32."""
    if ndim_of(dout) == 0:
        return float(dout) / n
    raise ValueError(f"a loss layer's dout must be a scalar (the loss is), got shape {shape_of(dout)}")


class SoftmaxWithLoss(Layer):
    """Softmax then cross-entropy, averaged over the batch: L = −(1/N) Σ t ∘ log y.

    ``forward(x, t)``: ``x`` is logits (N, C) or (C,); ``t`` is class indices
    (N,) or one-hot (probability) rows shaped like ``x``.

    Backward (seed 004, softmax and cross-entropy together): dx = dout · (y − t) / N.

    The loss is computed from x − max − log Σ exp(x − max), never ``log(y + 1e-7)``:
    it is finite for logits of any size and ~0 for a confident right answer.
    """

    symbol = "softmax\ncross-entropy"
    rules = ("{dout} × (y − t) / N",)

    def __init__(self):
        self.loss = None
        self.y = None   # softmax output (N, C)
        self.t = None   # labels as given (indices (N,) or rows (N, C))

    def forward(self, x, t):
        xp = get_array_module(x)
        if ndim_of(x) not in (1, 2):
            raise self.error(f"logits x have shape {shape_of(x)}; expected (N, C) or (C,)")
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        n, c = x2.shape
        t = xp.asarray(t)
        if t.shape == x.shape and x.ndim == 1:
            t = t.reshape(1, -1)
        elif x.ndim == 1 and t.ndim == 0:
            t = t.reshape(1)
        if t.shape == (n, c):
            # dx = y − t needs Σ t = 1 per row (seed 003, step 4): other rows would get a wrong gradient
            row_sums = t.sum(axis=1)
            if n and float(np.abs(row_sums - 1).max()) > 1e-3:
                bad = int(np.abs(row_sums - 1).argmax())
                raise self.error(f"label row {bad} of t (shape {t.shape}) sums to {float(row_sums[bad]):g}; expected "
                                 "one-hot or probability rows that sum to 1")
            self.indices = False
        elif t.shape == (n,):
            if not np.issubdtype(t.dtype, np.integer):
                raise self.error(f"labels t of shape {t.shape} must be integer class indices, got dtype {t.dtype} "
                                 f"(or pass one-hot rows of shape {(n, c)})")
            lo, hi = (int(t.min()), int(t.max())) if n else (0, 0)
            if lo < 0 or hi >= c:
                bad = lo if lo < 0 else hi
                raise self.error(f"label {bad} is outside [0, {c}) for logits of shape {shape_of(x)}")
            self.indices = True
        else:
            raise self.error(f"labels t have shape {t.shape} for logits x of shape {shape_of(x)}; expected class "
                             f"indices of shape ({n},) or one-hot rows of shape {(n, c)}")
        self.y, loss = F.softmax_cross_entropy(x2, t)
        self.t = t
        self.loss = loss.astype(x2.dtype) if hasattr(loss, "astype") else loss
        self.x_shape = shape_of(x)
        return self.loss

    def backward(self, dout=1):
        n = self.y.shape[0]
        if self.indices:
            dx = self.y.copy()
            dx[get_array_module(dx).arange(n), self.t] -= 1
        else:
            dx = self.y - self.t.astype(self.y.dtype, copy=False)
        dx *= _scale(dout, n)
        return dx.reshape(self.x_shape)


class MeanSquaredError(Layer):
    """L = ½ Σ (y − t)² per sample, averaged over the N rows of the batch.

    Backward: dy = dout · (y − t) / N.
    """

    symbol = "MSE"
    rules = ("{dout} × (y − t) / N",)

    def __init__(self):
        self.loss = None
        self.diff = None

    def forward(self, y, t):
        if shape_of(y) != shape_of(t):
            raise self.error(f"prediction y has shape {shape_of(y)} but target t has shape {shape_of(t)}; "
                             "expected equal shapes")
        self.n = shape_of(y)[0] if ndim_of(y) > 1 else 1
        self.diff = y - t
        if hasattr(y, "dtype") and self.diff.dtype != y.dtype:
            self.diff = self.diff.astype(y.dtype)
        self.loss = 0.5 * np.sum(self.diff * self.diff) / self.n  # ½ Σ (y − t)² / N
        return self.loss

    def backward(self, dout=1):
        return self.diff * _scale(dout, self.n)
