"""Draw and explain computational graphs in the book's style (§5.1–5.4).

``to_dot(output)`` gives Graphviz DOT text like the book's figures: left to
right, operations as circles (×, +, dot, exp, …), inputs
labelled with their names, each forward arrow labelled with its value and,
after ``backward()``, a red bold arrow going back labelled with the gradient
that flowed along it. ``render(output, "graph.svg")`` runs Graphviz's ``dot``.
``explain(output)`` narrates the backward pass node by node.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..backend import to_numpy
from ..graph import Variable, forward_nodes, leaves, topological_nodes

FORMATS = ("dot", "svg", "png", "pdf")


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is needed to render SVG/PNG/PDF."""


def format_value(value, max_items=3):
    """A short label: ``220`` for a scalar, ``(2, 3) [0.1, -2, 0.5, …]`` for an array."""
    if isinstance(value, Variable):
        value = value.data
    a = to_numpy(value) if not isinstance(value, (int, float)) else np.asarray(value)
    if a.size == 1 and a.ndim == 0:
        return _number(a.item())
    items = ", ".join(_number(v) for v in a.ravel()[:max_items].tolist())
    more = ", …" if a.size > max_items else ""
    return f"{tuple(a.shape)} [{items}{more}]"


def _number(v):
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _brief(value):
    """For explanations: numbers as numbers, arrays as their shape."""
    a = value.data if isinstance(value, Variable) else value
    if np.ndim(a) == 0:
        return format_value(a)
    return "⟨" + "×".join(str(n) for n in np.shape(a)) + "⟩"


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Layout:
    """Stable names for the graph's nodes and Variables (same graph, same text)."""

    def __init__(self, output):
        self.output = output
        self.nodes = forward_nodes(output)  # inputs first
        self.op_id = {id(n): f"op{i}" for i, n in enumerate(self.nodes)}
        self.var_names, unnamed = {}, 0
        for node in self.nodes:
            for arg in node.args:
                if isinstance(arg, Variable) and id(arg) not in self.var_names and arg.creator is None:
                    unnamed += arg.name is None
                    self.var_names[id(arg)] = arg.name or f"x{unnamed}"
            out = node.output
            if out is not None and id(out) not in self.var_names:
                unnamed += out.name is None
                self.var_names[id(out)] = out.name or f"t{unnamed}"
        self.var_index = {key: i for i, key in enumerate(self.var_names)}

    def name(self, var):
        return self.var_names.get(id(var)) or var.name or "?"

    @staticmethod
    def folded_constant(node, arg):
        """Scalar constants are written into the operation's label, as the book's "×1.1" node."""
        return not isinstance(arg, Variable) and np.ndim(arg) == 0

    def label(self, node):
        symbol = node.layer.symbol
        constants = [a for a in node.args if self.folded_constant(node, a)]
        return symbol + "".join(format_value(c) for c in constants)


def to_dot(output, title=None):
    """Graphviz DOT text of ``output``'s graph with forward values and (after backward) red gradients."""
    if not isinstance(output, Variable):
        raise TypeError(f"to_dot: expected the output Variable of a graph, got {type(output).__name__}")
    layout = _Layout(output)
    lines = ["digraph chainrule {", "    rankdir=LR;",
             '    node [shape=circle, fontname="Helvetica", fontsize=12];',
             '    edge [fontname="Helvetica", fontsize=11];']
    if title:
        lines.append(f"    label={_quote(title)}; labelloc=t;")
    forward, backward = [], []
    declared = set()

    def declare(node_id, attrs):
        if node_id not in declared:
            declared.add(node_id)
            lines.append(f"    {node_id} [{attrs}];")

    constant_count = 0
    for node in layout.nodes:
        op = layout.op_id[id(node)]
        declare(op, f"label={_quote(layout.label(node))}")
        for i, arg in enumerate(node.args):
            if layout.folded_constant(node, arg):
                continue
            if isinstance(arg, Variable) and arg.creator is not None:
                source = layout.op_id[id(arg.creator)]
            elif isinstance(arg, Variable):
                source = "v_" + "".join(ch if ch.isalnum() else "_" for ch in layout.name(arg))
                source += f"_{layout.var_index[id(arg)]}"
                declare(source, f"label={_quote(layout.name(arg))}, shape=ellipse")
            else:
                constant_count += 1
                source = f"c{constant_count}"
                declare(source, f"label={_quote('constant ' + format_value(arg))}, shape=plaintext")
            forward.append(f"    {source} -> {op} [label={_quote(format_value(arg))}];")
            sent = node.sent[i] if node.sent is not None and i < len(node.sent) else None
            if isinstance(arg, Variable) and sent is not None:
                backward.append(f"    {op} -> {source} [label={_quote(format_value(sent))}, color=red, "
                                "fontcolor=red, style=bold, constraint=false];")
    last = layout.op_id.get(id(output.creator))
    sink = "output"
    declare(sink, f"label={_quote(output.name or 'output')}, shape=doublecircle")
    if last is None:  # a bare Variable: nothing computed it
        lines.extend(forward)
    else:
        forward.append(f"    {last} -> {sink} [label={_quote(format_value(output))}];")
        if output.grad is not None and output.creator.upstream is not None:
            backward.insert(0, f"    {sink} -> {last} [label={_quote(format_value(output.grad))}, color=red, "
                               "fontcolor=red, style=bold, constraint=false];")
    lines.extend(forward)
    lines.extend(reversed(backward))
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(output, path, title=None):
    """Write the drawing of ``output``'s graph to ``path``: .dot always, .svg/.png/.pdf with Graphviz's ``dot``."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"render: cannot write {path.name!r}; expected a file ending in "
                         + ", ".join("." + f for f in FORMATS))
    text = to_dot(output, title)
    if fmt == "dot":
        data = text.encode()
    else:
        dot = shutil.which("dot")
        if dot is None:
            raise GraphvizNotFoundError(
                f"cannot write {path.name}: Graphviz's `dot` program is not installed. Install it "
                "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda: conda install "
                "graphviz) or write a .dot file instead.")
        result = subprocess.run([dot, f"-T{fmt}"], input=text.encode(), capture_output=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"Graphviz `dot -T{fmt}` failed: {result.stderr.decode(errors='replace').strip()}")
        data = result.stdout
    with atomic_write(path) as f:
        f.write(data)
    return path


def explain(output):
    """The backward pass in words, node by node, in the order it ran.

    For the apple graph: ``× (apple_price, tax): upstream 1 → d apple_price =
    1 × 1.1 = 1.1, d tax = 1 × 200 = 200``.
    """
    layout = _Layout(output)
    order = topological_nodes(output)
    if not order:
        return f"{layout.name(output) if output.name else 'the output'} was not computed by any node.\n"
    if order[0].upstream is None:
        raise ValueError("explain: call backward() on the output first")
    lines = [f"backward from {output.name or 'the output'} = {format_value(output)}, "
             f"starting with d {output.name or 'output'} = {format_value(output.grad)}:"]
    for node in order:
        layer = node.layer
        names = [layout.name(a) if isinstance(a, Variable) else format_value(a) for a in node.args]
        scalar = np.ndim(node.upstream) == 0
        fields = {"dout": _brief(node.upstream) if scalar else "dout",
                  "out": _brief(node.output_data) if scalar else "y"}
        for key, arg, name in zip(("x", "y"), node.args, names):
            fields[key] = _brief(arg) if np.ndim(_data(arg)) == 0 else name
        fields.update(layer.explain_fields())
        parts = []
        for i, arg in enumerate(node.args):
            if not isinstance(arg, Variable) or node.sent is None or i >= len(node.sent) or node.sent[i] is None:
                continue
            rule = layer.rules[i].format(**fields) if i < len(layer.rules) else "…"
            if getattr(layer, "broadcasts", False) and np.shape(node.sent[i]) != np.shape(node.upstream):
                rule = f"Σ over broadcast axes of ({rule})"  # the bias rule
            parts.append(f"d {names[i]} = {rule} = {_brief(node.sent[i])}")
        label = layout.label(node).replace("\n", " ")
        lines.append(f"{label} ({', '.join(names)}): upstream {_brief(node.upstream)} → " + ", ".join(parts))
    lines.append("gradients: " + ", ".join(f"d {layout.name(v)} = {format_value(v.grad)}"
                                           for v in leaves(output) if v.grad is not None))
    return "\n".join(lines) + "\n"


def _data(a):
    return a.data if isinstance(a, Variable) else a
