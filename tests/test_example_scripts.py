"""The scripts in examples/ run (small settings)."""
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, cwd=None):
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                            timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_train_neuralnet_on_digits():
    out = run("train_neuralnet.py", "--dataset", "digits", "--iters", "300")
    last = out.strip().splitlines()[-1]
    assert float(last.split("test acc")[1]) > 0.8


def test_gradient_check_on_digits():
    out = run("gradient_check.py", "--dataset", "digits")
    diffs = dict(line.split(":") for line in out.strip().splitlines())
    assert set(diffs) == {"W1", "b1", "W2", "b2"} and max(float(v) for v in diffs.values()) < 1e-8


def test_computational_graphs(tmp_path):
    out = run("computational_graphs.py", "--out-dir", str(tmp_path / "g"))
    assert "d tax = dout × apple_price = 1 × 200 = 200" in out and "d tax = dout × all_price = 1 × 650 = 650" in out
    assert (tmp_path / "g" / "fruit.dot").read_text().startswith("digraph")


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_docstring(script):
    assert (EXAMPLES / script).read_text().startswith('"""')
