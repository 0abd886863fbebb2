"""Matrix products: the Affine layer (book §5.6.2) and the bare MatMul node.

The matrix rule: for C = A·B, dA = dC·Bᵀ and dB = Aᵀ·dC (each shape matches
its operand's: (N×H)·(H×D) = N×D for dA).
"""
from __future__ import annotations

import numpy as np

from .. import parallel
from ..array_math import sum_to
from .base import Layer, ndim_of, parameter, shape_of


class MatMul(Layer):
    """C = A · B (``@``).   Backward: dA = dC · Bᵀ, dB = Aᵀ · dC.

    1-D operands act as a row (A) or a column (B) vector, and batched (N-D)
    operands broadcast like ``np.matmul``; gradients are summed back to each
    operand's shape.
    """

    symbol = "dot"  # the book draws the matrix product as a "dot" node (§5.6.1)
    rules = ("{dout} · {y}ᵀ", "{x}ᵀ · {dout}")
    rule_symbols = {"a": "A", "b": "B", "dout": "dC"}

    def __init__(self):
        self.a = None
        self.b = None

    def forward(self, a, b):
        if ndim_of(a) == 0 or ndim_of(b) == 0:
            raise self.error(f"got shapes {shape_of(a)} and {shape_of(b)}; matmul needs arrays with ≥ 1 dimension "
                             "(use * for a scalar)")
        inner_b = shape_of(b)[0 if ndim_of(b) == 1 else -2]
        if shape_of(a)[-1] != inner_b:
            raise self.error(f"A has shape {shape_of(a)} and B has shape {shape_of(b)}: A has {shape_of(a)[-1]} "
                             f"columns but B has {inner_b} rows; expected them equal")
        self.a, self.b = a, b
        return a @ b

    def backward(self, dout):
        a, b = self.a, self.b
        A = a if a.ndim > 1 else a[None, :]
        B = b if b.ndim > 1 else b[:, None]
        if a.ndim == 1 and b.ndim == 1:
            D = np.reshape(dout, (1, 1))  # vector · vector gave a scalar
        else:
            D = np.expand_dims(dout, -2) if a.ndim == 1 else dout
            D = np.expand_dims(D, -1) if b.ndim == 1 else D
        da = sum_to(D @ np.swapaxes(B, -1, -2), A.shape).reshape(a.shape)
        db = sum_to(np.swapaxes(A, -1, -2) @ D, B.shape).reshape(b.shape)
        return da, db

    def matrix_shapes(self):
        """A vector operand as the matrix the rule multiplies: A (n,) as the row (1×n), B (n,) as a row (1×n) whose
        transpose is the column, and dC shaped to match."""
        if self.a is None or (ndim_of(self.a) > 1 and ndim_of(self.b) > 1):
            return {}
        a, b = shape_of(self.a), shape_of(self.b)
        shapes = {}
        if len(a) == 1:
            shapes["x"] = (1, a[0])
        if len(b) == 1:
            shapes["y"] = (1, b[0])
        if len(a) == 1 and len(b) == 2:
            shapes["dout"] = (1, b[1])
        elif len(a) == 2 and len(b) == 1:
            shapes["dout"] = (a[0], 1)
        return shapes


class Affine(Layer):
    """Y = X·W + b for one vector (D,), a batch (N, D) or N-D input (N, …).

    N-D input such as images (N, C, H, W) is flattened to (N, C·H·W) and
    ``backward`` restores that shape. Backward (book §5.6.2):

        dX = dY · Wᵀ        dW = Xᵀ · dY        db = Σ_rows dY

    After ``backward``, ``dW`` and ``db`` (also ``grads``) hold the parameter
    gradients; in a recorded graph they go to ``W.grad`` and ``b.grad`` of the
    Parameters ``layer.parameters["W"]``, ``["b"]``. The layer computes in the
    dtype of W: other input dtypes are cast. With ``input_grad = False`` (a
    network's first layer) ``backward`` skips dX and returns None.
    """

    symbol = "Affine"
    rules = ("{dout} · {W}ᵀ", "{x}ᵀ · {dout}", "Σ_rows {dout}")
    rule_symbols = {"x": "X", "dout": "dY"}
    decayed = ("W",)
    W = parameter()
    b = parameter()

    def __init__(self, W, b):
        if ndim_of(W) != 2:
            raise ValueError(f"Affine: W must be 2-D (inputs, outputs), got shape {shape_of(W)}")
        if shape_of(b) != (shape_of(W)[1],):
            raise ValueError(f"Affine: b has shape {shape_of(b)}; expected ({shape_of(W)[1]},) to match W of shape "
                             f"{shape_of(W)}")
        self.W = W
        self.b = b
        if self.b.dtype != self.W.dtype:
            raise self.error(f"W is {self.W.dtype} but b is {self.b.dtype}; expected one dtype", TypeError)
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        W = self.W
        shape = shape_of(x)
        if len(shape) == 0:
            raise self.error(f"got a scalar; expected x of shape ({W.shape[0]},) or (N, {W.shape[0]})")
        if shape[0] == 0:
            raise self.error(f"x has shape {shape}, an empty batch; expected at least one sample")
        x2 = x.reshape(1, -1) if len(shape) == 1 else x.reshape(shape[0], -1)
        if x2.shape[1] != W.shape[0]:
            raise self.error(f"x has shape {shape} ({x2.shape[1]} features per sample) but W has shape "
                             f"{shape_of(W)}; expected {W.shape[0]} features, i.e. x of shape (N, {W.shape[0]})")
        if x2.dtype != W.dtype:
            x2 = x2.astype(W.dtype)
        self.original_x_shape = shape
        self.x = x2
        if parallel.worth_splitting(x2):             # rows of X · W on all cores, inside a network's step
            out = np.empty((x2.shape[0], W.shape[1]), dtype=W.dtype)
            parallel.over_batch(lambda lo, hi: np.matmul(x2[lo:hi], W, out=out[lo:hi]), len(x2), x2[0].nbytes,
                                min_slices=2)
        else:
            out = x2 @ W
        out += self.b
        return out[0] if len(shape) == 1 else out

    def backward(self, dout):
        n, h = self.x.shape[0], self.W.shape[1]
        d = dout.reshape(1, -1) if ndim_of(dout) == 1 else dout
        if d.shape != (n, h):
            expected = (n, h) if len(self.original_x_shape) > 1 else (h,)
            raise self.error(f"dout has shape {shape_of(dout)}; expected {expected} (the shape of this layer's output)")
        self.db = d.sum(axis=0)
        if not parallel.worth_splitting(self.x):
            self.dW = self.x.T @ d
            return (d @ self.W.T).reshape(self.original_x_shape) if self.input_grad else None
        # inside a network's step, on all cores: dW by slices of its rows (features), dX by slices of the batch
        x, W = self.x, self.W
        self.dW = np.empty(W.shape, dtype=np.result_type(x, d))
        parallel.over_batch(lambda lo, hi: np.matmul(x[:, lo:hi].T, d, out=self.dW[lo:hi]), W.shape[0],
                            x.shape[0] * x.itemsize, min_slices=2)
        if not self.input_grad:
            return None
        dx = np.empty((len(d), W.shape[0]), dtype=np.result_type(d, W))
        parallel.over_batch(lambda lo, hi: np.matmul(d[lo:hi], W.T, out=dx[lo:hi]), len(d), dx[0].nbytes,
                            min_slices=2)
        return dx.reshape(self.original_x_shape)

    def matrix_shapes(self):
        return {"x": self.x.shape} if self.original_x_shape is not None and len(self.original_x_shape) > 2 else {}

    def __repr__(self):
        return f"Affine(W{shape_of(self.W)}, b{shape_of(self.b)}, {self.W.dtype})"
