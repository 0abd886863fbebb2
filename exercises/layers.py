"""Exercises, book chapters 5 and 7: write each layer's backward, the two-layer net's gradient (§5.7.2) and a
convolution's backward (§7.4), then check them:

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


class TwoLayerNet:
    """§5.7.2: Affine → Relu → Affine, then SoftmaxWithLoss. Write ``gradient``: one forward pass (``loss``), then
    backward through ``last_layer`` and every layer in reverse order, each getting the dout the later one returned;
    return the parameters' gradients by name. (The checker runs it with chainrule's layers, so only ``gradient``
    is graded here.)"""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
                       "b1": np.zeros(hidden_size),
                       "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
                       "b2": np.zeros(output_size)}
        self.layers = {"Affine1": Affine(self.params["W1"], self.params["b1"]), "Relu1": Relu(),
                       "Affine2": Affine(self.params["W2"], self.params["b2"])}
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def gradient(self, x, t):
        raise NotImplementedError  # return {"W1": …, "b1": …, "W2": …, "b2": …}


def im2col(x, filter_h, filter_w, stride=1, pad=0):
    """§7.4.3: every filter_h × filter_w window of the images x (N, C, H, W) as a row: (N·OH·OW, C·FH·FW)."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - filter_h) // stride + 1, (w + 2 * pad - filter_w) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = np.zeros((n, c, filter_h, filter_w, oh, ow))
    for y in range(filter_h):
        for x_ in range(filter_w):
            col[:, :, y, x_, :, :] = img[:, :, y:y + stride * oh:stride, x_:x_ + stride * ow:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """§7.4.3: the inverse way: each row's values added back to the pixels of its window (overlaps add up)."""
    n, c, h, w = input_shape
    oh, ow = (h + 2 * pad - filter_h) // stride + 1, (w + 2 * pad - filter_w) // stride + 1
    col = col.reshape(n, oh, ow, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(filter_h):
        for x_ in range(filter_w):
            img[:, :, y:y + stride * oh:stride, x_:x_ + stride * ow:stride] += col[:, :, y, x_, :, :]
    return img[:, :, pad:h + pad, pad:w + pad]


class Convolution:
    """§7.4.3: Y = im2col(X) · Wᵀ + b, filters W (FN, C, FH, FW). Backward, with col = im2col(X) and dout
    reshaped to (N·OH·OW, FN): db = Σ_rows dout, dW = colᵀ · dout put back in W's shape (FN, C, FH, FW),
    dX = col2im(dout · W as a (FN, C·FH·FW) matrix); keep dW and db."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        fn, c, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh, ow = (h + 2 * self.pad - fh) // self.stride + 1, (w + 2 * self.pad - fw) // self.stride + 1
        self.x = x
        self.col = im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        out = self.col @ self.col_W + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        raise NotImplementedError  # set self.dW, self.db; return dX
