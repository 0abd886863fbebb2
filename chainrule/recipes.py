"""The training job behind ``chainrule train``: data, network, optimizer, outputs.

``DEFAULTS`` holds the default recipe per data set (what ``chainrule train
--dataset NAME`` uses when an option is not given); ``run`` does the whole
job and writes ``model.npz``, ``metrics.json`` and ``curves.png``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import datasets, nets, optimizers
from .atomic import atomic_write
from .model_io import save_model
from .trainer import Trainer

DEFAULTS = {
    # the best MLP recipe found for Fashion-MNIST (≥ 89% test accuracy; see benchmarks/accuracy.py)
    "fashion-mnist": dict(hidden=[256, 128], activation="relu", optimizer="adam", lr=0.001, epochs=20,
                          batch_size=100, lr_schedule="cosine", batchnorm=True, dropout=0.2),
    "mnist": dict(hidden=[256, 128], activation="relu", optimizer="adam", lr=0.001, epochs=20, batch_size=100,
                  lr_schedule="cosine", batchnorm=True, dropout=0.2),
    "digits": dict(hidden=[100, 100], activation="relu", optimizer="adam", lr=0.001, epochs=30, batch_size=32,
                   lr_schedule="cosine"),
    "spiral": dict(hidden=[100], activation="relu", optimizer="adam", lr=0.01, epochs=100, batch_size=30,
                   lr_schedule="cosine"),
}


def recipe(dataset, **overrides):
    """The default recipe for ``dataset`` with the given (non-None) options replacing its values."""
    if dataset not in DEFAULTS:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {', '.join(DEFAULTS)}")
    r = dict(dict(seed=0, dtype="float32", weight_decay=0.0, iterations=None, weight_init="he", batchnorm=False,
                  dropout=0.0), **DEFAULTS[dataset], dataset=dataset)
    r.update({k: v for k, v in overrides.items() if v is not None})
    return r


def write_json_atomically(path, obj):
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def run(r, data_dir=None, out=None, progress=None, log=print, data=None):
    """Train with recipe ``r`` (from :func:`recipe`); returns (network, trainer, metrics).

    With ``out``, writes ``model.npz``, ``metrics.json`` and (with matplotlib) ``curves.png`` there.
    """
    started = time.perf_counter()
    (x_train, t_train), (x_test, t_test) = data or datasets.load(r["dataset"], data_dir=data_dir)
    classes = int(max(t_train.max(), t_test.max())) + 1
    net = nets.MultiLayerNet(x_train.shape[1], r["hidden"], classes, activation=r["activation"],
                             weight_init_std=r["weight_init"], weight_decay_lambda=r["weight_decay"],
                             dtype=r["dtype"], seed=r["seed"], use_batchnorm=r["batchnorm"],
                             dropout_ratio=r["dropout"])
    opt = optimizers.make(r["optimizer"], r["lr"])
    log(f"training {net.describe()} on {r['dataset']} ({len(x_train)} train / {len(x_test)} test) with {opt!r}, "
        f"batch {r['batch_size']}, {r['epochs']} epochs, lr schedule {r['lr_schedule']}")

    def report(rec):
        log(f"epoch {rec['epoch']:3d}  loss {rec['loss']:.4f}  train {rec['train_accuracy']:.4f}  "
            f"test {rec['test_accuracy']:.4f}  ({rec['seconds']:.2f}s)")

    trainer = Trainer(net, opt, x_train, t_train, x_test, t_test, epochs=r["epochs"], batch_size=r["batch_size"],
                      seed=r["seed"], iterations=r["iterations"], progress=progress, on_epoch=report,
                      lr_schedule=r["lr_schedule"])
    history = trainer.train()
    last = history[-1] if history else {"train_accuracy": None, "test_accuracy": None}
    metrics = {"dataset": r["dataset"], "network": net.architecture(), "optimizer": opt.config(),
               "recipe": {k: v for k, v in r.items() if k != "dataset"}, "epochs": len(history),
               "interrupted": trainer.interrupted, "train_accuracy": last["train_accuracy"],
               "test_accuracy": last["test_accuracy"], "seconds": time.perf_counter() - started,
               "history": history}
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        save_model(out / "model.npz", net, {"dataset": r["dataset"]})
        write_json_atomically(out / "metrics.json", metrics)
        from .plots import matplotlib_available, plot_curves
        if history and matplotlib_available():
            plot_curves(history, out / "curves.png", f"{net.describe()} on {r['dataset']}")
        elif history:
            log("curves.png skipped: matplotlib is not installed (pip install 'chainrule[plot]')")
    return net, trainer, metrics


def confusion_matrix(predicted, labels, classes):
    """counts[i, j] = how many samples of class i were predicted as j."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predicted)), 1)
    return m
