"""The policy for non-finite numbers: an operation that makes inf or NaN from finite inputs is reported by
name, as the user chooses (warn, raise, ignore); never a bare NumPy warning from inside chainrule; the graph
JSON stays strict JSON; the command line refuses with one line."""
import json
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule
from chainrule.draw import describe, explain
from chainrule.graph import Variable
from chainrule.nonfinite import NonFiniteError, NonFiniteWarning, nonfinite_policy

BAD = [("x / y", {"x": 1.0, "y": 0.0}, "Div", "inf"), ("y / y", {"y": 0.0}, "Div", "NaN"),
       ("log(x)", {"x": 0.0}, "Log", "-inf"), ("exp(x)", {"x": 1000.0}, "Exp", "inf"),
       ("x * y", {"x": 1e308, "y": 10.0}, "Mul", "inf"), ("sum(exp(x))", {"x": [1.0, 800.0]}, "Exp", "inf"),
       ("x ** 0.5", {"x": -4.0}, "Pow", "NaN")]


def graph_of(text, values):
    from chainrule.expression import build
    return build(text, {k: np.asarray(v, dtype=float) for k, v in values.items()})


@pytest.mark.parametrize("text,values,op,kind", BAD)
def test_the_default_is_a_warning_naming_the_node_and_no_numpy_warning(text, values, op, kind):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph_of(text, values)
    ours = [w for w in caught if issubclass(w.category, NonFiniteWarning)]
    assert len(ours) == 1 and str(ours[0].message).startswith(f"{op} (") and f"gave {kind}" in str(ours[0].message)
    assert ours[0].filename == __file__ or "chainrule" not in ours[0].filename.split("tests")[0][-12:]
    assert not [w for w in caught if w.category is RuntimeWarning]   # nothing bare from NumPy


@pytest.mark.parametrize("text,values,op,kind", BAD)
def test_raise_and_ignore_as_chosen(text, values, op, kind):
    with nonfinite_policy("raise"), pytest.raises(NonFiniteError, match=rf"^{op} .*gave {kind} from finite inputs"):
        graph_of(text, values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with nonfinite_policy("ignore"):
            graph_of(text, values)


def test_backward_reports_a_gradient_that_overflows():
    x, z = Variable(1.0, "x"), Variable(1e-200, "z")
    y = x / z          # forward: 1e200, finite; backward: dz = −dout × x / z², and z² underflows to 0
    with nonfinite_policy("raise"), pytest.raises(NonFiniteError, match=r"Div \(÷\): backward gave -inf from finite "
                                                                          r"inputs dout = 1, x = 1, z = 1e-200"):
        y.backward()
    with pytest.raises(ValueError, match="nonfinite_policy: expected one of"):
        with chainrule.nonfinite_policy("loud"):
            pass


def test_the_graph_json_is_strict_and_names_its_non_finite_numbers():
    with nonfinite_policy("ignore"):
        out = graph_of("sum(x / y)", {"x": [1.0, -1.0, 0.0], "y": [0.0, 0.0, 0.0]})
        out.backward()
    data = describe(out)
    text = json.dumps(data, allow_nan=False)       # would raise on a bare inf or NaN
    values = {v["name"]: v for v in data["values"].values()}
    assert values["v1"]["value"] == ["inf", "-inf", "NaN"]
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON token {c}"))
    assert "inf" in explain(out)
    node = shutil.which("node")
    if node:
        result = subprocess.run([node, "-e", "JSON.parse(require('fs').readFileSync(0, 'utf8'))"], input=text,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("expression,values", [("x/y", ["x=1", "y=0"]), ("log(x)", ["x=0"]), ("exp(x)", ["x=1000"]),
                                               ("x*(1e308*10)", ["x=1"]), ("x*(10.0**300)**2", ["x=1"]),
                                               ("x * (10**100000)**100000", ["x=1"]), ("(-4)**0.5 * x", ["x=1"]),
                                               ("x/0", ["x=1"])])
def test_the_command_line_refuses_with_one_line_fast(expression, values, tmp_path):
    result = subprocess.run([sys.executable, "-m", "chainrule", "graph", expression, "--set", *values, "--json",
                             str(tmp_path / "g.json")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule graph: error:") and "Traceback" not in result.stderr
    assert not (tmp_path / "g.json").exists()


#: operands of a division by zero: (text, kind) where kind says how the message must show it
OPERANDS = {"x": "named", "y": "named", "2": "constant", "0.5": "constant", "sum(x)": "computed",
            "(y*1)": "computed", "mean(x)": "computed"}
DIVISORS = {"z": "named", "0": "constant", "(z*3)": "computed", "sum(z)": "computed"}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(OPERANDS)), st.sampled_from(sorted(DIVISORS)),
       st.floats(0.5, 4).map(lambda v: round(v, 2)))
def test_a_report_names_only_the_operands_themselves(dividend, divisor, x):
    """A non-finite report shows each operand of the failing node as the user would recognise it: a name of the
    expression with that name's own value, a constant as a constant, a value computed by an earlier step as
    computed; never a name the user gave to something else (in `sum(x) / 0` it said "x = 2, y = 0": neither is
    the user's x)."""
    assume(OPERANDS[dividend] != "constant" or DIVISORS[divisor] != "constant")   # constants alone: no graph
    text = f"{dividend} / {divisor}"
    values = {"x": [x], "y": [x + 1], "z": [0.0]}
    values = {k: v for k, v in values.items() if re.search(rf"\b{k}\b", text)}
    with nonfinite_policy("raise"), pytest.raises(NonFiniteError) as caught:
        graph_of(text, values)
    inputs = str(caught.value).split("from finite inputs ", 1)[1]
    shown = {"x": "x = [%g]" % x, "y": "y = [%g]" % (x + 1), "z": "z = [0]"}
    expected = []
    for operand, kinds in ((dividend, OPERANDS), (divisor, DIVISORS)):
        kind = kinds[operand]
        expected.append(shown[operand] if kind == "named" else
                        "(a constant)" if kind == "constant" else "(computed by an earlier step)")
    parts = inputs.split(", ")
    assert len(parts) == 2, inputs
    for part, want in zip(parts, expected):
        assert part.endswith(want) or part == want, (text, inputs)
    for name in "xyz":   # a name appears only as a direct operand
        if f"{name} =" in inputs:
            assert name in (dividend, divisor), (text, inputs)


def test_an_unnamed_leaf_takes_the_layers_name_unless_another_argument_has_it():
    with nonfinite_policy("raise"):
        with pytest.raises(NonFiniteError, match=r"from finite inputs x = 1, y = 0$"):
            Variable(1.0) / Variable(0.0)
        with pytest.raises(NonFiniteError, match=r"from finite inputs y = 1, input 2 = 0$"):
            Variable(1.0, "y") / Variable(0.0)
