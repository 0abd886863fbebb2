"""Drawing and explaining computational graphs (book §5.1–5.4).

* :func:`describe` — the graph as data (JSON-able, versioned): what everything below is made from;
* :func:`to_dot`, :func:`render` — Graphviz drawings (DOT, SVG, PNG, PDF);
* :func:`explain` — the backward pass in words;
* :func:`to_html` — one self-contained interactive page: step through forward and backward, edit inputs,
  check gradients numerically, and train the book's two-layer net;
* :func:`format_number`, :func:`format_value` — the one number format they all use.
"""
from ..graph import Variable
from .dot import FORMATS, GraphvizNotFoundError, render, to_dot, to_svg
from .explain import explain
from .graphdata import describe
from .html import GraphView, to_html
from .numbers import format_number, format_value


def show(output, title=None, direction="auto", classes=None, cnn_training=None):
    """The graph of ``output`` for inline display in Jupyter (the interactive page). For a CNN's loss, ``classes``
    names the Images view's bars and ``cnn_training`` (:func:`chainrule.training.cnn_page.cnn_training`) lets it
    learn live."""
    return GraphView(output, title, direction, classes=classes, cnn_training=cnn_training)


def _variable_repr_html(variable):
    """Jupyter's rich display of a Variable: the interactive page of its graph (None for a bare value)."""
    return GraphView(variable)._repr_html_() if variable.creator is not None else None


def _variable_repr_svg(variable):
    """The static drawing of a recorded Variable's graph, for notebooks rendered without scripts."""
    return GraphView(variable)._repr_svg_() if variable.creator is not None else None


Variable._repr_html_ = _variable_repr_html  # a recorded Variable shows its graph when it ends a notebook cell
Variable._repr_svg_ = _variable_repr_svg

__all__ = ["describe", "to_dot", "to_svg", "render", "explain", "to_html", "show", "GraphView", "format_number",
           "format_value", "FORMATS", "GraphvizNotFoundError"]
