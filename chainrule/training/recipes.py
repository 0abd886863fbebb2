"""Default recipes: what ``chainrule train --dataset NAME`` uses for every option not given.

A recipe is a plain dict of the ``train`` options (``hidden``, ``optimizer``,
``lr``, …). ``recipe(dataset, **overrides)`` is the data set's default with the
given (non-None) options replacing its values.
"""
from __future__ import annotations

#: the options every recipe has, before a data set's own defaults
BASE = dict(hidden=[100], activation="relu", optimizer="adam", lr=0.001, epochs=20, batch_size=100,
            lr_schedule="constant", seed=0, dtype="float32", weight_decay=0.0, iterations=None, weight_init="he",
            batchnorm=False, dropout=0.0)

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
    """The default recipe for ``dataset`` with the given (non-None) options replacing its values."""
    if dataset not in DEFAULTS:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {', '.join(DEFAULTS)}")
    unknown = sorted(set(overrides) - set(BASE))
    if unknown:
        raise ValueError(f"unknown recipe option(s) {', '.join(unknown)}; expected some of {', '.join(BASE)}")
    r = {**BASE, **DEFAULTS[dataset], "dataset": dataset}
    r.update({k: v for k, v in overrides.items() if v is not None})
    return r
