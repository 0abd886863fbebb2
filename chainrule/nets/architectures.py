"""The architectures by name, and how a network is built from a name or a spec: in this one place.

``chainrule train --arch``, sweeps (``arch=choice(…)``), ``chainrule gradcheck --arch`` and the training job all
build their networks with :func:`build_network`; no other module keeps a list of names.

* ``mlp``: a multi-layer perceptron (:class:`~chainrule.nets.MultiLayerNet`) from ``hidden``, ``activation``,
  ``batchnorm``, ``dropout``;
* ``simple-cnn``, ``deep-cnn``: the book's SimpleConvNet (§7.5) and DeepConvNet (§8.1);
* ``cnn``: chainrule's default CNN (:data:`CNN_SPEC`);
* anything else: a spec of layers joined by ``-`` (:func:`~chainrule.nets.parse_spec`), for
  :class:`~chainrule.nets.LayerNet`.
"""
from __future__ import annotations

import numpy as np

from .layered import DeepConvNet, LayerNet, SimpleConvNet, parse_spec
from .mlp import MultiLayerNet

#: pooling comes before batch norm and ReLU, which then see a quarter of the values (about 20% faster per step
#: than conv-bn-relu-pool and as accurate here; max pooling commutes with an increasing per-channel map)
CNN_SPEC = "conv(32,3,pad=1)-pool(2)-bn-relu-conv(64,3,pad=1)-pool(2)-bn-relu-affine(256)-relu-dropout(0.4)"
#: the spec's layer kinds that need images (C, H, W): a spec without them also takes rows of values
IMAGE_KINDS = {"conv", "pool"}
#: named architectures (anything else is read as a spec of layers)
ARCHS = {
    "mlp": "a multi-layer perceptron from --hidden, --activation, --batchnorm, --dropout (the default)",
    "simple-cnn": "the book's SimpleConvNet (§7.5): conv 30×5×5 → ReLU → pool → Affine 100 → ReLU → Affine",
    "deep-cnn": "the book's DeepConvNet (§8.1): six 3×3 convolutions, three poolings, Affine 50, dropout 0.5",
    "cnn": f"chainrule's default CNN: {CNN_SPEC}",
}


def check_arch(arch):
    """Refuse (ValueError) what is neither a named architecture nor a readable spec of layers."""
    if arch not in ARCHS:
        parse_spec(arch)


def image_shape(input_shape, needs="a convolutional network needs images", instead="use --arch mlp"):
    """One sample's shape as images: (C, H, W) as given, or a square (1, S, S) for rows of S·S values."""
    if len(input_shape) == 3:
        return tuple(input_shape)
    size = int(np.prod(input_shape))
    side = int(round(size ** 0.5))
    if side * side != size:
        raise ValueError(f"{needs}; samples of shape {tuple(input_shape)} are not square images ({instead})")
    return (1, side, side)


def build_network(arch, input_shape, classes, hidden=(100,), activation="relu", weight_init="he", batchnorm=False,
                  dropout=0.0, weight_decay=0.0, dtype="float64", seed=None):
    """The network ``arch`` names (or specifies) for samples of ``input_shape`` and ``classes`` classes."""
    common = dict(weight_decay_lambda=weight_decay, dtype=dtype, seed=seed)
    if arch == "mlp":
        return MultiLayerNet(int(np.prod(input_shape)), list(hidden), classes, activation=activation,
                             weight_init_std=weight_init, use_batchnorm=batchnorm, dropout_ratio=dropout, **common)
    if arch not in ARCHS and not any(kind in IMAGE_KINDS for kind, _ in parse_spec(arch)):
        # a spec of rows only (affine, activations, batch norm, dropout) takes any samples: images stay images
        try:
            shape = image_shape(input_shape)
        except ValueError:
            shape = (int(np.prod(input_shape)),)
        return LayerNet(shape, arch, classes, weight_init_std=weight_init, **common)
    images = image_shape(input_shape)
    if arch == "simple-cnn":
        return SimpleConvNet(images, output_size=classes, weight_init_std=weight_init, **common)
    if arch == "deep-cnn":
        return DeepConvNet(images, output_size=classes, **common)
    return LayerNet(images, CNN_SPEC if arch == "cnn" else arch, classes, weight_init_std=weight_init, **common)
