"""Computational graphs: values flow forward through layer nodes, gradients flow back.

A :class:`Variable` holds a value. Calling a layer on Variables (or using
``+ - * / @ **`` on them) runs that layer's ``forward`` and records a
:class:`Node` holding the layer. ``y.backward()`` then visits the nodes from
the output back to the inputs, newest generation first, so a node runs only
after every consumer of its output has sent its gradient; each node calls its
layer's ``backward`` and *adds* what it returns into its inputs' ``.grad``:
the chain rule, and the branch rule of seed 004 for a value used twice.

The graph engine holds no math of its own: every rule is in :mod:`chainrule.layers`.
"""
from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import weakref

import numpy as np

from .backend import get_array_module

_recording = contextvars.ContextVar("chainrule_recording", default=True)
_sequence = itertools.count()


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


class Node:
    """One operation in the graph: a layer, the arguments it was called with, and its output.

    After ``backward`` it also keeps what it received (``upstream``) and what it
    passed to each input (``sent``), for drawings and explanations.
    """

    __slots__ = ("layer", "args", "output_ref", "output_data", "generation", "seq", "upstream", "sent", "__weakref__")

    def __init__(self, layer, args, generation):
        self.layer = layer
        self.args = args              # Variables and constants, in call order
        self.generation = generation
        self.seq = next(_sequence)
        self.output_ref = None
        self.output_data = None
        self.upstream = None
        self.sent = None

    @property
    def output(self):
        return self.output_ref() if self.output_ref is not None else None

    @property
    def inputs(self):
        """The Variable arguments (constants excluded)."""
        return [a for a in self.args if isinstance(a, Variable)]

    def __repr__(self):
        return f"Node({type(self.layer).__name__}, generation={self.generation})"


def apply(layer, args):
    """Run ``layer.forward`` on the arguments' values; record a node when any is a Variable."""
    if not any(isinstance(a, Variable) for a in args):
        return layer.forward(*args)
    out = layer.forward(*(a.data if isinstance(a, Variable) else a for a in args))
    if not _recording.get():
        return Variable(out)
    previous = getattr(layer, "_graph_node", None)
    if previous is not None and previous() is not None:
        raise ValueError(f"{type(layer).__name__}: this layer instance is already a node of a graph and keeps "
                         "that node's values for backward; create a new layer for each use")
    generation = max(a.generation for a in args if isinstance(a, Variable))
    node = Node(layer, tuple(args), generation)
    layer._graph_node = weakref.ref(node)
    output = Variable(out)
    output.creator = node
    output.generation = generation + 1
    node.output_ref = weakref.ref(output)
    node.output_data = output.data
    return output


def _as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


class Variable:
    """A value in a computational graph: ``data``, ``grad`` (None until backward), ``name``.

    Python numbers become float64 0-d arrays; arrays keep their dtype. Plain
    numbers and arrays mixed with Variables in an expression are constants.
    """

    __array_ufunc__ = None  # so ``ndarray + Variable`` comes to Variable.__radd__

    def __init__(self, data, name=None):
        if isinstance(data, Variable):
            raise TypeError("Variable: data is already a Variable; use it directly")
        if isinstance(data, bool) or data is None:
            raise TypeError(f"Variable: data must be a number or an array, got {data!r}")
        if isinstance(data, (int, float)):
            data = np.asarray(data, dtype=np.float64)
        elif get_array_module(data) is np:
            data = np.asarray(data)
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

    # --- array-like facts -------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        name = f", name={self.name!r}" if self.name else ""
        body = str(self.data).replace("\n", "\n" + " " * 9)
        return f"Variable({body}{name})"

    def item(self):
        return self.data.item()

    # --- backpropagation -------------------------------------------------
    def cleargrad(self):
        """Forget this Variable's gradient (backward accumulates into ``.grad``)."""
        self.grad = None

    def backward(self, dout=None):
        """Fill ``.grad`` of every Variable this one depends on (reverse topological order).

        ``dout`` is the upstream gradient, 1 by default (the output must then be a
        scalar). Gradients of leaf Variables (those not computed by a node)
        accumulate over calls, like PyTorch; ``cleargrad()`` resets one,
        :func:`cleargrads` all the leaves of a graph. Intermediate Variables get
        the gradient of the latest pass.
        """
        xp = get_array_module(self.data)
        if dout is None:
            if self.data.size != 1:
                raise ValueError(f"backward: the output has shape {self.shape}; without dout it must be a scalar "
                                 f"(size 1), or pass dout of shape {self.shape}")
            dout = xp.ones_like(self.data)
        else:
            dout = dout.data if isinstance(dout, Variable) else dout
            dout = xp.asarray(dout, dtype=self.data.dtype if np.isscalar(dout) else None)
            if dout.shape != self.shape:
                raise ValueError(f"backward: dout has shape {dout.shape}; expected {self.shape}, the output's shape")
        nodes = _nodes_of(self)
        for node in nodes:  # intermediate gradients are recomputed, not piled up
            out = node.output
            if out is not None:
                out.grad = None
        self.grad = dout if self.grad is None else self.grad + dout
        heap = [(-self.creator.generation, self.creator.seq, self.creator)] if self.creator else []
        queued = {id(self.creator)}
        while heap:
            _, _, node = heapq.heappop(heap)
            out = node.output
            upstream = out.grad
            grads = _as_tuple(node.layer.backward(upstream))
            node.upstream = upstream
            node.sent = grads
            for arg, g in zip(node.args, grads):
                if not isinstance(arg, Variable) or g is None:
                    continue
                arg.grad = g if arg.grad is None else arg.grad + g  # never in place: g may be shared
                creator = arg.creator
                if creator is not None and id(creator) not in queued:
                    queued.add(id(creator))
                    heapq.heappush(heap, (-creator.generation, creator.seq, creator))

    # --- operators: each one is a layer -----------------------------------
    def __add__(self, other): return _op("AddLayer", self, other)
    def __radd__(self, other): return _op("AddLayer", other, self)
    def __sub__(self, other): return _op("SubLayer", self, other)
    def __rsub__(self, other): return _op("SubLayer", other, self)
    def __mul__(self, other): return _op("MulLayer", self, other)
    def __rmul__(self, other): return _op("MulLayer", other, self)
    def __truediv__(self, other): return _op("DivLayer", self, other)
    def __rtruediv__(self, other): return _op("DivLayer", other, self)
    def __matmul__(self, other): return _op("MatMul", self, other)
    def __rmatmul__(self, other): return _op("MatMul", other, self)
    def __neg__(self): return _op("NegLayer", self)

    def __pow__(self, p):
        from .layers import PowLayer
        return apply(PowLayer(p), (self,))

    @property
    def T(self):
        from . import ops
        return ops.transpose(self)

    def sum(self, axis=None, keepdims=False):
        from . import ops
        return ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        from . import ops
        return ops.mean(self, axis, keepdims)

    def reshape(self, *shape):
        from . import ops
        return ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes):
        from . import ops
        return ops.transpose(self, (axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes) or None)

    def exp(self):
        from . import ops
        return ops.exp(self)

    def log(self):
        from . import ops
        return ops.log(self)

    def relu(self):
        from . import ops
        return ops.relu(self)

    def sigmoid(self):
        from . import ops
        return ops.sigmoid(self)

    def tanh(self):
        from . import ops
        return ops.tanh(self)

    def softmax(self):
        from . import ops
        return ops.softmax(self)


def _op(layer_name, *args):
    from . import layers
    return apply(getattr(layers, layer_name)(), args)


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


def leaves(output):
    """The Variables of the graph that no node computed (inputs and parameters)."""
    found, seen = [], set()
    for node in topological_nodes(output):
        for a in node.args:
            if isinstance(a, Variable) and a.creator is None and id(a) not in seen:
                seen.add(id(a))
                found.append(a)
    return found


def cleargrads(output):
    """Set ``.grad`` to None on every Variable of ``output``'s graph."""
    output.cleargrad()
    for node in _nodes_of(output):
        for a in node.args:
            if isinstance(a, Variable):
                a.cleargrad()
