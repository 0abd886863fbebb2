"""A recorded graph as data: the one description that drawings, explanations and the page are made from.

``describe(output)`` returns a JSON-able dict, format ``chainrule-graph``
version 1 (documented in docs/page.md, "The graph as data"):

* ``values``: every Variable and constant by id (``value1``, ``constant1``): its name,
  role (input, parameter, constant, intermediate, output), shape, numbers
  (flat, row-major; left out past ``VALUE_LIMIT``), gradient and labels;
* ``nodes``: the operations in forward order: the layer, its symbol, its
  ordered inputs (call arguments, then parameters), its output, the templates
  of its backward rule and what the page's engine needs to recompute it;
* ``backward``: the steps of the backward pass in the order they ran: the
  upstream gradient and, for each input, the rule in symbols, in numbers, the
  local derivative and the gradient sent;
* ``branches``: the branch rule: every value whose gradient is a sum of
  several, with its terms in order and the total;
* ``layout``: the direction and the position of every item, deterministic.

Unnamed Variables are called ``v1, v2, …`` in order of appearance (never ``t``,
which the book keeps for labels).
"""
from __future__ import annotations

from contextvars import ContextVar

import numpy as np

from ..backend import to_numpy
from ..graph import Parameter, Variable, forward_nodes, topological_nodes
from ..layers import ALL as ALL_LAYERS
from . import layout as layout_module
from . import rulemath
from .numbers import format_number, format_value

FORMAT = "chainrule-graph"
VERSION = 1
#: the most numbers one value may have for the page to embed it (a page must stay a few MB): above it the value
#: is described by its shape and summary only, and the page says which value keeps it from recomputing
VALUE_LIMIT = 250_000

#: layers the page shows but does not recompute, each with the reason (none today); a layer in neither set fails
#: tests/test_equations.py until its JavaScript is written or it is declared here
DISPLAY_ONLY: dict[str, str] = {}

#: the ops the page's JavaScript engine can recompute (static/engine.js)
PAGE_OPS = {"Mul", "Add", "Sub", "Div", "Neg", "Pow", "Exp", "Log", "Relu", "Sigmoid", "Tanh", "Softmax", "MatMul",
            "Affine", "Sum", "Mean", "Reshape", "Transpose", "SoftmaxWithLoss", "MeanSquaredError", "Dropout",
            "BatchNormalization", "Convolution", "Pooling", "Flatten"}


def page_catalogue():
    """What the page needs to build a graph from a typed expression, for every op it can recompute: each layer's
    symbol, input names and backward rule (templates, symbols, meanings), read off the layer classes, so that the
    page's graphs say exactly what Python's say."""
    catalogue = {}
    for cls in ALL_LAYERS:
        name = cls.__name__
        if name not in PAGE_OPS:
            continue
        catalogue[name] = {"symbol": cls.symbol, "rules": list(cls.rules), "rule_symbols": dict(cls.rule_symbols),
                           "input_names": cls.input_names(), "constant_inputs": list(cls.constant_inputs),
                           "definitions": [list(pair) for pair in cls.rule_meanings]}
    return catalogue


def _array(a):
    return np.asarray(to_numpy(a.data if isinstance(a, Variable) else a), dtype=np.float64)


#: how non-finite numbers are written in the graph JSON, which is strict JSON (RFC 8259 has no inf or NaN)
NONFINITE = {"inf": float("inf"), "-inf": float("-inf"), "NaN": float("nan")}


def json_number(v):
    """A float for JSON: itself when finite, else the string "inf", "-inf" or "NaN"."""
    v = float(v)
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return v


#: True while a graph computed wholly in float32 is described: its numbers are written as the shortest decimal that
#: gives the same float32 (0.007958122, not 0.007958121597766876): half the text, and not one float32 changes
_FLOAT32 = ContextVar("float32_graph", default=False)


def _numbers(a):
    if a.size > VALUE_LIMIT:
        return None
    if _FLOAT32.get():
        a32 = np.asarray(a, dtype=np.float32)
        if np.isfinite(a32).all():
            return [float(v) for v in a32.ravel().astype(str)]
        return [json_number(float(v)) if not np.isfinite(v) else float(str(v)) for v in a32.ravel()]
    if np.isfinite(a).all():
        return [float(v) for v in a.ravel()]
    return [json_number(v) for v in a.ravel()]


def _is_scalar(a):
    return np.ndim(a) == 0 or np.size(a) == 1


def _op_attributes(layer):
    """What the page's engine needs besides the inputs to recompute the layer."""
    name = type(layer).__name__
    if name == "Pow":
        return {"p": layer.p}
    if name in ("Sum", "Mean"):
        axis = layer.axis
        return {"axis": None if axis is None else list(axis) if isinstance(axis, tuple) else [axis],
                "keepdims": bool(layer.keepdims)}
    if name == "Reshape":
        return {"shape": list(layer.shape)}
    if name == "Transpose":
        return {"axes": None if layer.axes is None else list(layer.axes)}
    if name == "Dropout":
        scale = getattr(layer, "scale", None)
        return {"scale": None if scale is None else _numbers(_array(scale))}
    if name == "BatchNormalization":
        return {"training": bool(layer.train_flg), "eps": layer.eps, "running_mean": _numbers(_array(
            layer.running_mean)), "running_var": _numbers(_array(layer.running_var))}
    if name in ("Convolution", "Pooling"):
        return {k: getattr(layer, k) for k in ("stride", "pad", "pool_h", "pool_w", "mode") if hasattr(layer, k)}
    return {}


#: operations whose operands can be swapped: a folded constant needs no side ("×1.1", "+1", as the book draws)
COMMUTATIVE = {"Mul", "Add"}


def node_label(layer, constants):
    """An operation's label with its scalar constants folded in, each on its own side: ``×1.1`` for the
    book's tax node, ``2 − ·`` and ``· − 2``, ``1 ÷ ·`` (``·`` is the input drawn by the arrow)."""
    if not constants:
        return layer.symbol
    texts = [f"({text})" if text.startswith("-") else text for _, text in constants]
    if type(layer).__name__ in COMMUTATIVE or len(constants) != 1:
        return layer.symbol + "".join(texts)
    return f"{texts[0]} {layer.symbol} ·" if constants[0][0] == 0 else f"· {layer.symbol} {texts[0]}"


def local_formula(template):
    """The local derivative ∂out/∂input read off a rule of the form dout × F (or dout / y): F, else None."""
    for prefix, wrap in (("{dout} × ", "{}"), ("−{dout} × ", "−({})"), ("{dout} / ", "1 / {}")):
        if template.startswith(prefix):
            return wrap.format(template[len(prefix):])
    return {"{dout}": "1", "−{dout}": "−1"}.get(template)


class _Names:
    """Ids and display names for the values of a graph, in order of appearance."""

    def __init__(self):
        self.ids, self.names, self.count, self.constants = {}, {}, 0, 0
        self.taken = set()

    def variable(self, v):
        key = id(v)
        if key not in self.ids:
            self.count += 1
            self.ids[key] = f"value{self.count}"
        return self.ids[key]

    def constant(self):
        self.constants += 1
        return f"constant{self.constants}"


def describe(output, title=None, direction="auto", longest_lr=5, mark=None, mark_note=None):
    """The graph of ``output`` (after backward or not) as a JSON-able dict; see the module's docstring. ``mark``: a
    node to draw in red (a wrong one), ``mark_note`` what is wrong with it, in words."""
    if not isinstance(output, Variable):
        raise TypeError(f"describe: expected the output Variable of a graph, got {type(output).__name__}")
    nodes = forward_nodes(output)
    variables = [v for n in nodes for v in (*n.args, n.output) if isinstance(v, Variable)]
    token = _FLOAT32.set(bool(variables) and all(getattr(v.data, "dtype", None) == np.float32 for v in variables))
    try:
        data = _describe(output, nodes, title, direction, longest_lr, mark)
    finally:
        _FLOAT32.reset(token)
    data["marked_note"] = str(mark_note) if mark is not None and mark_note is not None else None
    return data


def _describe(output, nodes, title, direction, longest_lr, mark):
    names = _Names()
    values, node_records, node_ids, folded = {}, [], {}, {}
    used_names = {v.name for n in nodes for v in n.args if isinstance(v, Variable) and v.name}
    used_names |= {n.output.name for n in nodes if n.output is not None and n.output.name}
    auto = iter(f"v{k}" for k in range(1, 10 ** 9) if f"v{k}" not in used_names)

    def add_variable(v, role):
        vid = names.variable(v)
        if vid not in values:
            a = _array(v)
            values[vid] = {"id": vid, "name": v.name or next(auto), "role": role, "shape": list(a.shape),
                           "value": _numbers(a), "label": format_value(a), "grad": None, "grad_label": None,
                           "auto_name": v.name is None}
        return vid

    for k, node in enumerate(nodes, start=1):
        layer = node.layer
        nid = f"node{k}"
        node_ids[id(node)] = nid
        input_names = layer.input_names()
        arg_names = input_names[:node.n_inputs] + list(layer.parameters)
        inputs = []
        for i, arg in enumerate(node.args):
            arg_name = arg_names[i] if i < len(arg_names) else f"input{i}"
            if isinstance(arg, Variable):
                role = "intermediate" if arg.creator is not None else (
                    "parameter" if isinstance(arg, Parameter) else "input")
                inputs.append({"ref": add_variable(arg, role), "arg": arg_name})
            elif np.ndim(arg) == 0 and i not in layer.constant_inputs:
                folded.setdefault(nid, []).append((i, format_number(arg)))
                inputs.append({"ref": None, "arg": arg_name, "folded": float(arg)})
            else:
                cid = names.constant()
                a = _array(arg)
                what = "labels" if i in layer.constant_inputs else "constant"
                values[cid] = {"id": cid, "name": f"{what} {arg_name}", "role": "constant", "shape": list(a.shape),
                               "value": _numbers(a), "label": format_value(a), "grad": None, "grad_label": None}
                inputs.append({"ref": cid, "arg": arg_name})
        out = node.output
        out_id = add_variable(out, "output" if out is output else "intermediate") if out is not None else None
        rules = list(layer.rules)
        gradient_slots = [i for i in range(len(node.args)) if i >= node.n_inputs or i not in layer.constant_inputs]
        node_records.append({
            "id": nid, "op": type(layer).__name__, "symbol": layer.symbol,
            "label": node_label(layer, folded.get(nid, [])), "inputs": inputs, "output": out_id,
            "n_inputs": node.n_inputs, "constant_inputs": list(layer.constant_inputs),
            "rules": {str(slot): rules[j] for j, slot in enumerate(gradient_slots) if j < len(rules)},
            "symbols": {**{"dout": "dout", "out": "out"}, **layer.rule_symbols},
            "fields": dict(layer.explain_fields()), "attributes": _op_attributes(layer),
            "definitions": [list(pair) for pair in layer.rule_meanings],
            "matrix_shapes": {k: [int(n) for n in v] for k, v in layer.matrix_shapes().items()}})
    if output.creator is None:
        add_variable(output, "output")

    backward, contributions = _backward_steps(output, nodes, node_ids, names, values, node_records)
    branches = {}
    for vid, terms in contributions.items():
        total = sum(np.asarray(t["value_array"]) for t in terms)
        values[vid]["grad"] = _numbers(np.asarray(total, dtype=np.float64))
        values[vid]["grad_label"] = format_value(total)
        if len(terms) > 1:
            texts, relation = rulemath.sum_equation([t["value_array"] for t in terms], total)
            branches[vid] = {"terms": [{"node": t["node"], "via": t["via"], "label": text}
                                       for t, text in zip(terms, texts)],
                             "relation": relation, "total": format_value(total)}
    for t in (t for terms in contributions.values() for t in terms):
        del t["value_array"]
    if output.grad is not None:
        values[names.variable(output)]["grad"] = _numbers(_array(output.grad))
        values[names.variable(output)]["grad_label"] = format_value(_array(output.grad))
    data = {"format": FORMAT, "version": VERSION, "title": title, "output": names.variable(output),
            "values": values, "nodes": node_records, "backward": backward, "branches": branches,
            "recompute": False, "recompute_reason": None}
    data["recompute_reason"] = _why_not_recomputable(node_records, values)
    data["recompute"] = data["recompute_reason"] is None
    data["layout"] = _layout(data, direction, longest_lr)
    data["marked"] = node_ids.get(id(mark)) if mark is not None else None  # a node to draw in red (a wrong one)
    return data


def _why_not_recomputable(records, values):
    """None when the page's engine can recompute the graph, else exactly why not (the op, or the value too big)."""
    ops = sorted({r["op"] for r in records if r["op"] not in PAGE_OPS})
    if ops:
        return f"its operations {', '.join(ops)} have no JavaScript version in the page"
    big = [v for v in values.values() if v["role"] != "intermediate" and v["value"] is None]
    if big:
        v = big[0]
        size = int(np.prod(v["shape"])) if v["shape"] else 1
        return (f"{v['name']} has {size:,} numbers, more than the {VALUE_LIMIT:,} a page embeds per value, and every "
                "value is needed to recompute")
    return None


def rule_operands(record, node, values, upstream):
    """(env, symbols) of a node's rule templates: each placeholder's array (float64, as the rule's matrix
    where the layer says so) and its written name. The page's engine builds the same (``CR.operands``)."""
    env, symbols = {"dout": upstream}, {"dout": "dout"}
    inputs = record["inputs"]
    named = [(inp["arg"], values[inp["ref"]]["name"] if inp["ref"] else rulemath.number_text(inp["folded"]),
              _array(node.args[i])) for i, inp in enumerate(inputs)]
    for position, key in ((0, "x"), (1, "y")):
        if position < record["n_inputs"] and position < len(named):
            symbols[key], env[key] = named[position][1:]
    for arg, name, value in named:
        if arg not in symbols:
            symbols[arg], env[arg] = name, value
    symbols["out"] = values[record["output"]]["name"] if record["output"] else "out"
    env["out"] = _array(node.output_data)
    for key, text in record["fields"].items():
        symbols[key] = str(text)
        env.pop(key, None)
    for key, value in node.layer.rule_values().items():
        env[key] = _array(value)
    for key, shape in record["matrix_shapes"].items():
        if key in env:
            env[key] = env[key].reshape(shape)
    return env, symbols


def _backward_steps(output, nodes, node_ids, names, values, records):
    by_id = {r["id"]: r for r in records}
    steps, contributions = [], {}
    for node in topological_nodes(output):
        if node.upstream is None or node.sent is None:
            continue
        record = by_id[node_ids[id(node)]]
        upstream = _array(node.upstream)
        env, symbols = rule_operands(record, node, values, upstream)
        sent = []
        for i, (arg, g) in enumerate(zip(node.args, node.sent)):
            if not isinstance(arg, Variable) or g is None:
                continue
            vid = names.variable(arg)
            template = record["rules"].get(str(i))
            g = _array(g)
            entry = {"input": vid, "value": _numbers(g), "label": format_value(g)}
            if template is not None:
                entry.update(rulemath.equation(template, env, g, symbols))
                local = local_formula(template)
                if local is not None:
                    entry["local"] = rulemath.template_words(local, symbols)
                    if _is_scalar(upstream) and _is_scalar(g) and float(upstream.reshape(-1)[0]) != 0:
                        entry["local_value"] = format_number(float(g.reshape(-1)[0]) / float(upstream.reshape(-1)[0]))
            sent.append(entry)
            contributions.setdefault(vid, []).append({"node": record["id"], "via": record["label"].replace("\n", " "),
                                                      "value_array": g})
        steps.append({"node": record["id"], "upstream": _numbers(upstream), "upstream_label": format_value(upstream),
                      "sent": sent})
    return steps, contributions


def _layout(data, direction, longest_lr):
    """Positions for the value boxes (inputs, parameters, constants), the operations and the output."""
    items, edges = [], []
    values = data["values"]
    producer = {n["output"]: n["id"] for n in data["nodes"]}
    for node in data["nodes"]:
        for inp in node["inputs"]:
            ref = inp["ref"]
            if ref is None:
                continue
            source = producer.get(ref, ref)  # the operation that computed it, or its own box
            if source not in items:
                items.append(source)
            edges.append((source, node["id"]))
        items.append(node["id"])
    out = data["output"]
    last = next((n["id"] for n in data["nodes"] if n["output"] == out), None)
    items.append(out)
    if last is not None:
        edges.append((last, out))
    direction = layout_module.choose_direction(items, edges, direction, longest_lr)
    placed, (width, height) = layout_module.layout(items, edges, direction)
    kinds = {item: ("op" if item in {n["id"] for n in data["nodes"]} else
                    "output" if item == out else values[item]["role"]) for item in items}
    return {"direction": direction, "width": width, "height": height,
            "items": {item: {"x": p.x, "y": p.y, "rank": p.rank, "row": p.row, "kind": kinds[item]}
                      for item, p in placed.items()},
            "edges": [{"from": a, "to": b} for a, b in edges]}

