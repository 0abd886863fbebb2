"""A network (book §5.7.2): an ordered list of layers and a loss layer, nothing more.

``gradient(x, t)`` is one forward and one backward pass through the layers of
:mod:`chainrule.layers`, by hand, as the book writes it: training pays only for
the layers' math. Given a :class:`~chainrule.graph.Variable`, ``predict`` and
``loss`` record the same layers as a graph instead, whose parameter leaves
(``net.parameters()``) receive the same gradients from ``backward()``.

Every network has the same interface: the book's ``params``, ``predict``,
``loss``, ``accuracy``, ``gradient``, ``numerical_gradient``; and
``state_dict``/``load_state_dict`` (parameters and batch-norm statistics),
``last_loss``, ``predict_classes`` (batched), ``diagnose`` (where values stop
being finite) and ``config`` (what rebuilds it).
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from contextlib import nullcontext

import numpy as np

from .. import backend, gradcheck, memory, mode, parallel, param_files
from ..graph import Variable
from ..layers import Affine, Convolution, Pooling, Relu, SoftmaxWithLoss
from ..layers.base import Layer
from . import plan as planning


#: inference takes slices of samples whose largest layer output is about this size through all the layers at
#: once (Network._predict_by_slices): they stay in a core's cache from one layer to the next
INFERENCE_SLICE_BYTES = 1 << 20


def _is_finite(a):
    return bool(np.all(np.isfinite(a)))


def _fused_plans(layers, fuse=True):
    """The (layer, rule of the layers after it) pairs a step runs, forward and backward.

    A convolution followed by ReLU applies ReLU's forward to each slice of its output while it is in the cache
    (Relu.rectifier), and a max or average pooling after them, or right after the convolution, pools the slice
    too (Pooling.pooler); backward, ReLU's rule is applied to each slice of dout as the convolution reads it
    (Relu.masker). Those layers keep their rules and what their backward needs; they cost no pass over the
    batch of their own. The same numbers, fewer passes. Everything else (and everything when not ``fuse``):
    each layer on its own.

    Backward stops at the first layer with parameters: nothing needs dL/dx of the data, so the layers before it
    (a leading ReLU, dropout, pooling or flatten of a spec such as ``dropout(0.2)-affine(100)``) get no dout."""
    first = _first_with_parameters(layers) or 0
    if not fuse:
        return [(layer, None) for layer in layers], [(layer, None) for layer in reversed(layers[first:])]
    forward, backward = [], []
    for k, layer in enumerate(layers):
        after = layers[k + 1] if k + 1 < len(layers) else None
        fused = isinstance(layer, Convolution) and isinstance(after, Relu)
        rules = []
        if fused:
            rules.append(after.rectifier)
            if k + 2 < len(layers) and isinstance(layers[k + 2], Pooling):
                rules.append(layers[k + 2].pooler)
        elif isinstance(layer, Convolution) and isinstance(after, Pooling):  # conv-pool-bn-relu (the default CNN)
            rules.append(after.pooler)
        forward.append((layer, _chained(rules) if rules else None))
        if k < first or isinstance(layer, Relu) and k and isinstance(layers[k - 1], Convolution):
            continue                                   # before the first weights, or run inside the convolution's
        backward.append((layer, after.masker if fused else None))
    return forward, backward[::-1]


def _first_with_parameters(layers):
    """The index of the first layer with parameters (None if none): backward stops there, and it skips dL/dx."""
    return next((k for k, layer in enumerate(layers) if layer.parameters), None)


def _chained(rules):
    """One ``then`` for a layer's output from the next layers' rules: each slice goes through them in order."""
    if len(rules) == 1:
        return rules[0]

    def then(out):
        steps = [rule(out) for rule in rules]

        def rows(lo, hi):
            for step in steps:
                step(lo, hi)
        return rows
    return then


class Network:
    """Layers in order plus ``last_layer`` (SoftmaxWithLoss), with parameters named as in the book.

    Made from a plan (:mod:`chainrule.nets.plan`): ``input_shape`` is one
    sample's shape, ``output_size`` the number of classes.
    """

    def __init__(self, planned, dtype=np.float64, weight_init_std="he", seed=None, weight_decay_lambda=0.0):
        try:
            lam = float(weight_decay_lambda)
        except (TypeError, ValueError):
            lam = float("nan")
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"weight_decay_lambda must be a finite number ≥ 0, got {weight_decay_lambda!r}")
        planning.init_scale(weight_init_std, 1)  # a bad weight_init_std fails here, before any weight is drawn
        self.weight_decay_lambda = lam
        self.dtype = planning.as_dtype(dtype)
        if backend.beyond_dtype(lam, self.dtype):   # λ·W in the weights' dtype: inf from the first gradient
            raise ValueError(f"weight_decay_lambda {lam:g} is beyond {np.dtype(self.dtype).name}, the network's dtype "
                             f"(largest {float(np.finfo(self.dtype).max):.3g}); expected a decay it can hold, such as "
                             "1e-4")
        self.weight_init_std = weight_init_std
        self.input_shape = tuple(planned[0].in_shape)
        self.output_size = int(np.prod(planned[-1].out_shape))
        self.planned = planned
        # before a single weight is drawn: the weights, their gradients and optimizer state, and one sample
        memory.check_network(planned, self.dtype.itemsize, batch=1, training=True,
                             what=f"{type(self).__name__} with {memory.parameter_bytes(planned, 1):,} parameters")
        numbered_layers = planning.build(planned, self.dtype, weight_init_std, seed, backend.xp())
        self.layers = []
        self.last_layer = SoftmaxWithLoss()
        self.params = {}       # the book's dict: name → the very array a layer computes with
        self._named = []       # (layer, local name, name): which params entry is which layer parameter
        self._grad_attrs = []  # (layer, "dW", name): where backward leaves each gradient
        self._buffers = []     # (layer, local name, name)
        self._last_loss = None
        for layer, number in numbered_layers:
            self._add(layer, number)
        # convolutions split their batch over the cores themselves: the whole step then runs on chainrule's
        # threads, BLAS on one (chainrule.parallel.own_threads)
        self._own_threads = any(layer.splits_batch for layer in self.layers)
        self.fuse = True        # a ReLU (and pooling) after a convolution run inside it (_fused_plans)
        self._forward_plan, self._backward_plan = _fused_plans(self.layers)
        # inference runs the layers before the first Affine depth first, slice by slice (_predict_by_slices), where
        # they hold two convolutions or more
        first_affine = next((k for k, layer in enumerate(self.layers) if isinstance(layer, Affine)), len(self.layers))
        convolutions = sum(isinstance(layer, Convolution) for layer in self.layers[:first_affine])
        self._depth_first = first_affine if convolutions >= 2 else 0
        first = _first_with_parameters(self.layers)
        if first is not None:
            self.layers[first].input_grad = False  # nothing needs dL/dx of the data: skip that product

    def _add(self, layer: Layer, number):
        for local, p in layer.parameters.items():
            name = f"{local}{number}"
            if name in self.params:
                raise ValueError(f"two parameters would be called {name}")
            p.name = name
            self.params[name] = p.data
            self._named.append((layer, local, name))
            self._grad_attrs.append((layer, "d" + local, name))
        for local in layer.buffers:
            self._buffers.append((layer, local, f"{local}{number}"))
        self.layers.append(layer)

    # --- the book's interface -------------------------------------------------------------------------
    def predict(self, x, train_flg=None):
        """Scores (logits) for a batch: the layers' forward passes in order.

        Inference unless ``train_flg=True`` or inside ``chainrule.train_mode()``.
        A Variable ``x`` records the graph.
        """
        x = self.shaped(x)
        self._check_input(x)
        graph = isinstance(x, Variable)
        with mode.mode(mode.resolve(train_flg, default=False)), self._threads():
            if graph:
                for layer in self.layers:
                    x = layer(x)
                return x
            plan = self._forward_plan
            if self._own_threads and type(x) is np.ndarray and len(x) > 1 and not mode.is_training():
                x = self._predict_by_slices(x)
                plan = plan[self._depth_first:]
            for layer, then in plan:
                x = layer.forward(x) if then is None else layer.forward(x, then=then)
        return x

    def _predict_by_slices(self, x):
        """Inference through the layers before the first Affine, depth first: the batch cut into slices
        (:func:`chainrule.parallel.slices`, fixed by the batch and the sizes, not by the cores), and each slice
        taken through those layers by one core while its values are in that core's cache, the cores working on
        different slices at once. Layer by layer, every layer would split the whole batch over the cores and wait
        for the last slice before the next layer starts. From the first Affine on, layer by layer: an Affine
        multiplies each sample by all of W, which is one product split in two over the whole batch, and a thin
        product reading all of W again for each slice of a dozen samples (measured: SimpleConvNet's inference
        1.5× slower with its Affine in the slices). Only where two convolutions or more come before it: one
        convolution already runs the ReLU and pooling after it inside its own slices, and each slice's calls into
        the layers hold Python's lock (the GIL) a while, which the other core then waits for (measured:
        SimpleConvNet's convolution, ReLU and pooling 2.1 ms layer by layer, 2.9 ms depth first; DeepConvNet's
        six convolutions 15.4 ms layer by layer, 14.0 ms depth first).

        The same layers and rules: each thread runs copies of the layers (which share their parameters) because
        a layer keeps its last input, which two threads must not overwrite. Inference only: nothing here is kept
        for a backward pass, and no sample depends on another."""
        depth = self._depth_first
        if depth == 0:
            return x
        itemsize = self.dtype.itemsize
        largest = max(int(np.prod(p.out_shape)) for p in self.planned[:depth]) * itemsize
        own, made, out = threading.local(), threading.Lock(), []

        def through_the_layers(lo, hi):
            plan = getattr(own, "plan", None)
            if plan is None:
                copies = [copy.copy(layer) for layer in self.layers[:depth]]
                plan = own.plan = _fused_plans(copies, self.fuse)[0]
            h = x[lo:hi]
            with parallel.this_thread_only(), mode.mode(False):
                for layer, then in plan:
                    h = layer.forward(h) if then is None else layer.forward(h, then=then)
            with made:
                if not out:
                    out.append(np.empty((len(x),) + h.shape[1:], dtype=h.dtype))
            out[0][lo:hi] = h       # by the thread that computed it, while it is in that core's cache

        parallel.over_batch(through_the_layers, len(x), largest, slice_bytes=INFERENCE_SLICE_BYTES)
        return out[0]

    def loss(self, x, t, train_flg=None):
        """Mean cross-entropy of softmax(predict(x)) against t, plus ½λ Σ‖W‖² with weight decay λ."""
        y = self.predict(x, train_flg)
        if isinstance(y, Variable):
            loss = self.last_layer(y, t)
            if self.weight_decay_lambda:
                penalty = None
                for p in self._decayed_parameters():
                    term = (p * p).sum()
                    penalty = term if penalty is None else penalty + term
                loss = loss + 0.5 * self.weight_decay_lambda * penalty
            return loss
        loss = self.last_layer.forward(y, t)
        if self.weight_decay_lambda:
            loss = loss + 0.5 * self.weight_decay_lambda * sum(float(np.vdot(p.data, p.data))
                                                               for p in self._decayed_parameters())
        return loss

    def _threads(self):
        """All cores on chainrule's threads for a network with convolutions (:mod:`chainrule.parallel`)."""
        return parallel.own_threads() if self._own_threads else nullcontext()

    def _decayed_parameters(self):
        return [layer.parameters[local] for layer, local, _ in self._named if local in layer.decayed]

    def accuracy(self, x, t, batch_size=10000):
        """Fraction of rows whose highest score is the label (indices or one-hot rows), in inference mode."""
        t = backend.to_numpy(t)
        self._check_labels("accuracy", x, t)
        if t.ndim != 1:
            t = t.argmax(axis=1)
        if len(x) == 0:
            return 0.0
        return float((self.predict_classes(x, batch_size) == t).mean())

    def _check_labels(self, what, x, t):
        """One label (a class index or a one-hot row) per sample of x, or a clear error naming both counts."""
        if np.ndim(x) < 2:
            raise ValueError(f"{type(self).__name__}.{what}: x has shape {tuple(np.shape(x))}; expected a batch of "
                             "samples, one per row (one sample: x[None] and t[None])")
        samples, labels = x.shape[0], (t.shape[0] if np.ndim(t) > 0 else 1)
        if samples != labels:
            raise ValueError(f"{type(self).__name__}.{what}: x holds {samples} samples but t holds {labels} labels "
                             f"(t has shape {tuple(np.shape(t))}); expected one class index or one-hot row per "
                             "sample")

    def gradient(self, x, t):
        """All parameter gradients by backprop: one forward (training mode) and one backward pass."""
        with self._threads():
            self._last_loss = self.loss(x, t, train_flg=True)
            dout = self.last_layer.backward(1)
            for layer, before in self._backward_plan:
                dout = layer.backward(dout) if before is None else layer.backward(dout, before=before)
        grads = {name: getattr(layer, attr) for layer, attr, name in self._grad_attrs}
        if self.weight_decay_lambda:
            for layer, local, name in self._named:
                if local in layer.decayed:
                    grads[name] = grads[name] + self.weight_decay_lambda * layer.params[local]
        return grads

    def numerical_gradient(self, x, t, h=1e-4):
        """All parameter gradients by central differences of the training-mode loss (slow: for checks)."""
        return gradcheck.numerical_gradients(self, x, t, h)

    # --- the interface everything else uses ---------------------------------------------------------
    @property
    def last_loss(self):
        """The loss of the last ``gradient()`` call (with weight decay), or None before the first."""
        return self._last_loss

    def parameters(self):
        """name → :class:`~chainrule.graph.Parameter`: the graph's leaves for ``params``."""
        return {name: layer.parameters[local] for layer, local, name in self._named}

    def buffers(self):
        """name → array learned without gradients (batch-norm running statistics)."""
        return {name: layer.buffers[local] for layer, local, name in self._buffers}

    def state_dict(self):
        """Copies of every parameter and buffer by name: all it takes to restore the trained network."""
        return {name: a.copy() for name, a in {**self.params, **self.buffers()}.items()}

    def load_state_dict(self, state, check_finite=True):
        """Write ``state`` (from :meth:`state_dict` or a model file) into the network, in place.

        Every name must be present with this network's shape; values must be
        finite (``check_finite=False`` restores a snapshot as it was).
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: state must be a mapping of names to arrays (from state_dict() or a "
                            f"model file), got {type(state).__name__}")
        own = {**self.params, **self.buffers()}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError("state does not fit this network: " + "; ".join(
                part for part in (f"missing {', '.join(missing)}" if missing else "",
                                  f"unexpected {', '.join(unexpected)}" if unexpected else "") if part))
        for name, target in own.items():
            value = state[name]
            if tuple(np.shape(value)) != tuple(target.shape):
                raise ValueError(f"{name} has shape {tuple(np.shape(value))}; this network expects "
                                 f"{tuple(target.shape)}")
            if getattr(value, "dtype", np.dtype(float)).kind not in "fiu":
                raise ValueError(f"{name} has dtype {value.dtype}; expected numbers")
            if check_finite and not _is_finite(value):
                raise ValueError(f"{name} holds NaN or infinite values")
            beyond = backend.beyond_dtype(value, target.dtype) if check_finite else None
            if beyond:        # finite as given, infinite in this network's dtype (1e300 in float32)
                raise ValueError(f"{name} holds {beyond}: they would become infinite")
        for name, target in own.items():
            target[...] = backend.get_array_module(target).asarray(state[name])  # in place: layers hold them

    def save_params(self, file_name="params.pkl"):
        """The book's ``save_params``: every parameter (and batch-norm statistic) by name, into ``file_name``.
        Written as an uncompressed .npz whatever the name's suffix, never as a pickle, and atomically
        (:mod:`chainrule.param_files`); ``chainrule train`` writes a whole model (config too) with
        :func:`chainrule.model_io.save_model` instead."""
        param_files.save_arrays(file_name, {**self.params, **self.buffers()})

    def load_params(self, file_name="params.pkl"):
        """The book's ``load_params``: the arrays of ``file_name`` into this network's own, in place (the layers
        hold them). Reads what :meth:`save_params` writes, a model file of ``chainrule train`` and the book's
        pickles, building NumPy arrays and nothing else. Every parameter and batch-norm statistic of this network
        must be there with its shape, and finite; anything else is refused naming it, and nothing changes."""
        expected = {**self.params, **self.buffers()}
        arrays = param_files.load_arrays(file_name, expected)
        param_files.check_arrays(file_name, arrays, expected)
        try:
            self.load_state_dict(arrays)
        except ValueError as e:
            raise param_files.ParamsFileError(f"{file_name}: {e}") from None

    def _scores_in_batches(self, x, batch_size):
        xp = backend.xp()
        # smaller batches where big ones would not fit in memory, or would not fit in memory that is reused
        batch_size = memory.fit_batch(self.planned, self.dtype.itemsize, batch_size,
                                      f"{type(self).__name__}'s prediction")
        if xp is np:                    # on a GPU, large batches are what it is fast at
            batch_size = memory.reusable_batch(self.planned, self.dtype.itemsize, batch_size)
        for i in range(0, len(x), batch_size):
            with np.errstate(all="ignore"):       # non-finite scores are refused below, naming the sample
                scores = self.predict(xp.asarray(x[i:i + batch_size], dtype=self.dtype), train_flg=False)
            finite = xp.isfinite(scores).all(axis=1)
            if not bool(finite.all()):
                first = i + int(xp.argmin(finite))
                sample = xp.asarray(x[first:first + 1])
                with np.errstate(all="ignore"):      # a value beyond the dtype: diagnose names where it went
                    cast = sample.astype(self.dtype)
                why = "its inputs hold inf or NaN" if not _is_finite(sample) else \
                    f"{self.diagnose(cast, train_flg=False)}: its inputs may be far outside the training data's range"
                raise ValueError(f"{type(self).__name__}: the scores of sample {first} are not finite (inf or NaN), "
                                 f"so it has no class; {why}")
            yield i, scores

    def predict_classes(self, x, batch_size=10000):
        """The predicted class of each row (a NumPy array), computed in batches in inference mode."""
        out = [backend.to_numpy(scores.argmax(axis=1)) for _, scores in self._scores_in_batches(x, batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def class_probabilities(self, x, batch_size=10000):
        """softmax of each row's scores (float64, NumPy), computed in batches in inference mode; a row whose scores
        are not finite has no probabilities and is refused (ValueError naming it), never a "probability nan"."""
        from ..array_math import softmax
        out = [softmax(backend.to_numpy(scores).astype(np.float64)) for _, scores in self._scores_in_batches(x,
                                                                                                          batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 0))

    def evaluate(self, x, t, batch_size=10000):
        """``{"loss", "accuracy"}`` on (x, t) in inference mode, in batches: the mean cross-entropy (without
        weight decay) and the fraction of rows classified right."""
        self._check_labels("evaluate", x, t)
        loss_layer, total, correct = SoftmaxWithLoss(), 0.0, 0
        for i, scores in self._scores_in_batches(x, batch_size):
            labels = t[i:i + len(scores)]
            total += float(loss_layer.forward(scores, labels)) * len(scores)
            classes = labels if labels.ndim == 1 else labels.argmax(axis=1)
            correct += int((scores.argmax(axis=1) == classes).sum())
        n = max(len(x), 1)
        return {"loss": total / n, "accuracy": correct / n}

    def diagnose(self, x, train_flg=None):
        """Where non-finite values first appear for batch ``x``: a parameter, or the first layer whose output is.

        Runs in the given mode (the current one when None) and leaves the
        batch-norm statistics as they were. Returns None when all is finite.
        """
        for name, p in self.params.items():
            if not _is_finite(p):
                return f"parameter {name} {tuple(p.shape)} holds non-finite values"
        saved = {name: b.copy() for name, b in self.buffers().items()}
        x = self.shaped(x)
        try:
            with mode.mode(mode.resolve(train_flg, default=False)), np.errstate(all="ignore"):
                for i, layer in enumerate(self.layers, start=1):
                    x = layer.forward(x)
                    if not _is_finite(x):
                        return f"the output of layer {i} ({layer!r}) is non-finite"
        finally:
            for name, b in self.buffers().items():
                b[...] = saved[name]
        return None

    def shaped(self, x):
        """``x`` as the first layer takes it (image networks read rows as images); here unchanged."""
        return x

    def _check_input(self, x):
        """A batch of samples of the shape this network was built for (or, for a network of vectors, samples
        with that many values, which its first Affine flattens); anything else is refused, never scored."""
        shape, expected = tuple(x.shape), tuple(self.input_shape)
        if shape[1:] == expected or (len(expected) == 1 and shape == expected):
            return
        if len(expected) == 1 and len(shape) > 1 and int(np.prod(shape[1:])) == expected[0]:
            return
        wanted = ", ".join(str(n) for n in expected)
        raise ValueError(f"{type(self).__name__}: x has shape {shape}; this network was built for samples of shape "
                         f"{expected}: expected a batch (N, {wanted})")

    # --- description ------------------------------------------------------------------------------
    def config(self) -> dict:  # pragma: no cover - every network overrides
        """The constructor arguments that rebuild this network, with its class name under "class"."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming the network and its dtype (the CLI's headers and titles)."""
        return f"{type(self).__name__} ({np.dtype(self.dtype).name})"

    def __repr__(self):
        return f"{type(self).__name__}({self.describe()})"
