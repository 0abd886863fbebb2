"""Exercises, book chapter 5: write each layer's backward (and forward), then check it:

    chainrule check exercises/layers.py

Each layer you finish is put into a graph in place of chainrule's own, and every node is checked against
numerical differentiation: a mistake is reported with its node, its input, the wrong entries and a hint.
Work in the book's order; a class that still raises NotImplementedError is reported as not written yet.
The solutions are in exercises/solutions/layers.py (look after you tried).
"""
import numpy as np


class MulLayer:
    """§5.4.1: out = x × y. Backward: each input gets dout times the other input."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        raise NotImplementedError  # return dx, dy


class AddLayer:
    """§5.4.2: out = x + y. Backward: dout passed on unchanged to both inputs."""

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        raise NotImplementedError  # return dx, dy


class Relu:
    """§5.5.1: y = max(x, 0). Backward: dx = dout where x > 0, else 0. Do not change dout itself."""

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        raise NotImplementedError


class Sigmoid:
    """§5.5.2: y = 1 / (1 + exp(−x)). Backward: dx = dout × y × (1 − y), from the stored output."""

    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        raise NotImplementedError


class Affine:
    """§5.6.2: Y = X·W + b. Backward: dX = dY·Wᵀ, dW = Xᵀ·dY, db = Σ over the rows of dY; keep dW and db."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        raise NotImplementedError  # set self.dW, self.db; return dX


class SoftmaxWithLoss:
    """§5.6.3: softmax, then the mean cross-entropy over the batch. Backward: dx = dout × (y − t) / N."""

    def forward(self, x, t):
        self.t = t
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return -np.mean(np.log(self.y[np.arange(len(t)), t]))

    def backward(self, dout=1):
        raise NotImplementedError
