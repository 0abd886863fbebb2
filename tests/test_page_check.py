"""The page's numerical check follows gradient_check's rules (book §5.7.3), under Node.js, no browser.

Entries where ±h switches a ReLU or a max-pooling winner (ties in a window) are retried with smaller steps
and otherwise skipped and counted, never reported ✗; big inputs are sampled and said so; a wrong backward is
✗. On the book's SimpleConvNet and DeepConvNet every node is checked.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chainrule import examples
from chainrule.draw import describe
from chainrule.graph import Variable

NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
SCRIPT = Path(__file__).parent / "js" / "numerical_check.js"


def run_check(tmp_path, outputs, *extra):
    path = tmp_path / "graphs.json"
    path.write_text(json.dumps([describe(o) for o in outputs]))
    result = subprocess.run([NODE, str(SCRIPT), str(path), *extra], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def tied_cnn():
    """Max pooling over windows with ties (repeated pixels) and ReLU zeros: the check's kinks."""
    from chainrule import functions as F
    from chainrule.layers import Affine, Convolution, Flatten, Pooling
    rng = np.random.default_rng(3)
    img = np.repeat(np.repeat(rng.standard_normal((2, 1, 3, 3)).round(1), 2, axis=2), 2, axis=3)  # 2×2 blocks
    x = Variable(img, "x")
    h = F.relu(Pooling(2, 2, 2)(x))                            # every window is a 4-way tie
    z = Convolution(rng.standard_normal((2, 1, 2, 2)) * 0.5, np.zeros(2))(x)
    p = Pooling(2, 2, 1)(F.relu(z))
    s = Affine(rng.standard_normal((32, 3)) * 0.3, np.zeros(3))(Flatten()(p)) + Flatten()(h).sum() * 0.1
    loss = F.softmax_cross_entropy(s, np.array([0, 2]))
    loss.backward()
    return loss


def book_net_loss(net_class, **kwargs):
    from chainrule.nets import DeepConvNet, SimpleConvNet
    net = {"simple": SimpleConvNet, "deep": DeepConvNet}[net_class](**kwargs)
    rng = np.random.default_rng(0)
    x = Variable(rng.standard_normal((2, *kwargs["input_dim"])), "x")
    loss = net.loss(x, np.array([1, 3]), train_flg=True)
    loss.backward()
    return loss


def test_ties_and_kinks_are_skipped_and_counted_never_failed(tmp_path):
    pages = run_check(tmp_path, [tied_cnn(), examples.cnn_graph(), examples.mlp_graph()])
    lines = [r["line"] for page in pages for step in page for r in step["results"]]
    assert lines and not [line for line in lines if "✗" in line], [line for line in lines if "✗" in line]
    assert any("at a kink" in line for line in lines)                     # the ties were met, and said so
    assert all(r["compared"] > 0 or r["kinks"] > 0 for page in pages for s in page for r in s["results"])


def test_a_wrong_backward_is_reported_with_a_cross(tmp_path):
    pages = run_check(tmp_path, [examples.fruit_graph()], "--break", "Mul")
    results = [r for step in pages[0] for r in step["results"]]
    assert results and all(not r["ok"] and "✗" in r["line"] for r in results)


@pytest.mark.parametrize("name, kwargs", [
    ("simple", {"input_dim": (1, 10, 10), "conv_param": {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                "hidden_size": 20, "output_size": 5}),
    ("deep", {"input_dim": (1, 8, 8)})])
def test_the_book_convnets_are_checked_on_every_node(tmp_path, name, kwargs):
    loss = book_net_loss(name, **kwargs)
    data = describe(loss)
    assert data["recompute"], data["recompute_reason"]
    pages = run_check(tmp_path, [loss])
    results = [r for step in pages[0] for r in step["results"]]
    assert len(pages[0]) == len(data["backward"]) and results
    assert not [r["line"] for r in results if not r["ok"] and r["compared"]]
    big = [r for r in results if r["size"] > 24]
    assert big and all(f"24 random entries of {r['size']}" in r["line"] for r in big)   # sampled, and said so


def test_a_value_too_big_for_the_page_is_named_with_its_size(monkeypatch):
    from chainrule.draw import graphdata
    monkeypatch.setattr(graphdata, "VALUE_LIMIT", 100)
    data = describe(book_net_loss("simple", input_dim=(1, 10, 10), hidden_size=20, output_size=5,
                                  conv_param={"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1}))
    assert not data["recompute"]
    assert data["recompute_reason"].startswith("W1 has 36") or "numbers, more than the 100 a page embeds" in \
        data["recompute_reason"]
    assert "cannot recompute" not in data["recompute_reason"] and "operations" not in data["recompute_reason"]


def test_the_page_refuses_an_edit_that_makes_a_step_infinite_in_pythons_words(tmp_path):
    """Property: an edit of the inputs that makes some step give inf or NaN (x·y with both 1e308, exp(800), log
    of 0) is found by the page (CR.nonFiniteReport) at the same node and in the same words as Python's
    NonFiniteError for the same values; an edit that keeps every step finite is not reported. Before, the page
    drew 'apple_price = inf' for an edited apple of 1e308 and said nothing."""
    import random
    import warnings

    from chainrule.expression import ExpressionError, build
    from chainrule.nonfinite import NonFiniteError, nonfinite_policy
    from random_graphs import random_expression
    rng, cases, expected = random.Random(5), [], []
    while len(cases) < 150:
        text, values = random_expression(rng)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = build(text, values)
                if not isinstance(out, Variable) or out.creator is None or out.size != 1:
                    continue
                out.backward()
        except (ExpressionError, ValueError):
            continue
        data = describe(out)
        leaves = {v["name"]: k for k, v in data["values"].items() if v["role"] == "input"}
        scale = rng.choice([1e300, 1e200, 1e154, 1e-300, 0.0, -1e300, 1.0])
        edited = {name: np.asarray(v, dtype=np.float64) * (scale if rng.random() < 0.7 else 1.0)
                  for name, v in values.items()}
        try:
            with nonfinite_policy("raise"), np.errstate(all="ignore"):
                again = build(text, edited)
                again.backward()
            message = None
        except NonFiniteError as e:
            message = str(e)
        except (ExpressionError, ValueError):
            continue                                   # refused before any step (log of a negative number, …)
        cases.append({"data": data, "edits": {leaves[n]: {"shape": list(np.shape(a)), "data": np.ravel(a).tolist()}
                                             for n, a in edited.items() if n in leaves}})
        expected.append(message)
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    result = subprocess.run([NODE, str(Path(__file__).parent / "js" / "nonfinite.js"), str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    reported = sum(m is not None for m in expected)
    assert 30 < reported < 140, reported
    def words(message):
        # where a product's terms overflow to +inf and -inf, BLAS (NumPy) and the page's plain sum may end in
        # another of inf, -inf and NaN: the node and its inputs are the same, the kinds may differ there only
        return re.sub(r"gave [-a-zNI ]+ from", "gave … from", message) if message and message.startswith(
            "MatMul") else message
    mismatches = [(p, m) for p, m in zip(page, expected) if words(p) != words(m)]
    assert not mismatches, mismatches[:3]
