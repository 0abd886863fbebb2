"""Training or inference, and randomness that can be replayed: what Dropout and BatchNormalization read.

The book passes ``train_flg`` by hand (``forward(x, train_flg=True)``, ``predict(x,
train_flg=False)``); that still works and always wins. Where no flag is passed,
layers and networks read the mode of the surrounding block::

    with chainrule.eval_mode():      # inference: Dropout passes x through, BatchNorm uses running statistics
        y = net.predict(x)
    with chainrule.train_mode():     # training: random masks, batch statistics
        loss = net.loss(Variable(x), t)

Outside any block, layers default to training (the book's ``train_flg=True``) and
a network's ``predict``/``loss`` to inference (the book's ``train_flg=False``).

:func:`replay_randomness` makes every random layer draw the same numbers each time a
computation is repeated: a numerical gradient check evaluates a function
thousands of times and needs it to be one fixed function.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

_training = contextvars.ContextVar("chainrule_training", default=None)
_replay = contextvars.ContextVar("chainrule_replay", default=None)


def is_training(default: bool = True) -> bool:
    """The mode of the surrounding ``train_mode()``/``eval_mode()`` block, else ``default``."""
    value = _training.get()
    return default if value is None else value


def resolve(train_flg, default: bool = True) -> bool:
    """An explicit ``train_flg`` (the book's argument) if given, else the current mode."""
    return is_training(default) if train_flg is None else bool(train_flg)


class mode:
    """``with mode(training):`` runs the block in training (True) or inference (False) mode."""

    __slots__ = ("training", "token")

    def __init__(self, training: bool):
        self.training = bool(training)

    def __enter__(self):
        self.token = _training.set(self.training)

    def __exit__(self, *exc):
        _training.reset(self.token)


def train_mode():
    """``with train_mode():`` Dropout drops units and BatchNormalization uses (and updates) batch statistics."""
    return mode(True)


def eval_mode():
    """``with eval_mode():`` Dropout is the identity and BatchNormalization uses its running statistics."""
    return mode(False)


class _Replay:
    def __init__(self, seed):
        self.seed = seed
        self.count = 0


@contextlib.contextmanager
def replay_randomness(seed=0):
    """Inside, the k-th random draw of the block comes from a generator seeded with (seed, k).

    Entering the block again replays the same numbers, so a function with
    Dropout is the same function on every evaluation.
    """
    token = _replay.set(_Replay(seed))
    try:
        yield
    finally:
        _replay.reset(token)


def replayed_generator():
    """The generator for the next random draw inside :func:`replay_randomness`, else None."""
    replay = _replay.get()
    if replay is None:
        return None
    replay.count += 1
    return np.random.default_rng((replay.seed, replay.count))
