"""One self-contained interactive page for a recorded graph: ``to_html(output, path)``.

The page needs no server and no network: its script (``static/engine.js`` and
``static/page.js``), its style (``static/page.css``) and the graph's data
(:func:`.graphdata.describe`, plus a spiral and the book's two-layer net for the
training view) are all inside the file, and a Content-Security-Policy allows
only that script and that style (by their SHA-256) and forbids every request:
no CDN, no fonts, nothing fetched.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from importlib import resources
from pathlib import Path
from string import Template

from ..atomic import atomic_write
from ..version import __version__
from .dot import GraphvizNotFoundError, page_order, to_svg
from .graphdata import describe, page_catalogue

def _static(name):
    text = resources.files("chainrule.draw").joinpath("static", name).read_text(encoding="utf-8")
    return text.split("-->\n", 1)[1] if name.endswith(".html") else text  # the file's own comment stays home


def _digest(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _json_for_script(obj):
    """JSON that can sit inside a <script> element whatever its strings hold: every < > & written as a \\u escape,
    so neither "</script" nor "<!--" (which makes the parser look for a second </script>) can appear in it."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def page(output, title=None, direction="auto", data=None, training=None, expression=None, mark=None, classes=None,
         cnn_training=None, mark_note=None):
    """The page's HTML text for ``output``'s graph (or for an already described graph ``data``).

    ``training`` (:func:`chainrule.training.spiral_page.spiral_training`) adds the Train view, where the
    book's two-layer net learns a spiral; without it the page offers no training. ``expression`` fills the page's
    expression field (the text the graph was built from), where a student can type another one. ``mark`` (a node
    of the graph, as :func:`chainrule.locate.locate` finds it) is drawn in red: the node whose gradient is wrong;
    ``mark_note`` (what is wrong with it, in words) is shown beside the graph before the first step and at that
    node's backward step.
    ``classes`` (the data set's class names, in label order) names the bars of the Images view's probabilities.
    ``cnn_training`` (:func:`chainrule.training.cnn_page.cnn_training`) lets the Images view train a small copy of
    a convolutional network live, on a few hundred samples of its data set."""
    data = data if data is not None else describe(output, title, direction, longest_lr=12, mark=mark,
                                                  mark_note=mark_note)
    data = {**data, "layout": {**data["layout"], "graphviz": page_order(data)}}
    if classes is not None:
        data["classes"] = [str(c) for c in classes]
    script = "\n".join(_static(name) for name in ("engine.js", "layout.js", "expression.js", "images.js", "page.js"))
    css = _static("page.css")
    csp = (f"default-src 'none'; script-src {_digest(script)}; style-src {_digest(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    name = data["values"][data["output"]]["name"]
    tab = view = ""
    if any(len(v["shape"]) == 4 for v in data["values"].values()):   # a CNN: its pictures, forward and backward
        images_tab, images_view = _static("images.html").split("<!-- the view -->\n")
        tab, view = tab + images_tab, view + images_view
    if training is not None:
        train_tab, train_view = Template(_static("train.html")).substitute(lr=training["lr"],
                                                                            hidden=training["hidden"]).split(
            "<!-- the view -->\n")
        tab, view = tab + train_tab, view + train_view
    return Template(_static("page.html")).substitute(
        csp=csp, version=__version__, title=html.escape(title or f"Backpropagation through {name}"), css=css,
        script=script, graph=_json_for_script(data), training=_json_for_script(training),
        cnn_training=_json_for_script(cnn_training), train_tab=tab,
        train_view=view, catalogue=_json_for_script(page_catalogue()),
        expression=html.escape(expression or "", quote=True))


def to_html(output, path, title=None, direction="auto", training=None, expression=None, mark=None, classes=None,
            cnn_training=None, mark_note=None):
    """Write the interactive page of ``output``'s graph to ``path`` (one file; opens from disk); ``training``,
    ``classes``, ``cnn_training``, ``mark`` and ``mark_note`` as for :func:`page`."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; expected a file name")
    text = page(output, title, direction, training=training, expression=expression, mark=mark, classes=classes,
                cnn_training=cnn_training, mark_note=mark_note)
    with atomic_write(path, "w") as f:
        f.write(text)
    return path


class GraphView:
    """A recorded graph shown inline in Jupyter: the interactive page in an iframe (``_repr_html_``), and the
    Graphviz drawing as SVG (``_repr_svg_``) for static renderers (GitHub, nbconvert to PDF) that run no script.

    The frame's height fits the drawing (its layout's height plus the toolbar), unless ``height`` is given;
    ``training``, ``classes`` and ``cnn_training`` are passed on to :func:`page`."""

    def __init__(self, output, title=None, direction="auto", height=None, training=None, classes=None,
                 cnn_training=None):
        self.output, self.title, self.direction, self.height = output, title, direction, height
        self.training, self.classes, self.cnn_training = training, classes, cnn_training

    def frame_height(self, data):
        """Pixels: the drawing, the toolbar and header above it, and at least room for the step panel."""
        return self.height or int(min(max(data["layout"]["height"] + 150, 420), 1200))

    def _repr_html_(self):
        data = describe(self.output, self.title, self.direction, longest_lr=12)
        doc = page(self.output, self.title, self.direction, data=data, training=self.training, classes=self.classes,
                   cnn_training=self.cnn_training)
        return (f'<iframe srcdoc="{html.escape(doc, quote=True)}" style="width:100%;height:{self.frame_height(data)}px;'
                'border:1px solid #ddd;border-radius:8px" sandbox="allow-scripts allow-downloads"></iframe>')

    def _repr_svg_(self):
        try:
            return to_svg(self.output, self.title, self.direction)
        except (GraphvizNotFoundError, RuntimeError):
            return None  # no Graphviz: static renderers get the HTML only
