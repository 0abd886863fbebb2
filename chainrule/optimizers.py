"""Optimizers with the book's interface: ``optimizer.update(params, grads)`` updates in place.

Each keeps its state (velocities, moments) per parameter name and writes into
the parameter arrays themselves, so the layers that share them see the change.
The updates run in place through a scratch buffer per parameter: ``p -= lr * g``
written plainly would allocate a parameter-sized temporary on every step, which
for a 784×1000 weight costs more than the step's matrix products (see
benchmarks/train_speed.py).

SGD, Momentum and Adam go further where numba is installed (:mod:`chainrule.kernels`): each element of a
NumPy parameter goes through its update in one compiled pass instead of two to eleven NumPy passes. The loop
does the same operations in the same order and dtype, so the numbers are the same bits (tested against the
NumPy path).

Every rule is a class with ``update_one(key, p, g)`` for one parameter; :meth:`Optimizer.update` is the same
for all of them: it checks every gradient against its parameter's shape before anything moves, then applies
the rule to each parameter (the DeZero way: the loop in the base class, the math in each rule).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

from . import kernels


def check_hyperparameter(owner, name, value, low=0.0, high=math.inf, low_open=True):
    """``value`` as a float if it is a finite number in the allowed range, else a ValueError naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}") from None
    inside = (v > low if low_open else v >= low) and v < high
    if not (math.isfinite(v) and inside):
        bound = f"{'(' if low_open else '['}{low:g}, {high:g})"
        raise ValueError(f"{owner}: {name} must be a finite number in {bound}, got {value!r}")
    return v


#: SGD's parameters of fewer elements take NumPy's two passes, which are as fast there (still in the cache) and cost
#: less to call (measured: 0.8 µs against 2.7 µs for a bias of 100; 14.7 µs against 11.7 µs for a 784×100 weight).
#: Momentum and Adam take the compiled pass at every size: their NumPy passes with the flush of their states
#: (_flushed) cost more (a bias of 100: Adam 9.8 µs against 7.3 µs)
ONE_PASS_MIN_SIZE = 4096


def _in_one_pass(name, p, state, *scalars, min_size=None):
    """Run the compiled update ``name`` on parameter ``p`` and the arrays of ``state`` (its gradient first, then
    its own state) with the ``scalars`` cast to p's dtype, as NumPy casts a Python number. False (nothing done)
    where it does not apply: no numba, CuPy, another dtype or shape, arrays not C-contiguous, or p smaller than
    ``min_size`` (default ``ONE_PASS_MIN_SIZE``)."""
    if p.size < (ONE_PASS_MIN_SIZE if min_size is None else min_size):
        return False
    loops = kernels.get(p, *state)
    if loops is None or not p.flags.writeable:
        return False
    for a in (p, *state):
        if a.dtype != p.dtype or a.shape != p.shape or not a.flags.c_contiguous:
            return False
    # on the calling thread: split over the cores it measured slower (784×1000: 0.36 ms against 0.25), as
    # BLAS's threads still spin on the other cores after the step's last product
    loops[name](*(a.reshape(-1) for a in (p, *state)), *(p.dtype.type(s) for s in scalars))
    return True


def _flushed(state):
    """``state`` with every value below the smallest normal number of its dtype (about 1.2e-38 in float32) set to
    0, in place. A velocity or moment that decays while its gradient is 0 (Momentum's v, Adam's m shrink by 0.9 a
    step) passes through that range of subnormal numbers, on which every arithmetic operation is 10–100× slower
    on x86 CPUs: measured, after two epochs of the default CNN recipe 175,197 of Adam's 802,816 m values for the
    3136×256 weight were subnormal, and its update took 22.6 ms instead of 1.8 ms. Such a state moves a weight by
    less than 1e-30, which rounds away: the weights are the same bits."""
    np.copyto(state, 0, where=np.abs(state) < np.finfo(state.dtype).tiny)
    return state


def _tiny(p):
    """The smallest normal number of p's dtype (for the compiled updates' flush: :func:`_flushed`)."""
    return float(np.finfo(p.dtype).tiny)


def _kept(store, key, like):
    """``store[key]``, made as zeros shaped like ``like`` on the first step only (``setdefault(key,
    np.zeros_like(p))`` allocated and dropped a parameter-sized array on every step)."""
    a = store.get(key)
    if a is None:
        a = store[key] = np.zeros_like(like)
    return a


def learning_rate_problem(lr, dtype, what="the parameters"):
    """Why a learning rate ``lr`` does not fit parameters (``what``) of ``dtype``, or None. Beyond the dtype, lr
    cast to it is inf and every weight inf or NaN after one update; below half its smallest positive number
    (about 1.4e-45 in float32) lr is 0 there and no weight ever moves."""
    name, (zero, largest) = np.dtype(dtype).name, _learning_rate_bounds(dtype)
    if lr > largest:
        return f"lr {lr:g} is beyond {name}, the dtype of {what} (largest {largest:.3g})"
    if 0 < lr <= zero:
        return (f"lr {lr:g} is 0 in {name}, the dtype of {what} (its smallest positive number is about "
                f"{2 * zero:.2g}): no weight would move")
    return None


@functools.lru_cache(maxsize=None)
def _learning_rate_bounds(dtype):
    """(the largest positive number that is 0 in a float dtype: half its smallest subnormal, the largest finite
    number); (0, inf) for other dtypes: nothing to refuse."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return 0.0, math.inf
    return float(np.finfo(dtype).smallest_subnormal) / 2, _largest(dtype)


@functools.lru_cache(maxsize=None)
def _largest(dtype):
    """The largest finite number of a float dtype (inf for others: nothing to refuse)."""
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype).max) if dtype.kind == "f" else math.inf


class Optimizer:
    """Base of the update rules: ``update(params, grads)`` in place, ``config()``, ``state_dict()``."""
    def __init__(self):
        self._scratch = {}

    def __setattr__(self, name, value):
        if name == "lr":
            value = check_hyperparameter(type(self).__name__, "lr", value)
        elif name in ("momentum", "decay_rate", "beta1", "beta2"):
            value = check_hyperparameter(type(self).__name__, name, value, 0.0, 1.0, low_open=False)
        super().__setattr__(name, value)

    def scratch(self, key, like):
        """A reusable buffer shaped like parameter ``key``."""
        buf = self._scratch.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self._scratch[key] = np.empty_like(like)
        return buf

    def update(self, params, grads):
        """Update every array of ``params`` in place from its gradient in ``grads`` (the same keys; ``grads`` may
        hold more, which stay as they are). Every gradient is checked before anything moves
        (:meth:`check_gradients`); then :meth:`begin_step` once and each rule's :meth:`update_one` per parameter."""
        self.check_gradients(params, grads)
        self.begin_step()
        for key, p in params.items():
            self.update_one(key, p, grads[key])

    def begin_step(self):
        """Once per update, before any parameter (Adam counts its steps here)."""

    def update_one(self, key, p, g):  # pragma: no cover - each rule implements it
        """The rule for one parameter ``p`` (named ``key``, for the rule's state) from its gradient ``g``."""
        raise NotImplementedError

    def check_gradients(self, params, grads):
        """A gradient of the parameter's own shape for every entry of ``params``, or a ValueError naming the
        parameter: a gradient of another shape would broadcast into the update and change every weight by the
        wrong amount, silently. ``grads`` may hold more (updating part of a network's ``params`` freezes the
        rest)."""
        owner = f"{type(self).__name__}.update"
        if not isinstance(grads, Mapping):
            raise ValueError(f"{owner}: grads is a {type(grads).__name__}; expected a dict of name → gradient array, "
                             "as network.gradient() returns")
        for key, p in params.items():
            g = grads.get(key)
            if g is None:
                why = "is None" if key in grads else f"is missing (grads holds {', '.join(map(str, grads)) or 'none'})"
                raise ValueError(f"{owner}: the gradient of {key} {why}; expected one per entry of params, under the "
                                 "same name")
            shape = getattr(g, "shape", None)
            if shape != p.shape:
                given = f"shape {tuple(shape)}" if shape is not None else f"a {type(g).__name__}"
                raise ValueError(f"{owner}: the gradient of {key} is {given}, but {key} has "
                                 f"shape {tuple(p.shape)}; expected the same shape")
            self.check_learning_rate(p.dtype, key)

    def check_learning_rate(self, dtype, what):
        """A ValueError when ``lr`` does not fit ``dtype`` (that of the parameters ``what``): see
        :func:`learning_rate_problem`."""
        lr = getattr(self, "lr", None)          # an optimizer of one's own may have none
        if lr is None:
            return
        zero, largest = _learning_rate_bounds(dtype)   # one cached lookup: this runs for every parameter and step
        if lr > largest or 0 < lr <= zero:
            raise ValueError(f"{type(self).__name__}: {learning_rate_problem(lr, dtype, what)}; expected a learning "
                             "rate it can hold")

    def state_dict(self):
        """What the optimizer has learned besides the weights (Momentum's v, Adam's m, v and step count), as
        ``{"arrays": {"v/W1": …}, "counters": {"iter": 3}}``: saved in a checkpoint so a resumed run goes on
        exactly where it stopped."""
        arrays, counters = {}, {}
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(value, dict):
                arrays.update({f"{name}/{key}": np.array(a, copy=True) for key, a in value.items()})
            elif name == "iter":
                counters[name] = int(value)
        return {"arrays": arrays, "counters": counters}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`'s output (arrays become copies on this optimizer's side)."""
        for key, a in state["arrays"].items():
            name, _, param = key.partition("/")
            if not isinstance(getattr(self, name, None), dict):
                raise ValueError(f"{type(self).__name__}: the checkpoint has state {name!r}, which it does not keep")
            getattr(self, name)[param] = np.array(a, copy=True)
        for name, value in state["counters"].items():
            setattr(self, name, int(value))

    def config(self):
        """Name and hyper-parameters (saved in metrics.json)."""
        return {"name": type(self).__name__,
                **{k: v for k, v in vars(self).items() if isinstance(v, (int, float)) and not k.startswith("_")
                   and k != "iter"}}

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """W ← W − lr·∂L/∂W."""

    def __init__(self, lr=0.01):
        super().__init__()
        self.lr = lr

    def update_one(self, key, p, g):
        if not _in_one_pass("sgd_update", p, (g,), self.lr):
            p -= np.multiply(g, self.lr, out=self.scratch(key, p))


class Momentum(Optimizer):
    """v ← momentum·v − lr·g;  W ← W + v (a v below the smallest normal number becomes 0: :func:`_flushed`)."""

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__()
        self.lr, self.momentum = lr, momentum
        self.v = {}

    def update_one(self, key, p, g):
        v = _kept(self.v, key, p)
        if _in_one_pass("momentum_update", p, (g, v), self.lr, self.momentum, _tiny(p), min_size=0):
            return
        v *= self.momentum
        v -= np.multiply(g, self.lr, out=self.scratch(key, p))
        p += _flushed(v)


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient (the book's form): v ← m·v − lr·g;  W ← W + m²·v − (1 + m)·lr·g (a v below
    the smallest normal number becomes 0: :func:`_flushed`)."""

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__()
        self.lr, self.momentum = lr, momentum
        self.v = {}

    def update_one(self, key, p, g):
        m, v, buf = self.momentum, _kept(self.v, key, p), self.scratch(key, p)
        v *= m
        v -= np.multiply(g, self.lr, out=buf)
        p += np.multiply(_flushed(v), m * m, out=buf)
        p -= np.multiply(g, (1 + m) * self.lr, out=buf)


class AdaGrad(Optimizer):
    """h ← h + g∘g;  W ← W − lr·g / (√h + 1e-7)."""

    def __init__(self, lr=0.01):
        super().__init__()
        self.lr = lr
        self.h = {}

    def update_one(self, key, p, g):
        h, buf = _kept(self.h, key, p), self.scratch(key, p)
        h += np.multiply(g, g, out=buf)
        p -= _scaled_step(g, h, self.lr, buf)


class RMSprop(Optimizer):
    """h ← ρ·h + (1 − ρ)·g∘g;  W ← W − lr·g / (√h + 1e-7) (an h below the smallest normal number becomes 0:
    :func:`_flushed`)."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        super().__init__()
        self.lr, self.decay_rate = lr, decay_rate
        self.h = {}

    def update_one(self, key, p, g):
        h, buf = _kept(self.h, key, p), self.scratch(key, p)
        h *= self.decay_rate
        np.multiply(g, g, out=buf)
        buf *= 1 - self.decay_rate
        h += buf
        p -= _scaled_step(g, _flushed(h), self.lr, buf)


class Adam(Optimizer):
    """m ← m + (1−β₁)(g − m);  v ← v + (1−β₂)(g² − v);  W ← W − lr_t·m / (√v + 1e-7),

    with the bias correction lr_t = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ) (Kingma & Ba, as in the book); an m or v below the
    smallest normal number becomes 0 (:func:`_flushed`).
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        super().__init__()
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter = 0
        self.m, self.v = {}, {}

    def begin_step(self):
        self.iter += 1
        self._lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)

    def update_one(self, key, p, g):
        m, v, lr_t = _kept(self.m, key, p), _kept(self.v, key, p), self._lr_t
        if _in_one_pass("adam_update", p, (g, m, v), lr_t, 1 - self.beta1, 1 - self.beta2, 1e-7, _tiny(p),
                        min_size=0):
            return
        buf = self.scratch(key, p)
        np.subtract(g, m, out=buf)
        buf *= 1 - self.beta1
        m += buf
        np.multiply(g, g, out=buf)
        buf -= v
        buf *= 1 - self.beta2
        v += buf
        p -= _scaled_step(_flushed(m), _flushed(v), float(lr_t), buf)


def _scaled_step(numerator, squares, lr, buf):
    """lr · numerator / (√squares + 1e-7), computed into ``buf``."""
    np.sqrt(squares, out=buf)
    buf += 1e-7
    np.divide(numerator, buf, out=buf)
    buf *= lr
    return buf


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
              "adam": Adam}


def make(name, lr=None):
    """An optimizer by name (``sgd``, ``momentum``, ``nesterov``, ``adagrad``, ``rmsprop``, ``adam``)."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}") from None
    return cls() if lr is None else cls(lr=lr)
