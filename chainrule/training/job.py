"""The training job behind ``chainrule train``: data → network → trainer → outputs.

``run(recipe, data, out=…)`` checks the output directory first, trains, and
writes ``model.npz``, ``metrics.json`` and ``curves.png`` only when at least one
epoch finished; the result says whether training finished, was interrupted
(Ctrl-C: the last finished epoch is kept) or diverged.
"""
from __future__ import annotations

import contextlib

import time
from dataclasses import dataclass, field

import numpy as np

from .. import optimizers
from ..nets import DeepConvNet, LayerNet, MultiLayerNet, SimpleConvNet
from . import outputs
from .recipes import CNN_SPEC
from .trainer import Trainer, TrainingDiverged


#: convolutional networks measure train accuracy on this many training samples per epoch (MLPs on all of them)
TRAIN_EVAL_LIMIT = 10_000


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


def image_shape(input_shape, needs="a convolutional network needs images", instead="use --arch mlp"):
    """One sample's shape as images: (C, H, W) as given, or a square (1, S, S) for rows of S·S values."""
    if len(input_shape) == 3:
        return tuple(input_shape)
    size = int(np.prod(input_shape))
    side = int(round(size ** 0.5))
    if side * side != size:
        raise ValueError(f"{needs}; samples of shape {tuple(input_shape)} are not square images ({instead})")
    return (1, side, side)


def make_network(r, input_shape, classes):
    """The recipe's network for samples of ``input_shape`` and ``classes`` classes."""
    arch = r.get("arch", "mlp")
    common = dict(weight_decay_lambda=r["weight_decay"], dtype=r["dtype"], seed=r["seed"])
    if arch == "mlp":
        return MultiLayerNet(int(np.prod(input_shape)), r["hidden"], classes, activation=r["activation"],
                             weight_init_std=r["weight_init"], use_batchnorm=r["batchnorm"],
                             dropout_ratio=r["dropout"], **common)
    images = image_shape(input_shape)
    if arch == "simple-cnn":
        return SimpleConvNet(images, output_size=classes, weight_init_std=r["weight_init"], **common)
    if arch == "deep-cnn":
        return DeepConvNet(images, output_size=classes, **common)
    return LayerNet(images, CNN_SPEC if arch == "cnn" else arch, classes, weight_init_std=r["weight_init"], **common)


def describe_run(r, net, optimizer, trainer, n_train, n_test):
    """The header line: the settings actually used (epochs from --iterations, the batch size capped by the data)."""
    length = f"{trainer.epochs} epochs of {trainer.steps_per_epoch} batches"
    if trainer.iterations is not None:
        length = f"{trainer.iterations} iterations ({trainer.epochs} epochs of {trainer.steps_per_epoch} batches)"
    capped = f" (capped at the {n_train} samples)" if trainer.batch_size < r["batch_size"] else ""
    return (f"training {net.describe()} on {r['dataset']} ({n_train} train / {n_test} test) with {optimizer!r}, "
            f"batch {trainer.batch_size}{capped}, {length}, lr schedule {r['lr_schedule']}"
            + (f", images shifted by up to {trainer.shift} px" if trainer.shift else "")
            + (", half of them mirrored" if trainer.flip else "") + f", seed {r['seed']}")


def run(r, data, out=None, progress=None, log=print, verbose=True, on_epoch=None, network=None):
    """Train with recipe ``r`` (from :func:`chainrule.training.recipes.recipe`) on ``data``.

    ``data`` is ``((x_train, t_train), (x_test, t_test))``. Returns a :class:`TrainResult`.
    """
    out = outputs.prepare(out) if out else None
    with outputs.lock(out, "chainrule train") if out else contextlib.nullcontext():  # one writer per --out
        return _run(r, data, out, progress, log, verbose, on_epoch, network)


def _run(r, data, out, progress, log, verbose, on_epoch, network):
    started = time.perf_counter()
    (x_train, t_train), (x_test, t_test) = data
    net = network or make_network(r, x_train.shape[1:], class_count(t_train, t_test))
    opt = optimizers.make(r["optimizer"], r["lr"])
    limit = None if r.get("arch", "mlp") == "mlp" else TRAIN_EVAL_LIMIT
    trainer = Trainer(net, opt, x_train, t_train, x_test, t_test, epochs=r["epochs"], batch_size=r["batch_size"],
                      seed=r["seed"], iterations=r["iterations"], progress=progress, verbose=verbose,
                      on_epoch=on_epoch, lr_schedule=r["lr_schedule"], train_eval_limit=limit,
                      shift=r.get("shift", 0), flip=r.get("flip", False),
                      image_shape=image_shape(x_train.shape[1:], "augmenting needs images", "use --shift 0 and "
                                              "--no-flip") if r.get("shift") or r.get("flip") else None)
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
               "train_accuracy_samples": len(x_train) if limit is None else min(limit, len(x_train)),
               "seconds": time.perf_counter() - started, "history": history}
    result = TrainResult(net, trainer, metrics, status, message)
    if out is not None and history:
        result.written = outputs.write(out, net, metrics, {"dataset": r["dataset"]},
                                       f"{net.describe()} on {r['dataset']}", log)
    return result
