"""Networks of any layers (book chapters 7–8): ``LayerNet`` from a short readable spec, and the book's
``SimpleConvNet`` (§7.5) and ``DeepConvNet`` (§8.1) built on it.

A spec lists the hidden layers, joined by ``-``; the output Affine to the
classes and the softmax-with-loss are added::

    conv(32,3,pad=1)-relu-pool(2)-conv(64,3,pad=1)-relu-pool(2)-affine(128)-relu-dropout(0.5)

=====================================  ===========================================================
``conv(filters, size, stride, pad)``   Convolution with size×size filters (stride 1, pad 0 unless given)
``pool(size, stride, pad)``            max pooling over size×size windows (stride: the size unless given)
``avgpool(size, stride, pad)``         average pooling
``affine(size)``                       Affine (images are flattened into rows first)
``relu`` ``sigmoid`` ``tanh``          activations
``bn``                                 batch normalisation (per channel after a convolution)
``dropout(ratio)``                     dropout
``flatten``                            images to rows
=====================================  ===========================================================

Any layer may come first (backward stops at the first layer with weights). A batch norm's ``gamma`` and ``beta``
carry the number of the conv or affine before it (``gamma1`` after ``W1``, ``gamma0`` before any), so two batch
norms after the same one are refused.
"""
from __future__ import annotations

import ast
import re

import numpy as np

from .. import functions as F
from ..graph import Variable
from . import plan as planning
from .network import Network

#: spec name → (kind in the plan, names of the positional arguments, fixed arguments)
SPEC_LAYERS = {
    "conv": ("conv", ("filters", "size", "stride", "pad"), {}),
    "pool": ("pool", ("size", "stride", "pad"), {"mode": "max"}),
    "maxpool": ("pool", ("size", "stride", "pad"), {"mode": "max"}),
    "avgpool": ("pool", ("size", "stride", "pad"), {"mode": "average"}),
    "affine": ("affine", ("size",), {}),
    "relu": ("relu", (), {}), "sigmoid": ("sigmoid", (), {}), "tanh": ("tanh", (), {}),
    "bn": ("batchnorm", (), {}), "batchnorm": ("batchnorm", (), {}),
    "dropout": ("dropout", ("ratio",), {}),
    "flatten": ("flatten", (), {}),
}
_TOKEN = re.compile(r"^\s*([a-z]+)\s*(\((.*)\))?\s*$")


#: a spec layer as people write it: for messages that show how
EXAMPLES = {"conv": "conv(16,3,pad=1)", "pool": "pool(2)", "affine": "affine(100)", "dropout": "dropout(0.5)"}


def parse_spec(text):
    """The layers of a spec as ``[(kind, args)]``, or a ValueError naming the part that is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a network spec is text such as 'conv(16,3,pad=1)-relu-pool(2)-affine(100)-relu'")
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            break
        if ch == "-" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if depth:
        raise ValueError(f"{text!r}: the parentheses do not pair up; expected each layer's numbers in one pair, "
                         "e.g. conv(16,3,pad=1)-relu-pool(2)")
    parts.append(current)
    layers = []
    for number, part in enumerate(parts, start=1):
        if not part.strip():
            raise ValueError(f"{text!r}: layer {number} is empty (two '-' in a row, or a '-' at the start or end)")
        m = _TOKEN.match(part)
        if not m or m.group(1) not in SPEC_LAYERS:
            raise ValueError(f"{part.strip()!r} in the spec is not a layer; expected one of "
                             f"{', '.join(SPEC_LAYERS)}, e.g. conv(16,3,pad=1)")
        name, inner = m.group(1), m.group(3)
        kind, positional, fixed = SPEC_LAYERS[name]
        example = EXAMPLES.get(kind, name).replace(kind, name, 1)
        args = dict(fixed)
        if inner and inner.strip():
            if not positional:
                raise ValueError(f"{part.strip()!r}: {name} takes no numbers; write {name}")
            try:
                call = ast.parse(f"f({inner})", mode="eval").body
            except SyntaxError:
                raise ValueError(f"{part.strip()!r}: cannot read the arguments; expected numbers, then options such "
                                 f"as pad=1 (each once), e.g. {example}") from None
            try:
                values = [ast.literal_eval(a) for a in call.args]
                keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(f"{part.strip()!r}: the arguments must be numbers, e.g. {example}") from None
            if len(values) > len(positional):
                n = len(positional)
                raise ValueError(f"{part.strip()!r}: {name} takes at most {n} number{'s' * (n != 1)} "
                                 f"({', '.join(positional)}), e.g. {example}")
            unknown = set(keywords) - set(positional)
            if unknown:
                raise ValueError(f"{part.strip()!r}: {name} has no option {', '.join(sorted(unknown))}; its numbers "
                                 f"are {', '.join(positional)}")
            twice = sorted(set(positional[:len(values)]) & set(keywords))
            if twice:
                raise ValueError(f"{part.strip()!r}: {', '.join(twice)} given twice (as the number in its place and as "
                                 f"{twice[0]}=…); give each once")
            args.update(zip(positional, values))
            args.update(keywords)
        missing = [p for p in positional[:1] if p not in args and kind in ("conv", "pool", "affine", "dropout")]
        if kind == "conv" and "size" not in args:
            missing.append("size")
        if missing:
            raise ValueError(f"{part.strip()!r}: {name} needs {' and '.join(missing)}, e.g. {example}")
        layers.append((kind, args))
    return layers


def spec_text(layers):
    """The canonical spec text of ``[(kind, args)]`` (defaults left out)."""
    out = []
    for kind, args in layers:
        name = {"batchnorm": "bn", "pool": "avgpool" if args.get("mode") == "average" else "pool"}.get(kind, kind)
        values = {"conv": [args.get("filters"), args.get("size")], "pool": [args.get("size")],
                  "affine": [args.get("size")], "dropout": [args.get("ratio")]}.get(kind, [])
        values = [str(v) for v in values]
        if kind == "conv" and args.get("stride", 1) != 1:
            values.append(f"stride={args['stride']}")
        if kind == "pool" and args.get("stride", args.get("size")) != args.get("size"):
            values.append(f"stride={args['stride']}")
        if kind in ("conv", "pool") and args.get("pad", 0):
            values.append(f"pad={args['pad']}")
        out.append(name + (f"({','.join(values)})" if values else ""))
    return "-".join(out)


class LayerNet(Network):
    """Any sequence of layers, then Affine to ``output_size`` classes and SoftmaxWithLoss.

    ``input_dim`` is one sample's shape: (C, H, W) for images (rows of C·H·W values, as
    ``load(..., flatten=True)`` gives, are read as images), (D,) for vectors. ``spec`` is the text
    described in this module's docstring, or a list of (kind, args). Weights start as
    ``weight_init_std`` × standard normal ('he' = √(2 / fan_in) per layer, the book's choice for ReLU).
    """

    def __init__(self, input_dim, spec, output_size, weight_init_std="he", weight_decay_lambda=0.0,
                 dtype=np.float64, seed=None):
        self.input_dim = tuple(int(n) for n in input_dim)
        self.spec = spec_text(parse_spec(spec) if isinstance(spec, str) else spec)
        self._build(output_size, weight_init_std, weight_decay_lambda, dtype, seed)

    def _build(self, output_size, weight_init_std, weight_decay_lambda, dtype, seed):
        self.output_size = int(output_size)
        super().__init__(self.plan(**self._arch()), dtype, weight_init_std, seed, weight_decay_lambda)

    def _arch(self):
        """What the layers are made from (the config less the training settings)."""
        return {"input_dim": list(self.input_dim), "spec": self.spec, "output_size": self.output_size}

    @classmethod
    def plan(cls, input_dim, spec, output_size, **_):
        """The planned layers (shapes only: nothing is allocated)."""
        return planning.plan(_input_dim(input_dim), _layers(spec) + [("affine", {"size": output_size})])

    def shaped(self, x):
        """Rows of C·H·W values read as images of ``input_dim`` (a Variable through a recorded reshape)."""
        if len(self.input_dim) == 3 and len(x.shape) == 2 and x.shape[1] == int(np.prod(self.input_dim)):
            shape = (x.shape[0], *self.input_dim)
            return F.reshape(x, shape) if isinstance(x, Variable) else x.reshape(shape)
        return x

    def config(self):
        return {"class": type(self).__name__, **self._arch(), "weight_init_std": self.weight_init_std,
                "weight_decay_lambda": self.weight_decay_lambda, "dtype": self.dtype.name}

    def describe(self):
        shape = "×".join(map(str, self.input_dim))
        return f"{type(self).__name__} {shape}-{self.spec}-affine({self.output_size}) ({self.dtype.name})"


def _input_dim(input_dim):
    if not isinstance(input_dim, (list, tuple)) or not 1 <= len(input_dim) <= 3:
        raise ValueError(f"input_dim must be one sample's shape, e.g. [1, 28, 28], got {input_dim!r}")
    return tuple(input_dim)


def _layers(spec):
    return parse_spec(spec) if isinstance(spec, str) else [(k, dict(a)) for k, a in spec]


class SimpleConvNet(LayerNet):
    """The book's SimpleConvNet (§7.5): conv → ReLU → 2×2 max pooling → Affine → ReLU → Affine → SoftmaxWithLoss.

    ``conv_param`` holds ``filter_num``, ``filter_size``, ``pad`` and ``stride``; weights start as
    ``weight_init_std`` × standard normal (the book's 0.01). Parameters W1, b1 (the convolution), W2, b2, W3, b3.
    """

    def __init__(self, input_dim=(1, 28, 28), conv_param=None, hidden_size=100, output_size=10,
                 weight_init_std=0.01, weight_decay_lambda=0.0, dtype=np.float64, seed=None):
        self.input_dim = tuple(int(n) for n in input_dim)
        self.conv_param = _conv_param(conv_param, {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1})
        self.hidden_size = int(hidden_size)
        self.spec = spec_text(self.hidden_layers(self.conv_param, self.hidden_size))
        self._build(output_size, weight_init_std, weight_decay_lambda, dtype, seed)

    @staticmethod
    def hidden_layers(p, hidden_size):
        return [("conv", {"filters": p["filter_num"], "size": p["filter_size"], "stride": p["stride"],
                          "pad": p["pad"]}), ("relu", {}), ("pool", {"size": 2, "stride": 2, "mode": "max"}),
                ("affine", {"size": hidden_size}), ("relu", {})]

    def _arch(self):
        return {"input_dim": list(self.input_dim), "conv_param": self.conv_param, "hidden_size": self.hidden_size,
                "output_size": self.output_size}

    @classmethod
    def plan(cls, input_dim=(1, 28, 28), conv_param=None, hidden_size=100, output_size=10, **_):
        p = _conv_param(conv_param, {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1})
        return LayerNet.plan(input_dim, cls.hidden_layers(p, hidden_size), output_size)


def _conv_param(conv_param, defaults):
    if conv_param is not None and not isinstance(conv_param, dict):
        raise ValueError(f"a conv_param is a dict with filter_num, filter_size, pad, stride; got {conv_param!r}")
    p = {**defaults, **(conv_param or {})}
    unknown = set(p) - {"filter_num", "filter_size", "pad", "stride"}
    if unknown:
        raise ValueError(f"conv_param has unknown keys {sorted(unknown)}; expected filter_num, filter_size, pad, "
                         "stride")
    return p


#: DeepConvNet's six convolutions, as the book sets them (§8.1.1)
DEEP_CONV_PARAMS = [{"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
                    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1}]


class DeepConvNet(LayerNet):
    """The book's DeepConvNet (§8.1): (conv → ReLU → conv → ReLU → 2×2 max pooling) × 3 → Affine → ReLU → Dropout
    → Affine → Dropout → SoftmaxWithLoss, with 3×3 filters and He initialisation (√(2 / fan_in) per layer).
    """

    def __init__(self, input_dim=(1, 28, 28), conv_param_1=None, conv_param_2=None, conv_param_3=None,
                 conv_param_4=None, conv_param_5=None, conv_param_6=None, hidden_size=50, output_size=10,
                 dropout_ratio=0.5, weight_decay_lambda=0.0, dtype=np.float64, seed=None):
        self.input_dim = tuple(int(n) for n in input_dim)
        given = [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6]
        self.conv_params = [_conv_param(p, default) for default, p in zip(DEEP_CONV_PARAMS, given)]
        self.hidden_size, self.dropout_ratio = int(hidden_size), float(dropout_ratio)
        self.spec = spec_text(self.hidden_layers(self.conv_params, self.hidden_size, self.dropout_ratio))
        self._build(output_size, "he", weight_decay_lambda, dtype, seed)

    @staticmethod
    def hidden_layers(params, hidden_size, dropout_ratio):
        layers = []
        for i, p in enumerate(params):
            layers += [("conv", {"filters": p["filter_num"], "size": p["filter_size"], "stride": p["stride"],
                                 "pad": p["pad"]}), ("relu", {})]
            if i % 2 == 1:
                layers.append(("pool", {"size": 2, "stride": 2, "mode": "max"}))
        return layers + [("affine", {"size": hidden_size}), ("relu", {}), ("dropout", {"ratio": dropout_ratio})]

    def _arch(self):
        return {"input_dim": list(self.input_dim), **{f"conv_param_{i}": p for i, p in enumerate(self.conv_params, 1)},
                "hidden_size": self.hidden_size, "output_size": self.output_size, "dropout_ratio": self.dropout_ratio}

    @classmethod
    def plan(cls, input_dim=(1, 28, 28), hidden_size=50, output_size=10, dropout_ratio=0.5, **conv):
        params = [_conv_param(conv.get(f"conv_param_{i}"), default) for i, default in enumerate(DEEP_CONV_PARAMS, 1)]
        layers = cls.hidden_layers(params, hidden_size, dropout_ratio)
        return planning.plan(_input_dim(input_dim), layers + [("affine", {"size": output_size}),
                                                              ("dropout", {"ratio": dropout_ratio})])

    def describe(self):
        return super().describe().replace(f"-affine({self.output_size}) (",
                                          f"-affine({self.output_size})-dropout({self.dropout_ratio:g}) (")

    def config(self):
        config = super().config()
        del config["weight_init_std"]  # always He (√(2 / fan_in)), as the book
        return config
