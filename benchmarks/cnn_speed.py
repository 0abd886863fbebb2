"""Time per training step of the book's convolutional networks: chainrule vs PyTorch CPU vs the book's im2col code.

    python benchmarks/cnn_speed.py [--rounds 6] [--iters 20] [--networks simple-cnn deep-cnn]

One step = forward + backward + SGD update on a batch of 100 images 1×28×28, float32 everywhere (the networks
named ``…-inference`` time the forward pass alone, in inference mode: chainrule's ``predict`` under ``eval_mode``,
PyTorch's ``model.eval()`` under ``torch.no_grad()``, the book's ``predict``):
SimpleConvNet (§7.5: conv 30×5×5 → ReLU → 2×2 max pool → Affine 100 → ReLU → Affine 10) and DeepConvNet
(§8.1: six 3×3 convolutions with pooling, Affine 50, dropout). The peer is PyTorch (``Conv2d``,
``MaxPool2d``, ``Linear``, ``optim.SGD``); the baseline is the book's way written in NumPy: ``im2col``
with a loop over filter positions, ``col2im``, max pooling by ``argmax`` over im2col rows. Every
measurement runs in a process of its own with its library's defaults (benchmarks/harness.py); the ratio
is taken per round. Writes benchmarks/results/cnn_speed.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ("simple-cnn", "deep-cnn", "simple-cnn-inference", "deep-cnn-inference")


def split(network):
    """("simple-cnn" or "deep-cnn", whether only inference is timed)."""
    return network.removesuffix("-inference"), network.endswith("-inference")
N_DATA, LR, BATCH = 2000, 0.01, 100
DEEP = [(16, 1), (16, 1), "pool", (32, 1), (32, 2), "pool", (64, 1), (64, 1), "pool"]  # (filters, pad)


def data(np):
    rng = np.random.default_rng(0)
    return rng.random((N_DATA, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, N_DATA).astype(np.int64), rng


def chainrule_step(network):
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from chainrule import backend, eval_mode, kernels, optimizers
    from chainrule.nets import DeepConvNet, SimpleConvNet
    backend.keep_freed_memory()  # as chainrule's Trainer does
    x, t, rng = data(np)
    network, inference = split(network)
    net = (SimpleConvNet if network == "simple-cnn" else DeepConvNet)(dtype=np.float32, seed=0)
    opt = optimizers.SGD(LR)

    def step(idx):
        if inference:
            with eval_mode():
                net.predict(x[idx])
        else:
            opt.update(net.params, net.gradient(x[idx], t[idx]))
    info = {"numpy": np.__version__}
    if kernels.get(x) is not None:    # the compiled loops for ReLU and max pooling (the `fast` extra) are in use
        import numba
        info["numba"] = numba.__version__
    return step, lambda: rng.integers(0, N_DATA, BATCH), info


def torch_model(network):
    """The same network in PyTorch: Conv2d, MaxPool2d, Linear (its default initialisation)."""
    import torch
    nn = torch.nn
    if network == "simple-cnn":
        layers = [nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(4320, 100), nn.ReLU(),
                  nn.Linear(100, 10)]
    else:
        layers, channels = [], 1
        for item in DEEP:
            if item == "pool":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item[0], 3, padding=item[1]), nn.ReLU()]
                channels = item[0]
        layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10),
                   nn.Dropout(0.5)]
    return nn.Sequential(*layers)


def torch_step(network):
    import numpy as np
    import torch
    x, t, rng = data(np)
    torch.manual_seed(0)
    network, inference = split(network)
    from harness import torch_sgd_step
    if not inference:
        return torch_sgd_step(torch_model(network), x, t, rng, LR, N_DATA, BATCH)
    model, x_t = torch_model(network).eval(), torch.from_numpy(x)

    def predict(idx):
        with torch.no_grad():
            model(x_t[idx])
    return predict, lambda: torch.from_numpy(rng.integers(0, N_DATA, BATCH)), \
        {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def book_step(network):
    """The book's common/layers.py way (§7.4), in NumPy float32: a baseline, not chainrule."""
    import numpy as np
    x, t, rng = data(np)
    network, inference = split(network)

    def im2col(img, fh, fw, stride, pad):
        n, c, h, w = img.shape
        oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
        img = np.pad(img, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
        col = np.zeros((n, c, fh, fw, oh, ow), img.dtype)
        for i in range(fh):
            for j in range(fw):
                col[:, :, i, j] = img[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
        return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1), oh, ow

    def col2im(col, shape, fh, fw, stride, pad, oh, ow):
        n, c, h, w = shape
        col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
        img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), col.dtype)
        for i in range(fh):
            for j in range(fw):
                img[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += col[:, :, i, j]
        return img[:, :, pad:h + pad, pad:w + pad]

    class Conv:
        def __init__(self, fn, c, k, pad, scale):
            self.W = (scale * rng.standard_normal((fn, c, k, k))).astype(np.float32)
            self.b = np.zeros(fn, np.float32)
            self.pad = pad

        def forward(self, a):
            fn, _, k, _ = self.W.shape
            self.shape = a.shape
            self.col, self.oh, self.ow = im2col(a, k, k, 1, self.pad)
            self.col_W = self.W.reshape(fn, -1).T
            out = self.col @ self.col_W + self.b
            return out.reshape(a.shape[0], self.oh, self.ow, -1).transpose(0, 3, 1, 2)

        def backward(self, d):
            fn, c, k, _ = self.W.shape
            d = d.transpose(0, 2, 3, 1).reshape(-1, fn)
            self.db, self.dW = d.sum(axis=0), (self.col.T @ d).transpose(1, 0).reshape(self.W.shape)
            return col2im(d @ self.col_W.T, self.shape, k, k, 1, self.pad, self.oh, self.ow)

    class Pool:
        def forward(self, a):
            n, c, h, w = a.shape
            self.shape = a.shape
            col, self.oh, self.ow = im2col(a, 2, 2, 2, 0)
            col = col.reshape(-1, 4)
            self.arg = np.argmax(col, axis=1)
            return np.max(col, axis=1).reshape(n, self.oh, self.ow, c).transpose(0, 3, 1, 2)

        def backward(self, d):
            d = d.transpose(0, 2, 3, 1)
            dmax = np.zeros((d.size, 4), d.dtype)
            dmax[np.arange(self.arg.size), self.arg.flatten()] = d.flatten()
            return col2im(dmax.reshape(d.shape[0] * d.shape[1] * d.shape[2], -1), self.shape, 2, 2, 2, 0, self.oh,
                          self.ow)

    class Relu:
        def forward(self, a):
            self.mask = a <= 0
            out = a.copy()
            out[self.mask] = 0
            return out

        def backward(self, d):
            d = d.copy()
            d[self.mask] = 0
            return d

    class Affine:
        def __init__(self, n_in, n_out, scale):
            self.W = (scale * rng.standard_normal((n_in, n_out))).astype(np.float32)
            self.b = np.zeros(n_out, np.float32)

        def forward(self, a):
            self.shape = a.shape
            self.a = a.reshape(a.shape[0], -1)
            return self.a @ self.W + self.b

        def backward(self, d):
            self.dW, self.db = self.a.T @ d, d.sum(axis=0)
            return (d @ self.W.T).reshape(self.shape)

    class Dropout:
        def forward(self, a):
            self.mask = rng.random(a.shape) > 0.5
            return a * self.mask

        def backward(self, d):
            return d * self.mask

    if network == "simple-cnn":
        layers = [Conv(30, 1, 5, 0, 0.01), Relu(), Pool(), Affine(4320, 100, 0.01), Relu(), Affine(100, 10, 0.01)]
    else:
        layers, c = [], 1
        for item in DEEP:
            if item == "pool":
                layers.append(Pool())
            else:
                layers += [Conv(item[0], c, 3, item[1], np.sqrt(2 / (c * 9))), Relu()]
                c = item[0]
        layers += [Affine(1024, 50, np.sqrt(2 / 1024)), Relu(), Dropout(), Affine(50, 10, np.sqrt(2 / 50)), Dropout()]
    params = [layer for layer in layers if hasattr(layer, "W")]

    def step(idx):
        a, labels = x[idx], t[idx]
        for layer in layers:
            if not (inference and isinstance(layer, Dropout)):   # the book's predict: no dropout
                a = layer.forward(a)
        if inference:
            return
        y = np.exp(a - a.max(axis=1, keepdims=True))
        y /= y.sum(axis=1, keepdims=True)
        y[np.arange(len(labels)), labels] -= 1
        d = y / len(labels)
        for layer in reversed(layers):
            d = layer.backward(d)
        for layer in params:
            layer.W -= LR * layer.dW
            layer.b -= LR * layer.db
    return step, lambda: rng.integers(0, N_DATA, BATCH), {"numpy": np.__version__}


IMPLEMENTATIONS = {"chainrule": chainrule_step, "pytorch": torch_step, "book_im2col": book_step}

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import main
    sys.exit(main(__file__, __doc__.splitlines()[0], IMPLEMENTATIONS, {n: n for n in NETWORKS},
                  {"rounds": 6, "iters": 20, "blocks": 3, "out": "cnn_speed.json"}))
