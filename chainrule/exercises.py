"""Exercises that locate the mistake: your own layers, in the book's order, checked node by node.

Write the book's layers yourself (``exercises/layers.py`` in the repository is the file to fill in:
``MulLayer``, ``AddLayer`` (§5.4), ``Relu``, ``Sigmoid`` (§5.5), ``Affine``, ``SoftmaxWithLoss`` (§5.6), then
the two-layer net's ``TwoLayerNet.gradient`` (§5.7.2) and a ``Convolution``'s backward (§7.4)) and run
``chainrule check layers.py`` (or :func:`check_file`). Each layer found in the file is put into a graph in
place of chainrule's own (the apple-and-orange graph for the Mul and Add layers, a small network for the
others), the graph runs backward, and :func:`chainrule.locate.locate` checks every node on its own: the
report names the node, the input and the wrong entries, with the numerical and your numbers and a hint tied
to the rule. ``--html`` writes the graph's page with the wrong node marked in red. The network's gradient is
checked parameter by parameter against the numerical gradient of its own loss, run with chainrule's layers so
that only ``gradient`` itself is graded.
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
import textwrap
from pathlib import Path

import numpy as np

from . import functions as F
from . import layers as L
from .graph import GraphError, InPlaceError, Variable, holds_numbers, input_names
from .layers.base import Layer, parameter
from .locate import check_node, hint, locate
from .nonfinite import NonFiniteError, nonfinite_policy

#: the classes an exercise file may define, in the book's order, and chainrule's layer each stands for
EXERCISES = {"MulLayer": L.Mul, "AddLayer": L.Add, "Relu": L.Relu, "Sigmoid": L.Sigmoid, "Affine": L.Affine,
             "SoftmaxWithLoss": L.SoftmaxWithLoss, "TwoLayerNet": None, "Convolution": L.Convolution}
#: the layers a network exercise is run with (chainrule's own, so that its ``gradient`` alone is graded)
NETWORK_LAYERS = {"Affine": L.Affine, "Relu": L.Relu, "SoftmaxWithLoss": L.SoftmaxWithLoss}


def adapt(user, like):
    """``user`` (any object with ``forward``/``backward``, the book's style) as a chainrule layer drawn and explained
    like ``like``: its parameters (``W``, ``b``) are the user's own arrays, its gradients the user's ``dW``, ``db``."""
    params = [name for name, v in vars(like).items() if isinstance(v, parameter)]

    def forward(self, *inputs):
        self.__dict__["last_inputs"] = inputs
        return self.user.forward(*inputs)

    def backward(self, dout):
        return self.user.backward(dout)

    forward.__signature__ = inspect.signature(like.forward)  # its inputs keep the book's names (x, y, t)
    namespace = {"symbol": like.symbol, "rules": like.rules, "rule_symbols": like.rule_symbols,
                 "rule_meanings": like.rule_meanings, "constant_inputs": like.constant_inputs,
                 "forward": forward, "backward": backward,
                 "grads": property(lambda self: {n: getattr(self.user, "d" + n, None) for n in params}),
                 "kink_state": (lambda self: None if "last_inputs" not in self.__dict__ else
                                np.asarray(self.last_inputs[0]) > 0) if like is L.Relu else (lambda self: None),
                 **{name: parameter() for name in params}}
    cls = type(f"Your{type(user).__name__}", (Layer,), namespace)
    cls.__module__ = "chainrule.exercises"
    layer = cls.__new__(cls)
    layer.user = user
    for name in ("stride", "pad"):      # what drawings and the page show of a convolution
        if hasattr(user, name):
            layer.__dict__[name] = getattr(user, name)
    for name in params:
        setattr(layer, name, getattr(user, name))
    return layer


def _fruit(make_mul, make_add):
    """The apple-and-orange graph of §5.4.2 with your Mul and Add layers: 715, with every gradient of the book."""
    apple, apple_num = Variable(100.0, "apple"), Variable(2.0, "apple_num")
    orange, orange_num, tax = Variable(150.0, "orange"), Variable(3.0, "orange_num"), Variable(1.1, "tax")
    apple_price = make_mul()(apple, apple_num)
    orange_price = make_mul()(orange, orange_num)
    all_price = make_add()(apple_price, orange_price)
    price = make_mul()(all_price, tax)
    for v, name in ((apple_price, "apple_price"), (orange_price, "orange_price"), (all_price, "all_price"),
                    (price, "price")):
        v.name = name
    return price


def _arrays(make_mul, make_add, rng):
    """The same layers on arrays: (x ∘ y + z) ∘ x, x used twice (the branch rule)."""
    x, y, z = (Variable(rng.standard_normal((2, 3)), n) for n in "xyz")
    out = make_mul()(make_add()(make_mul()(x, y), z), x)
    return F.sum(out)


def graphs_for(name, cls, rng):
    """The graphs an exercise class is checked in, built with fresh instances of it."""
    def make(like, *args):
        return lambda: adapt(cls(*args), like)
    if name in ("MulLayer", "AddLayer"):
        mul = make(L.Mul) if name == "MulLayer" else (lambda: L.Mul())
        add = make(L.Add) if name == "AddLayer" else (lambda: L.Add())
        return [_fruit(mul, add), _arrays(mul, add, rng)]
    if name in ("Relu", "Sigmoid"):
        x = rng.standard_normal((3, 4))
        x += np.sign(x) * 0.2                                    # away from ReLU's kink
        v = Variable(x, "x")
        h = adapt(cls(), EXERCISES[name])(v)
        h.name = "h"
        return [F.sum(h * Variable(rng.standard_normal((3, 4)), "c") + h * h)]   # h used twice
    if name == "Affine":
        W, b = rng.standard_normal((3, 2)), rng.standard_normal(2)
        layer = adapt(cls(W, b), L.Affine)
        for p, n in (("W", "W"), ("b", "b")):
            layer.parameters[p].name = n
        x = Variable(rng.standard_normal((4, 3)), "X")
        z = layer(x)
        z.name = "Z"
        return [F.softmax_cross_entropy(z, np.array([0, 1, 1, 0]))]
    if name == "SoftmaxWithLoss":
        x = Variable(rng.standard_normal((3, 5)), "x")
        s = F.tanh(x)
        s.name = "s"
        return [adapt(cls(), L.SoftmaxWithLoss)(s, np.array([4, 0, 2]))]
    if name == "Convolution":
        graphs = []
        for stride, pad, shape in ((1, 0, (2, 2, 5, 5)), (2, 1, (2, 3, 6, 6))):   # with and without stride, pad
            W, b = rng.standard_normal((3, shape[1], 3, 3)), rng.standard_normal(3)
            layer = adapt(cls(W, b, stride=stride, pad=pad), L.Convolution)
            for p in ("W", "b"):
                layer.parameters[p].name = p
            y = layer(Variable(rng.standard_normal(shape), "X"))
            y.name = "Y"
            scores = F.reshape(y, (shape[0], -1))
            graphs.append(F.softmax_cross_entropy(scores, rng.integers(0, scores.shape[1], shape[0])))
        return graphs
    raise KeyError(name)


def load(path):
    """The exercise classes defined in the file ``path``: name → class."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; expected a Python file such as exercises/layers.py")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location(f"chainrule_exercise_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError:
        raise
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the learner's file may fail in any way: say where
        raise ValueError(_loading_error(path, error)) from None
    finally:
        sys.modules.pop(spec.name, None)
    found = {name: getattr(module, name) for name in EXERCISES if inspect.isclass(getattr(module, name, None))}
    if not found:
        raise ValueError(f"{path} defines none of the exercise classes {', '.join(EXERCISES)}")
    return found


def _loading_error(path, error):
    """One line for an exception raised while the learner's file was run: its line in that file, and what."""
    import traceback
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path.resolve()
             or Path(f.filename) == path]
    where = f"line {lines[-1]}" if lines else "loading it"
    if isinstance(error, SystemExit):
        return (f"{where}: the file called sys.exit({error.code!r}) while being loaded; it should only define the "
                "exercise classes (put a script's own code under `if __name__ == \"__main__\":`)")
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{where}: {type(error).__name__}{': ' + message if message else ''} (while the file was loaded)"


def network_hint(wrong, right, expected, got):
    """What the parameters that are wrong, and those that are right, say about a network's ``gradient``."""
    if any(got.get(n) is None for n in wrong):
        missing = ", ".join(n for n in wrong if got.get(n) is None)
        return f"gradient must return every parameter's gradient by name: {missing} missing"
    shapes = {n: np.shape(got[n]) for n in wrong}
    for n in wrong:
        same = [m for m in expected if m != n and np.shape(expected[m]) == shapes[n]]
        if shapes[n] != np.shape(expected[n]) and same:
            return f"d{n} has the shape of {same[0]}: is {same[0]}'s gradient returned under {n}'s name?"
    if right and all(n[-1] == "1" for n in wrong):
        return ("the last Affine's gradients are right but the first's are not: backward must go through every "
                "layer in reverse order (book §5.7.2: layers.reverse()), each given the dout the later one returned")
    ratios = {float(np.sum(got[n] * expected[n]) / max(np.sum(expected[n] ** 2), 1e-300)) for n in wrong}
    if len(ratios) == 1 and all(np.allclose(got[n], next(iter(ratios)) * expected[n], rtol=1e-4, atol=1e-9)
                                for n in wrong):
        k = next(iter(ratios))
        return (f"every gradient is {k:.4g} times the right one: backward starts from dout = 1, the loss's gradient "
                "with respect to itself")
    return "compare gradient with the book's §5.7.2: loss(x, t) first, then last_layer.backward(1), then each layer"


def check_network(cls, seed=0):
    """(verdict line, None, None) for a network exercise: its ``gradient`` against the numerical gradient of its own
    ``loss``, parameter by parameter, run with chainrule's layers (``NETWORK_LAYERS``)."""
    from .gradcheck import _layers_kink_state, compare, numerical_gradient
    rng = np.random.default_rng(seed)
    module = cls.gradient.__globals__
    saved = {k: module[k] for k in NETWORK_LAYERS if k in module}
    module.update(NETWORK_LAYERS)
    try:
        net = cls(4, 5, 3, weight_init_std=0.5, seed=seed)
        x, t = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
        got = net.gradient(x, t)
        if not isinstance(got, dict):
            return f"TwoLayerNet: ✗ gradient returned {type(got).__name__}; expected a dict W1, b1, W2, b2", None, None
        got = {k: None if v is None else np.array(v, dtype=float) for k, v in got.items()}
        kinks = (lambda: _layers_kink_state(list(net.layers.values()))) if hasattr(net, "layers") else None
        expected, crossed = {}, {}
        for name, p in net.params.items():
            expected[name], crossed[name] = numerical_gradient(lambda _: net.loss(x, t), p, kinks=kinks)
    except NotImplementedError:
        return "TwoLayerNet: not written yet (it raises NotImplementedError)", None, None
    except Exception as e:  # the learner's code may fail in any way: say where, with what
        line = f"TwoLayerNet: ✗ {_failure('TwoLayerNet', cls, e)}"
        if "dout has shape" in str(e):
            line += ("\n  hint: a layer got a dout that is not the gradient of its own output: backward goes through "
                     "the layers in reverse order (book §5.7.2: layers.reverse()), each given the dout the later "
                     "one returned")
        return line, None, None
    finally:
        for k in NETWORK_LAYERS:
            if k in saved:
                module[k] = saved[k]
            else:
                module.pop(k, None)
    verdicts = {n: compare(n, got.get(n), expected[n], skip=crossed[n]) for n in expected}
    wrong = [n for n, v in verdicts.items() if not v.ok]
    if not wrong:
        return "TwoLayerNet: ✓ every parameter's gradient agrees with the numerical one", None, None
    lines = [f"TwoLayerNet: ✗ gradient is wrong for {', '.join(wrong)}"]
    for n in wrong:
        g, e = got.get(n), expected[n]
        if g is None or g.shape != e.shape:
            lines.append(f"  d{n} has shape {None if g is None else g.shape}; expected {e.shape}, the shape of {n}")
            continue
        bad = np.argwhere((np.abs(g - e) > 1e-7 + 1e-5 * np.abs(e)) & ~crossed[n])[:3]
        for idx in map(tuple, bad):
            lines.append(f"  d{n}[{', '.join(map(str, idx))}]: expected {e[idx]:.6g} (numerical), got {g[idx]:.6g}")
    right = [n for n in verdicts if n not in wrong]
    lines.append(f"  hint: {network_hint(wrong, right, expected, got)}")
    return "\n".join(lines), None, None


def check_class(name, cls, seed=0):
    """(verdict line, Finding or None, the graph) for one exercise class."""
    if EXERCISES.get(name, L.Layer) is None:
        return check_network(cls, seed)
    rng = np.random.default_rng(seed)
    out = None
    try:
        with nonfinite_policy("raise"):   # inf or NaN from finite numbers: a mistake of this layer, named below
            outputs = graphs_for(name, cls, rng)
        for out in outputs:
            with nonfinite_policy("raise"):
                out.backward()
            finding = locate(out)
            if finding is not None:
                return f"{name}: ✗\n{finding}", finding, out
    except NotImplementedError:
        return f"{name}: not written yet (it raises NotImplementedError)", None, None
    except InPlaceError as e:  # caught by the engine itself: the dout it hands a layer is read-only
        return f"{name}: ✗\n  {e}", None, None
    except NonFiniteError as e:
        return f"{name}: ✗\n  {e}{_rule_hint(name)}", None, None
    except GraphError as e:  # a gradient of the wrong shape: where, and what the shapes suggest
        node = getattr(e, "node", None)
        if node is None:   # a backward that returned the wrong number of gradients
            return f"{name}: ✗\n  {e}{_rule_hint(name)}", None, None
        inputs = [a.data if isinstance(a, Variable) else a for a in node.args]
        arg = node.args[e.index]
        names = input_names(node.layer, node.n_inputs) + list(getattr(node.layer, "parameters", {}))
        what = names[e.index] if e.index < len(names) else getattr(arg, "name", None) or f"input {e.index}"
        if not holds_numbers(e.gradient):
            shown = repr(e.gradient)
            return (f"{name}: ✗\n  {type(node.layer).__name__}.backward sends {type(e.gradient).__name__} "
                    f"{shown[:40] + '…' * (len(shown) > 40)} to {what}; expected an array of numbers of shape "
                    f"{arg.shape}"), Marked(node), out
        node.upstream = e.upstream
        results, _, _ = check_node(node)        # the numerical gradient it should have sent
        expected = next((r[1] for r in results if r[0] == what), np.zeros(arg.shape))
        text = hint(node.layer, what, expected, np.asarray(e.gradient), np.asarray(e.upstream), inputs)
        return (f"{name}: ✗\n  {type(node.layer).__name__} sends a wrong gradient to {what}: shape "
                f"{np.shape(e.gradient)}, expected {arg.shape}\n  hint: {text}"), Marked(node), out
    except Exception as e:  # the learner's code may fail in any way: say where, with what, and the rule
        return f"{name}: ✗ {_failure(name, cls, e)}", None, None
    return f"{name}: ✓ every gradient agrees with the numerical one", None, outputs[0]


def _failure(name, cls, error):
    """What the learner's layer raised, where in their file (the line and its code), the shapes of the arrays it
    had there (a matrix product that does not fit says little without them) and the rule it implements."""
    import linecache
    files = {f.__code__.co_filename for f in vars(cls).values() if hasattr(f, "__code__")}
    tb, frame = error.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            frame, line = tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
    message = " ".join(str(error).split())
    text = f"{type(error).__name__}{': ' + message if message else ''}"
    if frame is None:
        return text
    code = linecache.getline(frame.f_code.co_filename, line).strip()
    lines = [f"{type(error).__name__} in {frame.f_code.co_name}, line {line} of {Path(frame.f_code.co_filename).name}"
             f"{f' ({code})' if code else ''}: {message}"]
    arrays = [(k, v) for k, v in frame.f_locals.items() if k != "self" and hasattr(v, "shape")]
    owner = frame.f_locals.get("self")
    arrays += [(f"self.{k}", v) for k, v in vars(owner).items() if hasattr(v, "shape")] if hasattr(owner,
                                                                                                   "__dict__") else []
    if arrays:
        lines.append("  the arrays there: " + ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in arrays))
    if isinstance(error, KeyError) and hasattr(owner, "__dict__"):   # which names the dictionaries do hold
        held = [f"self.{k} holds {', '.join(map(str, list(v)[:8]))}" for k, v in vars(owner).items()
                if isinstance(v, dict) and v and all(isinstance(key, str) for key in v)]
        if held:
            lines.append("  " + "; ".join(held))
    return "\n".join(lines) + _rule_hint(name, "; each gradient has the shape of what it is the gradient of")


def _rule_hint(name, then=""):
    """A new line with the rule of the exercise ``name`` (its layer's rule statements), or "" where it has none."""
    layer = EXERCISES.get(name)
    if layer is None or not layer.rules:
        return ""
    return f"\n  hint: the rule is {', '.join(layer.rule_statements())}{then}"


class Marked:
    """The node to mark on the page when the graph's backward stopped at it."""

    def __init__(self, node):
        self.node = node


def check_file(path, html=None, seed=0):
    """Check every exercise class in ``path``; returns (all right, the report's lines). With ``html``, the page of
    the first graph with a wrong node is written there, that node marked in red."""
    lines, ok, marked = [], True, False
    for name, cls in load(path).items():
        line, finding, out = check_class(name, cls, seed)
        lines.append(line)
        ok &= line.startswith(f"{name}: ✓")
        if html and finding is not None and not marked:
            from .draw import to_html
            to_html(out, html, title=f"{name}: the wrong gradient is marked", mark=finding.node,
                    mark_note=textwrap.dedent(line.partition("\n")[2]).strip())   # the report without "Name: ✗"
            lines.append(f"wrote {html}: the node marked in red sends the wrong gradient")
            marked = True
    return ok, lines
