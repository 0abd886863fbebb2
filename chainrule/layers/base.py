"""The layer protocol every operation follows (book §5.4).

A layer computes ``forward(*inputs)``, keeps exactly what its backward rule
needs, and ``backward(dout)`` multiplies the upstream gradient ``dout`` by its
local derivative: one input gives ``dx``, two give ``(dx, dy)``. Inputs listed
in ``constant_inputs`` (labels) get no gradient. A layer never writes into the
``dout`` it is given, so one gradient array can feed two branches safely.

Trainable arrays are declared with :class:`parameter` (``W = parameter()``):
``layer.W`` is the array, ``layer.parameters["W"]`` the graph's
:class:`~chainrule.graph.Parameter` that owns it, and ``backward`` leaves the
gradient in ``layer.dW`` (the book's names).

Calling a layer (``MulLayer()(a, b)``) is ``forward`` that also records a node
of the computational graph when an input is a :class:`~chainrule.graph.Variable`.

Every subclass's ``forward`` and ``backward`` are checked on the way in: inputs
must be real numbers or arrays of them (complex, object and text data, and
lists, are refused with the layer's name), and ``backward`` before ``forward``
is an error instead of a confusing failure inside the math.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..graph import Parameter, Variable, input_names, record


def shape_of(a):
    """The shape of an array (NumPy or CuPy) or of a Python number (``()``)."""
    shape = getattr(a, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(a))


def ndim_of(a):
    """The number of dimensions of an array (NumPy or CuPy) or of a Python number (0)."""
    ndim = getattr(a, "ndim", None)
    return ndim if ndim is not None else np.ndim(a)


def is_float(a) -> bool:
    """True for floating-point arrays and Python floats."""
    dtype = getattr(a, "dtype", None)
    return dtype.kind == "f" if dtype is not None else isinstance(a, float)


_DTYPE_KINDS = {"c": "complex numbers", "O": "Python objects", "U": "text", "S": "bytes", "V": "records",
                "M": "dates", "m": "time spans"}


def _refusal(a):
    """Why ``a`` cannot be a layer's input, or None when it can."""
    if type(a) is np.ndarray and a.dtype.kind in "fiub":  # the common case, first
        return None
    if isinstance(a, Variable):
        return "a Variable (forward takes arrays; call the layer itself, layer(x), to record it in a graph)"
    dtype = getattr(a, "dtype", None)
    if dtype is not None:
        kind = getattr(dtype, "kind", None)
        return None if kind in "fiub" else f"an array of {_DTYPE_KINDS.get(kind, dtype)} (dtype {dtype})"
    if isinstance(a, (bool, int, float)):
        return None
    if isinstance(a, complex):
        return "a complex number"
    return f"a {type(a).__name__}" + (" (convert it with np.asarray first)" if isinstance(a, (list, tuple)) else "")


def _checked_forward(forward):
    names = None

    @functools.wraps(forward)
    def checked(self, *inputs, **options):
        for i, a in enumerate(inputs):
            if type(a) is np.ndarray and a.dtype.kind == "f":  # the common case: nothing to check or convert
                continue
            why = _refusal(a)
            if why is not None:
                nonlocal names
                names = names or input_names(self, len(inputs))
                raise TypeError(f"{type(self).__name__}: input {names[i] if i < len(names) else i} is {why}; "
                                "expected a NumPy/CuPy array of real numbers or a Python number")
            if getattr(a, "dtype", None) is not None and a.dtype.kind in "iub" and i not in self.constant_inputs:
                inputs = inputs[:i] + (a.astype(np.float64),) + inputs[i + 1:]  # the math is done in floating point
        out = forward(self, *inputs, **options)
        self._forward_done = True
        self._out_shape = shape_of(out)  # what backward's dout must look like
        return out
    return checked


def _checked_backward(backward):
    @functools.wraps(backward)
    def checked(self, *args, **kwargs):
        if not self.__dict__.get("_forward_done"):
            raise RuntimeError(f"{type(self).__name__}: backward was called before forward; forward keeps what "
                               "backward needs (call forward on a batch first)")
        if args and not (type(args[0]) is np.ndarray and args[0].dtype.kind == "f"):
            why = _refusal(args[0])
            if why is not None:
                raise TypeError(f"{type(self).__name__}: dout is {why}; expected an array of real numbers or a number")
        if args and args[0] is not None:
            expected, got = self.__dict__.get("_out_shape"), shape_of(args[0])
            if expected is not None and got != expected and not (len(expected) == 0 and _one_number(got)):
                raise self.error(f"dout has shape {got}; expected {expected}, the shape of this layer's output "
                                 "(backward multiplies dout by the local derivative entry by entry)")
        return backward(self, *args, **kwargs)
    return checked


def _one_number(shape):
    """A shape that holds one number: () or (1,), (1, 1), …: the dout of a scalar output."""
    return all(n == 1 for n in shape)


class parameter:
    """Declares a trainable array of a layer: ``W = parameter()`` in the class body.

    ``layer.W = array`` stores the array in a :class:`~chainrule.graph.Parameter`
    (``layer.parameters["W"]``); ``layer.W`` reads it back, the very same array.
    Assigning a Parameter makes the layer use that one.
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        try:
            return layer.__dict__["parameters"][self.name].data
        except KeyError:
            raise AttributeError(f"{type(layer).__name__} has no parameter {self.name!r} yet") from None

    def __set__(self, layer, value):
        params = layer.__dict__.setdefault("parameters", {})
        if isinstance(value, Parameter):
            params[self.name] = value
            return
        if isinstance(value, Variable):
            raise layer.error(f"{self.name} is a Variable; pass its array, or a Parameter", TypeError)
        if hasattr(value, "dtype") and value.dtype.kind != "f":
            raise layer.error(f"{self.name} has dtype {value.dtype}; parameters must be floating point (integer "
                              "weights would truncate every input and update): pass "
                              f"{self.name}.astype(np.float64)", TypeError)
        if self.name in params:
            params[self.name].data = value
            return
        try:
            params[self.name] = Parameter(value, self.name)
        except TypeError as e:
            raise layer.error(f"{self.name}: {e}", TypeError) from None


class Layer:
    """Base class: ``forward`` / ``backward`` plus how to draw and explain it."""

    #: label of the operation node in a drawing (the book draws ×, +, …)
    symbol = "?"
    #: the backward rule, one template per input and then per parameter, used by explanations and drawings;
    #: fields: ``{dout}``, ``{x}`` and ``{y}`` (the first and second input), ``{out}`` (the output) and the
    #: extras of :meth:`explain_fields`. Rendered with symbols (:meth:`rule_statements`), each is the
    #: docstring's statement of the rule, word for word (a test checks it).
    rules: tuple[str, ...] = ()
    #: how the rule's names are written (e.g. ``{"x": "X", "dout": "dY"}`` for Affine's dX = dY · Wᵀ)
    rule_symbols: dict = {}
    #: what the rule's other symbols mean, as (symbol, meaning) templates that explanations and the page fill
    #: with the node's own names and numbers: ``{x}`` (the first input's name), ``{t}`` (the labels), ``{N}``
    #: (rows of the batch), ``{n}`` (:meth:`explain_fields`), ``{passed}`` (how many of x's entries are > 0)
    rule_meanings: tuple = ()
    #: True for layers whose inputs broadcast (their gradients are summed back)
    broadcasts = False
    #: positions of forward's inputs that get no gradient (labels are data)
    constant_inputs: tuple[int, ...] = ()
    #: False when nothing needs dL/dx (a network's first layer): backward may then skip that product
    input_grad = True
    #: True for layers that split their batch over the cores themselves (chainrule.parallel): a network that
    #: holds one runs its steps on chainrule's threads
    splits_batch = False
    #: names of the parameters that weight decay applies to (weights, not biases)
    decayed: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _checked_forward(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _checked_backward(cls.__dict__["backward"])

    @property
    def parameters(self) -> dict:
        """The graph's Parameters by name (empty for layers without trainable arrays)."""
        return self.__dict__.setdefault("parameters", {})

    @property
    def params(self) -> dict:
        """Trainable arrays by name: the very arrays the layer computes with."""
        return {name: p.data for name, p in self.parameters.items()}

    @property
    def grads(self) -> dict:
        """Gradients of ``params`` by name (``dW`` for ``W``), filled by ``backward``."""
        return {name: getattr(self, "d" + name, None) for name in self.parameters}

    @property
    def buffers(self) -> dict:
        """Arrays learned without gradients (batch-norm running statistics): saved with the model."""
        return {}

    def kink_state(self):
        """Which side of each kink the last forward was on (ReLU's mask), or None for a smooth layer.

        A numerical gradient is meaningless where a perturbation of ±h changes
        this state: :mod:`chainrule.gradcheck` skips those entries.
        """
        return None

    def __call__(self, *inputs, **options):
        return record(self, inputs, options)

    def forward(self, *inputs):  # pragma: no cover - every layer overrides
        """The layer's output for ``inputs``, keeping what backward needs (the class docstring states the math)."""
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - every layer overrides
        """The gradient of each input (then each parameter, into ``d<name>``) from the upstream gradient ``dout``:
        the rule stated in the class docstring. Never writes into ``dout``."""
        raise NotImplementedError

    def matrix_shapes(self) -> dict:
        """The shapes a rule's placeholders have as matrices where the rule multiplies reshaped arrays (Affine's X of
        images as rows (N, C·H·W)): what the numeric form of the rule shows. After forward; {} when as they are."""
        return {}

    def explain_fields(self) -> dict:
        """Extra values a rule template may use (e.g. the exponent of Pow)."""
        return {}

    def rule_values(self) -> dict:
        """After forward: the numbers behind the bare names of the rule templates (SoftmaxWithLoss's ``y``,
        ``t`` as one-hot rows and ``N``; Pow's ``p``), so that explanations can write the rule with them."""
        return {}

    @classmethod
    def input_names(cls):
        """The names of forward's inputs (``x``, ``y``; ``t`` for labels), options such as ``train_flg`` excluded."""
        params = inspect.signature(cls.forward).parameters.values()
        return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.name not in ("self", "train_flg")]

    @classmethod
    def gradient_names(cls):
        """The names that receive gradients, in ``rules`` order: the inputs (constants excepted), then parameters."""
        inputs = [name for i, name in enumerate(cls.input_names()) if i not in cls.constant_inputs]
        params = [name for klass in reversed(cls.__mro__) for name, v in vars(klass).items()
                  if isinstance(v, parameter)]
        return inputs + params

    @classmethod
    def rule_statements(cls):
        """The backward rule as text, one statement per gradient: ``["dx = dout × y", "dy = dout × x"]`` for Mul."""
        names = cls.input_names() + ["x", "y"]
        sym = {**{n: n for n in [*names, *cls.gradient_names(), "dout", "out"]}, **cls.rule_symbols}
        fields = {"dout": sym["dout"], "x": sym[names[0]], "y": sym[names[1]], "out": sym["out"],
                  **{k: k for k in ("p", "n", "N")}, **{name: sym[name] for name in cls.gradient_names()}}
        return [f"d{sym[name]} = {rule.format(**fields)}" for name, rule in zip(cls.gradient_names(), cls.rules)]

    def error(self, message, cls=ValueError):
        """An exception whose message starts with this layer's name."""
        return cls(f"{type(self).__name__}: {message}")

    def check_broadcast(self, x, y):
        """The shape ``x`` and ``y`` broadcast to, or an error naming the layer and both shapes."""
        try:
            return np.broadcast_shapes(shape_of(x), shape_of(y))
        except ValueError:
            raise self.error(f"cannot broadcast x of shape {shape_of(x)} with y of shape {shape_of(y)}; "
                             "expected equal shapes or shapes that broadcast (e.g. (N, M) with (M,))") from None

    def check_batch(self, x, name="x"):
        """Refuse an empty batch (N = 0) with the layer's name: there is nothing to average or learn from."""
        shape = shape_of(x)
        if 0 in shape:
            raise self.error(f"{name} has shape {shape}, an empty batch; expected at least one sample with "
                             "at least one value")

    def __repr__(self):
        return f"{type(self).__name__}()"
