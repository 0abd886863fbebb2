"""The graph engine: Variables, nodes and the backward pass. No math lives here.

A :class:`Variable` holds a value. Calling a layer on Variables runs the layer's
``forward`` and :func:`record` adds a :class:`Node` holding it, its inputs and
the layer's :class:`Parameter`\\ s. ``y.backward()`` visits the nodes from the
output back to the inputs, newest generation first, so a node runs only after
every consumer of its output has sent its gradient. Each node calls its layer's
``backward(dout)`` and *adds* what comes back into its inputs' ``.grad``: the
chain rule (book §5.2), and the branch rule for a value used twice (the
gradients of its uses add up).

Every rule of the math is in :mod:`chainrule.layers`; this module imports none
of it. The operators of Variables (``+ - * / @ **``) are attached by
:mod:`chainrule.functions`, where each is one layer.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
import heapq
import inspect
import itertools
import weakref

import numpy as np

from . import nonfinite
from .backend import get_array_module

_recording = contextvars.ContextVar("chainrule_recording", default=True)
_sequence = itertools.count()


class GraphError(ValueError):
    """A layer broke the contract between it and the graph engine."""


@contextlib.contextmanager
def no_grad():
    """Inside this block layers called on Variables record nothing (inference pays no graph cost)."""
    token = _recording.set(False)
    try:
        yield
    finally:
        _recording.reset(token)


def is_recording() -> bool:
    """False inside :func:`no_grad`."""
    return _recording.get()


def as_float_array(data, who="Variable"):
    """``data`` as a floating-point array: the value of a Variable.

    Python numbers and integer or boolean arrays become float64 (a gradient
    is never truncated to an integer); float arrays are used as they are.
    Complex, object and text data are refused.
    """
    if data is None or isinstance(data, (str, bytes, bool)):
        raise TypeError(f"{who}: data must be a number or an array of numbers, got {data!r}")
    if isinstance(data, Variable):
        raise TypeError(f"{who}: data is already a Variable; use it directly")
    if isinstance(data, complex):
        raise TypeError(f"{who}: complex numbers are not supported, got {data!r}")
    if isinstance(data, (int, float)):
        return np.asarray(data, dtype=np.float64)
    xp = get_array_module(data)
    try:
        array = xp.asarray(data)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{who}: cannot make an array of numbers from {type(data).__name__} ({e})") from None
    kind = array.dtype.kind
    if kind == "f":
        return array
    if kind in "iub":
        return array.astype(np.float64)
    what = {"c": "complex", "O": "Python objects", "U": "text", "S": "bytes"}.get(kind, str(array.dtype))
    raise TypeError(f"{who}: data of dtype {array.dtype} ({what}) is not supported; expected real numbers")


class Node:
    """One operation in the graph: a layer, the Variables and constants it was called with, its output.

    ``args`` holds the call's inputs followed by the layer's Parameters (the
    first ``n_inputs`` are the inputs). After ``backward`` the node also keeps
    what it received (``upstream``) and what it sent to each argument
    (``sent``), for drawings and explanations.
    """

    __slots__ = ("layer", "args", "n_inputs", "output_ref", "output_data", "generation", "seq", "upstream", "sent",
                 "__weakref__")

    def __init__(self, layer, args, n_inputs, generation):
        self.layer = layer
        self.args = args
        self.n_inputs = n_inputs
        self.generation = generation
        self.seq = next(_sequence)
        self.output_ref = None
        self.output_data = None
        self.upstream = None
        self.sent = None

    @property
    def output(self):
        """The Variable this node computed, or None once nothing holds it any more."""
        return self.output_ref() if self.output_ref is not None else None

    @property
    def inputs(self):
        """The Variable arguments, parameters included (constants excluded)."""
        return [a for a in self.args if isinstance(a, Variable)]

    @property
    def param_names(self):
        """The layer's names for the Parameters at the end of ``args`` (``W``, ``b``, …)."""
        return list(self.layer.parameters)

    def __repr__(self):
        return f"Node({type(self.layer).__name__}, generation={self.generation})"


def input_names(layer, count):
    """The names of ``layer.forward``'s first ``count`` inputs, for messages (``x``, ``y``, ``t``…)."""
    try:
        names = [p.name for p in inspect.signature(layer.forward).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"input {i}" for i in range(count)]


def record(layer, inputs, options=None):
    """Run ``layer.forward`` on the inputs' values; when any input is a Variable, add a node to the graph.

    The node holds a shallow copy of the layer: what forward keeps for backward
    (masks, inputs) belongs to that node alone, so calling the layer again, by
    hand or in another graph, never changes this node's gradients. The copy
    shares the layer's parameters and buffers (the same arrays).
    """
    options = options or {}
    if not any(isinstance(a, Variable) for a in inputs):
        return layer.forward(*inputs, **options)
    for i in getattr(layer, "constant_inputs", ()):
        if i < len(inputs) and isinstance(inputs[i], Variable):
            name = input_names(layer, i + 1)[i]
            raise TypeError(f"{type(layer).__name__}: {name} is a Variable, but {name} receives no gradient "
                            f"(it is data, such as labels); pass {name}.data, or plain values")
    values = [a.data if isinstance(a, Variable) else a for a in inputs]
    if not _recording.get():
        return Variable(layer.forward(*values, **options))
    op = copy.copy(layer)
    op.input_grad = True  # a Variable input needs its gradient, whatever the layer was told by a network
    with np.errstate(all="ignore"):  # a non-finite result is reported by name below, not by NumPy from inside
        out = op.forward(*values, **options)
    if not nonfinite.all_finite(out) and all(nonfinite.all_finite(v) for v in values) and \
            all(nonfinite.all_finite(p.data) for p in op.parameters.values()):
        params = list(op.parameters.values())
        nonfinite.report("forward", op, _argument_names(op, [*inputs, *params]), [*values, *(p.data for p in params)],
                         out)
    args = tuple(inputs) + tuple(op.parameters.values())
    generation = max(a.generation for a in args if isinstance(a, Variable))
    node = Node(op, args, len(inputs), generation)
    output = Variable(out)
    output.creator = node
    output.generation = generation + 1
    node.output_ref = weakref.ref(output)
    node.output_data = output.data
    return output


def align_gradients(layer, returned, n_inputs):
    """What ``layer.backward`` returned, one entry per input (None for constant inputs such as labels).

    A layer returns one gradient per input that is not in its ``constant_inputs``
    (a single array when that is one). Anything else is an error naming the layer.
    """
    constant = set(getattr(layer, "constant_inputs", ()))
    differentiable = [i for i in range(n_inputs) if i not in constant]
    grads = returned if isinstance(returned, tuple) else (returned,)
    if len(grads) != len(differentiable):
        names = input_names(layer, n_inputs)
        raise GraphError(f"{type(layer).__name__}.backward returned {len(grads)} gradient(s) for "
                         f"{len(differentiable)} input(s) ({', '.join(names[i] for i in differentiable)}); expected "
                         "one gradient per input, in the order forward takes them")
    aligned = [None] * n_inputs
    for i, g in zip(differentiable, grads):
        aligned[i] = g
    return aligned


class InPlaceError(GraphError):
    """A layer's backward tried to change the dout it was given."""


def _read_only(a):
    """A read-only view of an array (the same numbers, no copy); anything else as it is."""
    if isinstance(a, np.ndarray):
        view = a.view()
        view.flags.writeable = False
        return view
    return a


def _argument_names(layer, args):
    """How a message names each argument: a Variable by its name; a constant (a plain number or array) and a value
    computed by an earlier node as such (``nonfinite.Unnamed``), never by a name the user may have given to
    something else (in ``sum(x) / 0`` the operands are not x and y); an unnamed leaf or parameter by the layer's
    name for that input (x, y, W, …) where no other argument has that name."""
    params = list(getattr(layer, "parameters", {}))
    n_inputs = len(args) - len(params) if len(args) >= len(params) and params and all(
        isinstance(a, Parameter) for a in args[len(args) - len(params):]) else len(args)
    defaults = input_names(layer, n_inputs) + params
    given = {getattr(a, "name", None) for a in args}
    names = []
    for i, a in enumerate(args):
        default = defaults[i] if i < len(defaults) else f"input {i}"
        if getattr(a, "name", None):
            names.append(a.name)
        elif not isinstance(a, Variable):
            names.append(nonfinite.Unnamed("a constant"))
        elif a.creator is not None:
            names.append(nonfinite.Unnamed("computed by an earlier step"))
        else:
            names.append(default if default not in given else f"input {i + 1}")
    return names


def holds_numbers(value):
    """True for a number or an array of numbers (NumPy's or CuPy's, read by its dtype, never copied): what a
    gradient must be."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except (ValueError, TypeError):     # a ragged list
            return False
    return np.dtype(dtype).kind in "biuf"


def _gradient_of(layer, node, i):
    """What the node's argument ``i`` is, in words: "input x" or "parameter W"."""
    return (f"input {input_names(layer, node.n_inputs)[i]}" if i < node.n_inputs
            else f"parameter {list(layer.parameters)[i - node.n_inputs]}")


def _node_gradients(node, upstream):
    """Run the node's backward and return one gradient per argument, checked against the arguments' shapes."""
    layer = node.layer
    frozen = _read_only(upstream)  # a layer never writes into its dout: the same array may feed another branch
    try:
        with np.errstate(all="ignore"):  # a non-finite gradient is reported by name below
            sent = align_gradients(layer, layer.backward(frozen), node.n_inputs)
    except ValueError as e:
        if "read-only" not in str(e):
            raise
        raise InPlaceError(f"{type(layer).__name__}.backward writes into the dout it is given (as the book's Relu "
                           "does with dout[mask] = 0); return a new array instead: the same dout may feed another "
                           "branch of the graph") from None
    grads = layer.grads
    sent.extend(grads.get(name) for name in layer.parameters)
    for i, (arg, g) in enumerate(zip(node.args, sent)):
        if isinstance(arg, Variable) and g is not None and not holds_numbers(g):   # 'abc', a ragged list, None inside
            shown = repr(g)
            error = GraphError(f"{type(layer).__name__}.backward gave {type(g).__name__} "
                               f"{shown[:40] + '…' * (len(shown) > 40)} for {_gradient_of(layer, node, i)}; expected "
                               f"an array of numbers of shape {arg.shape}")
            error.node, error.index, error.gradient, error.upstream = node, i, g, upstream
            raise error
    if not all(nonfinite.all_finite(g) for g in sent) and nonfinite.all_finite(upstream) and \
            all(nonfinite.all_finite(a.data if isinstance(a, Variable) else a) for a in node.args) and \
            nonfinite.all_finite(node.output_data):
        bad = next(g for g in sent if not nonfinite.all_finite(g))
        args = [a.data if isinstance(a, Variable) else a for a in node.args]
        nonfinite.report("backward", layer, ["dout", *_argument_names(layer, node.args)], [upstream, *args], bad)
    for i, (arg, g) in enumerate(zip(node.args, sent)):
        if not isinstance(arg, Variable):
            continue
        what = _gradient_of(layer, node, i)
        if g is None:
            raise GraphError(f"{type(layer).__name__}.backward gave no gradient for {what}, a Variable of shape "
                             f"{arg.shape}")
        if tuple(np.shape(g)) != arg.shape:
            error = GraphError(f"{type(layer).__name__}.backward gave a gradient of shape {tuple(np.shape(g))} for "
                               f"{what} of shape {arg.shape}; expected the shape of what it is the gradient of")
            error.node, error.index, error.gradient, error.upstream = node, i, g, upstream  # for locate's hints
            raise error
    return tuple(sent)


class Variable:
    """A value in a computational graph: ``data``, ``grad`` (None until backward), ``name``.

    ``data`` is always a floating-point array: Python numbers and integer
    arrays become float64, float32 stays float32. Plain numbers and arrays
    mixed with Variables in an expression are constants.
    """

    __array_ufunc__ = None  # so ``ndarray + Variable`` comes to Variable.__radd__
    __array_priority__ = 1000

    def __init__(self, data, name=None):
        self.data = as_float_array(data, type(self).__name__)
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

    # --- array-like facts -------------------------------------------------
    shape = property(lambda self: tuple(self.data.shape), doc="The value's shape, a tuple.")
    ndim = property(lambda self: self.data.ndim, doc="The value's number of dimensions.")
    size = property(lambda self: self.data.size, doc="How many numbers the value holds.")
    dtype = property(lambda self: self.data.dtype, doc="The value's dtype (float64 or float32).")

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        name = f", name={self.name!r}" if self.name else ""
        body = str(self.data).replace("\n", "\n" + " " * (len(type(self).__name__) + 1))
        return f"{type(self).__name__}({body}{name})"

    def item(self):
        """The value of a one-number Variable as a Python float."""
        return self.data.item()

    # --- backpropagation -------------------------------------------------
    def cleargrad(self):
        """Forget this Variable's gradient (backward accumulates into ``.grad``)."""
        self.grad = None

    def backward(self, dout=None):
        """Fill ``.grad`` of every Variable this one depends on (reverse topological order).

        ``dout`` is the upstream gradient, 1 by default (the output must then be a
        scalar). Gradients of leaf Variables (inputs and parameters: those no
        node computed) accumulate over calls, like PyTorch; ``cleargrad()``
        resets one, :func:`cleargrads` all of a graph. Intermediate Variables get
        the gradient of the latest pass.
        """
        xp = get_array_module(self.data)
        if dout is None:
            if self.data.size != 1:
                raise ValueError(f"backward: the output has shape {self.shape}; without dout it must be a scalar "
                                 f"(size 1), or pass dout of shape {self.shape}")
            dout = xp.ones_like(self.data)
        else:
            dout = as_float_array(dout.data if isinstance(dout, Variable) else dout, "backward: dout")
            dout = xp.asarray(dout, dtype=self.data.dtype if dout.ndim == 0 else None)
            if dout.shape != self.data.shape:
                raise ValueError(f"backward: dout has shape {tuple(dout.shape)}; expected {self.shape}, "
                                 "the output's shape")
        for node in _nodes_of(self):  # intermediate gradients are recomputed, not piled up
            out = node.output
            if out is not None:
                out.grad = None
        self.grad = dout if self.grad is None else self.grad + dout
        heap = [(-self.creator.generation, self.creator.seq, self.creator)] if self.creator else []
        queued = {id(self.creator)}
        while heap:
            _, _, node = heapq.heappop(heap)
            out = node.output
            upstream = out.grad if out is not None else None
            if upstream is None:  # the output was dropped and nothing else sent it a gradient
                continue
            sent = _node_gradients(node, upstream)
            node.upstream, node.sent = upstream, sent
            for arg, g in zip(node.args, sent):
                if not isinstance(arg, Variable):
                    continue
                arg.grad = g if arg.grad is None else arg.grad + g  # never in place: g may be shared
                creator = arg.creator
                if creator is not None and id(creator) not in queued:
                    queued.add(id(creator))
                    heapq.heappush(heap, (-creator.generation, creator.seq, creator))


class Parameter(Variable):
    """A trainable leaf of the graph that owns the very array a layer computes with.

    ``Affine(W, b)`` keeps ``W`` and ``b`` as Parameters: ``layer.W`` is the
    array, ``layer.parameters["W"]`` the Parameter. In a recorded graph they are
    leaves like any input: ``backward`` accumulates dL/dW into ``.grad``,
    :func:`cleargrads` resets it, drawings show it. Optimizers update ``.data``
    in place, so the layer sees every update.
    """

    def __init__(self, data, name=None):
        if hasattr(data, "dtype") and data.dtype.kind != "f":
            raise TypeError(f"Parameter{' ' + name if name else ''}: an array of dtype {data.dtype}; parameters are "
                            "trained in floating point (an integer array would truncate every update): pass "
                            "it as .astype(np.float64) or float32")
        super().__init__(data, name)


def _nodes_of(output):
    """Every node ``output`` depends on (iterative: deep graphs need no recursion)."""
    seen, order, stack = set(), [], [output.creator] if output.creator else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(a.creator for a in node.args if isinstance(a, Variable) and a.creator is not None)
    return order


def topological_nodes(output):
    """The nodes of ``output``'s graph in the order backward visits them (output first)."""
    return sorted(_nodes_of(output), key=lambda n: (-n.generation, n.seq))


def forward_nodes(output):
    """The nodes of ``output``'s graph in the order forward computed them (inputs first)."""
    return sorted(_nodes_of(output), key=lambda n: n.seq)


def leaves(output):
    """The Variables no node computed (inputs and parameters), in the order forward first used them."""
    found, seen = [], set()
    for node in forward_nodes(output):
        for a in node.args:
            if isinstance(a, Variable) and a.creator is None and id(a) not in seen:
                seen.add(id(a))
                found.append(a)
    return found


def cleargrads(output):
    """Set ``.grad`` to None on every Variable of ``output``'s graph, parameters included."""
    output.cleargrad()
    for node in _nodes_of(output):
        for a in node.args:
            if isinstance(a, Variable):
                a.cleargrad()
