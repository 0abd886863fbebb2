"""Where a backward pass goes wrong: every node of a recorded graph checked on its own (book §5.7.3, made precise).

A gradient check of a whole network says *that* a gradient is wrong; :func:`locate` says *where*. It walks the
nodes in the order backward ran them and checks each one alone: its layer's backward, given the very dout the
node received, against central differences of Σ forward(inputs) ∘ dout. A wrong node cannot hide behind a right
one or blame it, because each is checked with its own inputs and its own dout; entries where ±h crosses a ReLU
kink or changes a max-pooling winner are retried with smaller steps and otherwise left out, as
:func:`chainrule.gradcheck.gradient_check` does, so a correct layer is never blamed there.

The first node whose gradient departs is returned as a :class:`Finding`: the node, the input, the wrong entries
with the expected and the computed numbers, and a hint tied to the rule (a transposed product, a missing sum
over the rows, a wrong sign, a missing 1/N, dout changed in place, the other input's value taken for one's own).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from . import gradcheck, mode
from .gradcheck import _layers_kink_state, _restored, compare, numerical_gradient
from .graph import Variable, input_names, topological_nodes


@dataclass
class Finding:
    """The first node, in backward order, whose gradient departs from the numerical one."""

    step: int                 # its place in the backward pass (1: the node next to the output)
    node: object              # the graph's node
    layer: str                # its layer's class name
    input: str                # which input or parameter (x, y, W, b, …)
    expected: np.ndarray | None
    got: np.ndarray | None
    wrong: list = field(default_factory=list)   # [(index, expected, got)] for the first few wrong entries
    hint: str = ""

    def __str__(self):
        lines = [f"backward step {self.step}: {self.layer} sends a wrong gradient to {self.input}"]
        if self.got is None:
            lines.append(f"  backward returned no gradient for {self.input}")
        elif np.shape(self.got) != np.shape(self.expected):
            lines.append(f"  d{self.input} has shape {np.shape(self.got)}; expected {np.shape(self.expected)}, the "
                         f"shape of {self.input}")
        for index, e, g in self.wrong:
            where = f"[{', '.join(map(str, index))}]" if index else ""
            lines.append(f"  d{self.input}{where}: expected {e:.6g} (numerical), got {g:.6g}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def _inputs_of(node):
    return [a.data if isinstance(a, Variable) else a for a in node.args[:node.n_inputs]]


def check_node(node, h=1e-4, rtol=1e-5, atol=1e-7, seed=0):
    """``[(name, expected, got, crossed, changed_dout)]`` for one node: its layer alone, on its own inputs and dout."""
    layer = copy.copy(node.layer)
    inputs = [np.array(a, dtype=np.float64) if i not in getattr(layer, "constant_inputs", ()) else a
              for i, a in enumerate(_inputs_of(node))]
    dout = np.array(node.upstream, dtype=np.float64)
    names = input_names(layer, len(inputs))
    constant = set(getattr(layer, "constant_inputs", ()))

    with mode.replay_randomness(seed):
        base = np.array(layer.forward(*inputs), dtype=np.float64)

    def objective(_):
        # Σ (out − out at the start) ∘ dout: the large part common to f(x + h) and f(x − h) cancels entry by entry
        # before the sum, so a big output does not drown the difference in rounding (a correct node stays correct)
        with mode.replay_randomness(seed):
            return float(np.sum((layer.forward(*inputs) - base) * dout))

    def kinks():
        return _layers_kink_state([layer])

    results = []
    with _restored(getattr(layer, "buffers", {}).values()):
        objective(None)
        sent_dout = dout.copy()
        got = layer.backward(sent_dout)
        changed = not np.array_equal(sent_dout, dout)
        got = list(got) if isinstance(got, tuple) else [got]
        params = {k: v for k, v in getattr(layer, "params", {}).items()}
        param_grads = {k: (None if v is None else np.array(v, copy=True)) for k, v in layer.grads.items()} \
            if params else {}
        got = [None if g is None else np.array(g, dtype=np.float64) for g in got]
        slot = 0
        for i, value in enumerate(inputs):
            if i in constant:
                continue
            g = got[slot] if slot < len(got) else None
            slot += 1
            expected, crossed = numerical_gradient(objective, value, h, kinks)
            results.append((names[i], expected, g, crossed, changed))
        for name, param in params.items():
            expected, crossed = numerical_gradient(objective, param, h, kinks)
            results.append((name, expected, param_grads.get(name), crossed, changed))
    return results, inputs, dout


def _agrees_at_another_step(node, k, got, h, rtol, atol, seed):
    """True when the node's k-th gradient agrees with central differences at a 100× larger or smaller step.

    One step cannot suit every node: where a node's output is far larger than the change h makes in it (a sum
    of numbers near 10⁷), the difference drowns in the rounding of the output, and a smaller step cannot help a
    curved function either. A node is blamed only when no step agrees: a wrong rule (a factor, a sign, a
    transpose) agrees at none.
    """
    for other in (h * 100, h / 100):
        name, expected, _, crossed, _ = check_node(node, other, rtol, atol, seed)[0][k]
        if compare(name, got, expected, rtol, atol, crossed).ok:
            return True
    return False


def locate(output, h=1e-4, rtol=1e-5, atol=1e-7, seed=0):
    """The first node of ``output``'s graph, in backward order, whose gradient departs (a :class:`Finding`), or
    None when every node agrees. Call ``output.backward()`` first.

    >>> import numpy as np
    >>> from chainrule import Variable, relu
    >>> x = Variable(np.array([[1.0, -2.0]]), "x")
    >>> out = (relu(x) * x).sum()
    >>> out.backward()
    >>> locate(out) is None     # chainrule's own layers: every node agrees
    True
    """
    if not isinstance(output, Variable) or output.creator is None:
        raise TypeError("locate: expected the output Variable of a recorded graph")
    for step, node in enumerate(n for n in topological_nodes(output) if n.upstream is not None):
        results, inputs, dout = check_node(node, h, rtol, atol, seed)
        for k, (name, expected, got, crossed, changed) in enumerate(results):
            verdict = compare(name, got, expected, rtol, atol, crossed)
            if verdict.ok and not changed:
                continue
            if not changed and _agrees_at_another_step(node, k, got, h, rtol, atol, seed):
                continue
            finding = Finding(step + 1, node, type(node.layer).__name__, name, expected, got)
            if got is not None and np.shape(got) == np.shape(expected):
                bad = np.abs(got - expected) > atol + rtol * np.abs(expected)
                bad &= ~crossed
                finding.wrong = [(tuple(int(i) for i in idx), float(expected[idx]), float(got[idx]))
                                 for idx in map(tuple, np.argwhere(bad)[:4])]
            finding.hint = hint(node.layer, name, expected, got, dout, inputs, changed,
                                getattr(node, "output_data", None))
            return finding
    return None


gradcheck.LOCATE = locate   # gradient_check on a graph that fails names the first node that departs


def _elementwise_hint(name, e, g, dout, x, y):
    """For a layer applied to each element (dx = dout ∘ f′), what the local derivative it used, g / dout, lacks
    or has too much of against the rule's, e / dout, in terms of its input x and its output y: a missing factor
    y or 1 − y (Sigmoid's y(1 − y)), the input where the rule takes the stored output."""
    d = np.asarray(dout, dtype=np.float64)
    if x is None or y is None or not (np.shape(x) == np.shape(y) == d.shape == e.shape):
        return None
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.abs(d) > 1e-9
    if not keep.any():
        return None
    used, rule = g[keep] / d[keep], e[keep] / d[keep]
    x, y = x[keep], y[keep]

    def same(a, b):
        return np.allclose(a, b, rtol=1e-4, atol=1e-9) and not np.allclose(a, 0)

    factors = (("y (the output)", y), ("1 − y", 1 - y), ("x (the input)", x), ("1 − x", 1 - x), ("1 + y", 1 + y))
    for words, factor in factors:
        if not np.allclose(factor, 1, rtol=1e-4) and same(used * factor, rule):
            return (f"d{name} lacks a factor {words}: this layer's rule is dx = dout ∘ f′, and your f′ is the "
                    "rule's divided by it (for Sigmoid f′ = y(1 − y), from the output y forward stored)")
        if not np.allclose(factor, 1, rtol=1e-4) and same(used, rule * factor):
            return f"d{name} has an extra factor {words}: compare your f′ with the rule's, factor by factor"
    for form in (lambda t: t * (1 - t), lambda t: 1 - t * t, lambda t: t):
        if same(used, form(x)) and same(rule, form(y)) and not np.allclose(x, y):
            return (f"d{name} is computed from the input x where the rule uses the output y that forward stored "
                    "(Sigmoid: dx = dout × y(1 − y), Tanh: dx = dout × (1 − y²))")
    return None


def _softmax_loss_hint(name, g, dout, x, t):
    """For softmax with cross-entropy over logits x and labels t: the rule dx = dout × (y − t) / N with t one-hot,
    against the usual slips (t left out, 1 taken from every entry instead of the label's)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.exp(x - x.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    scale = float(dout) / len(x)
    if np.allclose(g, y * scale, rtol=1e-4, atol=1e-9):
        return (f"d{name} is y / N: the labels are missing; the rule is dx = (y − t) / N with t one-hot, so subtract "
                "1 at each row's label (dx[np.arange(N), t] -= 1) before dividing by N (book §5.6.3)")
    if np.allclose(g, (y - 1) * scale, rtol=1e-4, atol=1e-9):
        return (f"d{name} has 1 subtracted from every entry; t is one-hot: only each row's label entry loses 1 "
                f"(dx[np.arange(N), t] -= 1), the other {x.shape[1] - 1} of each row keep y (book §5.6.3)")
    return None


def hint(layer, name, expected, got, dout, inputs, changed=False, output=None):
    """What the numbers suggest went wrong, in the words of the rule (``output``: what forward gave, for the
    rules of elementwise layers, written with their output y)."""
    if changed:
        return ("backward changed dout in place (as the book's Relu does with dout[mask] = 0); return a new array: "
                "the same dout may feed two branches")
    if got is None:
        return f"backward must return a gradient for {name}"
    e, g = np.asarray(expected), np.asarray(got)
    if g.shape != e.shape:
        if g.ndim == 2 and g.shape == e.shape[::-1]:
            return (f"d{name} has the shape of {name}ᵀ: the matrix rule is dX = dY·Wᵀ and dW = Xᵀ·dY (book §5.6.1); "
                    "did you write dY·X instead of Xᵀ·dY, or swap the factors?")
        if g.ndim == e.ndim + 1 and g.shape[1:] == e.shape and np.allclose(g.sum(axis=0), e, rtol=1e-4, atol=1e-7):
            return (f"d{name} must be summed over the rows: {name} was added to every row (the broadcast rule, book "
                    "§5.6.2: db = Σ_rows dY, np.sum(dout, axis=0))")
        if e.ndim == 4 and g.size == e.size and g.ndim == 2:
            return (f"d{name} must be put back in {name}'s shape (FN, C, FH, FW) = {e.shape}: the product colᵀ · dout "
                    "is (C·FH·FW, FN), so dW = (colᵀ · dout).transpose(1, 0).reshape(FN, C, FH, FW) (book §7.4.3)")
        if e.ndim == 1 and g.ndim >= 2 and g.shape[0] == e.shape[0] and np.allclose(
                g.reshape(e.shape[0], -1).sum(axis=1), e, rtol=1e-4, atol=1e-7):
            return (f"d{name} must also be summed over the positions: {name} is added at every output position of "
                    "every sample, so db = Σ dout over N, OH and OW (dout.sum(axis=(0, 2, 3)))")
        d = np.asarray(dout)
        if e.ndim == 1 and d.ndim == 2 and g.shape == (d.shape[0],) and np.allclose(g, d.sum(axis=1), rtol=1e-4,
                                                                                     atol=1e-7):
            return (f"d{name} is summed over each row (axis=1); {name} is added to every row, so its gradient sums "
                    "dout over the rows: np.sum(dout, axis=0) (book §5.6.2)")
        return f"d{name} must have the shape of {name}, {e.shape}: a gradient is shaped like what it is the gradient of"
    if e.size > 1 and not np.allclose(g, e, rtol=1e-4, atol=1e-7) and np.allclose(
            np.sort(g, axis=None), np.sort(e, axis=None), rtol=1e-4, atol=1e-7):
        return (f"d{name} has the right numbers in the wrong places: check the order of the axes where you reshape "
                "or transpose (a convolution's dW: transpose (C·FH·FW, FN) to (FN, C·FH·FW) before reshaping to "
                "(FN, C, FH, FW))")
    d = np.asarray(dout)
    if e.ndim == 1 and d.ndim >= 2 and d.shape[1 if d.ndim > 2 else -1] == e.shape[0]:
        first = d[0] if d.ndim == 2 else d[0].reshape(e.shape[0], -1).sum(axis=1)
        if d.shape[0] > 1 and np.allclose(g, first, rtol=1e-4, atol=1e-7) and not np.allclose(first, e):
            return (f"d{name} comes from the first sample only: {name} is added to every sample"
                    + (" at every position" if d.ndim > 2 else "") + ", so every one sends its gradient back: sum "
                    "over all of them (book §5.6.2: db = Σ_rows dY)")
    if not np.any(g) and np.abs(e).max() > 1e-12:
        return (f"d{name} is all zeros: {name} gets no gradient, as if its branch were forgotten; every input of a "
                "node gets its share (book §5.3: the add node passes dout on to both inputs)")
    if np.allclose(g, -e, rtol=1e-4, atol=1e-7) and np.abs(e).max() > 1e-12:
        return "the sign is wrong: compare the rule's sign (for x − y: dy = −dout; for 1/x: −dout / x²)"
    if len(inputs) == 2 and all(np.shape(a) == np.shape(dout) for a in inputs):
        own, other = (inputs[0], inputs[1]) if name == input_names(layer, 2)[0] else (inputs[1], inputs[0])
        if np.allclose(g, dout * own, rtol=1e-4, atol=1e-7) and not np.allclose(own, other):
            return ("each input gets dout times the *other* input (book §5.4.1, the Mul layer: dx = dout × y, "
                    "dy = dout × x)")
    if len(inputs) == 2 and np.ndim(inputs[0]) == 2 and np.ndim(inputs[1]) == 1 and \
            np.asarray(inputs[1]).dtype.kind in "iu" and len(inputs[1]) == len(inputs[0]) and np.ndim(dout) == 0:
        found = _softmax_loss_hint(name, g, dout, *inputs)
        if found:
            return found
    if len(inputs) == 1:
        found = _elementwise_hint(name, e, g, dout, inputs[0], output)
        if found:
            return found
    mask = np.abs(e) > 1e-9
    if mask.any():
        ratio = g[mask] / e[mask]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-4):
            k = float(ratio.flat[0])
            n = np.shape(inputs[0])[0] if inputs and np.ndim(inputs[0]) > 1 else 1
            if n > 1 and np.isclose(k, n, rtol=1e-4):
                return (f"d{name} is {n} times too large: the loss is the mean over the batch of {n}, so divide by N "
                        "(book §5.6.3: dx = (y − t) / N)")
            if n > 1 and np.isclose(k, 1 / n, rtol=1e-4):
                return f"d{name} is divided by the batch size {n} once too often"
            if not np.isclose(k, 1.0):
                return f"d{name} is off by a factor of {k:.4g} everywhere: a constant of the rule is wrong or missing"
    if np.allclose(g, dout, rtol=1e-4, atol=1e-7) and np.shape(g) == np.shape(dout):
        return ("d{0} is dout passed on unchanged: this layer's local derivative is missing (dx = dout × f′(x))"
                .format(name))
    return "compare each entry with the rule of this layer's backward in its docstring"
