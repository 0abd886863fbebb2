"""Layers that behave differently in training and in inference: Dropout and BatchNormalization (book §6.4, §6.3).

``forward(x, train_flg=True)`` as in the book; without ``train_flg`` they read
the mode of the surrounding ``chainrule.train_mode()`` / ``eval_mode()`` block
(training when there is none), in a recorded graph as well as by hand.
"""
from __future__ import annotations

import numpy as np

from .. import kernels, mode, parallel
from ..backend import get_array_module
from .base import Layer, parameter, shape_of


class Dropout(Layer):
    """Training: y = x ∘ mask / (1 − ratio), each unit kept with probability 1 − ratio; inference: y = x.

    Backward: dx = dout ∘ mask / (1 − ratio) (the units dropped in forward get no gradient).
    Inside :func:`chainrule.mode.replay_randomness` the masks are replayed, so a
    gradient check sees one fixed function.
    """

    symbol = "dropout"
    rules = ("{dout} ∘ mask / (1 − ratio)",)
    rule_meanings = (("mask", "1 where a unit was kept, 0 where dropped"), ("ratio", "the dropout ratio"))

    def __init__(self, dropout_ratio=0.5, seed=None):
        if not isinstance(dropout_ratio, (int, float)) or not 0 <= dropout_ratio < 1:
            raise ValueError(f"Dropout: dropout_ratio must be a number in [0, 1), got {dropout_ratio!r}")
        self.dropout_ratio = float(dropout_ratio)
        self.rng = np.random.default_rng(seed)
        self._device_rng = None  # CuPy's generator, seeded from rng on first use on a GPU
        self.scale = None      # mask / (1 − ratio), or None when nothing was dropped

    def forward(self, x, train_flg=None):
        if not mode.resolve(train_flg) or self.dropout_ratio == 0:
            self.scale = None
            return x
        dtype = x.dtype if getattr(x, "dtype", np.dtype(np.float64)).kind == "f" else np.float64
        scale = (self._uniform(get_array_module(x), shape_of(x)) >= self.dropout_ratio).astype(dtype)
        scale *= 1 / (1 - self.dropout_ratio)
        self.scale = scale
        return x * scale

    def _uniform(self, xp, shape):
        """Uniform [0, 1) numbers drawn where x lives (no host-to-GPU copy of a mask per step)."""
        replayed = mode.replayed_generator()
        if xp is np:
            return (replayed or self.rng).random(shape)
        if replayed is not None:
            return xp.random.default_rng(int(replayed.integers(2 ** 63))).random(shape)
        if self._device_rng is None:
            self._device_rng = xp.random.default_rng(int(self.rng.integers(2 ** 63)))
        return self._device_rng.random(shape)

    def backward(self, dout):
        return dout if self.scale is None else dout * self.scale

    def __repr__(self):
        return f"Dropout({self.dropout_ratio:g})"


def _sum_of_products(a, b, axes):
    """Σ a∘b over ``axes`` (0, or 0 and 2) without the a∘b array: one pass instead of two."""
    xp = get_array_module(a)
    return xp.einsum("nf,nf->f" if axes == 0 else "ncl,ncl->c", a, b)


def _channel_loops(*arrays):
    """The compiled loops (:mod:`chainrule.kernels`) for batch normalisation over channels, where they apply: NumPy
    arrays, C-contiguous, all of one dtype; else None (NumPy's passes)."""
    for a in arrays:
        if type(a) is not np.ndarray or not a.flags.c_contiguous or a.dtype != arrays[0].dtype:
            return None
    return kernels.get(*arrays)


def _over_images(loop, images, *per_channel):
    """``loop(*images, *per_channel)``; on all cores, slice by slice of the batch, inside a network's step where
    the batch is worth splitting (each element is computed on its own: the same bits either way)."""
    x = images[0]
    if not parallel.worth_splitting(x):
        loop(*images, *per_channel)
        return
    parallel.over_batch(lambda lo, hi: loop(*(a[lo:hi] for a in images), *per_channel), len(x), x[0].nbytes)


class BatchNormalization(Layer):
    """Normalise each feature over the batch, then scale and shift: y = γ ∘ (x − μ) / √(σ² + ε) + β.

    Training uses the batch's mean μ and variance σ² and updates running
    averages (``momentum``); inference uses the running averages. Backward
    (training), with x̂ = (x − μ)/σ and N rows:

        dx = (γ/σ) ∘ (dout − mean(dout) − x̂ ∘ mean(dout ∘ x̂))
        dγ = Σ_rows dout ∘ x̂        dβ = Σ_rows dout

    In inference μ and σ are constants and dx = (γ / σ) ∘ dout.
    N-D input (N, …) is flattened per sample and restored, like Affine (the book's way: one γ per value).
    Images (N, C, H, W) with one γ per channel are normalised per channel, over N, H and W together
    (spatial batch normalisation, for convolutional networks): the rows are then the N·H·W positions.
    """

    symbol = "BatchNorm"
    rules = ("({gamma}/σ) ∘ ({dout} − mean({dout}) − x̂ ∘ mean({dout} ∘ x̂))", "Σ_rows {dout} ∘ x̂", "Σ_rows {dout}")
    rule_symbols = {"gamma": "γ", "beta": "β"}
    rule_meanings = (("σ", "√(batch variance + ε)"), ("x̂", "({x} − batch mean) / σ"))
    gamma = parameter()
    beta = parameter()

    def __init__(self, gamma, beta, momentum=0.9, eps=1e-7, running_mean=None, running_var=None):
        if shape_of(gamma) != shape_of(beta) or len(shape_of(gamma)) != 1:
            raise ValueError(f"BatchNormalization: gamma {shape_of(gamma)} and beta {shape_of(beta)} must be "
                             "vectors of the same length")
        self.gamma, self.beta = gamma, beta
        self.momentum, self.eps = momentum, eps
        xp = get_array_module(self.gamma)
        self.running_mean = xp.zeros_like(self.gamma) if running_mean is None else running_mean
        self.running_var = xp.ones_like(self.gamma) if running_var is None else running_var
        self.xn = self.std = self.input_shape = None
        self.train_flg = True
        self.dgamma = self.dbeta = None

    @property
    def buffers(self):
        """The running mean and variance, learned without gradients and saved with the model."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def _view(self, x):
        """x arranged so the statistics are over axis 0 (per feature, (N, F)) or axes 0 and 2 (per channel,
        (N, C, H·W)): a view, nothing copied."""
        shape, f = self.input_shape, self.gamma.shape[0]
        self.per_channel = len(shape) == 4 and shape[1] == f and f != int(np.prod(shape[1:]))
        if self.per_channel:
            self.axes = (0, 2)
            return x.reshape(shape[0], f, -1)
        self.axes = 0
        return x.reshape(shape[0], -1) if len(shape) != 2 else x

    def _column(self, a):
        """A per-feature vector shaped to broadcast over the view."""
        return a[:, None] if self.per_channel else a

    def _centred(self, x2, mu, loops):
        """x − μ, μ broadcast over the view; with the compiled loops (images over channels), one pass on all cores
        inside a network's step instead of NumPy's short rows (the same bits)."""
        if loops is None:
            return x2 - mu
        xc = np.empty_like(x2)
        _over_images(loops["subtract_per_channel"], (x2, xc), mu.reshape(-1))
        return xc

    def forward(self, x, train_flg=None):
        train_flg = mode.resolve(train_flg)
        self.input_shape = shape_of(x)
        if not self.input_shape or 0 in self.input_shape:
            raise self.error(f"x has shape {self.input_shape}; expected a non-empty batch (N, {self.gamma.shape[0]})")
        x2 = self._view(x)
        if x2.shape[1] != self.gamma.shape[0]:
            raise self.error(f"x has shape {self.input_shape} ({x2.shape[1]} features) but gamma has "
                             f"{self.gamma.shape[0]}; expected x of shape (N, {self.gamma.shape[0]})")
        self.train_flg = train_flg
        self.count = x2.size // x2.shape[1]  # the rows the statistics are over: N, or N·H·W per channel
        if train_flg:
            if self.count < 2:
                raise self.error(f"training needs a batch of at least 2 rows to estimate a variance, got "
                                 f"{self.input_shape}")
            mu = x2.mean(axis=self.axes, keepdims=self.per_channel)
            loops = _channel_loops(x2, mu, self.gamma, self.beta) if self.per_channel else None
            xc = self._centred(x2, mu, loops)
            var = _sum_of_products(xc, xc, self.axes) / self.count
            self.std = self._column(np.sqrt(var + self.eps))
            mu = mu.reshape(-1)
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            self.std = self._column(np.sqrt(self.running_var + self.eps))
            loops = _channel_loops(x2, self.running_mean, self.std, self.gamma, self.beta) if self.per_channel \
                else None
            xc = self._centred(x2, self._column(self.running_mean), loops)
        self.xn = xc
        if loops is not None and _channel_loops(xc, self.std) is not None:
            out = np.empty_like(xc)     # x̂ = xc / σ written over xc, and y = x̂ ∘ γ + β: one pass, the same bits
            _over_images(loops["normalize_and_scale"], (xc, out), self.std.reshape(-1), self.gamma, self.beta)
            return out.reshape(self.input_shape)
        xc /= self.std                                       # in place: xc becomes x̂, one pass fewer
        out = self.xn * self._column(self.gamma)
        out += self._column(self.beta)
        return out.reshape(self.input_shape)

    def backward(self, dout):
        d = self._view(dout)
        n = self.count
        self.dbeta = d.sum(axis=self.axes)
        self.dgamma = _sum_of_products(d, self.xn, self.axes)
        scale = self._column(self.gamma) / self.std
        if self.train_flg:  # μ and σ depend on every row of the batch
            # (γ/σ)∘(dout − mean(dout) − x̂∘mean(dout∘x̂)) as dout·(γ/σ) − x̂·(γ/σ)·dγ/n − (γ/σ)·dβ/n: fewer passes
            a, e = scale * (self._column(self.dgamma) / -n), scale * (self._column(self.dbeta) / n)
            loops = _channel_loops(self.xn, d, a, scale, e) if self.per_channel else None
            if loops is not None:       # the same three operations on each element, in one pass (chainrule.kernels)
                dx = np.empty_like(d)
                _over_images(loops["batch_norm_dx"], (self.xn, d, dx), a.reshape(-1), scale.reshape(-1),
                             e.reshape(-1))
                return dx.reshape(self.input_shape)
            dx = self.xn * a
            dx += d * scale
            dx -= e
        else:               # running statistics are constants: an elementwise scale
            dx = d * scale
        return dx.reshape(self.input_shape)

    def __repr__(self):
        return f"BatchNormalization({self.gamma.shape[0]})"
