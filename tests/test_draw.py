"""Static drawings and explanations that never mislead, the graph as data, and expressions from the command line."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import examples
from chainrule.cli import main
from chainrule.draw import describe, explain, format_value, render, to_dot
from chainrule.draw.graphdata import FORMAT, VERSION
from chainrule.expression import ExpressionError, build
from chainrule import functions as F
from chainrule.graph import Variable


def edges(dot, red):
    pattern = r'(\w+) -> (\w+) \[label="([^"]*)"' + (r", color=red" if red else r"\]")
    return re.findall(pattern, dot)


def names_by_id(dot):
    return {m.group(1): m.group(2) for m in re.finditer(r'^\s+(\w+) \[label="([^"\\]*)", shape=', dot, re.M)}


def test_apple_dot_has_forward_values_and_red_gradients_beside_them():
    """One label per arrow: the value, and under it the gradient in bold red (side by side they ran together)."""
    dot = to_dot(examples.apple_graph())
    assert dot.startswith("digraph chainrule {") and "rankdir=LR;" in dot
    names = names_by_id(dot)
    labelled = {(names[a], names[b], value, grad) for a, b, value, grad in re.findall(
        r'(\w+) -> (\w+) \[label=<(.*?)<BR/><FONT COLOR="red"><B>(.*?)</B></FONT>>\]', dot)}
    assert labelled == {("apple", "×", "100", "2.2"), ("apple_num", "×", "2", "110"), ("tax", "×", "1.1", "200"),
                        ("×", "×", "apple_price = 200", "1.1"), ("×", "price", "220", "1")}   # names on the arrows
    red = re.findall(r"(\w+) -> (\w+) \[color=red, style=bold, dir=back\]", dot)
    assert len(red) == 5


def test_dot_is_byte_identical_every_time_and_keeps_the_books_order():
    assert to_dot(examples.fruit_graph()) == to_dot(examples.fruit_graph())
    assert to_dot(examples.mlp_graph()) == to_dot(examples.mlp_graph())
    dot = to_dot(examples.fruit_graph())
    declared = [m.group(1) for m in re.finditer(r'^\s+\w+ \[label="(\w+)", shape=ellipse', dot, re.M)]
    assert declared.index("apple") < declared.index("orange")   # apple above orange, as the book draws it


def test_before_backward_there_are_no_red_arrows_and_constants_fold():
    a, b = Variable(2.0, "a"), Variable(3.0, "b")
    dot = to_dot(a * b + 1.0)
    assert "color=red" not in dot and 'label="+1"' in dot  # scalar constants fold into the node: "+1"


def test_array_labels_never_show_only_some_numbers():
    small = np.array([[0.0, 0.0, 0.0], [1.5, -2.0, 3.0]])     # first row zero: must not look all-zero
    assert format_value(small) == "[[0, 0, 0], [1.5, -2, 3]]"
    big = np.zeros((4, 5))
    big[3, 4] = 7.0
    assert format_value(big) == "(4×5) min 0, mean 0.35, max 7"
    assert format_value(2.2) == "2.2" and format_value(110.00000000000001) == "110"


def test_labels_are_drawn_as_what_they_are_and_long_graphs_turn():
    dot = to_dot(examples.mlp_graph())
    assert "rankdir=TB;" in dot                                  # a 2-layer net is no longer a strip
    assert 'label="labels t\\n[1, 1, 0, 1]", shape=note' in dot
    assert 'H = (4×5) min 0' in dot and 'Z1 = ' in dot              # intermediate names on the arrows
    assert 'label="dot", shape=circle' in dot                      # the matrix product drawn as the book's "dot"
    assert "rankdir=LR;" in to_dot(examples.mlp_graph(), direction="LR")


def test_explain_defines_its_symbols_names_the_chain_rule_and_sums_branches():
    text = explain(examples.mlp_graph())
    assert "the chain rule" in text and "the branch rule" in text
    assert "where y = softmax(Z2), the probabilities" in text and "where t = the labels [1, 1, 0, 1]" in text
    assert "where N = 4, the number of rows (the batch)" in text
    assert "d W1 = xᵀ · dout = [[0.1257, -0.1321, 0.6404], [0.1049, -0.5357, 0.3616], [1.304, 0.9471, -0.7037], " \
           "[-1.265, -0.6233, 0.04133]]ᵀ · (4×5) = (3×5) min" in text       # x in numbers, the 20-number dout a shape
    assert "d b2 = Σ_rows (dout × 1) = Σ_rows ([[0.1275, -0.1275], " in text  # the bias rule: a sum over the rows
    x = Variable(3.0, "x")
    y = x * 2.0 + x * 1.0
    y.name = "y"
    y.backward()
    text = explain(y)
    assert "→ x is used 2 times: d x = 2 (via ×2) + 1 (via ×1) = 3" in text
    assert " t1" not in text and " t2" not in text                          # no auto-names that clash with labels


def test_explain_apple_step_by_step():
    text = explain(examples.apple_graph())
    assert "1. × (apple_price, tax) → price: upstream dout = d price = 1" in text
    assert "d apple_price = dout × tax = 1 × 1.1 = 1.1" in text and "d tax = dout × apple_price = 1 × 200 = 200" in text
    assert "d apple = dout × apple_num = 1.1 × 2 = 2.2" in text
    assert text.strip().endswith("gradients: d apple = 2.2, d apple_num = 110, d tax = 200")


def test_explain_needs_backward():
    a = Variable(2.0)
    with pytest.raises(ValueError, match="call backward"):
        explain(a * 3.0)


def test_the_graph_as_data(tmp_path):
    data = describe(examples.fruit_graph())
    assert data["format"] == FORMAT and data["version"] == VERSION and data["recompute"]
    json.dumps(data)  # JSON-able
    names = {v["name"]: v for v in data["values"].values()}
    assert names["apple"]["role"] == "input" and names["price"]["role"] == "output" and names["tax"]["grad"] == [650.0]
    first = data["backward"][0]
    assert first["sent"][0]["symbolic"] == "dout × tax" and first["sent"][0]["numeric"] == "1 × 1.1"
    assert first["sent"][0]["local"] == "tax" and first["sent"][0]["local_value"] == "1.1"
    items = data["layout"]["items"]
    apple, orange = names["apple"]["id"], names["orange"]["id"]
    assert items[apple]["y"] < items[orange]["y"] and items[apple]["x"] < items[names["price"]["id"]]["x"]
    x = Variable(2.0, "x")
    y = x * x
    y.backward()
    assert describe(y)["branches"][describe(y)["values"]["value1"]["id"]]["total"] == "4"
    assert main(["graph", "apple", "--json", str(tmp_path / "g.json")]) == 0
    assert json.loads((tmp_path / "g.json").read_text())["format"] == "chainrule-graph"


def test_render_dot_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = render(examples.apple_graph(), tmp_path / "apple.dot")
    assert path.read_text().startswith("digraph")
    from chainrule.draw import GraphvizNotFoundError
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        render(examples.apple_graph(), tmp_path / "apple.svg")
    assert not (tmp_path / "apple.svg").exists()


def test_cli_reports_missing_graphviz_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["graph", "apple", "--out", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Graphviz's `dot` program is not installed" in err[0]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_svg_with_graphviz(tmp_path):
    svg = render(examples.fruit_graph(), tmp_path / "fruit.svg").read_text()
    assert "<svg" in svg and ">715<" in svg and ">3.3<" in svg and 'stroke="red"' in svg


def test_cli_graph_prints_dot_and_explains(capsys):
    assert main(["graph", "apple"]) == 0
    assert capsys.readouterr().out.startswith("digraph chainrule")
    assert main(["graph", "fruit", "--explain"]) == 0
    assert "d tax = dout × all_price = 1 × 650 = 650" in capsys.readouterr().out


def test_cli_draws_an_expression_with_values(tmp_path, capsys):
    assert main(["graph", "(x*y + z).exp()", "--set", "x=2", "y=3", "z=1", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "d x = dout × y = 1096.6 × 3 = 3290" in out and "gradients: d x = 3290, d y = 2193, d z = 1097" in out
    assert main(["graph", "sum(relu(x @ W))", "--set", "x=[[1,-2]]", "W=[[0.5,1],[2,-1]]", "--html",
                 str(tmp_path / "e.html")]) == 0
    assert (tmp_path / "e.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("text,values,message", [
    ("__import__('os').system('echo hi')", {}, "'__import__' is not one of the functions"),
    ("x.__class__", {"x": 1.0}, "is not allowed here"),
    ("x + y", {"x": 1.0}, "no value for y"),
    ("x ** y", {"x": 1.0, "y": 2.0}, "the exponent in 'x ** y' must be a number, such as x**2"),
    ("2 ** x", {"x": 1.0}, "for a power whose exponent varies, write exp(y * log(x))"),
    ("x * 2e308", {"x": 1.0}, "2e308 is too large for a floating-point number (the largest is about 1.8e+308)"),
    ("x * -1.5E400", {"x": 1.0}, "1.5E400 is too large for a floating-point number"),
    ("x +", {"x": 1.0}, "cannot read"),
    ("x", {"x": 1.0, "q": 2.0}, "--set q: not in the expression"),
    ("log(x)", {"x": -1.0}, "Log: input of shape () has 1 negative value"),
    ("x @ W", {"x": np.ones((1, 2)), "W": np.ones((3, 1))}, "MatMul: A has shape (1, 2) and B has shape (3, 1)"),
    # each of these was worded wrongly: 'x.mean(x.mean, 0)', "'exp' is not one of the functions", "no value for z",
    # "no value for y", "--set x: not in the expression", "expected a number, got '1j'"
    ("x.mean(0)", {"x": np.ones(2)}, "'x.mean(0)': give the axis as axis=N"),
    ("exp()", {}, "'exp()': exp takes one argument, e.g. exp(x)"),
    ("(z := x)", {"x": 1.0}, "'(z := x)' is not allowed here"),
    ("sum(x for x in y)", {"y": np.ones(2)}, "'(x for x in y)' is not allowed here"),
    ("'x' * 2", {"x": 1.0}, "expected a number, got \"'x'\""),
    ("x * 1j", {"x": 1.0}, "1j is not a real number"),
    # the explanation read "d x = dout × dout = 1 × 3": the upstream gradient and a value of the same name
    ("dout * x", {"dout": 3.0, "x": 2.0}, "dout is the name the explanations give a node's upstream gradient"),
])
def test_expressions_are_parsed_safely(text, values, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        build(text, values)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["out", "out1", "out2", "v1", "v2", "v3", "x", "L"]), min_size=2, max_size=5,
                unique=True), st.data())
def test_every_value_of_an_expression_has_its_own_name(names, data):
    """Whatever its inputs are called (out, v1, …), every value of the drawn graph has a name of its own: an
    output named out beside an input named out read "∂out/∂out = L" in the explanation."""
    from chainrule.expression import output_name
    ops = data.draw(st.lists(st.sampled_from(["+", "*", "-"]), min_size=len(names) - 1, max_size=len(names) - 1))
    text = names[0] + "".join(f" {op} {'exp' if k % 2 else ''}({name})" for k, (op, name) in
                              enumerate(zip(ops, names[1:])))
    out = build(text, {n: 0.5 for n in names})
    out.name = output_name(names)
    out.backward()
    shown = [v["name"] for v in describe(out)["values"].values()]
    assert len(shown) == len(set(shown)), (text, shown)
    assert not re.search(rf"∂{out.name}/∂{out.name}(?!\w)", explain(out))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="xy+-*/() .T1", max_size=12))
def test_an_expression_that_cannot_be_read_says_where(text):
    """Python counts a syntax error's character from 1 and says 0 where the text ended too soon: the message
    names the very character it points at, or says the expression ends too soon (it said "at character 0")."""
    try:
        build(text, {"x": 1.0, "y": 2.0})
    except ExpressionError as error:
        message = str(error)
        if "cannot read" in message:
            assert "at character 0" not in message
            where = re.search(r"at character (\d+), '(.)'\)$", message)
            if where:
                k = int(where.group(1))
                assert 1 <= k <= len(text.strip()) and text.strip()[k - 1] == where.group(2)
            else:
                assert message.endswith("(at the end: something is missing)"), message
        elif not text.strip():
            assert message.startswith("the expression is empty")
    except (ValueError, TypeError, ArithmeticError):     # read, then refused by a layer: other tests' concern
        pass


def test_expression_graphs_use_each_name_once():
    y = build("x * x + exp(x)", {"x": 1.0})
    y.backward()
    x = next(a for a in y.creator.args[0].creator.args if isinstance(a, Variable))
    assert x.grad == pytest.approx(2 + np.e)


def test_cli_graph_errors_are_one_line():
    result = subprocess.run([sys.executable, "-m", "chainrule", "graph", "x @ W", "--set", "x=[1, 2]"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([sys.executable, "-m", "chainrule", "graph", "x * 2", "--set", "x=[1, 2]"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "wrap it in sum(...)" in result.stderr


def test_jupyter_displays_a_recorded_graph_as_the_page():
    price = examples.apple_graph()
    html = price._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "Content-Security-Policy" in html and "apple_num" in html
    assert Variable(1.0)._repr_html_() is None  # a bare value keeps its plain repr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_pngs_are_sharp_on_a_slide_and_dpi_is_an_option(tmp_path):
    from PIL import Image
    out = examples.fruit_graph()
    render(out, tmp_path / "fruit.png")
    render(out, tmp_path / "fruit72.png", dpi=72)
    sharp, blurred = Image.open(tmp_path / "fruit.png").size, Image.open(tmp_path / "fruit72.png").size
    assert sharp[0] >= 1800 and abs(sharp[0] / blurred[0] - 200 / 72) < 0.1   # 1080p-slide wide at 200 dpi
    with pytest.raises(ValueError, match="dpi"):
        render(out, tmp_path / "x.png", dpi=0)
    assert main(["graph", "fruit", "--out", str(tmp_path / "f.png"), "--dpi", "100"]) == 0
    assert abs(Image.open(tmp_path / "f.png").size[0] / blurred[0] - 100 / 72) < 0.1


def test_notebooks_get_a_static_svg_and_a_frame_that_fits(tmp_path):
    from chainrule.draw import GraphView
    out = examples.fruit_graph()
    view = GraphView(out)
    html_text = view._repr_html_()
    height = int(re.search(r"height:(\d+)px", html_text).group(1))
    assert 420 <= height <= 1200 and height == view.frame_height(describe(out, longest_lr=12))
    small, big = GraphView(examples.apple_graph()), GraphView(examples.mlp_graph())
    assert small.frame_height(describe(examples.apple_graph(), longest_lr=12)) <= \
        big.frame_height(describe(examples.mlp_graph(), longest_lr=12))
    svg = out._repr_svg_()
    if shutil.which("dot"):
        assert svg.lstrip().startswith(("<?xml", "<svg", "<!DOCTYPE")) and "apple_price = 200" in svg
    else:
        assert svg is None


@pytest.mark.parametrize("text,message", [("1e400", "holds a number beyond floating point (the largest is about "
                                                    "1.8e+308), inf or NaN"),
                                          ("[1, 2e308]", "holds a number beyond floating point"),
                                          ("[]", "holds no number; expected at least one"),
                                          ("True", "is not a number or a list of numbers"),
                                          ("'3'", "is not a number or a list of numbers"),
                                          ("[1, False]", "is not a number or a list of numbers")])
def test_a_set_value_says_what_is_wrong_with_it(text, message):
    """--set x=1e400 said "must hold at least one finite number": it held one, too large. True, '3' and [1, False]
    were read as 1, 3 and [1, 0]."""
    from chainrule.expression import parse_value
    with pytest.raises(ExpressionError, match=re.escape(f"x: {text!r} {message}")):
        parse_value(text, "x")


def test_a_long_vector_is_drawn_on_lines_of_five_numbers():
    """A bias of 10 values made one very wide arrow label in drawings: longer vectors go on lines of five (the
    same numbers, in order); a matrix keeps a row per line, a short vector one line."""
    from chainrule.draw.dot import _multiline_label
    ten = "[" + ", ".join(str(i) for i in range(10)) + "]"
    assert _multiline_label(ten) == "[0, 1, 2, 3, 4,\n 5, 6, 7, 8, 9]"
    assert _multiline_label("[1, 2, 3, 4, 5, 6]") == "[1, 2, 3, 4, 5, 6]"
    assert _multiline_label("[[1, 2], [3, 4]]") == "[[1, 2],\n [3, 4]]"
    assert _multiline_label("[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]") == \
        "[[0, 1, 2, 3, 4,\n 5, 6, 7, 8, 9,\n 10, 11]]"
    assert _multiline_label("d b = [0, 1, 2, 3, 4, 5, 6]") == "d b = [0, 1, 2, 3, 4,\n 5, 6]"
    assert _multiline_label("(2×10) min 0, mean 1, max 2") == "(2×10) min 0, mean 1, max 2"
    x = Variable(np.arange(12.0), "x")
    out = F.sum(x * x)
    out.backward()
    dot = to_dot(out)
    assert "[0, 1, 2, 3, 4,<BR/> 5, 6, 7, 8, 9,<BR/> 10, 11]" in dot, dot


small_arrays = st.integers(0, 3).flatmap(
    lambda ndim: st.lists(st.integers(1, 12), min_size=ndim, max_size=ndim).filter(
        lambda shape: int(np.prod(shape)) <= 12)).flatmap(
    lambda shape: st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64),
                           min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda values: np.array(values, dtype=np.float64).reshape(shape)))


@given(small_arrays, st.sampled_from(["", "x = ", "d W1 = "]))
@settings(max_examples=300, deadline=None)
def test_every_drawn_label_keeps_its_numbers_and_no_line_is_long(a, prefix):
    """Property of the one rule that breaks labels for drawings (PNG/SVG and the page): the lines, joined, are
    the label; no line holds more than NUMBERS_PER_LINE + 1 numbers; a matrix starts a line at each row."""
    from chainrule.draw.numbers import NUMBERS_PER_LINE, format_value, label_lines
    label = prefix + format_value(a)
    lines = label_lines(label)
    assert " ".join(line.strip() for line in lines) == label
    assert all(len(line.split(", ")) <= NUMBERS_PER_LINE + 1 for line in lines), lines
    if a.ndim == 2:
        assert sum("[" in line for line in lines) == a.shape[0], lines


NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
def test_the_page_breaks_labels_into_the_same_lines_as_python(tmp_path):
    """The page (engine.js's labelLines) and the PNG/SVG drawings (numbers.label_lines) break every label the
    same way, so a model's graph has the same narrow arrows in both: random arrays of up to 12 numbers."""
    from chainrule.draw.numbers import format_value, label_lines
    rng = np.random.default_rng(7)
    labels = []
    for _ in range(400):
        shape = tuple(int(n) for n in rng.integers(1, 7, size=rng.integers(0, 4)))
        if int(np.prod(shape)) > 12:
            shape = (int(rng.integers(1, 13)),)
        a = rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 7)
        labels.append(rng.choice(["", "x = ", "d b3 = "]) + format_value(a))
    labels += ["(2×64) min 0, mean 0.2944, max 1", "(100×10) array", ""]
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(labels))
    script = ("const CR = require(process.argv[1]); const fs = require('fs');"
              "process.stdout.write(JSON.stringify(JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))"
              ".map(CR.labelLines)));")
    engine = Path(__file__).parent.parent / "chainrule" / "draw" / "static" / "engine.js"
    result = subprocess.run([NODE, "-e", script, str(engine), str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [label_lines(label) for label in labels]


@pytest.mark.parametrize("text,message", [
    ("x * exp(1000)", "exp(1000) gives inf, beyond floating point (the largest number is about 1.8e+308)"),
    ("x + log(0)", "log(0) gives -inf"),
    ("x + 1/0", "1 / 0 gives inf, a division by zero"),
    ("x + 0/0", "0 / 0 gives NaN, a division by zero"),
    ("x * 10**400", "10 ** 400 gives inf, beyond floating point"),
    ("x * (-4)**0.5", "(-4) ** 0.5 gives NaN, not a real number (a negative number to a fractional power)"),
])
def test_a_constant_part_that_is_not_a_finite_number_is_refused_by_name(text, message):
    """exp(1000) of constants alone was folded into the graph as a node '×inf' (with NumPy's overflow warning),
    where 1/0 and 10**400 were refused, each in other words: one rule now names the part, what it gives and why."""
    with pytest.raises(ExpressionError, match=re.escape(f"a constant part of {text!r} cannot be computed: {message}")):
        build(text, {"x": 1.0})
