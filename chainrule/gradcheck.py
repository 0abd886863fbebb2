"""Gradient checking (book §5.7.3): backprop against numerical differentiation.

``numerical_gradient`` is the book's central difference with h = 1e-4.
``gradient_check`` runs it against the backward pass of a layer, or of any
object with ``loss``/``gradient``/``params`` (the networks), and reports for
each input and parameter the max absolute, max relative and mean absolute
difference. Run it in float64: in float32 the central difference itself is
off by about 3% with h = 1e-4.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass

import numpy as np

from .functions import is_float_array


def numerical_gradient(f, x, h=1e-4):
    """∂f/∂x by central differences (f(x + h) − f(x − h)) / 2h, element by element.

    ``f(x)`` must return a scalar; ``x`` (a float array) is perturbed in place
    and restored exactly.
    """
    if not is_float_array(x):
        raise TypeError(f"numerical_gradient: x must be a floating-point array, got "
                        f"{type(x).__name__}{'' if not hasattr(x, 'dtype') else ' of dtype ' + str(x.dtype)}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        original = x[idx].copy()
        x[idx] = original + h
        f_plus = float(f(x))
        x[idx] = original - h
        f_minus = float(f(x))
        x[idx] = original
        grad[idx] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


@dataclass
class Comparison:
    """How one backprop gradient compares with its numerical estimate."""

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    mean_abs: float
    ok: bool

    def __str__(self):
        mark = "ok" if self.ok else "MISMATCH"
        return (f"{self.name:<8} {str(self.shape):<14} mean|Δ| {self.mean_abs:.3e}  max|Δ| {self.max_abs:.3e}  "
                f"max rel {self.max_rel:.3e}  {mark}")


class GradCheckReport(dict):
    """name → :class:`Comparison`, with ``ok`` and a printable table."""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.values())

    def __str__(self):
        return "\n".join(str(c) for c in self.values())


def compare(name, analytic, numeric, rtol=1e-5, atol=1e-7):
    """Compare two gradients: ok when |a − n| ≤ atol + rtol·|n| everywhere."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient_check: backprop gradient of {name} has shape {analytic.shape}, "
                         f"numerical one has shape {numeric.shape}")
    diff = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)
    return Comparison(name, analytic.shape, float(diff.max(initial=0)), float((diff / scale).max(initial=0)),
                      float(diff.mean()) if diff.size else 0.0,
                      bool(np.all(diff <= atol + rtol * np.abs(numeric))))


@contextlib.contextmanager
def frozen_randomness(layers):
    """Random layers (Dropout) keep their last mask while inside: a numerical gradient needs the same function."""
    random = [layer for layer in layers if getattr(layer, "random", False)]
    saved = [layer.reuse_mask for layer in random]
    for layer in random:
        layer.reuse_mask = True
    try:
        yield
    finally:
        for layer, flag in zip(random, saved):
            layer.reuse_mask = flag


def _as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def _check_net(net, inputs, h, rtol, atol):
    analytic = {k: np.array(v, copy=True) for k, v in net.gradient(*inputs).items()}
    if hasattr(net, "numerical_gradient"):
        numeric = net.numerical_gradient(*inputs, h=h)
    else:
        numeric = {name: numerical_gradient(lambda _: net.loss(*inputs), p, h) for name, p in net.params.items()}
    report = GradCheckReport()
    for name in net.params:
        report[name] = compare(name, analytic[name], numeric[name], rtol, atol)
    return report


def _check_layer(layer, inputs, dout, seed, h, rtol, atol):
    inputs = [np.array(a, copy=True) if is_float_array(a) else a for a in inputs]
    out = layer.forward(*inputs)
    if dout is None:
        if np.ndim(out) == 0:
            dout = 1.0
        else:
            dout = np.random.default_rng(seed).standard_normal(np.shape(out)).astype(np.result_type(out))

    def objective(_):
        return np.sum(layer.forward(*inputs) * dout)

    with frozen_randomness([layer]):
        layer.forward(*inputs)
        grads = _as_tuple(layer.backward(dout))
        grads = [None if g is None else np.array(g, copy=True) for g in grads]
        param_grads = {k: np.array(v, copy=True) for k, v in layer.grads.items()}
        names = list(inspect.signature(layer.forward).parameters)
        report = GradCheckReport()
        for i, (value, grad) in enumerate(zip(inputs, grads)):
            if grad is None or not is_float_array(value):
                continue
            name = names[i] if i < len(names) else f"input{i}"
            report[name] = compare(name, grad, numerical_gradient(objective, value, h), rtol, atol)
        for name, param in layer.params.items():
            report[name] = compare(name, param_grads[name], numerical_gradient(objective, param, h), rtol, atol)
    return report


def gradient_check(target, *inputs, dout=None, seed=0, h=1e-4, rtol=1e-5, atol=1e-7):
    """Compare backprop with numerical gradients; returns a :class:`GradCheckReport`.

    * A layer: ``gradient_check(layer, x[, y])`` checks the gradient of every
      float input and every parameter of L = Σ forward(…) ∘ dout, with a random
      ``dout`` (or 1 for a loss layer).
    * A network (``loss``, ``gradient``, ``params``): ``gradient_check(net, x, t)``
      checks every parameter of ``net.loss(x, t)``.
    """
    if hasattr(target, "gradient") and hasattr(target, "loss"):
        return _check_net(target, inputs, h, rtol, atol)
    if hasattr(target, "forward") and hasattr(target, "backward"):
        return _check_layer(target, inputs, dout, seed, h, rtol, atol)
    raise TypeError(f"gradient_check: {type(target).__name__} is neither a layer (forward/backward) nor a network "
                    "(loss/gradient/params)")
