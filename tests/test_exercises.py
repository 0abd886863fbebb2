"""The exercises and their checker (book §5.4–5.6, §5.7.3): the solutions pass, the skeleton says what is left,
and every planted mistake is located (the layer, the input, the entries) with a hint tied to the rule; a correct
layer is never blamed at a ReLU kink or a max-pooling tie."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

from chainrule import functions as F
from chainrule.cli import main
from chainrule.exercises import check_file
from chainrule.graph import Variable
from chainrule.gradcheck import gradient_check
from chainrule.layers import Layer, Pooling
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
    ("the factor y forgotten", "return dout * self.out * (1.0 - self.out)", "return dout * (1.0 - self.out)",
     "Sigmoid", "x", "lacks a factor y (the output)"),
    ("the factor 1 − y forgotten", "return dout * self.out * (1.0 - self.out)", "return dout * self.out",
     "Sigmoid", "x", "lacks a factor 1 − y"),
    ("the input where the rule takes the output", "return dout * self.out * (1.0 - self.out)",
     "x = -np.log(1.0 / self.out - 1.0)\n        return dout * x * (1.0 - x)", "Sigmoid", "x",
     "computed from the input x where the rule uses the output y"),
    ("a factor too many", "return dout * self.out * (1.0 - self.out)",
     "return dout * self.out * self.out * (1.0 - self.out)", "Sigmoid", "x", "extra factor y (the output)"),
    ("db summed over the wrong axis", "self.db = np.sum(dout, axis=0)\n        return dout @ self.W.T",
     "self.db = np.sum(dout, axis=1)\n        return dout @ self.W.T", "Affine", "b", "summed over each row (axis=1)"),
    ("the labels left out", "dx[np.arange(n), self.t] -= 1", "pass", "SoftmaxWithLoss", "x",
     "the labels are missing"),
    ("1 taken from every entry", "dx[np.arange(n), self.t] -= 1", "dx -= 1", "SoftmaxWithLoss", "x",
     "1 subtracted from every entry"),
    ("a product that does not fit (dY·W)", "return dout @ self.W.T", "return dout @ self.W", "Affine", None,
     "ValueError in backward, line"),
    ("a layer's name misspelt", 'self.layers[f"Affine{i}"].dW, self.layers[f"Affine{i}"].db',
     'self.layers[f"affine{i}"].dW, self.layers[f"Affine{i}"].db', "TwoLayerNet", None,
     "self.layers holds Affine1, Relu1, Affine2"),
    ("a transposed product", "self.dW = self.x.T @ dout", "self.dW = dout.T @ self.x", "Affine", "W", "Wᵀ"),
    ("no sum over the rows", "self.db = np.sum(dout, axis=0)", "self.db = dout", "Affine", "b", "summed over the rows"),
    ("no division by the batch size", "return dout * dx / n", "return dout * dx", "SoftmaxWithLoss", "x",
     "divide by N"),
    ("a forgotten branch", "        return dout * 1, dout * 1", "        return dout * 1, dout * 0", "AddLayer", "y",
     "branch"),
    ("db from the first row only", "self.db = np.sum(dout, axis=0)\n        return dout @ self.W.T",
     "self.db = dout[0]\n        return dout @ self.W.T", "Affine", "b", "first sample"),
    ("dW reshaped without its transpose", ".transpose(1, 0).reshape(fn, c, fh, fw)", ".reshape(fn, c, fh, fw)",
     "Convolution", "W", "wrong places"),
    ("db not summed over the positions",
     "        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)\n        self.db = np.sum(dout, axis=0)",
     "        self.db = np.sum(dout, axis=0)\n        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)",
     "Convolution", "b", "summed over the positions"),
    ("a wrong sign in dX", "dcol = dout @ self.col_W.T", "dcol = -(dout @ self.col_W.T)", "Convolution",
     "x", "sign"),
    ("a copy-pasted layer name", 'self.layers[f"Affine{i}"].dW, self.layers[f"Affine{i}"].db',
     'self.layers["Affine2"].dW, self.layers["Affine2"].db', "TwoLayerNet", None, "shape of W2"),
    ("layers not in reverse order", "for layer in reversed(list(self.layers.values())):",
     "for layer in list(self.layers.values()):", "TwoLayerNet", None, "reverse order"),
    ("dout not passed on", "            dout = layer.backward(dout)\n", "            layer.backward(dout)\n",
     "TwoLayerNet", None, "the dout the later one returned"),
]
NAMES = {"MulLayer", "AddLayer", "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "TwoLayerNet", "Convolution"}


def test_the_solutions_pass_and_the_skeleton_says_what_is_left():
    ok, lines = check_file(ROOT / "exercises" / "solutions" / "layers.py")
    assert ok and len(lines) == 8 and all("✓" in line for line in lines)
    ok, lines = check_file(ROOT / "exercises" / "layers.py")
    assert not ok and all("not written yet" in line for line in lines)


@pytest.mark.parametrize("what,right,wrong,layer,blamed,words", MISTAKES, ids=[m[0] + " " + m[3] for m in MISTAKES])
def test_a_planted_mistake_is_located_with_a_hint(tmp_path, what, right, wrong, layer, blamed, words):
    assert SOLUTIONS.count(right) >= 1
    path = tmp_path / "mine.py"
    path.write_text(SOLUTIONS.replace(right, wrong, 1))
    ok, lines = check_file(path)
    report = "\n".join(lines)
    assert not ok
    mine = report.split(f"{layer}: ")[1].split("\n\n")[0]
    assert mine.startswith("✗"), report
    assert blamed is None or f"sends a wrong gradient to {blamed}" in mine, report
    assert words in mine, report
    others = [line for line in lines if line.split(":")[0] in NAMES - {layer}]
    assert all("✓" in line for line in others), report       # nothing else is blamed


@pytest.mark.parametrize("right,wrong,layer,words", [
    ("return dout * self.y, dout * self.x", "return dout * self.y, dout * self.x, 0", "MulLayer",
     "returned 3 gradient(s) for 2 input(s) (x, y)"),
    ("        return dout * 1, dout * 1", "        return dout", "AddLayer", "returned 1 gradient(s) for 2 input(s)"),
    ("        return dout * 1, dout * 1", "        return dout, 'abc'", "AddLayer",
     "sends str 'abc' to y; expected an array of numbers of shape"),
    ("        return dout * 1, dout * 1", "        return dout, [[1], [1, 2]]", "AddLayer",
     "sends list [[1], [1, 2]] to y; expected an array of numbers"),
    ("return dout * self.y, dout * self.x", "return dout * np.nan, dout * self.x", "MulLayer",
     "YourMulLayer (×): backward gave NaN from finite inputs dout = 1"),
], ids=["three for two", "one for two", "a string", "a ragged list", "NaN"])
def test_a_backward_returning_no_gradients_is_one_wrong_layer_and_the_rest_are_checked(tmp_path, right, wrong, layer,
                                                                                      words):
    """A wrong count of gradients ended the whole check as a usage error, a string ended it with NumPy's "could not
    convert string to float": the other layers were never checked. A NaN from finite numbers was a warning with a
    line of chainrule's own code on stderr, and the report said only "compare each entry with the rule"."""
    path = tmp_path / "mine.py"
    path.write_text(SOLUTIONS.replace(right, wrong, 1))
    ok, lines = check_file(path)
    report = "\n".join(lines)
    assert not ok and report.split(f"{layer}: ")[1].startswith("✗") and words in report, report
    others = [line for line in lines if line.split(":")[0] in NAMES - {layer}]
    assert len(others) == len(NAMES) - 1 and all("✓" in line for line in others), report


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
    assert data["marked_note"].startswith("YourAffine sends a wrong gradient to b") and "hint:" in \
        data["marked_note"]                                                    # shown beside the graph
    assert main(["check", str(tmp_path / "none.py")]) == 2


@pytest.mark.parametrize("body,message", [
    ("x = 1 / 0\n", "line 1: ZeroDivisionError: division by zero (while the file was loaded)"),
    ("import sys\n\nsys.exit(3)\n", "line 3: the file called sys.exit(3) while being loaded"),
    ("def f():\n    return nowhere\n\n\nf()\n", "line 2: NameError: name 'nowhere' is not defined"),
])
def test_a_file_that_fails_while_loading_gets_its_line_in_one_line(tmp_path, body, message):
    """A learner's file that raises, or calls sys.exit, while it is run: one line naming the file's line and
    what happened (a sys.exit ended chainrule check silently with that exit code; an exception gave no line)."""
    path = tmp_path / "mine.py"
    path.write_text(body)
    result = subprocess.run([sys.executable, "-m", "chainrule", "check", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"chainrule check: error: {path}: {message}"), result.stderr


class _Power(Layer):
    """y = x ** p for the layer's own p. Backward: dx = dout × p × x^(p−1) (``factor`` plants a mistake)."""
    symbol = "pow"
    rules = ("{dout} × p × {x}^(p−1)",)

    def __init__(self, p, factor=1.0):
        self.p, self.factor = p, factor

    def forward(self, x):
        self.x = x
        return x ** self.p

    def backward(self, dout):
        return self.factor * dout * self.p * self.x ** (self.p - 1)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from([1.0, 2.0, 3.0]), min_size=2, max_size=5), st.data())
def test_gradient_check_on_a_graph_names_the_user_layer_that_departs(powers, data):
    """A chain of user-written layers with one planted mistake at a random place: gradient_check fails and names
    that layer (the first to depart in backward order); with no mistake it passes and blames nothing."""
    broken = data.draw(st.integers(0, len(powers) - 1))
    factor = data.draw(st.sampled_from([0.5, -1.0, 2.0]))
    x0 = np.random.default_rng(len(powers)).uniform(0.5, 1.0, (2, 3))    # x ** p · 0.5 + 0.5 stays in (0.5, 1)

    def chain(x, planted=True):
        for i, p in enumerate(powers):
            x = _Power(p, factor if planted and i == broken else 1.0)(x) * 0.5 + 0.5
        return cr.sum(x)

    report = gradient_check(chain, x0)
    assert not report.ok and report.culprit is not None
    assert report.culprit.layer == "_Power" and report.culprit.node.layer.factor == factor
    assert "where it departs first" in str(report)
    clean = gradient_check(lambda x: chain(x, planted=False), x0)
    assert clean.ok and clean.culprit is None


def test_a_sum_of_numbers_near_ten_million_is_not_blamed_for_a_mistake_before_it():
    """Found by the test above (when its inputs reached 1.5): five cubes take 1.5 to 10⁷, and the Sum at the end
    was blamed, because h = 10⁻⁴ is lost in the rounding of a sum near 10⁷. A node is now blamed only when no
    step (h, 100·h, h/100) agrees; the planted layer, the first cube, is named."""
    x0 = np.random.default_rng(5).uniform(0.5, 1.5, (2, 3))

    def chain(x):
        for i in range(5):
            x = _Power(3.0, 0.5 if i == 0 else 1.0)(x) * 0.5 + 0.5
        return cr.sum(x)

    report = gradient_check(chain, x0)
    assert not report.ok
    assert report.culprit.layer == "_Power" and report.culprit.node.layer.factor == 0.5
