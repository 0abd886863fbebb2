"""The interactive page's Train view: the book's two-layer net (§5.7) and a spiral for it to learn.

The drawing code knows no networks: ``chainrule graph mlp --html`` (and anyone calling
:func:`chainrule.draw.to_html`) hands this in, and the page trains the same layers in JavaScript.
"""
from __future__ import annotations

import numpy as np

from ..datasets import make_spiral
from ..nets import TwoLayerNet
from ..optimizers import SGD
from .trainer import EXPLOSION_FACTOR

TRAINING_POINTS_PER_CLASS = 60
TRAINING_HIDDEN = 30


def spiral_training(seed=0, points_per_class=TRAINING_POINTS_PER_CLASS, hidden=TRAINING_HIDDEN, lr=1.0, steps=3):
    """The training view's start: a spiral, the book's TwoLayerNet with its initial weights, the learning rate,
    and the losses Python gets for the first ``steps`` full-batch gradient-descent updates (the page's must agree)."""
    x, t = make_spiral(points_per_class, 3, noise=0.2, seed=seed, dtype=np.float64)
    x = x / np.abs(x).max()
    net = TwoLayerNet(2, hidden, 3, weight_init_std="he", seed=seed)
    init = {k: {"shape": list(v.shape), "value": [float(a) for a in v.ravel()]} for k, v in net.params.items()}
    losses, optimizer = [float(net.loss(x, t))], SGD(lr)
    for _ in range(steps):
        optimizer.update(net.params, net.gradient(x, t))
        losses.append(float(net.loss(x, t)))
    return {"x": [float(a) for a in x.ravel()], "t": [int(a) for a in t], "init": init, "lr": lr,
            "hidden": hidden, "python_losses": losses, "explosion_factor": EXPLOSION_FACTOR}
