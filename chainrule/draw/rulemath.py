"""A layer's backward rule as an equation a student can check by hand, with the graph's own numbers.

A rule template (``"{dout} × {y}"``, ``"{dout} · {W}ᵀ"``, ``"{dout} ∘ [{x} > 0]"``) is read
once into a small expression tree, in the notation the explanations use:

* ``×`` and ``∘`` multiply elementwise, ``/`` divides, ``+`` ``−`` add and subtract (NumPy broadcasting);
* ``·`` is the matrix product, ``ᵀ`` the transpose (of the last two axes), ``²`` and ``^(…)`` powers;
* ``Σ_rows E`` sums over the rows (axis 0), ``Σ_row(E)`` along each row, keeping it;
* ``[E > 0]`` is 1 where E is positive, else 0 (ReLU's mask);
* ``{name}`` is a field of the node (dout, an input, a parameter, the output), a bare name (``y``,
  ``t``, ``N``) one of the layer's :meth:`~chainrule.layers.base.Layer.rule_values`.

A template that does not read as such an expression (``"{dout} copied to every summed element"``) is
shown in words only. For one that does, :func:`equation` writes the numeric form: scalars as numbers,
arrays of at most ``FULL_LIMIT`` numbers in full, larger ones as their shape. When every operand is
written with digits, the digits shown, combined as shown, give the result shown at its own precision:
operands get more significant digits (up to 17) until they do, and where even that cannot make it hold
the relation is written ``≈`` instead of ``=``. Negative numbers are parenthesised, so signs never
double (``−(-0.235)``, ``× (-1)``).

A gradient whose shape differs from the rule's result states why: a broadcast input is summed back to
its shape (``Σ_rows (…)``, the bias rule of book §5.6.2), an Affine's image input is reshaped back
(``(…) reshaped to (2×4×4×4)``).

``static/engine.js`` implements the same reading and writing (``CR.equation``), and a test runs both on
the same graphs so the page and the explanations cannot drift apart.
"""
from __future__ import annotations

import re

import numpy as np

from .numbers import FULL_LIMIT, SIGNIFICANT, format_number, format_value, shape_text

MAX_SIGNIFICANT = 17
_TOKEN = re.compile(r"\s+|\{\w+\}|Σ_rows|Σ_row|\d+(?:\.\d+)?|[A-Za-zσμγβ]\u0302?\w*|[×·∘/+−()\[\]>ᵀ²^]")


class NotAnEquation(ValueError):
    """The template is words, not an expression (shown symbolically only)."""


def tokenize(template):
    """A rule template's tokens (spaces kept, so it can be written back as it was)."""
    tokens, at = [], 0
    while at < len(template):
        m = _TOKEN.match(template, at)
        if m is None:
            raise NotAnEquation(template)
        tokens.append(m.group(0))
        at = m.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens; nodes are tuples ``(op, …)``; leaves remember their token index."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.at = 0
        self.skip()

    def skip(self):
        while self.at < len(self.tokens) and self.tokens[self.at].isspace():
            self.at += 1

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected=None):
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise NotAnEquation(f"expected {expected!r} at {token!r}")
        self.at += 1
        self.skip()
        return token

    def expression(self):
        node = self.term()
        while self.peek() in ("+", "−"):
            op = self.take()
            node = (op, node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.peek() in ("×", "·", "∘", "/"):
            op = self.take()
            node = (op, node, self.unary())
        return node

    def unary(self):
        if self.peek() == "−":
            self.take()
            return ("neg", self.unary())
        if self.peek() == "Σ_rows":
            self.take()
            return ("rows", self.term())
        return self.postfix()

    def postfix(self):
        node = self.atom()
        while self.peek() in ("ᵀ", "²", "^"):
            op = self.take()
            if op == "ᵀ":
                node = ("T", node)
            elif op == "²":
                node = ("pow", node, ("num", 2.0, None))
            else:
                self.take("(")
                node = ("pow", node, self.expression())
                self.take(")")
        return node

    def atom(self):
        token, index = self.peek(), self.at
        if token is None:
            raise NotAnEquation("unexpected end")
        if token == "(":
            self.take()
            node = self.expression()
            self.take(")")
            return ("paren", node)
        if token == "[":
            self.take()
            inner = self.expression()
            self.take(">")
            self.take("0")
            self.take("]")
            return ("mask", inner, (index, self.at))
        if token == "Σ_row":
            self.take()
            self.take("(")
            node = self.expression()
            self.take(")")
            return ("rowsum", node)
        self.take()
        if token[0] == "{":
            return ("field", token[1:-1], index)
        if token[0].isdigit():
            return ("num", float(token), index)
        if token[0].isalpha():
            return ("name", token, index)
        raise NotAnEquation(f"unexpected {token!r}")


_PARSED = {}


def parse(template):
    """(tokens, tree) of a rule template; raises :class:`NotAnEquation` for a rule in words."""
    if template not in _PARSED:
        try:
            tokens = tokenize(template)
            parser = _Parser(tokens)
            tree = parser.expression()
            if parser.peek() is not None:
                raise NotAnEquation(f"unexpected {parser.peek()!r}")
            _PARSED[template] = (tokens, tree)
        except NotAnEquation as e:
            _PARSED[template] = e
    parsed = _PARSED[template]
    if isinstance(parsed, Exception):
        raise parsed
    return parsed


def _transpose(a):
    return a if a.ndim < 2 else np.swapaxes(a, -1, -2)


def _matmul(a, b, in_order):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        raise NotAnEquation("a batched matrix product is not written out")
    if not in_order:
        return a @ b
    A = a.reshape(1, -1) if a.ndim == 1 else a
    B = b.reshape(-1, 1) if b.ndim == 1 else b
    if A.shape[1] != B.shape[0]:
        raise ValueError("matmul: shapes do not fit")
    out = np.zeros((A.shape[0], B.shape[1]))
    for k in range(A.shape[1]):  # term by term, in the order the page's engine adds them
        out = out + A[:, k:k + 1] * B[k:k + 1, :]
    shape = A.shape[:1] * (a.ndim > 1) + B.shape[1:] * (b.ndim > 1)
    return out.reshape(shape)


def _sum_rows(a, in_order):
    if not in_order:
        return a.sum(axis=0)
    out = np.zeros(a.shape[1:])
    for row in a:
        out = out + row
    return out


def evaluate(tree, env, in_order=False):
    """The value of a tree; ``env`` maps field and bare names to float arrays. With ``in_order`` every sum
    runs term by term from the first (as the page's engine adds), so both sides round alike."""
    op = tree[0]
    if op == "num":
        return np.float64(tree[1])
    if op in ("field", "name"):
        if tree[1] not in env:
            raise NotAnEquation(f"no value for {tree[1]}")
        return env[tree[1]]
    if op == "paren":
        return evaluate(tree[1], env, in_order)
    if op == "neg":
        return -evaluate(tree[1], env, in_order)
    if op == "T":
        return _transpose(evaluate(tree[1], env, in_order))
    if op == "mask":
        return (evaluate(tree[1], env, in_order) > 0).astype(np.float64)
    if op == "rows":
        a = evaluate(tree[1], env, in_order)
        return _sum_rows(a, in_order) if a.ndim else a
    if op == "rowsum":
        a = evaluate(tree[1], env, in_order)
        return _sum_rows(np.moveaxis(a, -1, 0), in_order)[..., None] if a.ndim else a
    a, b = evaluate(tree[1], env, in_order), evaluate(tree[2], env, in_order)
    with np.errstate(all="ignore"):
        if op in ("×", "∘"):
            return a * b
        if op == "/":
            return a / b
        if op == "+":
            return a + b
        if op == "−":
            return a - b
        if op == "·":
            return _matmul(a, b, in_order)
        if op == "pow":
            return a ** b
    raise NotAnEquation(op)  # pragma: no cover


def _leaves(tree, out):
    if tree[0] in ("field", "name"):
        out.append(tree)
    elif tree[0] == "mask":
        out.append(tree)
    else:
        for child in tree[1:]:
            if isinstance(child, tuple):
                _leaves(child, out)
    return out


def number_text(v, significant=SIGNIFICANT):
    """A number as an operand: negative ones in parentheses."""
    text = format_number(v, significant)
    return f"({text})" if text.startswith("-") else text


def array_text(a, significant=SIGNIFICANT, transposed=False):
    """An operand: a number, a small array in full, or a larger one as its shape (transposed when written ᵀ)."""
    if a.size == 1 and a.ndim == 0:
        return number_text(a.reshape(-1)[0], significant)
    if a.size <= FULL_LIMIT:
        return format_value(a, significant=significant)
    shape = a.shape[::-1] if transposed and a.ndim >= 2 else a.shape
    return shape_text(shape)


def _shown(a):
    return a.size <= FULL_LIMIT


def _rounded(a, significant):
    """The array as its digits show it at ``significant`` digits."""
    return np.vectorize(lambda v: float(format_number(v, significant)), otypes=[np.float64])(a) if a.size else a


def render(tokens, tree, env, significant, symbols):
    """The template written with numbers: each operand at ``significant`` digits (a large one as its shape)."""
    replace = {}
    for leaf in _leaves(tree, []):
        if leaf[0] == "mask":
            start, end = leaf[2]
            mask = evaluate(leaf, env)
            if _shown(mask):
                replace[start] = (end, array_text(mask, significant))
            else:  # a large mask stays written [name > 0] (its count is in the definitions)
                inner = "".join(symbols.get(t[1:-1], t[1:-1]) if t.startswith("{") else t
                                for t in tokens[start + 1:end - 1])
                replace[start] = (end, "[" + inner.strip() + "]")
            continue
        index = leaf[2]
        a = env[leaf[1]]
        transposed = index + 1 < len(tokens) and tokens[index + 1] == "ᵀ"
        text = array_text(a, significant, transposed)
        # a shape says itself that it is transposed, a number has no transpose: drop the ᵀ that follows
        drop = transposed and (a.ndim == 0 or (not _shown(a) and a.ndim >= 2))
        replace[index] = (index + 2 if drop else index + 1, text)
    out, i = [], 0
    while i < len(tokens):
        if i in replace:
            end, text = replace[i]
            out.append(text)
            i = end
        else:
            out.append(tokens[i])
            i += 1
    return "".join(out)


def _reshaped_like(r, g):
    """r in g's shape where they hold the same numbers (a row vector for a vector), else None."""
    if r.shape == g.shape:
        return r
    if r.size == g.size:
        return r.reshape(g.shape)
    return None


def wrapper(result_shape, target_shape):
    """How a rule's result becomes the gradient: ``None`` (as it is), ``("reshape", shape)`` or
    ``("sum", shape)`` (the broadcast rule: summed back to the input's shape)."""
    if tuple(result_shape) == tuple(target_shape):
        return None
    size = int(np.prod(result_shape)) if len(result_shape) else 1
    target_size = int(np.prod(target_shape)) if len(target_shape) else 1
    if size == target_size:
        squeezed = [n for n in result_shape if n != 1] == [n for n in target_shape if n != 1]
        return None if squeezed else ("reshape", tuple(target_shape))
    return ("sum", tuple(target_shape))


def wrap_text(text, wrap, result_shape):
    """The rule's text wrapped as ``wrap`` says: a sum over the broadcast axes, or a reshape."""
    if wrap is None:
        return text
    kind, shape = wrap
    if kind == "reshape":
        return f"({text}) reshaped to {shape_text(shape)}"
    if len(shape) == 0 or int(np.prod(shape)) == 1 and len(shape) <= 1:
        return f"Σ ({text})"
    if len(result_shape) == len(shape) + 1 and tuple(result_shape[1:]) == tuple(shape):
        return f"Σ_rows ({text})"
    return f"sum to {shape_text(shape)} of ({text})"


def wrap_note(wrap, result_shape):
    """Why the wrapper is there, in words."""
    if wrap is None:
        return None
    kind, shape = wrap
    if kind == "reshape":
        return (f"the rule computes the matrix {shape_text(result_shape)}, reshaped back to the input's shape "
                f"{shape_text(shape)}")
    return (f"the broadcast rule: the input was broadcast to {shape_text(result_shape)}, so its gradient is summed "
            f"over the copies, {shape_text(result_shape)} → {shape_text(shape)}")


def apply_wrap(r, wrap, in_order=False):
    """The rule's result made the gradient: reshaped, or summed over the broadcast axes (leading ones, then the
    axes where the input had size 1), each sum term by term with ``in_order``."""
    if wrap is None:
        return r
    kind, shape = wrap
    if kind == "reshape":
        return r.reshape(shape)
    while r.ndim > len(shape):
        r = _sum_rows(r, in_order)
    for axis, n in enumerate(shape):
        if n == 1 and r.shape[axis] != 1:
            r = np.moveaxis(_sum_rows(np.moveaxis(r, axis, 0), in_order)[None], 0, axis)
    return r.reshape(shape)


def equation(template, env, gradient, symbols):
    """The rule of ``template`` for one gradient: a dict with ``symbolic``, and where the template is an
    expression of known values also ``numeric`` and ``relation`` (``=`` or ``≈``) and, when the gradient
    is summed or reshaped from the rule's result, ``note``. ``env`` maps names to arrays (float64)."""
    g = np.asarray(gradient, dtype=np.float64)
    try:
        tokens, tree = parse(template)
        exact = np.asarray(evaluate(tree, env), dtype=np.float64)
    except (NotAnEquation, ValueError):
        return {"symbolic": template_words(template, symbols)}
    wrap = wrapper(exact.shape, g.shape)
    checked = _reshaped_like(apply_wrap(exact, wrap), g) if _wrap_fits(exact, wrap) else None
    symbolic = wrap_text(template_words(template, symbols), wrap, exact.shape)
    entry = {"symbolic": symbolic}
    if checked is None or not _close(checked, g):
        return entry  # the template does not compute this gradient here: words only, never a false equation
    target = format_value(g)
    leaves = _leaves(tree, [])
    digits = all(_shown(env[leaf[1]]) for leaf in leaves if leaf[0] != "mask") and all(
        _shown(evaluate(leaf, env)) for leaf in leaves if leaf[0] == "mask")
    relation, significant = "=", SIGNIFICANT
    if digits:
        relation = "≈"
        for significant in range(SIGNIFICANT, MAX_SIGNIFICANT + 1):
            shown = {name: _rounded(a, significant) for name, a in env.items()}
            try:
                r = _reshaped_like(apply_wrap(np.asarray(evaluate(tree, shown, True), dtype=np.float64), wrap,
                                              True), g)
            except (ValueError, NotAnEquation):
                r = None
            if r is not None and format_value(r) == target:
                relation = "="
                break
        else:
            significant = SIGNIFICANT
    entry["numeric"] = wrap_text(render(tokens, tree, env, significant, symbols), wrap, exact.shape)
    entry["relation"] = relation
    note = wrap_note(wrap, exact.shape)
    if note:
        entry["note"] = note
    return entry


def _wrap_fits(exact, wrap):
    try:
        apply_wrap(exact, wrap)
        return True
    except ValueError:
        return False


def _close(a, b):
    with np.errstate(all="ignore"):
        return bool(np.allclose(a, b, rtol=1e-7, atol=1e-12 * max(1.0, float(np.max(np.abs(b), initial=0)))
                                , equal_nan=True))


def template_words(template, symbols):
    """A template in words with its fields named: ``"dout copied to every summed element"``."""
    return re.sub(r"\{(\w+)\}", lambda m: symbols.get(m.group(1), m.group(1)), template)


def sum_equation(terms, total):
    """The branch rule written out: each term's text (at as many digits as it takes for the terms shown to add
    up to the total shown) and the relation, ``=`` or (where no number of digits makes it hold) ``≈``."""
    terms = [np.asarray(t, dtype=np.float64) for t in terms]
    total = np.asarray(total, dtype=np.float64)
    target = format_value(total)
    if all(_shown(t) for t in terms):
        for significant in range(SIGNIFICANT, MAX_SIGNIFICANT + 1):
            shown = [_rounded(t, significant) for t in terms]
            if format_value(_reshaped_like(sum(shown), total)) == target:
                return [array_text(t, significant) for t in terms], "="
        return [array_text(t) for t in terms], "≈"
    return [array_text(t) if _shown(t) else format_value(t) for t in terms], "="
