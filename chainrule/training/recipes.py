"""Default recipes: what ``chainrule train --dataset NAME`` uses for every option not given.

A recipe is a plain dict of the ``train`` options (``hidden``, ``optimizer``,
``lr``, …). ``recipe(dataset, **overrides)`` is the data set's default with the
given (non-None) options replacing its values.
"""
from __future__ import annotations

#: the options every recipe has, before a data set's own defaults; ``arch`` "mlp" builds MultiLayerNet from
#: ``hidden``, ``activation``, ``batchnorm``, ``dropout``; the other architectures are in :data:`ARCHS`
BASE = dict(arch="mlp", hidden=[100], activation="relu", optimizer="adam", lr=0.001, epochs=20, batch_size=100,
            lr_schedule="constant", seed=0, dtype="float32", weight_decay=0.0, iterations=None, weight_init="he",
            batchnorm=False, dropout=0.0, shift=0, flip=False, val_split=0.0, early_stopping=0)

#: named architectures for ``--arch`` and the default CNN's spec: they live with the networks (chainrule.nets)
from ..nets.architectures import ARCHS, CNN_SPEC  # noqa: E402,F401

#: the default CNN recipe for MNIST-format images (``--arch cnn`` takes these for options not given)
#: (its Fashion-MNIST accuracy and time: docs/results.md, made by benchmarks/accuracy.py)
CNN = dict(arch="cnn", optimizer="adam", lr=0.001, epochs=18, batch_size=100, lr_schedule="cosine", shift=1)

#: the book's SimpleConvNet recipe (§7.5): Adam 0.001, batch 100, 20 epochs
SIMPLE_CNN = dict(arch="simple-cnn", optimizer="adam", lr=0.001, epochs=20, batch_size=100, lr_schedule="constant",
                  weight_init=0.01)

#: the book's DeepConvNet recipe (§8.1): Adam 0.001, batch 100, 20 epochs
DEEP_CNN = dict(arch="deep-cnn", optimizer="adam", lr=0.001, epochs=20, batch_size=100, lr_schedule="constant")

DEFAULTS = {
    # the best MLP recipe found for Fashion-MNIST (≥ 89% test accuracy; see benchmarks/accuracy.py)
    "fashion-mnist": dict(hidden=[256, 128], optimizer="adam", lr=0.001, epochs=20, batch_size=100,
                          lr_schedule="cosine", batchnorm=True, dropout=0.2),
    "mnist": dict(hidden=[256, 128], optimizer="adam", lr=0.001, epochs=20, batch_size=100, lr_schedule="cosine",
                  batchnorm=True, dropout=0.2),
    "digits": dict(hidden=[100, 100], optimizer="adam", lr=0.001, epochs=30, batch_size=32, lr_schedule="cosine"),
    "spiral": dict(hidden=[100], optimizer="adam", lr=0.01, epochs=100, batch_size=30, lr_schedule="cosine"),
}

#: the book's §5.7.4 recipe: TwoLayerNet 784-50-10, SGD 0.1, batch 100, 10,000 iterations
BOOK = dict(hidden=[50], weight_init=0.01, optimizer="sgd", lr=0.1, batch_size=100, iterations=10_000,
            lr_schedule="constant", batchnorm=False, dropout=0.0)


def recipe(dataset, **overrides):
    """The default recipe for ``dataset`` with the given (non-None) options replacing its values.

    With ``arch="cnn"``, ``simple-cnn`` or ``deep-cnn`` that network's recipe replaces the data set's MLP
    defaults; a spec of layers takes the data set's optimizer, learning rate, batch size and epochs.
    """
    if dataset not in DEFAULTS:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {', '.join(DEFAULTS)}")
    unknown = sorted(set(overrides) - set(BASE))
    if unknown:
        raise ValueError(f"unknown recipe option(s) {', '.join(unknown)}; expected some of {', '.join(BASE)}")
    arch = overrides.get("arch") or "mlp"
    defaults = {"cnn": CNN, "simple-cnn": SIMPLE_CNN, "deep-cnn": DEEP_CNN}.get(arch, {})
    r = {**BASE, **DEFAULTS[dataset], **defaults, "dataset": dataset}
    r.update({k: v for k, v in overrides.items() if v is not None})
    return r
