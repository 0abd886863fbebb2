"""Mini-batch training (book §5.7.1): sample a batch, gradient by backprop, update, repeat.

Each epoch visits the training set once in a fresh random order (a fixed
``seed`` gives the same run every time), then measures the mean loss, train
and test accuracy and the time taken. A loss that turns NaN/inf stops
training with the epoch, the iteration and the first layer that produced
non-finite values; Ctrl-C stops it keeping the model of the last finished epoch.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from . import backend


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def first_nonfinite(network, x):
    """Where non-finite values first appear: a parameter, or the output of a layer for batch ``x``."""
    for name, p in network.params.items():
        if not bool(np.all(np.isfinite(p))):
            return f"parameter {name} {tuple(p.shape)} holds non-finite values"
    for i, layer in enumerate(network.layers, start=1):
        x = layer.forward(x)
        if not bool(np.all(np.isfinite(x))):
            return f"the output of layer {i} ({layer!r}) is non-finite"
    return "the loss layer's output is non-finite"


class Trainer:
    """Train ``network`` with ``optimizer`` on (x_train, t_train), evaluating on (x_test, t_test).

    ``epochs`` passes over the data in mini-batches of ``batch_size`` (or stop
    after ``iterations`` updates, the book's way of counting). ``history``
    gets one dict per epoch: ``epoch, loss, train_accuracy, test_accuracy,
    seconds``. ``on_epoch(record)`` is called after each.
    """

    def __init__(self, network, optimizer, x_train, t_train, x_test=None, t_test=None, epochs=10, batch_size=100,
                 seed=0, iterations=None, progress=None, on_epoch=None, eval_batch_size=10000, lr_schedule="constant"):
        if len(x_train) != len(t_train):
            raise ValueError(f"Trainer: x_train has {len(x_train)} rows but t_train has {len(t_train)}")
        if batch_size < 1 or epochs < 1:
            raise ValueError(f"Trainer: batch_size and epochs must be ≥ 1, got {batch_size} and {epochs}")
        self.network, self.optimizer = network, optimizer
        xp = backend.xp()
        self.x_train, self.t_train = xp.asarray(x_train, dtype=network.dtype), xp.asarray(t_train)
        self.x_test = None if x_test is None else xp.asarray(x_test, dtype=network.dtype)
        self.t_test = None if t_test is None else xp.asarray(t_test)
        self.epochs, self.batch_size, self.seed = int(epochs), int(min(batch_size, len(x_train))), seed
        self.iterations = iterations
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.on_epoch = on_epoch
        self.eval_batch_size = eval_batch_size
        if lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"Trainer: lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
        self.lr_schedule = lr_schedule
        self.history = []
        self.interrupted = False

    def _set_learning_rate(self, base_lr, epoch, epochs):
        """Cosine annealing: lr = base·½(1 + cos(π·(epoch−1)/epochs)), from base down to near 0."""
        if self.lr_schedule == "cosine" and base_lr is not None:
            self.optimizer.lr = base_lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))

    def _state(self):
        """Every array that makes the model: parameters and (batch-norm) buffers."""
        buffers = self.network.buffers() if hasattr(self.network, "buffers") else {}
        return {**{f"param/{k}": v for k, v in self.network.params.items()},
                **{f"buffer/{k}": v for k, v in buffers.items()}}

    def _snapshot(self):
        return {k: v.copy() for k, v in self._state().items()}

    def _restore(self, snapshot):
        for k, v in self._state().items():
            v[...] = snapshot[k]  # in place: the layers hold these very arrays

    def evaluate(self):
        net = self.network
        train_acc = net.accuracy(self.x_train, self.t_train, self.eval_batch_size)
        test_acc = None if self.x_test is None else net.accuracy(self.x_test, self.t_test, self.eval_batch_size)
        return train_acc, test_acc

    def train(self):
        """Run the training; returns ``history``."""
        from tqdm.auto import tqdm

        net, opt = self.network, self.optimizer
        n, bs = len(self.x_train), self.batch_size
        per_epoch = math.ceil(n / bs)
        epochs = self.epochs if self.iterations is None else math.ceil(self.iterations / per_epoch)
        rng = np.random.default_rng(self.seed)
        xp = backend.get_array_module(self.x_train)
        check_every = 1 if xp is np else 50
        done = 0
        base_lr = getattr(opt, "lr", None)
        snapshot = self._snapshot()
        try:
            for epoch in range(1, epochs + 1):
                start = time.perf_counter()
                self._set_learning_rate(base_lr, epoch, epochs)
                order = xp.asarray(rng.permutation(n))
                steps = per_epoch if self.iterations is None else min(per_epoch, self.iterations - done)
                bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not self.progress,
                           mininterval=0.5, unit="batch", file=sys.stderr)
                loss_sum = 0.0
                for step in range(steps):
                    idx = order[step * bs:(step + 1) * bs]
                    x, t = self.x_train[idx], self.t_train[idx]
                    grads = net.gradient(x, t)
                    loss = net.last_layer.loss
                    loss_sum += loss
                    if step % check_every == 0 and not math.isfinite(float(loss)):
                        raise TrainingDiverged(
                            f"the loss became {float(loss)} at epoch {epoch}, iteration {step + 1}: "
                            f"{first_nonfinite(net, x)}. Try a smaller learning rate (now {getattr(opt, 'lr', '?')}).")
                    opt.update(net.params, grads)
                    bar.update(1)
                bar.close()
                done += steps
                mean_loss = float(loss_sum) / steps
                if not math.isfinite(mean_loss):
                    raise TrainingDiverged(f"the loss became {mean_loss} during epoch {epoch}: "
                                           f"{first_nonfinite(net, x)}")
                train_acc, test_acc = self.evaluate()
                record = {"epoch": epoch, "loss": mean_loss, "train_accuracy": train_acc, "test_accuracy": test_acc,
                          "seconds": time.perf_counter() - start, "iterations": done}
                self.history.append(record)
                snapshot = self._snapshot()
                if self.on_epoch:
                    self.on_epoch(record)
        except KeyboardInterrupt:
            self.interrupted = True
            self._restore(snapshot)
        finally:
            if base_lr is not None:
                opt.lr = base_lr
        return self.history
