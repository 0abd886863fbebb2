"""Loss layers: SoftmaxWithLoss (book §5.6.3) and MeanSquaredError.

Both return the loss as a scalar averaged over the batch and take
``backward(dout=1)``. SoftmaxWithLoss's labels are data: they get no gradient,
and a Variable passed as labels is refused. MeanSquaredError's target is an
input like the prediction and gets its gradient too.
"""
from __future__ import annotations

import numpy as np

from .. import array_math as F
from .. import kernels
from ..backend import get_array_module
from .base import Layer, ndim_of, shape_of


def _scale(layer, dout, n):
    """dout / n as a Python number when dout is a scalar, so float32 stays float32."""
    if ndim_of(dout) == 0:
        return float(dout) / n
    raise layer.error(f"dout must be a scalar (the loss is), got shape {shape_of(dout)}")


def _one_pass(x, t):
    """The compiled loops (:mod:`chainrule.kernels`) for logits x (N, C) in a C-contiguous NumPy array and labels t
    as a NumPy array of class indices, else None: one pass each way instead of NumPy's ten, which for C = 10 cost
    more to call than to run (measured 100 × 10 float32: a forward 22 µs in NumPy)."""
    if type(x) is not np.ndarray or type(t) is not np.ndarray or t.ndim != 1 or not x.flags.c_contiguous:
        return None
    return kernels.get(x)


class SoftmaxWithLoss(Layer):
    """Softmax then cross-entropy, averaged over the batch: L = −(1/N) Σ t ∘ log y.

    ``forward(x, t)``: ``x`` is logits (N, C) or (C,); ``t`` is class indices
    (N,) or one-hot (probability) rows shaped like ``x``.

    Backward (softmax and cross-entropy together, book §5.6.3), with y = softmax(x): dx = dout × (y − t) / N.

    The loss is computed from x − max − log Σ exp(x − max), never ``log(y + 1e-7)``:
    it is finite for logits of any size and ~0 for a confident right answer.
    """

    symbol = "softmax\ncross-entropy"
    rules = ("{dout} × (y − t) / N",)
    rule_meanings = (("y", "softmax({x}), the probabilities"), ("t", "the labels {t}"),
                     ("N", "{N}, the number of rows (the batch)"))
    constant_inputs = (1,)  # t: labels

    def __init__(self):
        self.loss = None
        self.y = None   # softmax output (N, C)
        self.t = None   # labels as given (indices (N,) or rows (N, C))

    def forward(self, x, t):
        if ndim_of(x) not in (1, 2):
            raise self.error(f"logits x have shape {shape_of(x)}; expected (N, C) or (C,)")
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        n, c = x2.shape
        if n == 0 or c == 0:
            raise self.error(f"logits x have shape {shape_of(x)}, an empty batch; expected at least one sample "
                             "and one class")
        if not hasattr(t, "shape"):
            t = get_array_module(x).asarray(t)
        if x.ndim == 1:  # one sample: a label, or one row
            t = t.reshape(1) if t.ndim == 0 else t.reshape(1, -1) if t.shape == x.shape else t
        try:
            t, self.indices = F.check_labels(t, n, c, "labels t")
        except ValueError as e:
            raise self.error(f"{e} (logits x have shape {shape_of(x)})") from None
        compiled = _one_pass(x2, t) if self.indices else None
        if compiled is not None:  # the same rule as a loop (kernel_loops.softmax_cross_entropy)
            self.y = np.empty(x2.shape, dtype=x2.dtype)
            loss = x2.dtype.type(compiled["softmax_cross_entropy"](x2, t, self.y) / n)
        else:
            self.y, loss = F.softmax_and_loss(x2, t)
        self.t = t
        self.loss = loss if loss.dtype == x2.dtype else loss.astype(x2.dtype)
        self.x_shape = x.shape
        return self.loss

    def rule_values(self):
        y = self.y
        t = self.t
        if self.indices:  # the labels as the one-hot rows the rule subtracts
            xp = get_array_module(y)
            t = xp.zeros(y.shape)
            t[xp.arange(y.shape[0]), self.t] = 1
        return {"y": y.reshape(self.x_shape), "t": t.reshape(self.x_shape),
                "N": y.shape[0]}

    def backward(self, dout=1):
        n = self.y.shape[0]
        scale = _scale(self, dout, n)
        compiled = _one_pass(self.y, self.t) if self.indices else None
        if compiled is not None:  # the same operations in one pass: the same bits
            dx = np.empty(self.y.shape, dtype=self.y.dtype)
            compiled["softmax_cross_entropy_backward"](self.y, self.t, self.y.dtype.type(scale), dx)
        elif self.indices:  # (y − t)·scale with t one-hot: subtract scale at each row's label
            # indexed in two dimensions: y may be a view in any memory order (the logits' transpose), where a
            # reshape(-1) would be a copy and the subtraction lost
            dx = self.y * scale
            dx[get_array_module(dx).arange(n), self.t] -= scale
        else:
            dx = self.y - self.t.astype(self.y.dtype, copy=False)
            dx *= scale
        return dx.reshape(self.x_shape)


class MeanSquaredError(Layer):
    """L = ½ Σ (y − t)² per sample, averaged over the N rows of the batch.

    Backward: dy = dout × (y − t) / N, dt = −dout × (y − t) / N.
    """

    symbol = "MSE"
    rules = ("{dout} × (y − t) / N", "−{dout} × (y − t) / N")
    rule_meanings = (("N", "{N}, the number of rows (the batch)"),)

    def __init__(self):
        self.loss = None
        self.diff = None

    def forward(self, y, t):
        if shape_of(y) != shape_of(t):
            raise self.error(f"prediction y has shape {shape_of(y)} but target t has shape {shape_of(t)}; "
                             "expected equal shapes")
        self.check_batch(y, "y")
        self.n = shape_of(y)[0] if ndim_of(y) > 1 else 1
        self.diff = y - t
        if hasattr(y, "dtype") and self.diff.dtype != y.dtype:
            self.diff = self.diff.astype(y.dtype)
        self.loss = 0.5 * np.sum(self.diff * self.diff) / self.n  # ½ Σ (y − t)² / N
        return self.loss

    def rule_values(self):
        return {"N": self.n}

    def backward(self, dout=1):
        dy = self.diff * _scale(self, dout, self.n)
        return dy, -dy
