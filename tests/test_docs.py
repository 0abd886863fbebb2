"""The documentation runs: every notebook under docs/ executes top to bottom, every Python block of README.md and
docs/**/*.md runs, and every ``chainrule`` command in their shell blocks is a valid command line.

A block may be preceded by a marker: ``<!-- run -->`` runs each command of a shell block (in a scratch folder,
each one must succeed), ``<!-- skip: why -->`` leaves a block out (installing, a cluster, hours of training).
Shell blocks without a marker are parsed by chainrule's own argument parser, so a renamed or removed option
fails here. The site build itself (``mkdocs build --strict``) runs in .ci/run.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
NOTEBOOKS = sorted(p for p in DOCS.rglob("*.py") if p.name != "hooks.py")
BLOCK = re.compile(r"(?:<!-- (run|skip)\b[^>]*-->\n)?```(\w*)[^\n]*\n(.*?)```", re.S)


def blocks(path, language):
    """(marker, code) of each fenced block of ``language`` in ``path``."""
    return [(m.group(1), m.group(3)) for m in BLOCK.finditer(path.read_text()) if m.group(2) == language]


def commands(code):
    """The shell lines of a block, continuations joined, comments dropped."""
    joined = code.replace("\\\n", " ")
    return [line for line in (shlex.split(raw, comments=True) for raw in joined.splitlines()) if line]


def _name(path):
    return str(path.relative_to(ROOT))


def test_the_documents_and_notebooks_are_found():
    assert len(DOCUMENTS) > 10 and len(NOTEBOOKS) >= 8
    assert any(blocks(p, "python") for p in DOCUMENTS)


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_every_python_block_runs(path, tmp_path, monkeypatch):
    """The blocks of one page run in order in one namespace, as a reader would paste them, in a scratch folder."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_block"}
    for i, (marker, code) in enumerate(blocks(path, "python")):
        if marker == "skip":
            continue
        try:
            exec(compile(code, f"{_name(path)} block {i + 1}", "exec"), namespace)
        except Exception as e:  # say which block of which page
            pytest.fail(f"{_name(path)}, Python block {i + 1}: {type(e).__name__}: {e}")


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_every_chainrule_command_is_valid(path):
    from chainrule.cli import build_parser
    for marker, code in blocks(path, "bash"):
        if marker == "skip":
            continue
        for argv in commands(code):
            if argv[0] != "chainrule":
                continue
            try:
                build_parser().parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{_name(path)}: {shlex.join(argv)} is not a valid command line")


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if any(m == "run" for m, _ in blocks(p, "bash"))], ids=_name)
def test_the_blocks_marked_run_succeed(path, tmp_path):
    """Each command of a ``<!-- run -->`` block, in a scratch folder that sees the repository's exercises; a
    command whose comment says ``exit code N`` must exit with N."""
    (tmp_path / "exercises").symlink_to(ROOT / "exercises")
    env = {**os.environ, "CHAINRULE_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    for marker, code in blocks(path, "bash"):
        if marker != "run":
            continue
        for raw in code.replace("\\\n", " ").splitlines():
            argv = shlex.split(raw, comments=True)
            if not argv:
                continue
            expected = int(m.group(1)) if (m := re.search(r"exit code (\d+)", raw)) else 0
            result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == expected, f"{_name(path)}: {raw.strip()}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_every_notebook_runs_top_to_bottom(path, tmp_path):
    """Each notebook (a Jupytext percent script) executes in a fresh Jupyter kernel without an error."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    notebook = jupytext.read(path)
    assert notebook.metadata.get("jupytext", {}).get("text_representation", {}).get("format_name") == "percent"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []) if o.get("name") == "stderr")
    assert "Warning" not in text, text
