"""Fully connected networks: the book's TwoLayerNet (§5.7.2) and MultiLayerNet of any depth (§6)."""
from __future__ import annotations

import numpy as np

from . import plan as planning
from .network import Network


def mlp_specs(hidden_size_list, output_size, activation="relu", use_batchnorm=False, dropout_ratio=0.0):
    """(Affine → [BatchNorm] → activation → [Dropout]) per hidden layer, then the output Affine."""
    if activation not in planning.ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(planning.ACTIVATIONS)}, got {activation!r}")
    specs = []
    for size in hidden_size_list:
        specs.append(("affine", {"size": size}))
        if use_batchnorm:
            specs.append(("batchnorm", {}))
        specs.append((activation, {}))
        if dropout_ratio:
            specs.append(("dropout", {"ratio": dropout_ratio}))
    specs.append(("affine", {"size": output_size}))
    return specs


def _book_dropout(dropout_ratio, use_dropout, dropout_ration):
    """The dropout ratio from chainrule's ``dropout_ratio`` or the book's ``use_dropout`` and ``dropout_ration``
    (its default 0.5; ignored, as in the book, without ``use_dropout``); both ways at once is refused."""
    if use_dropout is None and dropout_ration is None:
        return dropout_ratio
    if dropout_ratio:
        raise ValueError("MultiLayerNet: give dropout_ratio, or the book's use_dropout and dropout_ration, not both")
    if not use_dropout:
        return 0.0
    return 0.5 if dropout_ration is None else dropout_ration


class MultiLayerNet(Network):
    """A fully connected network of any depth: (Affine → [BatchNorm] → activation → [Dropout]) × k → Affine
    → SoftmaxWithLoss.

    ``params`` holds ``W1, b1, …`` (and ``gamma1, beta1, …`` with batch
    normalisation): the very arrays the layers use, so optimizers update them
    in place. ``weight_decay_lambda`` adds ½λ Σ‖W‖² to the loss and λW to each
    weight gradient. ``use_batchnorm`` and ``dropout_ratio`` add the book's
    chapter-6 layers; ``predict`` and ``loss`` run them in inference mode unless
    ``train_flg=True`` (or inside ``chainrule.train_mode()``), ``gradient`` in training mode.

    The book's MultiLayerNetExtend (§6.1–6.4) is this class: its ``use_dropout=True`` with ``dropout_ration``
    (its spelling; 0.5 when not given) is ``dropout_ratio``, and its ``weight_init_std='relu'`` or ``'sigmoid'``
    is He's or Xavier's scale.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="he",
                 weight_decay_lambda=0.0, dtype=np.float64, seed=None, use_batchnorm=False, dropout_ratio=0.0,
                 use_dropout=None, dropout_ration=None):
        dropout_ratio = _book_dropout(dropout_ratio, use_dropout, dropout_ration)
        planned = MultiLayerNet.plan(input_size, hidden_size_list, output_size, activation, use_batchnorm,
                                     dropout_ratio)
        self.input_size = int(input_size)
        self.hidden_size_list = [int(h) for h in hidden_size_list]
        self.activation = activation
        self.use_batchnorm, self.dropout_ratio = bool(use_batchnorm), float(dropout_ratio)
        super().__init__(planned, dtype, weight_init_std, seed, weight_decay_lambda)

    @staticmethod
    def plan(input_size, hidden_size_list, output_size, activation="relu", use_batchnorm=False, dropout_ratio=0.0,
             **_):
        """The planned layers for these arguments (shapes only: nothing is allocated)."""
        if not isinstance(hidden_size_list, (list, tuple)):
            raise ValueError(f"hidden_size_list must be a list of layer widths, got {hidden_size_list!r}")
        sizes = [input_size, *hidden_size_list, output_size]
        if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s <= 0 for s in sizes):
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
        if not isinstance(use_batchnorm, bool):
            raise ValueError(f"use_batchnorm must be True or False, got {use_batchnorm!r}")
        return planning.plan((input_size,), mlp_specs(hidden_size_list, output_size, activation, use_batchnorm,
                                                      dropout_ratio))

    def config(self):
        return {"class": "MultiLayerNet", "input_size": self.input_size, "hidden_size_list": self.hidden_size_list,
                "output_size": self.output_size, "activation": self.activation,
                "weight_decay_lambda": self.weight_decay_lambda, "dtype": self.dtype.name,
                "use_batchnorm": self.use_batchnorm, "dropout_ratio": self.dropout_ratio}

    def describe(self):
        sizes = "-".join(str(s) for s in [self.input_size, *self.hidden_size_list, self.output_size])
        extras = (" + batchnorm" if self.use_batchnorm else "") + \
            (f" + dropout {self.dropout_ratio:g}" if self.dropout_ratio else "")
        return f"{sizes} {self.activation} MLP{extras} ({np.dtype(self.dtype).name})"


class TwoLayerNet(MultiLayerNet):
    """The book's two-layer network: Affine1 → Relu1 → Affine2 → SoftmaxWithLoss.

    Weights start as ``weight_init_std`` × standard normal (the book's 0.01), biases at zero.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, dtype=np.float64, seed=None):
        super().__init__(input_size, [hidden_size], output_size, activation="relu", weight_init_std=weight_init_std,
                         dtype=dtype, seed=seed)

    @staticmethod
    def plan(input_size, hidden_size=None, output_size=None, hidden_size_list=None, **_):
        return MultiLayerNet.plan(input_size, hidden_size_list or [hidden_size], output_size)

    def config(self):
        return {"class": "TwoLayerNet", "input_size": self.input_size, "hidden_size": self.hidden_size_list[0],
                "output_size": self.output_size, "dtype": self.dtype.name}
