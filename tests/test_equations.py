"""Every calculation a student is shown checks out at its displayed precision (book §5.2–5.3 with numbers).

The property: for random expressions of every op (constants on either side, broadcasting, names used
more than once, numbers from 1e-3 to 300), every rule line of ``explain()`` whose operands are written with
digits recomputes, from those digits, to the result shown, rounded to the result's last digit; every
branch-rule sum adds up; no sign is doubled. The reader of the equations (tests/equation_check.py) shares
no code with chainrule. The page's engine (static/engine.js, run under Node.js) writes the very same texts.
"""
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule import examples
from chainrule.draw import describe, explain
from chainrule.expression import ExpressionError, build
from chainrule.graph import Variable
from chainrule.nonfinite import nonfinite_policy

import equation_check as check
from random_graphs import random_expression

DOUBLED_SIGN = re.compile(r"(−|\+|×|·|∘|/) ?-\d|−-|--")


def _graph(text, values):
    try:
        with nonfinite_policy("ignore"):  # graphs that overflow are skipped below; the policy has its own tests
            out = build(text, values)
    except ExpressionError:
        return None
    with np.errstate(all="ignore"), nonfinite_policy("ignore"):
        if not isinstance(out, Variable) or not np.all(np.isfinite(np.asarray(out.data))):
            return None
        out.backward()
    return out


def _finite(out):
    data = describe(out)
    # values whose squares overflow float64 are the business of the non-finite policy, not of these displays
    return all(all(not isinstance(n, str) and abs(n) < 1e100 for n in v[key])  # "inf", "NaN": not finite
               for v in data["values"].values() for key in ("value", "grad") if v[key] is not None)


def assert_every_equation_checks_out(text):
    assert not DOUBLED_SIGN.search(text), DOUBLED_SIGN.search(text).group(0)
    checked = 0
    for numeric, relation, result in check.equations(text):
        value = check.evaluate(numeric)
        if value is None:
            continue  # operands written as shapes: nothing to recompute
        if relation == "=":
            assert check.agrees(value, result), f"{numeric} = {result} is false: it gives {value}"
            checked += 1
    for terms, relation, total in check.branch_sums(text):
        values = [check.evaluate(t) for t in terms]
        if relation == "=" and all(v is not None for v in values):
            assert check.agrees(sum(values), total), f"{' + '.join(terms)} = {total} is false"
            checked += 1
    return checked


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.randoms(use_true_random=False))
def test_every_displayed_equation_recomputes_from_its_own_digits(rng):
    text, values = random_expression(rng)
    out = _graph(text, values)
    if out is None or not _finite(out):
        return
    assert_every_equation_checks_out(explain(out))


def test_the_examples_that_were_false_now_check_out():
    """(x·y + z).exp() at 2, 3, 1: 1097 × 3 is not 3290, so the operand gets the digits it needs."""
    out = _graph("(x*y + z).exp()", {"x": 2.0, "y": 3.0, "z": 1.0})
    text = explain(out)
    assert "d x = dout × y = 1096.6 × 3 = 3290" in text
    assert "d y = dout × x = 1096.6 × 2 = 2193" in text
    assert assert_every_equation_checks_out(text) >= 4
    for expression, value in (("sigmoid(x)*2", 3.0), ("1/(1+exp(-x))", 3.0), ("x/y", None)):
        out = _graph(expression, {"x": value or 1.0, **({} if value else {"y": 1.607})})
        assert_every_equation_checks_out(explain(out))


def test_the_bias_gradient_states_the_sum_over_rows():
    """Book §5.6.2: db = Σ_rows dY, (4×2) → (2), written with the numbers."""
    text = explain(examples.mlp_graph())
    line = next(line for line in text.splitlines() if line.strip().startswith("d b2 ="))
    assert line.strip().startswith("d b2 = Σ_rows (dout × 1) = Σ_rows ([[0.1275, -0.1275], ")
    assert "(4×2) → (2)" in text and "broadcast rule" in text
    assert assert_every_equation_checks_out(text) >= 3


def test_relu_shows_the_users_names_and_its_mask():
    x, W = Variable(np.array([[1.0, -2.0]]), "x"), Variable(np.array([[1.0, 0.5], [0.25, 1.0]]), "W")
    from chainrule import functions as F
    h = x @ W
    h.name = "h"
    out = F.sum(F.relu(h))
    out.backward()
    text = explain(out)
    assert "d h = dout ∘ [h > 0] = [[1, 1]] ∘ [[1, 0]] = [[1, 0]]" in text
    assert "[h > 0] = the mask: 1 where h was positive, else 0 (1 of 2 entries pass)" in text


def test_an_affine_on_images_says_it_reshapes():
    from chainrule.layers import Affine
    rng = np.random.default_rng(0)
    x = Variable(rng.standard_normal((2, 1, 2, 2)), "x")
    out = Affine(rng.standard_normal((4, 3)), np.zeros(3))(x).sum()
    out.backward()
    line = next(line for line in explain(out).splitlines() if line.strip().startswith("d x ="))
    assert "reshaped to (2×1×2×2)" in line


@pytest.mark.parametrize("text, label", [("2-x", "2 − ·"), ("x-2", "· − 2"), ("2/x", "2 ÷ ·"), ("x/2", "· ÷ 2"),
                                         ("1/(1+exp(-x))", "1 ÷ ·"), ("x*2", "×2"), ("2*x", "×2")])
def test_a_constant_keeps_its_side(text, label):
    out = _graph(text, {"x": 3.0})
    assert describe(out)["nodes"][-1]["label"] == label


NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
def test_the_pages_engine_writes_the_same_texts_and_numbers_as_python(tmp_path):
    """Under Node.js, no browser: 150 random graphs plus the book's, every value, gradient and rule text."""
    rng = random.Random(1234)
    outputs = [examples.apple_graph(), examples.fruit_graph(), examples.mlp_graph()]
    while len(outputs) < 153:
        out = _graph(*random_expression(rng))
        if out is not None and _finite(out):
            outputs.append(out)
    graphs = [describe(o) for o in outputs]
    path = tmp_path / "graphs.json"
    path.write_text(json.dumps(graphs))
    script = Path(__file__).parent / "js" / "step_texts.js"
    result = subprocess.run([NODE, str(script), str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    pages = json.loads(result.stdout)
    keys = ("input", "label", "symbolic", "numeric", "relation", "note", "local", "local_value")
    for data, page in zip(graphs, pages):
        assert "error" not in page, page.get("error")
        for python_step, page_step in zip(data["backward"], page["steps"]):
            assert page_step["upstream_label"] == python_step["upstream_label"]
            for p, j in zip(python_step["sent"], page_step["sent"]):
                if j.get("relation") == "=":  # the page's own equations check out too
                    value = check.evaluate(j["numeric"])
                    assert value is None or check.agrees(value, j["label"]), (j["numeric"], j["label"])
                if p["label"] != j["label"]:
                    # a gradient that is 0 in exact arithmetic (softmax of a constant dout) comes out as rounding
                    # noise of ±1e-17 that differs between NumPy's exp and JavaScript's: the numbers agree (below)
                    continue
                assert {k: p.get(k) for k in keys} == {k: j.get(k) for k in keys}
        for vid, branch in data["branches"].items():
            assert [t["label"] for t in branch["terms"]] == page["branches"][vid]["labels"]
            assert branch["relation"] == page["branches"][vid]["relation"]
        for vid, v in data["values"].items():
            if v["role"] == "constant":
                continue
            js_value, js_grad = page["values"][vid]
            for python, js in ((v["value"], js_value), (v["grad"], js_grad)):
                if python is not None:
                    np.testing.assert_allclose(js, python, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
def test_every_layer_is_recomputed_by_the_page_or_declared_display_only():
    from chainrule.draw.graphdata import DISPLAY_ONLY, PAGE_OPS
    from chainrule.layers import ALL
    engine = Path(__file__).parent.parent / "chainrule" / "draw" / "static" / "engine.js"
    ops = json.loads(subprocess.run([NODE, "-e", f"process.stdout.write(JSON.stringify(Object.keys("
                                            f"require({json.dumps(str(engine))}).OPS)))"],
                                    capture_output=True, text=True, timeout=60).stdout)
    assert set(ops) == PAGE_OPS                                              # the list says what the JS has
    missing = {cls.__name__ for cls in ALL} - PAGE_OPS - set(DISPLAY_ONLY)
    assert not missing, f"layers the page can neither recompute nor declares display-only: {missing}"
