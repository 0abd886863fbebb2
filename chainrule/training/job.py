"""The training job behind ``chainrule train``: data → network → trainer → outputs.

``run(recipe, data, out=…)`` checks the output directory first, trains, and
writes ``model.npz``, ``metrics.json`` and ``curves.png`` only when at least one
epoch finished; the result says whether training finished, was interrupted
(Ctrl-C: the last finished epoch is kept) or diverged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import optimizers
from ..nets import MultiLayerNet
from . import outputs
from .trainer import Trainer, TrainingDiverged


@dataclass
class TrainResult:
    network: object
    trainer: Trainer
    metrics: dict
    status: str = "finished"          # finished, interrupted, diverged or stopped (early, by on_epoch)
    message: str = ""
    written: list = field(default_factory=list)


def class_count(*label_sets):
    """How many classes the labels (indices or one-hot rows) span."""
    counts = [int(t.shape[1]) if np.ndim(t) == 2 else int(np.max(t)) + 1 for t in label_sets if len(t)]
    return max(counts) if counts else 0


def make_network(r, input_shape, classes):
    """The recipe's network for samples of ``input_shape`` and ``classes`` classes."""
    return MultiLayerNet(int(np.prod(input_shape)), r["hidden"], classes, activation=r["activation"],
                         weight_init_std=r["weight_init"], weight_decay_lambda=r["weight_decay"], dtype=r["dtype"],
                         seed=r["seed"], use_batchnorm=r["batchnorm"], dropout_ratio=r["dropout"])


def describe_run(r, net, optimizer, trainer, n_train, n_test):
    """The header line: the settings actually used (epochs from --iterations, the batch size capped by the data)."""
    length = f"{trainer.epochs} epochs of {trainer.steps_per_epoch} batches"
    if trainer.iterations is not None:
        length = f"{trainer.iterations} iterations ({trainer.epochs} epochs of {trainer.steps_per_epoch} batches)"
    capped = f" (capped at the {n_train} samples)" if trainer.batch_size < r["batch_size"] else ""
    return (f"training {net.describe()} on {r['dataset']} ({n_train} train / {n_test} test) with {optimizer!r}, "
            f"batch {trainer.batch_size}{capped}, {length}, lr schedule {r['lr_schedule']}, seed {r['seed']}")


def run(r, data, out=None, progress=None, log=print, verbose=True, on_epoch=None, network=None):
    """Train with recipe ``r`` (from :func:`chainrule.training.recipes.recipe`) on ``data``.

    ``data`` is ``((x_train, t_train), (x_test, t_test))``. Returns a :class:`TrainResult`.
    """
    started = time.perf_counter()
    out = outputs.prepare(out) if out else None
    (x_train, t_train), (x_test, t_test) = data
    net = network or make_network(r, x_train.shape[1:], class_count(t_train, t_test))
    opt = optimizers.make(r["optimizer"], r["lr"])
    trainer = Trainer(net, opt, x_train, t_train, x_test, t_test, epochs=r["epochs"], batch_size=r["batch_size"],
                      seed=r["seed"], iterations=r["iterations"], progress=progress, verbose=verbose,
                      on_epoch=on_epoch, lr_schedule=r["lr_schedule"])
    log(describe_run(r, net, opt, trainer, len(x_train), len(x_test)))
    status, message = "finished", ""
    try:
        trainer.train()
    except TrainingDiverged as e:
        status, message = "diverged", str(e)
    if trainer.interrupted:
        status = "interrupted"
    elif trainer.stopped_early:
        status = "stopped"
    history = trainer.history
    last = history[-1] if history else {}
    metrics = {"dataset": r["dataset"], "network": net.config(), "optimizer": opt.config(),
               "recipe": {k: v for k, v in r.items() if k != "dataset"}, "epochs": len(history), "status": status,
               "message": message, "train_accuracy": last.get("train_accuracy"),
               "test_accuracy": last.get("test_accuracy"), "test_loss": last.get("test_loss"),
               "seconds": time.perf_counter() - started, "history": history}
    result = TrainResult(net, trainer, metrics, status, message)
    if out is not None and history:
        result.written = outputs.write(out, net, metrics, {"dataset": r["dataset"]},
                                       f"{net.describe()} on {r['dataset']}", log)
    return result
