"""Graphviz drawings in the book's style (§5.1–5.4): values on the arrows, gradients in red going back.

Operations are circles (×, +, dot, exp, …; longer names in rounded boxes),
inputs and parameters ellipses with their names, constants such as labels
boxes that say what they are, the output a double circle. Each arrow carries
its value (a named intermediate with its name), and after ``backward()`` a red
bold arrow goes back with the gradient that flowed along it. Arrays are written
in full when small, else as their shape with min / mean / max.
"""
from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

from ..atomic import atomic_write
from .graphdata import describe
from .numbers import label_lines

FORMATS = ("dot", "svg", "png", "pdf")
#: pixels per inch of a PNG: sharp on a 1080p slide (Graphviz's own default is 72, blurred when enlarged)
DEFAULT_DPI = 200


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is needed to render SVG/PNG/PDF."""


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html_label(value, gradient):
    """A Graphviz HTML-like label: the value's lines, then the gradient's lines in bold red; text escaped."""
    def lines(text):
        return "<BR/>".join(html.escape(line, quote=True) for line in str(text).split("\n"))
    top = lines(value) if value else ""
    red = f'<FONT COLOR="red"><B>{lines(gradient)}</B></FONT>'
    return f"<{top}<BR/>{red}>" if top else f"<{red}>"


def _item(vid):
    return vid


def _multiline(ref, data):
    value = data["values"][ref]
    return value["label"] if value["value"] is None else _multiline_label(value["label"])


def _multiline_label(label):
    """The label on lines as every drawing breaks it (``numbers.label_lines``): narrower arrows."""
    return "\n".join(label_lines(label))


def to_dot(output, title=None, direction="auto"):
    """Graphviz DOT text of ``output``'s graph with forward values and (after backward) red gradients."""
    data = describe(output, title, direction)
    values = data["values"]
    lines = ["digraph chainrule {", f"    rankdir={data['layout']['direction']};",
             '    node [fontname="Helvetica", fontsize=13];', '    edge [fontname="Helvetica", fontsize=11];']
    if title:
        lines.append(f"    label={_quote(title)}; labelloc=t; fontname=\"Helvetica\"; fontsize=16;")
    producer = {n["output"]: n["id"] for n in data["nodes"]}
    sent = {(step["node"], s["input"]): s["label"] for step in data["backward"] for s in step["sent"]}
    edges, declared, declarations = [], set(), {}

    def declare(item, attrs):
        if item not in declared:
            declared.add(item)
            declarations[item] = f"    {item} [{attrs}];"

    def connect(source, target, text, gradient):
        """The forward arrow and, after backward, a red arrow back beside it; one label for both, the value over
        the gradient in red (two labels side by side would run into each other: 0.6335 and 1 read 0.63351)."""
        if gradient is None:
            edges.append(f"    {source} -> {target} [label={_quote(text)}];")
            return
        edges.append(f"    {source} -> {target} [label={_html_label(text, gradient)}];")
        edges.append(f"    {source} -> {target} [color=red, style=bold, dir=back];")

    for node in data["nodes"]:
        label = node["label"]
        shape = "circle" if len(label) <= 4 and "\n" not in label else "box, style=rounded"
        declare(node["id"], f"label={_quote(label)}, shape={shape}")
        for inp in node["inputs"]:
            ref = inp["ref"]
            if ref is None:
                continue  # a scalar constant written into the operation's label ("×1.1")
            value = values[ref]
            if ref in producer:
                source = producer[ref]
                text = f"{value['name']} = {_multiline(ref, data)}"  # every name the explanation uses is drawn
            else:
                source = _item(ref)
                if value["role"] == "constant":
                    declare(source, f"label={_quote(value['name'] + chr(10) + _multiline(ref, data))}, shape=note, "
                                    "fontsize=11")
                    text = ""
                else:
                    declare(source, f"label={_quote(value['name'])}, shape=ellipse")
                    text = _multiline(ref, data)
            gradient = sent.get((node["id"], ref))
            connect(source, node["id"], text, None if gradient is None else _multiline_label(gradient))
    out = values[data["output"]]
    sink = _item(data["output"])
    declare(sink, f"label={_quote(out['name'])}, shape=doublecircle")
    last = producer.get(data["output"])
    if last is not None:
        connect(last, sink, out["label"], out["grad_label"] if data["backward"] else None)
    # nodes in reading order (column by column, top to bottom), as the book writes its figures: Graphviz then
    # keeps apple above orange
    placed = sorted(data["layout"]["items"].items(), key=lambda kv: (kv[1]["rank"], kv[1]["row"]))
    lines.extend(declarations[item if item.startswith("node") else _item(item)] for item, _ in placed)
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(output, path, title=None, direction="auto", dpi=DEFAULT_DPI):
    """Write the drawing of ``output``'s graph to ``path``: .dot always, .svg/.png/.pdf with Graphviz's ``dot``;
    a PNG at ``dpi`` pixels per inch (default 200)."""
    if not isinstance(dpi, (int, float)) or isinstance(dpi, bool) or not 10 <= dpi <= 1200:
        raise ValueError(f"render: dpi must be a number from 10 to 1200, got {dpi!r}")
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"render: cannot write {path.name!r}; expected a file ending in "
                         + ", ".join("." + f for f in FORMATS))
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; expected a file name")
    text = to_dot(output, title, direction)
    if fmt == "dot":
        data = text.encode()
    else:
        data = _graphviz(text, fmt, path.name, dpi)
    with atomic_write(path) as f:
        f.write(data)
    return path


def to_svg(output, title=None, direction="auto"):
    """The drawing as SVG text (Graphviz's ``dot`` needed)."""
    return _graphviz(to_dot(output, title, direction), "svg", "the SVG", DEFAULT_DPI).decode("utf-8")


def _graphviz(text, fmt, name, dpi):
    """Graphviz's ``dot -Tfmt`` on DOT text: the bytes it writes, or a one-line error naming ``name``."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            f"cannot write {name}: Graphviz's `dot` program is not installed. Install it "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda: conda install "
            "graphviz) or write a .dot file instead.")
    try:
        options = [f"-Gdpi={dpi:g}"] if fmt == "png" else []
        result = subprocess.run([dot, f"-T{fmt}", *options], input=text.encode(), capture_output=True,
                                timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"Graphviz `dot -T{fmt}` could not run: {e}") from None
    if result.returncode != 0:
        raise RuntimeError(f"Graphviz `dot -T{fmt}` failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def page_order(data):
    """Graphviz's arrangement of a page's drawing, where ``dot`` is installed: for every item, and for every arrow's
    label (one per use of a value, in the page's order), its position across the direction of flow. The page keeps
    its own layered layout (which guarantees that no arrow crosses a box and no label another) and takes from
    Graphviz only the order of the boxes in each layer: Graphviz's crossing minimisation. None without ``dot``."""
    if shutil.which("dot") is None:
        return None
    producer = {n["output"]: n["id"] for n in data["nodes"]}
    uses = [(producer.get(i["ref"], i["ref"]), n["id"]) for n in data["nodes"] for i in n["inputs"] if i["ref"]]
    if data["output"] in producer:
        uses.append((producer[data["output"]], data["output"]))
    items = list(data["layout"]["items"])
    lines = ["digraph order {", "  rankdir=LR; nodesep=0.2; ranksep=0.3;", "  node [shape=box, width=0.6, height=0.4];"]
    lines += [f"  {_quote(item)};" for item in items]
    for k, (source, target) in enumerate(uses):
        lines.append(f'  "label:{k}" [width=0.8, height=0.5];')
        lines.append(f'  {_quote(source)} -> "label:{k}" -> {_quote(target)};')
    lines.append("}")
    try:
        plain = _graphviz("\n".join(lines), "plain", "the page's layout", DEFAULT_DPI).decode("utf-8")
    except (RuntimeError, GraphvizNotFoundError):
        return None
    across = {}
    for line in plain.splitlines():
        parts = line.split()
        if parts[:1] == ["node"]:
            across[parts[1].strip('"')] = float(parts[3])
    if not all(item in across for item in items):
        return None
    # the page lays out top to bottom from its first layer: Graphviz's y grows upwards
    return {"items": {item: -across[item] for item in items},
            "labels": [-across.get(f"label:{k}", 0.0) for k in range(len(uses))]}
