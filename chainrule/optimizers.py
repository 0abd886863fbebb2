"""Optimizers with the book's interface: ``optimizer.update(params, grads)`` updates in place.

Each keeps its state (velocities, moments) per parameter name and writes into
the parameter arrays themselves, so the layers that share them see the change.
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    def update(self, params, grads):  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def config(self):
        """Name and hyper-parameters (saved in metrics.json)."""
        return {"name": type(self).__name__, **{k: v for k, v in vars(self).items() if isinstance(v, (int, float))}}

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """W ← W − lr·∂L/∂W."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key, p in params.items():
            p -= self.lr * grads[key]


class Momentum(Optimizer):
    """v ← momentum·v − lr·g;  W ← W + v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.v = {}

    def update(self, params, grads):
        for key, p in params.items():
            v = self.v.setdefault(key, np.zeros_like(p))
            v *= self.momentum
            v -= self.lr * grads[key]
            p += v


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient (the book's form): v ← m·v − lr·g;  W ← W + m²·v − (1 + m)·lr·g."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.v = {}

    def update(self, params, grads):
        m = self.momentum
        for key, p in params.items():
            v = self.v.setdefault(key, np.zeros_like(p))
            g = grads[key]
            v *= m
            v -= self.lr * g
            p += m * m * v
            p -= (1 + m) * self.lr * g


class AdaGrad(Optimizer):
    """h ← h + g∘g;  W ← W − lr·g / (√h + 1e-7)."""

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = {}

    def update(self, params, grads):
        for key, p in params.items():
            h = self.h.setdefault(key, np.zeros_like(p))
            g = grads[key]
            h += g * g
            p -= self.lr * g / (np.sqrt(h) + 1e-7)


class RMSprop(Optimizer):
    """h ← ρ·h + (1 − ρ)·g∘g;  W ← W − lr·g / (√h + 1e-7)."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr, self.decay_rate = lr, decay_rate
        self.h = {}

    def update(self, params, grads):
        for key, p in params.items():
            h = self.h.setdefault(key, np.zeros_like(p))
            g = grads[key]
            h *= self.decay_rate
            h += (1 - self.decay_rate) * g * g
            p -= self.lr * g / (np.sqrt(h) + 1e-7)


class Adam(Optimizer):
    """m ← m + (1−β₁)(g − m);  v ← v + (1−β₂)(g² − v);  W ← W − lr_t·m / (√v + 1e-7),

    with the bias correction lr_t = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ) (Kingma & Ba, as in the book).
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter = 0
        self.m, self.v = {}, {}

    def update(self, params, grads):
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key, p in params.items():
            m = self.m.setdefault(key, np.zeros_like(p))
            v = self.v.setdefault(key, np.zeros_like(p))
            g = grads[key]
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g * g - v)
            p -= lr_t * m / (np.sqrt(v) + 1e-7)

    def config(self):
        return {"name": "Adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2}


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
              "adam": Adam}


def make(name, lr=None):
    """An optimizer by name (``sgd``, ``momentum``, ``nesterov``, ``adagrad``, ``rmsprop``, ``adam``)."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}") from None
    return cls() if lr is None else cls(lr=lr)
