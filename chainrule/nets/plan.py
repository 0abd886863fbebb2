"""A network's layers as a plan: what each layer is, the shapes it sees and the arrays it holds.

``plan(input_shape, specs)`` walks a list of layer specifications (``("affine",
{"size": 100})``, ``("relu", {})``, …) and computes every layer's input and
output shape and its parameter and buffer shapes, allocating nothing: model
files are checked against it before a single weight is made. ``build(planned,
…)`` then makes the layers. Parameters are numbered as in the book: each weight
layer (Affine, Convolution) takes the next number (W1, b1, W2, …) and a batch
normalisation takes the number of the layer before it (gamma1, beta1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..im2col import output_size
from ..layers import Affine, BatchNormalization, Convolution, Dropout, Flatten, Pooling, Relu, Sigmoid, Tanh

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
DTYPES = {"float32": np.float32, "float64": np.float64}

#: the most parameters (all arrays together) a network may have: refuses absurd model files before allocating
MAX_PARAMETERS = 1 << 31


def as_dtype(dtype):
    """float32 or float64 as a NumPy dtype; anything else is an error."""
    try:
        dt = np.dtype(DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"network dtype must be float32 or float64, got {dtype!r}")
    return dt


def init_scale(weight_init_std, fan_in):
    """'he': √(2/fan_in) (for ReLU), 'xavier': √(1/fan_in) (sigmoid/tanh), or a number used as is."""
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in ("he", "relu"):
            return np.sqrt(2.0 / fan_in)
        if key in ("xavier", "sigmoid", "tanh"):
            return np.sqrt(1.0 / fan_in)
        raise ValueError(f"weight_init_std must be 'he', 'xavier' or a number, got {weight_init_std!r}")
    value = float(weight_init_std)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"weight_init_std must be a positive number, got {weight_init_std!r}")
    return value


@dataclass
class Planned:
    """One layer of a plan: its specification, the shapes around it and the arrays it will hold."""

    kind: str
    args: dict
    index: int                      # the number its parameters and buffers carry (W1 → 1); 0 when none
    in_shape: tuple                 # one sample's shape (no batch axis)
    out_shape: tuple
    params: dict = field(default_factory=dict)   # local name → shape
    buffers: dict = field(default_factory=dict)  # local name → shape

    @property
    def fan_in(self):
        """How many numbers one sample brings into the layer."""
        return math.prod(self.in_shape)

    @property
    def fan_in_of_weights(self):
        """How many inputs each output of a weight layer sums: C·FH·FW for a convolution."""
        shape = self.params["W"]
        return math.prod(shape[1:]) if len(shape) == 4 else shape[0]


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _plan_affine(planned, args):
    size = _positive_int(args.get("size"), "affine size")
    planned.out_shape = (size,)
    planned.params = {"W": (planned.fan_in, size), "b": (size,)}


def _plan_batchnorm(planned, args):
    features = planned.in_shape[0] if len(planned.in_shape) == 3 else planned.fan_in  # images: one γ per channel
    planned.out_shape = planned.in_shape
    planned.params = {"gamma": (features,), "beta": (features,)}
    planned.buffers = {"running_mean": (features,), "running_var": (features,)}


def _plan_dropout(planned, args):
    ratio = args.get("ratio", 0.5)
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0 <= ratio < 1:
        raise ValueError(f"dropout ratio must be a number in [0, 1), got {ratio!r}")
    planned.out_shape = planned.in_shape


def _plan_elementwise(planned, args):
    planned.out_shape = planned.in_shape


def _images(planned, kind):
    if len(planned.in_shape) != 3:
        raise ValueError(f"{kind} needs images (C, H, W) as input, got shape {planned.in_shape} (a {kind} cannot "
                         "follow an affine layer or flatten)")
    return planned.in_shape


def _plan_conv(planned, args):
    c, h, w = _images(planned, "conv")
    filters = _positive_int(args.get("filters"), "conv filters")
    size = _positive_int(args.get("size"), "conv size")
    stride = _positive_int(args.get("stride", 1), "conv stride")
    pad = args.get("pad", 0)
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"conv pad must be an integer ≥ 0, got {pad!r}")
    oh, ow = output_size(h, size, stride, pad), output_size(w, size, stride, pad)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv: {size}×{size} filters do not fit images of {h}×{w} with pad {pad}")
    planned.out_shape = (filters, oh, ow)
    planned.params = {"W": (filters, c, size, size), "b": (filters,)}


def _plan_pool(planned, args):
    c, h, w = _images(planned, "pool")
    size = args.get("size")
    # the layer's own rules, checked here before anything is allocated: positive sizes, pad ≤ window / 2, the mode
    layer = Pooling(size, size, args.get("stride", size), args.get("pad", 0), args.get("mode", "max"))
    oh, ow = (output_size(n, layer.pool_h, layer.stride, layer.pad) for n in (h, w))
    if oh < 1 or ow < 1:
        raise ValueError(f"pool: a {size}×{size} window does not fit images of {h}×{w}")
    planned.out_shape = (c, oh, ow)


def _plan_flatten(planned, args):
    planned.out_shape = (planned.fan_in,)


#: kind → how to compute its output shape and arrays
PLANNERS = {"affine": _plan_affine, "batchnorm": _plan_batchnorm, "dropout": _plan_dropout, "conv": _plan_conv,
            "pool": _plan_pool, "flatten": _plan_flatten, **{name: _plan_elementwise for name in ACTIVATIONS}}
#: kinds whose parameters take the next number
WEIGHT_KINDS = {"affine", "conv"}


def plan(input_shape, specs):
    """The planned layers for samples of ``input_shape`` (no batch axis) through ``specs``."""
    shape = tuple(_positive_int(n, "input size") for n in input_shape)
    planned, number, total, normalized, weights_kind = [], 0, 0, set(), None
    for kind, args in specs:
        if kind not in PLANNERS:
            raise ValueError(f"unknown layer kind {kind!r}; expected one of {', '.join(sorted(PLANNERS))}")
        if kind in WEIGHT_KINDS:
            number, weights_kind = number + 1, kind
        if kind == "batchnorm":             # the book's naming: Affine1's batch norm holds gamma1 and beta1
            if number in normalized:
                where = f"after the {weights_kind} with W{number}" if number else "before any conv or affine"
                raise ValueError(f"layer {len(planned) + 1}: a second batch norm {where}; a batch norm's γ and β "
                                 f"take the number of the conv or affine before it (gamma{number}, beta{number}), "
                                 "so the two would share them; put a conv or affine between them")
            normalized.add(number)
        p = Planned(kind, dict(args), number if kind in WEIGHT_KINDS or kind == "batchnorm" else 0, shape, shape)
        try:
            PLANNERS[kind](p, p.args)
        except ValueError as e:       # which of the spec's layers, and what it was given
            raise ValueError(f"layer {len(planned) + 1} ({kind} on inputs of shape {shape}): {e}") from None
        total += sum(math.prod(s) for s in (*p.params.values(), *p.buffers.values()))
        if total > MAX_PARAMETERS:
            inputs = "×".join(map(str, shape))
            raise ValueError(f"the network would hold more than {MAX_PARAMETERS:,} numbers "
                             f"(at layer {len(planned) + 1}, {kind} {args}, whose inputs are {inputs} per sample); "
                             "refusing to allocate it")
        planned.append(p)
        shape = p.out_shape
    return planned


def batch_norms_over_rows(planned):
    """The numbers (from 1) of the planned layers that normalise over a batch's rows (a batch norm after an Affine,
    one mean and variance per feature): in training they need batches of two rows or more. A batch norm of
    images normalises each channel over every position too, so one image is enough."""
    return [k for k, p in enumerate(planned or (), start=1) if p.kind == "batchnorm" and len(p.in_shape) == 1]


def state_shapes(planned):
    """name → shape of every parameter and buffer a plan will hold (``W1``, ``running_mean1``, …)."""
    shapes = {}
    for p in planned:
        for local, shape in (*p.params.items(), *p.buffers.items()):
            shapes[f"{local}{p.index}"] = tuple(shape)
    return shapes


def _weights(p, scale, dtype, rng, xp):
    """scale × standard normal values of W's shape in ``dtype``, or a ValueError where the scale makes some of
    them infinite (a weight_init_std of 1e308: every loss would be NaN from the first step)."""
    with np.errstate(over="ignore", invalid="ignore"):
        W = (scale * rng.standard_normal(p.params["W"])).astype(dtype)
    if not np.all(np.isfinite(W)):
        raise ValueError(f"weight_init_std (--weight-init) {scale:g} makes weights W{p.index} beyond "
                         f"{np.dtype(dtype).name} (largest {float(np.finfo(dtype).max):.3g}); expected a scale such "
                         "as 0.01, he or xavier")
    return xp.asarray(W)


def _make_affine(p, dtype, weight_init_std, rng, xp):
    scale = init_scale(p.args.get("weight_init_std", weight_init_std), p.fan_in)
    return Affine(_weights(p, scale, dtype, rng, xp), xp.zeros(p.params["b"], dtype=dtype))


def _make_conv(p, dtype, weight_init_std, rng, xp):
    scale = init_scale(p.args.get("weight_init_std", weight_init_std), p.fan_in_of_weights)
    W = _weights(p, scale, dtype, rng, xp)
    return Convolution(W, xp.zeros(p.params["b"], dtype=dtype), p.args.get("stride", 1), p.args.get("pad", 0))


def _make_pool(p, dtype, weight_init_std, rng, xp):
    size = p.args["size"]
    return Pooling(size, size, p.args.get("stride", size), p.args.get("pad", 0), p.args.get("mode", "max"))


def _make_batchnorm(p, dtype, weight_init_std, rng, xp):
    n = p.params["gamma"][0]
    return BatchNormalization(xp.ones(n, dtype=dtype), xp.zeros(n, dtype=dtype))


def _make_dropout(p, dtype, weight_init_std, rng, xp):
    return Dropout(p.args.get("ratio", 0.5), seed=int(rng.integers(2 ** 31)))


#: kind → how to make the layer
MAKERS = {"affine": _make_affine, "batchnorm": _make_batchnorm, "dropout": _make_dropout, "conv": _make_conv,
          "pool": _make_pool, "flatten": lambda *_: Flatten(),
          **{name: (lambda cls: lambda *_: cls())(cls) for name, cls in ACTIVATIONS.items()}}


def build(planned, dtype, weight_init_std="he", seed=None, xp=np):
    """The layers of a plan, weights drawn from ``seed``: [(layer, number)]."""
    rng = np.random.default_rng(seed)
    return [(MAKERS[p.kind](p, dtype, weight_init_std, rng, xp), p.index) for p in planned]
