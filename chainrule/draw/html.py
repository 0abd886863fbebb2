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

import numpy as np

from ..atomic import atomic_write
from ..version import __version__
from .graphdata import describe

TRAINING_POINTS_PER_CLASS = 60
TRAINING_HIDDEN = 30


def _static(name):
    return resources.files("chainrule.draw").joinpath("static", name).read_text(encoding="utf-8")


def _digest(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _json_for_script(obj):
    """JSON that can sit inside a <script> element: no "</" can end it early."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def training_data(seed=0, points_per_class=TRAINING_POINTS_PER_CLASS, hidden=TRAINING_HIDDEN, lr=1.0, steps=3):
    """The training view's start: a spiral, the book's TwoLayerNet with its initial weights, the learning rate,
    and the losses Python gets for the first ``steps`` full-batch gradient-descent updates (the page's must agree)."""
    from ..datasets import make_spiral
    from ..nets import TwoLayerNet
    from ..optimizers import SGD
    x, t = make_spiral(points_per_class, 3, noise=0.2, seed=seed, dtype=np.float64)
    x = x / np.abs(x).max()
    net = TwoLayerNet(2, hidden, 3, weight_init_std="he", seed=seed)
    init = {k: {"shape": list(v.shape), "value": [float(a) for a in v.ravel()]} for k, v in net.params.items()}
    losses, optimizer = [float(net.loss(x, t))], SGD(lr)
    for _ in range(steps):
        optimizer.update(net.params, net.gradient(x, t))
        losses.append(float(net.loss(x, t)))
    return {"x": [float(a) for a in x.ravel()], "t": [int(a) for a in t], "init": init, "lr": lr,
            "hidden": hidden, "python_losses": losses}


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chainrule {version}">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
  <h1 id="title">{title}</h1>
  <div role="tablist" aria-label="views">
    <button type="button" role="tab" id="tab-graph" aria-selected="true" aria-controls="graph-view">Graph</button>
    <button type="button" role="tab" id="tab-train" aria-selected="false"
            aria-controls="train-view">Train a network</button>
  </div>
  <span class="hint">← → step · Home / End · click or Enter on an input to edit it</span>
</header>
<section id="graph-view" aria-label="the graph, step by step">
  <div class="toolbar">
    <button type="button" id="first" aria-label="first step">|◀</button>
    <button type="button" id="prev" aria-label="previous step">◀</button>
    <button type="button" id="next" aria-label="next step">▶</button>
    <button type="button" id="last" aria-label="last step">▶|</button>
    <input type="range" id="scrubber" min="0" max="1" value="0" aria-label="step">
    <span id="step-count" aria-live="polite"></span>
    <button type="button" id="export">Export SVG</button>
  </div>
  <main>
    <div id="drawing"><svg id="graph" role="img" aria-label="computational graph"></svg></div>
    <aside aria-live="polite"><div id="step-panel"></div><div id="editor"></div></aside>
  </main>
</section>
<section id="train-view" hidden aria-label="training the book's two-layer net">
  <div>
    <div class="controls">
      <button type="button" id="step-btn">Step</button>
      <button type="button" id="play">Play</button>
      <button type="button" id="reset">Reset</button>
      <label>lr <input type="number" id="lr" value="{lr}" step="any" min="0"></label>
    </div>
    <canvas id="regions" width="360" height="360"
            aria-label="decision regions of the network and the spiral's points"></canvas>
  </div>
  <div>
    <h2>The book's two-layer net (§5.7): Affine → ReLU → Affine → softmax-with-loss, on a 3-class spiral</h2>
    <p class="small">2 inputs, {hidden} hidden units, 3 classes; every step is one forward pass, one backward pass and
    the update W ← W − lr·dW for every parameter. The colours are the class the network predicts at each point.</p>
    <svg id="loss-curve" role="img" aria-label="loss curve"></svg>
    <div id="train-info" aria-live="polite"></div>
  </div>
</section>
<script type="application/json" id="chainrule-graph">{graph}</script>
<script type="application/json" id="chainrule-training">{training}</script>
<script>{script}</script>
</body>
</html>
"""


def page(output, title=None, direction="auto", data=None):
    """The page's HTML text for ``output``'s graph (or for an already described graph ``data``)."""
    data = data if data is not None else describe(output, title, direction, longest_lr=12)
    train = training_data()
    script = _static("engine.js") + "\n" + _static("page.js")
    css = _static("page.css")
    csp = (f"default-src 'none'; script-src {_digest(script)}; style-src {_digest(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    name = data["values"][data["output"]]["name"]
    return PAGE.format(csp=csp, version=__version__, title=html.escape(title or f"Backpropagation through {name}"),
                       css=css, script=script, graph=_json_for_script(data), training=_json_for_script(train),
                       lr=train["lr"], hidden=train["hidden"])


def to_html(output, path, title=None, direction="auto"):
    """Write the interactive page of ``output``'s graph to ``path`` (one file; opens from disk)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; expected a file name")
    text = page(output, title, direction)
    with atomic_write(path, "w") as f:
        f.write(text)
    return path


class GraphView:
    """A recorded graph shown inline in Jupyter: the interactive page in an iframe (``_repr_html_``)."""

    def __init__(self, output, title=None, direction="auto", height=620):
        self.output, self.title, self.direction, self.height = output, title, direction, height

    def _repr_html_(self):
        doc = page(self.output, self.title, self.direction)
        return (f'<iframe srcdoc="{html.escape(doc, quote=True)}" style="width:100%;height:{self.height}px;'
                'border:1px solid #ddd;border-radius:8px" sandbox="allow-scripts allow-downloads"></iframe>')
