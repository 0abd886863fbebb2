"""Layers that behave differently in training and in inference: Dropout and BatchNormalization.

``forward(x, train_flg=True)`` as in the book (chapter 6); networks call them
with ``train_flg=False`` when they predict.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .base import Layer, shape_of


class Dropout(Layer):
    """Training: y = x ∘ mask / (1 − ratio), each unit kept with probability 1 − ratio; inference: y = x.

    Backward: dx = dout ∘ mask / (1 − ratio) (the units dropped in forward get no gradient).
    Set ``reuse_mask = True`` to keep the last mask for the following forward
    passes, as a gradient check needs.
    """

    symbol = "dropout"
    rules = ("{dout} ∘ mask / (1 − ratio)",)
    random = True
    uses_train_flg = True

    def __init__(self, dropout_ratio=0.5, seed=None):
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"Dropout: dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.dropout_ratio = dropout_ratio
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._device_rng = None  # CuPy's generator, made on first use on a GPU
        self.scale = None      # mask / (1 − ratio), or None when nothing was dropped
        self.reuse_mask = False

    def forward(self, x, train_flg=True):
        if not train_flg or self.dropout_ratio == 0:
            self.scale = None
            return x
        if not (self.reuse_mask and self.scale is not None and self.scale.shape == shape_of(x)):
            dtype = x.dtype if np.issubdtype(getattr(x, "dtype", np.float64), np.floating) else np.float64
            scale = (self._uniform(get_array_module(x), shape_of(x)) >= self.dropout_ratio).astype(dtype)
            scale *= 1 / (1 - self.dropout_ratio)
            self.scale = scale
        return x * self.scale

    def _uniform(self, xp, shape):
        """Uniform [0, 1) numbers drawn where x lives (no host-to-GPU copy of a mask per step)."""
        if xp is np:
            return self.rng.random(shape)
        if self._device_rng is None:
            self._device_rng = xp.random.RandomState(self.seed)
        return self._device_rng.random_sample(shape)

    def backward(self, dout):
        return dout if self.scale is None else dout * self.scale

    def __repr__(self):
        return f"Dropout({self.dropout_ratio})"


class BatchNormalization(Layer):
    """Normalise each feature over the batch, then scale and shift: y = γ ∘ (x − μ) / √(σ² + ε) + β.

    Training uses the batch's mean μ and variance σ² and updates running
    averages (``momentum``); inference uses the running averages. Backward
    (training), with x̂ = (x − μ)/σ and N rows:

        dβ = Σ dout        dγ = Σ dout ∘ x̂
        dx = (γ / σ) ∘ (dout − mean(dout) − x̂ ∘ mean(dout ∘ x̂))

    N-D input (N, …) is flattened per sample and restored, like Affine.
    """

    symbol = "BatchNorm"
    rules = ("(γ/σ) ∘ (dout − mean(dout) − x̂ ∘ mean(dout ∘ x̂))",)
    uses_train_flg = True

    def __init__(self, gamma, beta, momentum=0.9, eps=1e-7, running_mean=None, running_var=None):
        if shape_of(gamma) != shape_of(beta) or len(shape_of(gamma)) != 1:
            raise ValueError(f"BatchNormalization: gamma {shape_of(gamma)} and beta {shape_of(beta)} must be "
                             "vectors of the same length")
        self.gamma, self.beta = gamma, beta
        self.momentum, self.eps = momentum, eps
        xp = get_array_module(gamma)
        self.running_mean = xp.zeros_like(gamma) if running_mean is None else running_mean
        self.running_var = xp.ones_like(gamma) if running_var is None else running_var
        self.xn = self.std = self.input_shape = None
        self.train_flg = True
        self.dgamma = self.dbeta = None

    @property
    def params(self):
        return {"gamma": self.gamma, "beta": self.beta}

    @property
    def grads(self):
        return {"gamma": self.dgamma, "beta": self.dbeta}

    @property
    def buffers(self):
        """Statistics that are learned but not trained: saved with the model."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x, train_flg=True):
        self.input_shape = shape_of(x)
        x2 = x.reshape(self.input_shape[0], -1) if len(self.input_shape) != 2 else x
        if x2.shape[1] != self.gamma.shape[0]:
            raise self.error(f"x has shape {self.input_shape} ({x2.shape[1]} features) but gamma has "
                             f"{self.gamma.shape[0]}; expected x of shape (N, {self.gamma.shape[0]})")
        self.train_flg = train_flg
        if train_flg:
            if x2.shape[0] < 2:
                raise self.error(f"training needs a batch of at least 2 rows to estimate a variance, got "
                                 f"{self.input_shape}")
            mu = x2.mean(axis=0)
            xc = x2 - mu
            var = (xc * xc).mean(axis=0)
            self.std = np.sqrt(var + self.eps)
            self.xn = xc / self.std
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
            xn = self.xn
        else:
            self.std = np.sqrt(self.running_var + self.eps)
            xn = self.xn = (x2 - self.running_mean) / self.std
        out = self.gamma * xn + self.beta
        return out.reshape(self.input_shape)

    def backward(self, dout):
        d = dout.reshape(self.xn.shape)
        n = d.shape[0]
        self.dbeta = d.sum(axis=0)
        self.dgamma = (d * self.xn).sum(axis=0)
        if self.train_flg:  # μ and σ depend on every row of the batch
            dx = (self.gamma / self.std) * (d - self.dbeta / n - self.xn * (self.dgamma / n))
        else:               # running statistics are constants: an elementwise scale
            dx = (self.gamma / self.std) * d
        return dx.reshape(self.input_shape)

    def __repr__(self):
        return f"BatchNormalization({self.gamma.shape[0]})"
