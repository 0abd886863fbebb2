"""The documentation site builds offline with ``mkdocs build --strict`` and needs no network when opened from disk.

Needs the ``docs`` extra (``pip install -e ".[docs]"``) and ``npm ci`` (the search shim); skipped without them.
.ci/run installs both and runs this file after the default test run.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocs_jupyter")
    if not (ROOT / "node_modules" / "iframe-worker").is_dir():
        pytest.skip("npm ci has not been run (the search shim comes from npm)")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    shutil.rmtree(ROOT / ".cache", ignore_errors=True)
    return out


def test_every_page_of_the_navigation_is_built(site):
    for page in ("index.html", "getting-started.html", "chapter5/graphs.html", "chapter5/shopping.html",
                 "chapter5/exercises.html", "learning/training.html", "cnn/cnn.html", "reference/layers.html",
                 "results.html", "pages/fruit.html", "pages/cnn.html", "pages/mlp.html"):
        assert (site / page).is_file(), page


def test_nothing_is_loaded_from_the_network(site):
    remote = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*(?:src|href)=["']https?://""", re.I)
    offenders = [str(p.relative_to(site)) for p in site.rglob("*.html") if remote.search(p.read_text())]
    assert not offenders, offenders


def test_the_notebooks_are_rendered_with_their_outputs(site):
    text = (site / "chapter5" / "shopping.html").read_text()
    assert "715" in text and "dorange_num" in text      # the book's numbers, printed by the executed cells
    assert re.search(r"<iframe[^>]*srcdoc=", text)         # the interactive page, inline


def test_the_api_reference_shows_the_backward_rules(site):
    text = (site / "reference" / "layers.html").read_text()
    assert "dW = Xᵀ · dY" in text and "dx = dout × (y − t) / N" in text
