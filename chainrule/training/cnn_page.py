"""The page's live CNN training (book chapter 7): a small copy of a CNN's architecture and a few hundred samples.

``chainrule graph MODEL.npz --html`` hands this to :func:`chainrule.draw.to_html` for a convolutional model: the
Images view then trains, in the page's JavaScript, a network with the same layers in the same order (at most
``MAX_FILTERS`` filters per convolution and ``MAX_UNITS`` units per hidden Affine, so that a step stays fast: the
book's SimpleConvNet is trained whole; batch normalisation and dropout, which the page's trainer does not run, are
left out and named) on ``samples`` training images of the model's data set, with plain SGD (W ← W − lr·dW). Its
start is He's uniform initialisation, W ~ U(−√(6/fan_in), √(6/fan_in)) and b = 0, drawn from a linear congruential
sequence that Python and the page compute alike, exactly (integer arithmetic, one square root): no weight has to be
shipped, so the book's SimpleConvNet's page stays small, Reset always gives the same start, and the first steps'
losses Python computes from the same weights on the same batches are shipped too: the page's must agree.
"""
from __future__ import annotations

import base64
import math

import numpy as np

from ..nets import LayerNet
from ..nets.layered import parse_spec, spec_text
from ..optimizers import SGD
from .trainer import EXPLOSION_FACTOR

#: what the page's trainer runs (chainrule.draw's engine.js has these layers' rules)
PAGE_KINDS = {"conv", "pool", "affine", "relu", "sigmoid", "tanh", "flatten"}
MAX_FILTERS, MAX_UNITS = 32, 100
SAMPLES, BATCH, LR, CHECKED_STEPS = 300, 20, 0.01, 3


def small_copy(spec):
    """(the spec the page trains, the layer kinds it leaves out): the same layers in the same order, with at most
    MAX_FILTERS filters and MAX_UNITS units, without the kinds the page does not run (``flatten`` where none is
    left: the output Affine alone)."""
    kept, left_out = [], []
    for kind, args in parse_spec(spec):
        if kind not in PAGE_KINDS:
            left_out.append(kind)
            continue
        args = dict(args)
        if kind == "conv":
            args["filters"] = min(int(args["filters"]), MAX_FILTERS)
        if kind == "affine":
            args["size"] = min(int(args["size"]), MAX_UNITS)
        kept.append((kind, args))
    # nothing the page runs (a spec of batch norm and dropout only): the output Affine alone, on flattened images
    return spec_text(kept or [("flatten", {})]), sorted(set(left_out))


def uniform_stream(seed):
    """Numbers in [0, 1): a linear congruential sequence mod 2³² (the page's CR.uniformStream draws the same)."""
    state = (seed * 2654435761 + 40503) % 2 ** 32
    while True:
        state = (1664525 * state + 1013904223) % 2 ** 32
        yield state / 2 ** 32


def he_uniform(layers, seed):
    """The start of the page's network: for each layer's W (in order) (2u − 1)·√(6 / fan_in), u from
    :func:`uniform_stream`; every b zero. ``layers`` as :func:`page_layers` gives them; returns name → array."""
    stream, out = uniform_stream(seed), []
    for layer in layers:
        arrays = {}
        for name, p in layer["params"].items():
            size = math.prod(p["shape"])
            if name == "W":
                limit = math.sqrt(6 / p["fan_in"])
                arrays[name] = np.array([(2 * next(stream) - 1) * limit for _ in range(size)]).reshape(p["shape"])
            else:
                arrays[name] = np.zeros(p["shape"])
        out.append(arrays)
    return out


def _attributes(layer):
    return {k: getattr(layer, k) for k in ("stride", "pad", "pool_h", "pool_w", "mode") if hasattr(layer, k)}


def batches(count, samples, batch, seed):
    """The page's mini-batches: ``count`` lists of ``batch`` sample indices (the same in Python and the page:
    a linear congruential sequence, so that both draw them without sharing a random generator)."""
    state, out = (seed * 2654435761 + 12345) % 2 ** 32, []
    for _ in range(count):
        chosen = []
        for _ in range(batch):
            state = (1664525 * state + 1013904223) % 2 ** 32
            chosen.append(state % samples)
        out.append(chosen)
    return out


def cnn_training(net, x_train, t_train, samples=SAMPLES, batch=BATCH, lr=LR, seed=0, classes=None):
    """What the page needs to train a small copy of ``net`` (a LayerNet: SimpleConvNet, DeepConvNet or a spec) live:
    its layers with their initial weights, ``samples`` training images (pixel values 0–255) and labels, the batch
    size, the learning rate, and Python's losses for the first CHECKED_STEPS steps on the page's own batches."""
    if not isinstance(net, LayerNet) or len(net.input_dim) != 3:
        raise ValueError("cnn_training: expected a convolutional LayerNet (images of shape (C, H, W))")
    spec, left_out = small_copy(net.spec)
    small = LayerNet(net.input_dim, spec, net.output_size, weight_init_std="he", seed=seed)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(x_train), size=min(samples, len(x_train)), replace=False)
    pixels = np.clip(np.rint(np.asarray(x_train[chosen], dtype=np.float64).reshape(len(chosen), -1) * 255), 0, 255)
    x, t = pixels / 255, np.asarray(t_train[chosen]).astype(int)
    if t.ndim == 2:
        t = t.argmax(axis=1)
    def fan_in(w):
        return int(np.prod(w.shape[1:])) if w.ndim == 4 else int(w.shape[0])
    layers = [{"op": type(layer).__name__, "attributes": _attributes(layer),
               "params": {name: {"shape": list(value.shape), **({"fan_in": fan_in(value)} if name == "W" else {})}
                          for name, value in getattr(layer, "params", {}).items()}}
              for layer in small.layers]
    for layer, arrays in zip((layer for layer in small.layers if getattr(layer, "params", None)),
                             (a for a in he_uniform(layers, seed) if a)):
        for name, value in arrays.items():
            layer.params[name][...] = value
    losses, optimizer = [], SGD(lr)
    check = small
    for idx in batches(CHECKED_STEPS, len(t), batch, seed):
        grads = check.gradient(x[idx], t[idx])
        losses.append(float(check.last_loss))
        optimizer.update(check.params, grads)
    return {"shown": net.spec, "spec": spec, "same": spec == net.spec, "left_out": left_out,
            "image": list(net.input_dim), "classes": None if classes is None else [str(c) for c in classes],
            "layers": layers, "pixels": base64.b64encode(pixels.astype(np.uint8).tobytes()).decode(),
            "t": [int(v) for v in t], "batch": batch,
            "lr": lr, "seed": seed, "python_losses": losses, "explosion_factor": EXPLOSION_FACTOR}
