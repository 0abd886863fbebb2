"""MkDocs hook: the interactive pages the docs embed are made at build time from the current code, never stored.

``on_post_build`` writes ``pages/fruit.html`` (the book's apple and orange graph, §5.4.2), ``pages/mlp.html``
(a two-layer perceptron, with the Train view) and ``pages/cnn.html`` (a small CNN, chapter 7) into the built
site; the docs embed them with ``<iframe src="…/pages/NAME.html">``. Each page is self-contained, so the site
works opened from disk. The README's and docs' generated tables are checked by tests, not rewritten here.

Material's offline plugin makes search work from ``file://`` with a small shim it links from unpkg.com; the
site is meant to need no network, so ``on_post_page`` points that link at a copy of the same shim from npm
(``iframe-worker``, pinned in package.json; ``npm ci`` installs it), copied into the site by ``on_post_build``.
"""
import shutil
from pathlib import Path

SHIM_URL = "https://unpkg.com/iframe-worker/shim"
SHIM = Path(__file__).resolve().parent.parent / "node_modules" / "iframe-worker" / "shim" / "index.js"
SHIM_IN_SITE = "assets/javascripts/iframe-worker-shim.js"

#: name → (title, direction): the long CNN graph is drawn top to bottom to fit the docs' column
PAGES = {
    "fruit": ("The apple and orange graph (book §5.4.2)", "auto"),
    "mlp": ("A two-layer perceptron's loss (book §5.7)", "auto"),
    "cnn": ("A small convolutional network's loss (book chapter 7)", "TB"),
}


def on_post_page(output, page, config, **kwargs):
    """Link the search shim from the site itself, relative to the page (the site opens from disk)."""
    if SHIM_URL not in output:
        return output
    if not SHIM.is_file():
        raise FileNotFoundError(f"{SHIM} is missing: run `npm ci` first (the site must not load it from unpkg.com)")
    depth = page.file.dest_uri.count("/")
    return output.replace(SHIM_URL, "../" * depth + SHIM_IN_SITE)


def on_post_template(output_content, template_name, config, **kwargs):
    """The same for pages made from a template alone (``404.html``, at the site's root)."""
    if SHIM_URL in output_content and SHIM.is_file():
        return output_content.replace(SHIM_URL, SHIM_IN_SITE)
    return output_content


def on_post_build(config, **kwargs):
    """Write every page of PAGES into ``site/pages/``, and the search shim into the site's assets."""
    if SHIM.is_file():
        target = Path(config["site_dir"]) / SHIM_IN_SITE
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHIM, target)
    from chainrule import examples
    from chainrule.draw import to_html
    from chainrule.training.spiral_page import spiral_training

    out = Path(config["site_dir"]) / "pages"
    out.mkdir(parents=True, exist_ok=True)
    for name, (title, direction) in PAGES.items():
        training = spiral_training() if name == "mlp" else None
        to_html(examples.GRAPHS[name](), out / f"{name}.html", title=title, direction=direction, training=training)
