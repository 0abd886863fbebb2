"""Networks (book §5.7.2): an ordered list of layers and a loss layer, nothing more.

``gradient(x, t)`` is one forward and one backward pass through the layers of
:mod:`chainrule.layers`; ``numerical_gradient(x, t)`` differentiates
``loss(x, t)`` numerically for gradient checks. Labels may be class indices or
one-hot rows. No graph is recorded: training pays only for the layers' math.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .gradcheck import frozen_randomness
from .gradcheck import numerical_gradient as _numerical_gradient
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss, Tanh

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
DTYPES = {"float32": np.float32, "float64": np.float64}


def _dtype(dtype):
    dt = np.dtype(DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"network dtype must be float32 or float64, got {dt}")
    return dt


def init_scale(weight_init_std, fan_in):
    """'he': √(2/fan_in) (for ReLU), 'xavier': √(1/fan_in) (sigmoid/tanh), or a number used as is."""
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in ("he", "relu"):
            return np.sqrt(2.0 / fan_in)
        if key in ("xavier", "sigmoid", "tanh"):
            return np.sqrt(1.0 / fan_in)
        raise ValueError(f"weight_init_std must be 'he', 'xavier' or a number, got {weight_init_std!r}")
    return float(weight_init_std)


class MultiLayerNet:
    """A fully connected network of any depth: (Affine → [BatchNorm] → activation → [Dropout]) × k → Affine
    → SoftmaxWithLoss.

    ``params`` holds ``W1, b1, …`` (and ``gamma1, beta1, …`` with batch
    normalisation): the very arrays the layers use, so optimizers update them
    in place. ``weight_decay_lambda`` adds ½λ Σ‖W‖² to the loss and λW to each
    weight gradient. ``use_batchnorm`` and ``dropout_ratio`` add the book's
    chapter-6 layers; ``predict`` and ``loss`` run them in inference mode unless
    ``train_flg=True``, ``gradient`` in training mode.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="he",
                 weight_decay_lambda=0.0, dtype=np.float64, seed=None, use_batchnorm=False, dropout_ratio=0.0):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        sizes = [int(input_size), *[int(h) for h in hidden_size_list], int(output_size)]
        if any(s <= 0 for s in sizes):
            raise ValueError(f"layer sizes must be positive, got {sizes}")
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.input_size, self.output_size = sizes[0], sizes[-1]
        self.hidden_size_list = sizes[1:-1]
        self.activation = activation
        self.weight_init_std = weight_init_std
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.use_batchnorm, self.dropout_ratio = bool(use_batchnorm), float(dropout_ratio)
        self.dtype = _dtype(dtype)
        rng = np.random.default_rng(seed)
        xp = backend.xp()
        self.params = {}
        self.layers = []
        self._named = []  # (layer, {"W": "W1", …}): which params entry is which layer parameter
        for i in range(1, len(sizes)):
            scale = init_scale(weight_init_std, sizes[i - 1])
            W = xp.asarray((scale * rng.standard_normal((sizes[i - 1], sizes[i]))).astype(self.dtype))
            self._add(Affine(W, xp.zeros(sizes[i], dtype=self.dtype)), i)
            if i == len(sizes) - 1:
                break
            if self.use_batchnorm:
                self._add(BatchNormalization(xp.ones(sizes[i], dtype=self.dtype),
                                             xp.zeros(sizes[i], dtype=self.dtype)), i)
            self.layers.append(ACTIVATIONS[activation]())
            if self.dropout_ratio:
                self.layers.append(Dropout(self.dropout_ratio, seed=int(rng.integers(2 ** 31))))
        self.layers[0].input_grad = False  # nothing needs dL/dx of the data: skip that product
        self.last_layer = SoftmaxWithLoss()

    def _add(self, layer, index):
        names = {key: f"{key}{index}" for key in layer.params}
        for key, name in names.items():
            self.params[name] = layer.params[key]
        self.layers.append(layer)
        self._named.append((layer, names))

    @property
    def affine_layers(self):
        return [layer for layer in self.layers if isinstance(layer, Affine)]

    def buffers(self):
        """Arrays learned without gradients (batch-norm running statistics), by name: saved with the model."""
        found = {}
        for i, layer in enumerate((la for la in self.layers if isinstance(la, BatchNormalization)), start=1):
            for key, value in layer.buffers.items():
                found[f"{key}{i}"] = value
        return found

    def predict(self, x, train_flg=False):
        """Scores (logits) for a batch: the layers' forward passes in order."""
        for layer in self.layers:
            x = layer.forward(x, train_flg) if layer.uses_train_flg else layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        """Mean cross-entropy of softmax(predict(x)) against t, plus weight decay."""
        loss = self.last_layer.forward(self.predict(x, train_flg), t)
        if self.weight_decay_lambda:
            loss = loss + 0.5 * self.weight_decay_lambda * sum(float((a.W ** 2).sum()) for a in self.affine_layers)
        return loss

    def accuracy(self, x, t, batch_size=10000):
        """Fraction of rows whose highest score is the label (indices or one-hot rows)."""
        xp = backend.get_array_module(x)
        t = xp.asarray(t)
        if t.ndim != 1:
            t = t.argmax(axis=1)
        correct = 0
        for i in range(0, len(x), batch_size):
            correct += int((self.predict(x[i:i + batch_size]).argmax(axis=1) == t[i:i + batch_size]).sum())
        return correct / max(len(x), 1)

    def gradient(self, x, t):
        """All parameter gradients by backprop: one forward (training mode) and one backward pass."""
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for layer, names in self._named:
            for key, name in names.items():
                grads[name] = layer.grads[key]
        if self.weight_decay_lambda:
            for i, layer in enumerate(self.affine_layers, start=1):
                grads[f"W{i}"] = layer.dW + self.weight_decay_lambda * layer.W
        return grads

    def numerical_gradient(self, x, t, h=1e-4):
        """All parameter gradients by central differences of the training-mode loss (slow: for checks).

        Dropout keeps its last masks and batch-norm running statistics are
        restored afterwards, so the check sees one fixed function.
        """
        saved = {k: v.copy() for k, v in self.buffers().items()}
        try:
            with frozen_randomness(self.layers):
                return {key: _numerical_gradient(lambda _: self.loss(x, t, train_flg=True), p, h)
                        for key, p in self.params.items()}
        finally:
            for k, v in self.buffers().items():
                v[...] = saved[k]

    def architecture(self):
        """What it takes to rebuild this network (saved with the model)."""
        return {"class": "MultiLayerNet", "input_size": self.input_size, "hidden_size_list": self.hidden_size_list,
                "output_size": self.output_size, "activation": self.activation,
                "weight_decay_lambda": self.weight_decay_lambda, "dtype": np.dtype(self.dtype).name,
                "use_batchnorm": self.use_batchnorm, "dropout_ratio": self.dropout_ratio}

    def describe(self):
        sizes = "-".join(str(s) for s in [self.input_size, *self.hidden_size_list, self.output_size])
        extras = (" + batchnorm" if self.use_batchnorm else "") + \
            (f" + dropout {self.dropout_ratio:g}" if self.dropout_ratio else "")
        return f"{sizes} {self.activation} MLP{extras} ({np.dtype(self.dtype).name})"

    def __repr__(self):
        return f"{type(self).__name__}({self.describe()})"


class TwoLayerNet(MultiLayerNet):
    """The book's two-layer network: Affine1 → Relu1 → Affine2 → SoftmaxWithLoss.

    Weights start as ``weight_init_std`` × standard normal (the book's 0.01), biases at zero.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, dtype=np.float64, seed=None):
        super().__init__(input_size, [hidden_size], output_size, activation="relu", weight_init_std=weight_init_std,
                         dtype=dtype, seed=seed)

    def architecture(self):
        return {"class": "TwoLayerNet", "input_size": self.input_size, "hidden_size": self.hidden_size_list[0],
                "output_size": self.output_size, "dtype": np.dtype(self.dtype).name}


def build(architecture):
    """A network from :meth:`MultiLayerNet.architecture`'s dictionary."""
    arch = dict(architecture)
    cls = arch.pop("class", None)
    if cls == "TwoLayerNet":
        return TwoLayerNet(arch["input_size"], arch["hidden_size"], arch["output_size"], dtype=arch["dtype"])
    if cls == "MultiLayerNet":
        return MultiLayerNet(arch["input_size"], arch["hidden_size_list"], arch["output_size"],
                             activation=arch["activation"], weight_decay_lambda=arch.get("weight_decay_lambda", 0),
                             dtype=arch["dtype"], use_batchnorm=arch.get("use_batchnorm", False),
                             dropout_ratio=arch.get("dropout_ratio", 0.0))
    raise ValueError(f"unknown network class {cls!r}; expected 'TwoLayerNet' or 'MultiLayerNet'")
