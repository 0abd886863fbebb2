"""Solutions to exercises/layers.py (book chapter 5), checked by the tests: chainrule check reports ✓ for each."""
import numpy as np


class MulLayer:
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x   # each input gets the other one


class AddLayer:
    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dx = dout.copy()          # not dout itself: the same dout may feed another branch
        dx[self.mask] = 0
        return dx


class Sigmoid:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * self.out * (1.0 - self.out)


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return dout @ self.W.T


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return -np.mean(np.log(self.y[np.arange(len(t)), t]))

    def backward(self, dout=1):
        n = len(self.t)
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dout * dx / n


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
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i in (1, 2):
            grads[f"W{i}"], grads[f"b{i}"] = self.layers[f"Affine{i}"].dW, self.layers[f"Affine{i}"].db
        return grads


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
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)
