"""The exercises and their checker (book §5.4–5.6, §5.7.3): the solutions pass, the skeleton says what is left,
and every planted mistake is located (the layer, the input, the entries) with a hint tied to the rule; a correct
layer is never blamed at a ReLU kink or a max-pooling tie."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule import functions as F
from chainrule.cli import main
from chainrule.exercises import check_file
from chainrule.graph import Variable
from chainrule.layers import Pooling
from chainrule.locate import locate

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = (ROOT / "exercises" / "solutions" / "layers.py").read_text()

#: (what the mistake is, the line of the solution, the wrong line, the layer and input blamed, words of the hint)
MISTAKES = [
    ("each input takes its own value", "return dout * self.y, dout * self.x", "return dout * self.x, dout * self.y",
     "MulLayer", "x", "other"),
    ("a wrong sign", "        return dout * 1, dout * 1", "        return dout * 1, -dout", "AddLayer", "y", "sign"),
    ("dout changed in place (the book's Relu)", "        dx = dout.copy()", "        dx = dout", "Relu", None,
     "writes into the dout it is given"),
    ("the local derivative forgotten", "return dout * self.out * (1.0 - self.out)", "return dout", "Sigmoid", "x",
     "unchanged"),
    ("a wrong sign", "return dout * self.out * (1.0 - self.out)", "return -dout * self.out * (1.0 - self.out)",
     "Sigmoid", "x", "sign"),
    ("a transposed product", "self.dW = self.x.T @ dout", "self.dW = dout.T @ self.x", "Affine", "W", "Wᵀ"),
    ("no sum over the rows", "self.db = np.sum(dout, axis=0)", "self.db = dout", "Affine", "b", "summed over the rows"),
    ("no division by the batch size", "return dout * dx / n", "return dout * dx", "SoftmaxWithLoss", "x",
     "divide by N"),
]


def test_the_solutions_pass_and_the_skeleton_says_what_is_left():
    ok, lines = check_file(ROOT / "exercises" / "solutions" / "layers.py")
    assert ok and len(lines) == 6 and all("✓" in line for line in lines)
    ok, lines = check_file(ROOT / "exercises" / "layers.py")
    assert not ok and all("not written yet" in line for line in lines)


@pytest.mark.parametrize("what,right,wrong,layer,blamed,words", MISTAKES, ids=[m[0] + " " + m[3] for m in MISTAKES])
def test_a_planted_mistake_is_located_with_a_hint(tmp_path, what, right, wrong, layer, blamed, words):
    assert right in SOLUTIONS
    path = tmp_path / "mine.py"
    path.write_text(SOLUTIONS.replace(right, wrong, 1))
    ok, lines = check_file(path)
    report = "\n".join(lines)
    assert not ok
    mine = report.split(f"{layer}: ")[1].split("\n\n")[0]
    assert mine.startswith("✗"), report
    assert blamed is None or f"sends a wrong gradient to {blamed}" in mine, report
    assert words in mine, report
    others = [line for line in lines if line.split(":")[0] in
              {"MulLayer", "AddLayer", "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss"} - {layer}]
    assert all("✓" in line for line in others), report       # nothing else is blamed


def test_the_report_names_the_entries_with_both_numbers():
    x, y = Variable(np.array([1.0, 2.0]), "x"), Variable(np.array([3.0, 4.0]), "y")
    out = F.sum(x * y)
    out.backward()
    assert locate(out) is None
    node = out.creator.args[0].creator                                 # the Mul node: plant a wrong gradient
    class Wrong(type(node.layer)):
        def backward(self, dout):
            dx, dy = super().backward(dout)
            return dx, dy * 2
    node.layer.__class__ = Wrong
    finding = locate(out)
    assert finding.layer == "Wrong" and finding.input == "y"
    assert [(i, round(e, 6), g) for i, e, g in finding.wrong] == [((0,), 1.0, 2.0), ((1,), 2.0, 4.0)]
    assert "expected 1 (numerical), got 2" in str(finding) and "factor of 2" in str(finding)


def test_a_correct_layer_is_never_blamed_at_a_relu_kink_or_a_pooling_tie():
    x = Variable(np.array([[0.0, -1.0, 2.0, 0.0], [1.5, 0.0, -2.0, 3.0]]), "x")   # exact zeros: ReLU's kink
    out = F.sum(F.relu(x) * F.relu(x * 2.0))
    out.backward()
    assert locate(out) is None
    img = np.repeat(np.repeat(np.array([[[[1.0, 2.0], [2.0, 1.0]]]]), 2, axis=2), 2, axis=3)   # 4-way ties
    v = Variable(img, "img")
    out = F.sum(Pooling(2, 2, stride=2)(v) * Variable(np.array([[[[1.0, -2.0], [3.0, 0.5]]]]), "w"))
    out.backward()
    assert locate(out) is None


def test_the_command_line_checks_a_file_and_marks_the_wrong_node_on_the_page(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(SOLUTIONS.replace("self.db = np.sum(dout, axis=0)", "self.db = dout"))
    page = tmp_path / "wrong.html"
    result = subprocess.run([sys.executable, "-m", "chainrule", "check", str(path), "--html", str(page)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Affine: ✗" in result.stdout and "Σ_rows" in result.stdout
    import json
    import re
    data = json.loads(re.search(r'<script type="application/json" id="chainrule-graph">(.*?)</script>',
                                page.read_text(), re.S).group(1))
    marked = next(n for n in data["nodes"] if n["id"] == data["marked"])
    assert marked["op"].startswith("Your") and marked["label"] == "Affine"
    assert main(["check", str(tmp_path / "none.py")]) == 2
