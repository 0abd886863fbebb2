"""A graph from a line of text, safely: ``build("(x*y + z).exp()", {"x": 2, "y": 3, "z": 1})``.

The text is parsed with Python's ``ast`` and only this small language is
accepted, so nothing the user types is ever executed:

* names (each becomes one Variable: ``x*x`` uses x twice, and its gradient adds up);
* numbers (constants), ``+ - * / @``, ``**`` with a number as the exponent, unary ``-``;
* the functions ``exp log relu sigmoid tanh softmax sum mean``, also as methods
  (``x.exp()``, ``(x @ W).sum()``), ``sum``/``mean`` with an integer ``axis``;
* ``.T`` (transpose).

Values come as numbers or nested lists of numbers (``W=[[1,2],[3,4]]``).
"""
from __future__ import annotations

import ast
import math

import numpy as np

from . import functions as F
from .graph import Variable
from .nonfinite import NonFiniteError

FUNCTIONS = {"exp": F.exp, "log": F.log, "relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh,
             "softmax": F.softmax, "sum": F.sum, "mean": F.mean}
BINARY = {ast.Add: F.add, ast.Sub: F.sub, ast.Mult: F.mul, ast.Div: F.div, ast.MatMult: F.matmul}
#: the upstream gradient's name in every rule (``dout × y``): a value of that name would make them ambiguous
RESERVED = "dout"
MAX_LENGTH = 2000
MAX_NODES = 500


class ExpressionError(ValueError):
    """The text is not an expression chainrule can build; the message says what is wrong."""


def parse_value(text, name="value"):
    """A number or a nested list of numbers from text (``2``, ``-1.5``, ``[[1, 2], [3, 4]]``), as a float array."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ExpressionError(f"{name}: {text!r} is not a number or a list of numbers such as [[1, 2], [3, 4]]") \
            from None
    if not _numbers_only(value):     # True, '3' and b'3' were read as 1, 3 and 3
        raise ExpressionError(f"{name}: {text!r} is not a number or a list of numbers such as [[1, 2], [3, 4]]")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise ExpressionError(f"{name}: {text!r} is not a number or a rectangular list of numbers") from None
    if array.size == 0:
        raise ExpressionError(f"{name}: {text!r} holds no number; expected at least one, such as 1 or [1, 2]")
    if not np.all(np.isfinite(array)):
        raise ExpressionError(f"{name}: {text!r} holds a number beyond floating point (the largest is about "
                              f"{np.finfo(np.float64).max:.3g}), inf or NaN; expected finite numbers")
    return array


def _numbers_only(value):
    """True for a real number (not a bool) or a list or tuple holding only such numbers and lists."""
    if isinstance(value, (list, tuple)):
        return all(_numbers_only(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def output_name(names):
    """The name of an expression's output: ``out``, or the first of ``out1``, ``out2``, … that no input holds
    (for ``L * out`` the output named out too made the explanation read "∂out/∂out = L")."""
    taken = set(names)
    return next(name for name in ("out", *(f"out{k}" for k in range(1, len(taken) + 2))) if name not in taken)


def build(text, values):
    """The output Variable of the expression ``text`` with ``values`` (name → number or array) for its names.

    >>> out = build("(x*y + z).exp()", {"x": 2.0, "y": 3.0, "z": 1.0})
    >>> out.backward()
    >>> round(float(out.data), 2), [round(float(v), 1) for v in (out.grad, )]
    (1096.63, [1.0])
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH}")
    source = text.strip()
    if not source:
        raise ExpressionError("the expression is empty; write one such as (x*y + z).exp()")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:       # Python counts characters from 1, and says 0 where the text ended too soon
        where = f"at character {e.offset}, {source[e.offset - 1]!r}" if e.offset and e.offset <= len(source) \
            else "at the end: something is missing"
        raise ExpressionError(f"cannot read {text!r}: {e.msg} ({where})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"the expression has more than {MAX_NODES} parts")
    for n in ast.walk(tree):   # Python reads 2e308 as inf: name the number as it was typed
        if isinstance(n, ast.Constant) and isinstance(n.value, float) and not math.isfinite(n.value):
            raise ExpressionError(f"{ast.get_source_segment(source, n) or n.value} is too large for a "
                                  f"floating-point number (the largest is about {np.finfo(np.float64).max:.3g})")
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and id(n) in called and n.id not in FUNCTIONS:
            raise ExpressionError(f"{n.id!r} is not one of the functions {', '.join(FUNCTIONS)}")
    _check_parts(tree)
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in FUNCTIONS})
    if RESERVED in names:
        raise ExpressionError(f"{RESERVED} is the name the explanations give a node's upstream gradient (book "
                              f"§5.2: dx = dout × …); call this value something else")
    missing = [n for n in names if n not in values]
    if missing:
        raise ExpressionError(f"no value for {', '.join(missing)}: give one with --set "
                              + " ".join(f"{n}=…" for n in missing))
    unused = sorted(set(values) - set(names))
    if unused:
        raise ExpressionError(f"--set {', '.join(unused)}: not in the expression")
    variables = {n: Variable(values[n], n) for n in names}
    try:
        return _build(tree.body, variables, source)
    except (ExpressionError, NonFiniteError):
        raise
    except (ValueError, TypeError, IndexError) as e:  # a layer's own message: shapes that do not fit, log(−1), …
        raise ExpressionError(str(e)) from None


#: the parts of Python an expression may hold (its operators and functions are checked where they are built)
_ALLOWED_PARTS = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant, ast.Attribute, ast.keyword,
                  ast.expr_context, ast.operator, ast.unaryop)


def _check_parts(tree):
    """Refuse the first part, outermost first, that is no part of an expression (a comparison, ``z := x``, a
    generator, a string): before the names are counted, so that ``(z := x)`` is not asked for a value of z."""
    for n in ast.walk(tree):
        if not isinstance(n, _ALLOWED_PARTS):
            raise ExpressionError(f"{ast.unparse(n)!r} is not allowed here: use names, numbers, + - * / @ **, "
                                  f"and {', '.join(FUNCTIONS)}")
        if isinstance(n, ast.Constant):
            _number(n)


def _fold(node, source, layer_name, compute, *operands):
    """A part made of constants alone (``1/0``, ``exp(1000)``, ``10**400``), computed in float64 as the layers
    compute it, or refused with one message (the page's expression.js words it the same): the part as Python
    writes it, what it gives, and why where one reason fits."""
    with np.errstate(all="ignore"):
        value = compute(*(np.float64(v) for v in operands))
    v = float(value)
    if math.isfinite(v):
        return value
    if (layer_name == "Div" and operands[1] == 0) or (layer_name == "Pow" and operands[0] == 0 and operands[1] < 0):
        why = ", a division by zero"
    elif layer_name == "Pow" and math.isnan(v):
        why = ", not a real number (a negative number to a fractional power)"
    elif math.isinf(v) and layer_name != "Log":
        why = f", beyond floating point (the largest number is about {np.finfo(np.float64).max:.3g})"
    else:
        why = ""
    shown = "NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    raise ExpressionError(f"a constant part of {source!r} cannot be computed: {ast.unparse(node)} gives "
                          f"{shown}{why}")


def _number(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        try:
            value = float(node.value)  # numbers are floats: 10**100000 must not become a 100,000-digit integer
        except OverflowError:
            raise ExpressionError(f"{ast.unparse(node)[:20]}… is too large for a floating-point number") from None
        if not math.isfinite(value):
            raise ExpressionError(f"{node.value} is not a finite number")
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_number(node.operand)
    if isinstance(node, ast.Constant) and isinstance(node.value, complex):
        raise ExpressionError(f"{ast.unparse(node)} is not a real number")   # the page's words
    raise ExpressionError(f"expected a number, got {ast.unparse(node)!r}")


def _exponent(power):
    """The exponent of ``a ** p``: a number (the power rule d(xᵖ)/dx = p·xᵖ⁻¹ takes p as a constant)."""
    try:
        return _number(power.right)
    except ExpressionError:
        raise ExpressionError(f"the exponent in {ast.unparse(power)!r} must be a number, such as x**2 or x**-0.5; "
                              "for a power whose exponent varies, write exp(y * log(x))") from None


def _axis(args, call):
    """The axis of ``sum``/``mean`` given ``args`` (the operand first), named in messages by the ``call`` as typed."""
    if args[1:]:
        raise ExpressionError(f"{ast.unparse(call)!r}: give the axis as axis=N")
    axis = None
    for kw in call.keywords:
        if kw.arg != "axis":
            raise ExpressionError(f"{ast.unparse(call)!r}: the only option is axis=N")
        axis = int(_number(kw.value))
    return axis


def _build(node, variables, source):
    def build(part):
        return _build(part, variables, source)

    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function: call it, e.g. {node.id}(x)")
        return variables[node.id]
    if isinstance(node, ast.Constant):
        return _number(node)
    if isinstance(node, ast.BinOp):
        left = build(node.left)
        if isinstance(node.op, ast.Pow):
            if isinstance(left, Variable):
                return F.power(left, _exponent(node))
            return _fold(node, source, "Pow", np.power, left, _exponent(node))
        if type(node.op) not in BINARY:
            raise ExpressionError(f"the operator in {ast.unparse(node)!r} is not one of + - * / @ **")
        layer, right = BINARY[type(node.op)], build(node.right)
        if isinstance(left, Variable) or isinstance(right, Variable):
            return layer(left, right)
        return _fold(node, source, type(node.op).__name__.replace("Mult", "Mul"), layer, left, right)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.UAdd):
            return build(node.operand)
        if isinstance(node.op, ast.USub):
            operand = build(node.operand)
            return F.neg(operand) if isinstance(operand, Variable) else -operand
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return F.transpose(build(node.value))
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
            if not node.args:
                raise ExpressionError(f"{ast.unparse(node)!r}: {node.func.id} takes one argument, e.g. "
                                      f"{node.func.id}(x)")
            name, operand, args = node.func.id, node.args[0], node.args
        elif isinstance(node.func, ast.Attribute) and node.func.attr in FUNCTIONS:
            name, operand, args = node.func.attr, node.func.value, [node.func] + node.args
        else:
            raise ExpressionError(f"{ast.unparse(node.func)!r} is not one of the functions "
                                  f"{', '.join(FUNCTIONS)}")
        value = build(operand)
        if name in ("sum", "mean"):
            return FUNCTIONS[name](value, axis=_axis(args, node))
        if node.keywords or args[1:]:
            raise ExpressionError(f"{ast.unparse(node)!r}: {name} takes one argument")
        if isinstance(value, Variable):
            return FUNCTIONS[name](value)
        return _fold(node, source, name.capitalize(), FUNCTIONS[name], value)
    raise ExpressionError(f"{ast.unparse(node)!r} is not allowed here: use names, numbers, + - * / @ **, "
                          f"and {', '.join(FUNCTIONS)}")
