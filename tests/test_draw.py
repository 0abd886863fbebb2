import re
import shutil
import subprocess
import sys

import pytest

from chainrule import draw, examples
from chainrule.cli import main
from chainrule.graph import Variable


def edge_labels(dot, red):
    pattern = r'(\w+) -> (\w+) \[label="([^"]*)"' + (r", color=red" if red else r"\]")
    return re.findall(pattern, dot)


def test_apple_dot_has_forward_values_and_red_gradients():
    dot = draw.to_dot(examples.apple_graph())
    assert dot.startswith("digraph chainrule {") and "rankdir=LR;" in dot
    assert "shape=circle" in dot and 'label="×"' in dot
    for name in ("apple", "apple_num", "tax"):
        assert f'label="{name}", shape=ellipse' in dot
    forward = edge_labels(dot, red=False)
    assert ("op1", "output", "220") in forward                 # 220 on the arrow into the total
    assert {label for *_, label in forward} == {"100", "2", "200", "1.1", "220"}
    red = edge_labels(dot, red=True)
    apple_node = re.search(r'(\w+) \[label="apple", shape=ellipse\]', dot).group(1)
    assert ("op0", apple_node, "2.2") in red                    # the red backward label 2.2 at the apple
    assert {label for *_, label in red} == {"1", "1.1", "2.2", "110", "200"}
    assert "style=bold" in dot


def test_dot_is_byte_identical_every_time():
    assert draw.to_dot(examples.fruit_graph()) == draw.to_dot(examples.fruit_graph())
    assert draw.to_dot(examples.mlp_graph()) == draw.to_dot(examples.mlp_graph())


def test_dot_before_backward_has_no_red_arrows():
    a, b = Variable(2.0, "a"), Variable(3.0, "b")
    dot = draw.to_dot(a * b + 1.0)
    assert "color=red" not in dot and 'label="+1"' in dot  # scalar constants fold into the node: "+1"


def test_array_values_show_shape_and_a_few_values():
    assert draw.format_value(Variable([[1.0, 2.5], [3.0, 4.0]])) == "(2, 2) [1, 2.5, 3, …]"
    assert draw.format_value(2.2) == "2.2"
    assert draw.format_value(110.00000000000001) == "110"


def test_explain_apple_step_by_step():
    text = draw.explain(examples.apple_graph())
    assert "× (apple_price, tax): upstream 1 → d apple_price = 1 × 1.1 = 1.1, d tax = 1 × 200 = 200" in text
    assert "× (apple, apple_num): upstream 1.1 → d apple = 1.1 × 2 = 2.2, d apple_num = 1.1 × 100 = 110" in text


def test_explain_mlp_names_the_bias_rule():
    text = draw.explain(examples.mlp_graph())
    assert "d b1 = Σ over broadcast axes of (dout × 1) = ⟨5⟩" in text
    assert "d W1 = xᵀ · dout = ⟨3×5⟩" in text


def test_explain_needs_backward():
    a = Variable(2.0)
    with pytest.raises(ValueError, match="call backward"):
        draw.explain(a * 3.0)


def test_render_dot_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = draw.render(examples.apple_graph(), tmp_path / "apple.dot")
    assert path.read_text().startswith("digraph")
    with pytest.raises(draw.GraphvizNotFoundError, match="apt-get install graphviz"):
        draw.render(examples.apple_graph(), tmp_path / "apple.svg")
    assert not (tmp_path / "apple.svg").exists()


def test_cli_reports_missing_graphviz_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["graph", "apple", "--out", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Graphviz's `dot` program is not installed" in err[0]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_svg_with_graphviz(tmp_path):
    path = draw.render(examples.fruit_graph(), tmp_path / "fruit.svg")
    svg = path.read_text()
    assert "<svg" in svg and ">715<" in svg and ">3.3<" in svg and 'stroke="red"' in svg


def test_cli_graph_prints_dot_and_explains(capsys):
    assert main(["graph", "apple"]) == 0
    assert capsys.readouterr().out.startswith("digraph chainrule")
    assert main(["graph", "fruit", "--explain"]) == 0
    assert "d tax = 1 × 650 = 650" in capsys.readouterr().out


def test_cli_graph_bad_example_exits_2():
    result = subprocess.run([sys.executable, "-m", "chainrule", "graph", "banana"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice: 'banana'" in result.stderr
