"""The backward pass in words, node by node, in the order it ran, from :func:`.graphdata.describe`.

Every line uses the Variables' own names, says what each symbol means, and
gives numbers where values are small: a scalar is its number, an array of at
most 12 numbers is written out in full, a larger one as its shape and min /
mean / max. A value used by several nodes gets the sum of their gradients,
shown with every term (the branch rule).
"""
from __future__ import annotations

from .graphdata import describe
from .numbers import format_number

def _header(data):
    values = data["values"]
    out = values[data["output"]]
    name = out["name"]
    return [f"Backward pass of {name} = {out['label']} (book §5.2–5.3). Every node receives dout, the gradient "
            f"of {name} with respect to its output (the upstream gradient), multiplies it by its local derivative "
            "and sends the product to each input: the chain rule. A value used by several nodes gets the sum of "
            f"their gradients (the branch rule). d v means ∂{name}/∂v; × is a product of numbers (elementwise for "
            "arrays), · the matrix product, ∘ the elementwise product, ᵀ the transpose, (N×M) a shape."]


def _definitions(node, data):
    """Lines saying what the rule's extra symbols are for this node."""
    meanings = node.get("definitions", [])
    if not meanings:
        return []
    values = data["values"]
    refs = [values[i["ref"]] if i["ref"] else None for i in node["inputs"]]
    x = refs[0]["name"] if refs and refs[0] else "x"
    labels = next((values[i["ref"]]["label"] for i in node["inputs"][1:] if i["ref"]), "")
    shape = refs[0]["shape"] if refs and refs[0] else []
    rows = shape[0] if len(shape) > 1 else 1
    fill = {"x": x, "t": labels, "N": rows, "n": node["fields"].get("n", "?"), "passed": ""}
    numbers = refs[0]["value"] if refs and refs[0] else None
    if numbers is not None:
        fill["passed"] = f" ({sum(1 for v in numbers if v > 0)} of {len(numbers)} entries pass)"
    return [f"{symbol.format(**fill)} = {meaning.format(**fill)}" for symbol, meaning in meanings]


def _is_number_text(text):
    """True for a local derivative that is itself a number (``1``, ``(−1)``): nothing to add to it."""
    return text is None or text.strip("()").replace("−", "-").lstrip("-").replace(".", "", 1).isdigit()


def explain(output):
    """The backward pass of ``output``'s graph in words (call ``backward()`` first)."""
    data = describe(output)
    values = data["values"]
    if not data["nodes"]:
        return f"{values[data['output']]['name']} was not computed by any node: there is nothing to explain.\n"
    if not data["backward"]:
        raise ValueError("explain: call backward() on the output first")
    nodes = {n["id"]: n for n in data["nodes"]}
    lines = _header(data)
    received = {}
    for k, step in enumerate(data["backward"], start=1):
        node = nodes[step["node"]]
        args = ", ".join(values[i["ref"]]["name"] if i["ref"] else format_number(i["folded"])
                         for i in node["inputs"])
        out = values[node["output"]]["name"] if node["output"] else "?"
        lines.append(f"{k}. {node['label'].replace(chr(10), ' ')} ({args}) → {out}: upstream dout = d {out} = "
                     f"{step['upstream_label']}")
        lines.extend(f"     where {d}" for d in _definitions(node, data))
        for sent in step["sent"]:
            name = values[sent["input"]]["name"]
            if "symbolic" in sent:
                line = f"     d {name} = {sent['symbolic']}"
                if "numeric" in sent and sent["numeric"] != sent["symbolic"]:
                    line += f" {sent['relation']} {sent['numeric']} {sent['relation']} {sent['label']}"
                else:
                    line += f" = {sent['label']}"
                if sent.get("local_value") is not None and not _is_number_text(sent.get("local")):
                    line += f"   (local derivative ∂{out}/∂{name} = {sent['local']} = {sent['local_value']})"
                if sent.get("note"):
                    line += f"\n       ({sent['note']})"
            else:
                line = f"     d {name} = {sent['label']}"
            lines.append(line)
            received.setdefault(sent["input"], []).append(sent)
            branch = data["branches"].get(sent["input"])
            if branch and len(received[sent["input"]]) == len(branch["terms"]):
                terms = " + ".join(f"{t['label']} (via {t['via']})" for t in branch["terms"])
                lines.append(f"     → {name} is used {len(branch['terms'])} times: d {name} = {terms} "
                             f"{branch.get('relation', '=')} {branch['total']}")
    leaves = [v for v in values.values() if v["role"] in ("input", "parameter") and v["grad_label"] is not None]
    lines.append("gradients: " + ", ".join(f"d {v['name']} = {v['grad_label']}" for v in leaves))
    return "\n".join(lines) + "\n"
