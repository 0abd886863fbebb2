"""Gradient checking (book §5.7.3): backprop against numerical differentiation.

``numerical_gradient(f, x)`` is the book's central difference
(f(x + h) − f(x − h)) / 2h with h = 1e-4, one element at a time. It is the
only numerical differentiation in chainrule; ``gradient_check`` drives it for

* a layer: ``gradient_check(layer, x[, y])`` — every float input and parameter
  of L = Σ forward(…) ∘ dout, with a random ``dout`` (1 for a loss layer);
* a network: ``gradient_check(net, x, t)`` — every parameter of ``net.loss(x, t)``
  in training mode;
* any function of Variables: ``gradient_check(fn, a, b)`` — every input of
  L = Σ fn(Variable(a), Variable(b)) ∘ dout.

While it checks, random layers replay the same masks on every evaluation and
batch-norm running statistics are restored afterwards, so one fixed function is
compared. Where a perturbation of ±h moves an input across a kink (a ReLU
switching on or off, a max-pooling winner changing), the function has no
derivative within reach of h: smaller steps (h/100, h/10⁴, in float64) are
tried, and entries where those cross too are counted, reported and left out
of the comparison instead of failing a correct backprop. The central difference
itself is off by about h²·f‴/6: on a sharply curved loss (a batch norm over three
samples) that exceeds the tolerance at h = 1e-4. Entries that disagree are
differentiated again at h/10, then h/100 (float64): that error falls 100- and
10⁴-fold, a wrong backprop stays as wrong; entries that then agree are reported
as rechecked, not as a mismatch. Run checks in float64: in float32 the central
difference itself is off by ~1e-3 relative.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass

import numpy as np

from . import mode
from .array_math import is_float_array
from .graph import Variable, align_gradients, forward_nodes, input_names


def numerical_gradient(f, x, h=1e-4, kinks=None, entries=None):
    """∂f/∂x by central differences (f(x + h) − f(x − h)) / 2h, element by element.

    ``f(x)`` must return a scalar; ``x`` (a float array) is perturbed in place
    and restored exactly. With ``kinks`` (a function returning the piecewise
    state of the computation after each call of ``f``), returns ``(grad,
    crossed)`` where ``crossed`` marks the entries whose ±h perturbation
    changed that state at h and, in float64, at the smaller steps h/100 and
    h/10⁴ tried after it (the first step that crosses no kink is used). With
    ``entries`` (a boolean mask of x's shape) only
    those entries are differentiated; the others are NaN in the result.
    """
    if not is_float_array(x):
        raise TypeError(f"numerical_gradient: x must be a floating-point array, got "
                        f"{type(x).__name__}{'' if not hasattr(x, 'dtype') else ' of dtype ' + str(x.dtype)}")
    grad = np.zeros_like(x) if entries is None else np.full_like(x, np.nan)
    crossed = np.zeros(x.shape, dtype=bool)
    base = None
    if kinks is not None:
        f(x)
        base = kinks()
    indices = np.ndindex(x.shape) if entries is None else map(tuple, np.argwhere(entries))
    # where ±h crosses a kink, smaller steps may not (float64 only: in float32 they would drown in rounding)
    steps = (h, h * 1e-2, h * 1e-4) if kinks is not None and x.dtype == np.float64 else (h,)
    for idx in indices:
        for step in steps:
            grad[idx], crossed[idx] = _central_difference(f, x, idx, step, kinks, base)
            if not crossed[idx]:
                break
    return (grad, crossed) if kinks is not None else grad


def _central_difference(f, x, idx, h, kinks, base):
    """(f(x + h·e) − f(x − h·e)) / 2h for the entry ``idx``, and whether either side changed the kink state.

    Two roundings are kept out of the quotient: where |x| > 1 is so large that the rounding of x ± h, or of f
    (measured: the difference f₊ − f₋ is not 10⁷ times f's rounding), would show in the quotient's sixth digit,
    the step is h·|x| instead (relative); and the quotient divides by the difference of the two values x really
    held, (x + h) − (x − h) as stored, not by 2h.
    """
    original = x[idx].copy()
    size, eps = abs(float(original)), float(np.finfo(x.dtype).eps)
    relative = size > 1 and size * eps * 1e6 > h                  # x's own rounding would show in 6 digits
    while True:
        step = h * size if relative else h
        crossed = False
        x[idx] = original + step
        plus = x[idx].copy()
        f_plus = float(f(x))
        if kinks is not None and not _same_state(kinks(), base):
            crossed = True
        x[idx] = original - step
        minus = x[idx].copy()
        f_minus = float(f(x))
        if kinks is not None and not _same_state(kinks(), base):
            crossed = True
        x[idx] = original
        # f's rounding (eps·|f|) would show in the quotient's sixth digit: once more with the relative step
        if relative or size <= 1 or max(abs(f_plus), abs(f_minus)) * eps * 1e7 <= abs(f_plus - f_minus):
            return (f_plus - f_minus) / float(plus - minus), crossed
        relative = True


def _same_state(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


@dataclass
class Comparison:
    """How one backprop gradient compares with its numerical estimate.

    ``max_rel`` is max |a − n| / max(|a| + |n|, tiny) over the compared
    entries; ``kinks`` entries were left out because ±h crossed a kink; ``unchecked`` entries were not
    differentiated at all (a random sample of a large parameter was checked); ``rechecked`` entries disagreed
    at h and agreed at h/10 or h/100 (:func:`compare_rechecking`), where n is that estimate.
    """

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    mean_abs: float
    ok: bool
    compared: int = 0
    kinks: int = 0
    why: str = ""
    unchecked: int = 0
    rechecked: int = 0

    def __str__(self):
        mark = "ok" if self.ok else "MISMATCH"
        skipped = f"  ({self.kinks} of {self.compared + self.kinks} at a kink, skipped)" if self.kinks else ""
        if self.rechecked:
            skipped += f"  ({self.rechecked} rechecked at a smaller step: {RECHECKED})"
        if self.unchecked:
            total = self.unchecked + self.compared + self.kinks
            skipped += f"  ({self.compared + self.kinks} random entries of {total})"
        why = f"  {self.why}" if self.why else ""
        return (f"{self.name:<8} {str(self.shape):<14} mean|Δ| {self.mean_abs:.3e}  max|Δ| {self.max_abs:.3e}  "
                f"max rel {self.max_rel:.3e}  {mark}{skipped}{why}")


#: set by :mod:`chainrule.locate` when it is imported (``import chainrule`` does): the function that names the
#: first node, in backward order, whose gradient departs. Kept as a slot so that this module imports nothing above it.
LOCATE = None


class GradCheckReport(dict):
    """name → :class:`Comparison`, with ``ok`` and a printable table. ``culprit``: for a function of Variables
    (a graph) that fails, the first node in backward order whose gradient departs (a ``chainrule.locate.Finding``:
    its layer, the input, the wrong entries and a hint), else None."""

    culprit = None

    @property
    def ok(self) -> bool:
        """True when every gradient compared agrees (and something was compared)."""
        return bool(self) and all(c.ok for c in self.values())

    def __str__(self):
        table = "\n".join(str(c) for c in self.values())
        return table if self.culprit is None else f"{table}\nwhere it departs first: {self.culprit}"


def compare(name, analytic, numeric, rtol=1e-5, atol=1e-7, skip=None, checked=None):
    """Compare two gradients: ok when every compared entry has |a − n| ≤ atol + rtol·|n|.

    NaN or infinity on either side is a failure, never a pass. ``skip`` marks
    entries left out (kink crossings); ``checked`` (if given) the only entries
    that were differentiated.
    """
    if analytic is None:
        return Comparison(name, tuple(np.shape(numeric)), np.inf, np.inf, np.inf, False,
                          why="backward returned no gradient for it")
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        return Comparison(name, numeric.shape, np.inf, np.inf, np.inf, False,
                          why=f"backward's gradient has shape {analytic.shape}, expected {numeric.shape}")
    checked = np.ones(analytic.shape, dtype=bool) if checked is None else checked
    keep = checked if skip is None else checked & ~skip
    a, n = analytic[keep], numeric[keep]
    unchecked = int(analytic.size - np.count_nonzero(checked))
    kinks = int(analytic.size - a.size) - unchecked
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        bad = "backprop" if not np.all(np.isfinite(a)) else "numerical"
        return Comparison(name, analytic.shape, np.inf, np.inf, np.inf, False, a.size, kinks,
                          why=f"the {bad} gradient holds NaN or infinite values", unchecked=unchecked)
    diff = np.abs(a - n)
    scale = np.maximum(np.abs(a) + np.abs(n), 1e-12)
    return Comparison(name, analytic.shape, float(diff.max(initial=0)), float((diff / scale).max(initial=0)),
                      float(diff.mean()) if diff.size else 0.0, bool(np.all(diff <= atol + rtol * np.abs(n))),
                      a.size, kinks, why="every entry sits at a kink" if a.size == 0 and kinks else "",
                      unchecked=unchecked)


#: the smaller steps of a recheck (h divided by these), each for the entries that still disagree; in float64 the
#: rounding of the loss stays far below the tolerance at h/100 = 1e-6
RECHECK_DIVISORS = (10, 100)
#: what a recheck that agrees means, in the reports
RECHECKED = ("at h the central difference's own error (about h²·f‴/6) passed the tolerance; at h/10 or h/100 it "
             "is 100× or 10⁴× smaller and they agree")


def compare_rechecking(name, analytic, numeric, differentiate, h, rtol=1e-5, atol=1e-7, skip=None, checked=None):
    """:func:`compare`, and where float64 entries differ by more than ``atol`` (when some disagree, or the mean
    difference exceeds ``atol``), ``differentiate(entries, step)`` (→ the numerical gradient on those entries and
    where they crossed a kink) at h/10, then at h/100 for those that still disagree. The central difference is
    off by about h²·f‴/6, 100× and 10⁴× less there, while a wrong backprop stays as wrong: the entries take the
    smaller step's estimate and are counted as ``rechecked`` if then every entry agrees and the mean difference
    is smaller; else the comparison at h stands."""
    first = compare(name, analytic, numeric, rtol, atol, skip, checked)
    if first.ok and first.mean_abs <= atol or analytic is None or np.shape(analytic) != np.shape(numeric) \
            or numeric.dtype != np.float64:
        return first
    a = np.asarray(analytic, dtype=np.float64)
    keep = np.ones(a.shape, dtype=bool) if checked is None else checked.copy()
    if skip is not None:
        keep &= ~skip
    if not (np.all(np.isfinite(a[keep])) and np.all(np.isfinite(numeric[keep]))):
        return first
    numeric = numeric.copy()
    skip = np.zeros(a.shape, dtype=bool) if skip is None else skip.copy()
    rechecked = np.zeros(a.shape, dtype=bool)
    todo = keep & (np.abs(a - numeric) > atol)
    for divisor in RECHECK_DIVISORS:
        if not todo.any():
            break
        finer, crossed = differentiate(todo, h / divisor)
        numeric[todo] = finer[todo]
        skip |= crossed & todo
        rechecked |= todo & ~crossed
        todo &= ~crossed & ~(np.abs(a - numeric) <= atol + rtol * np.abs(numeric))
    second = compare(name, analytic, numeric, rtol, atol, skip, checked)
    if not second.ok or second.mean_abs >= first.mean_abs:
        return first
    second.rechecked = int(np.count_nonzero(rechecked))
    return second


@contextlib.contextmanager
def _restored(arrays):
    """Put the given arrays (running statistics) back as they were when the block ends."""
    saved = [(a, a.copy()) for a in arrays]
    try:
        yield
    finally:
        for a, copy in saved:
            a[...] = copy


def _layers_kink_state(layers):
    return [s for s in (layer.kink_state() for layer in layers) if s is not None]


def _graph_kink_state(output):
    return [] if not isinstance(output, Variable) else _layers_kink_state(n.layer for n in forward_nodes(output))


def _float_input(name, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.array(value, dtype=np.float64)
    if not is_float_array(value):
        raise TypeError(f"gradient_check: input {name} is {type(value).__name__}"
                        + (f" of dtype {value.dtype}" if hasattr(value, "dtype") else "")
                        + "; gradients are checked on floating-point arrays (pass np.asarray(..., float))")
    return np.array(value, dtype=np.float64 if value.dtype != np.float32 else np.float32, copy=True)


def _random_dout(out, seed):
    if np.ndim(out) == 0:
        return 1.0
    return np.random.default_rng(seed).standard_normal(np.shape(out)).astype(np.result_type(out))


def check_layer(layer, inputs, dout=None, seed=0, h=1e-4, rtol=1e-5, atol=1e-7):
    """Backprop of one layer against numerical gradients of L = Σ forward(*inputs) ∘ dout."""
    names = input_names(layer, len(inputs))
    constant = set(layer.constant_inputs)
    inputs = [a if i in constant else _float_input(names[i], a) for i, a in enumerate(inputs)]
    report = GradCheckReport()
    with _restored(layer.buffers.values()), mode.replay_randomness(seed):
        out = layer.forward(*inputs)
    dout = _random_dout(out, seed) if dout is None else dout

    def objective(_):
        with mode.replay_randomness(seed):
            return np.sum(layer.forward(*inputs) * dout)

    def kinks():
        return _layers_kink_state([layer])

    with _restored(layer.buffers.values()):
        objective(None)
        grads = [None if g is None else np.array(g, copy=True)
                 for g in align_gradients(layer, layer.backward(dout), len(inputs))]
        param_grads = {k: None if v is None else np.array(v, copy=True) for k, v in layer.grads.items()}
        def differentiate(value):
            return lambda entries, step: numerical_gradient(objective, value, step, kinks, entries)

        for i, value in enumerate(inputs):
            if i in constant:
                continue
            numeric, crossed = numerical_gradient(objective, value, h, kinks)
            report[names[i]] = compare_rechecking(names[i], grads[i], numeric, differentiate(value), h, rtol, atol,
                                                  crossed)
        for name, param in layer.params.items():
            numeric, crossed = numerical_gradient(objective, param, h, kinks)
            report[name] = compare_rechecking(name, param_grads[name], numeric, differentiate(param), h, rtol, atol,
                                              crossed)
    return report


def check_network(net, x, t, seed=0, h=1e-4, rtol=1e-5, atol=1e-7, max_entries=None):
    """``net.gradient(x, t)`` against numerical gradients of the training-mode ``net.loss(x, t)``.

    With ``max_entries``, a parameter with more entries than that is checked on that many of them, chosen at
    random (by ``seed``): the cost of a numerical gradient is two losses per entry.
    """
    x = _float_input("x", x)
    with _restored(net.buffers().values()), np.errstate(all="ignore"):   # a loss that overflows is named below
        start = float(_training_loss(net, x, t, seed)(None))
    if not np.isfinite(start):
        raise ValueError(f"gradient check: the loss at these weights is {start}, so no gradient can be compared; "
                         "expected a finite loss (smaller weights: a scale such as he, or the book's 0.01)")
    numeric = numerical_gradients(net, x, t, h, seed, max_entries)
    with _restored(net.buffers().values()), mode.replay_randomness(seed):
        analytic = {k: np.array(v, copy=True) for k, v in net.gradient(x, t).items()}
    report = GradCheckReport()
    loss = _training_loss(net, x, t, seed)
    for name, p in net.params.items():
        def differentiate(entries, step, p=p):
            with _restored(net.buffers().values()):
                return numerical_gradient(loss, p, step, lambda: _layers_kink_state(net.layers), entries)

        report[name] = compare_rechecking(name, analytic.get(name), numeric[name], differentiate, h, rtol, atol,
                                          numeric.kinks[name], numeric.checked.get(name))
    rounding = abs(start) * np.finfo(np.float64).eps / h
    if rounding > atol:   # the loss's own rounding, divided by 2h, swamps the tolerance: a mismatch says nothing
        for c in report.values():
            if not c.ok and not c.why:
                c.why = (f"the loss is {start:.3g}: at h = {h:g} the central difference's rounding error (about "
                         f"|L|·ε/h = {rounding:.1g}) is above the tolerance {atol:g}, so the difference may be "
                         "rounding alone; check at a smaller weight scale")
    return report


def _training_loss(net, x, t, seed):
    """The function of a parameter the numerical gradients differentiate: the training-mode loss, random layers
    replaying the same masks on every call."""
    def loss(_):
        with mode.replay_randomness(seed):
            return net.loss(x, t, train_flg=True)
    return loss


class NumericalGradients(dict):
    """name → numerical gradient; ``kinks[name]`` marks the entries where ±h crossed a kink, ``checked[name]`` (for
    sampled parameters only) the entries that were differentiated."""

    def __init__(self):
        super().__init__()
        self.kinks = {}
        self.checked = {}


def numerical_gradients(net, x, t, h=1e-4, seed=0, max_entries=None):
    """All parameter gradients of a network's training-mode loss by central differences (slow: for checks).

    Random layers replay the same masks for every evaluation and batch-norm
    running statistics are restored afterwards: the network is left as it was.
    With ``max_entries``, larger parameters are differentiated at that many
    random entries (``checked``), NaN elsewhere.
    """
    result = NumericalGradients()
    rng = np.random.default_rng(seed)
    loss = _training_loss(net, x, t, seed)
    with _restored(net.buffers().values()):
        for name, p in net.params.items():
            entries = None
            if max_entries is not None and p.size > max_entries:
                entries = np.zeros(p.size, dtype=bool)
                entries[rng.choice(p.size, size=int(max_entries), replace=False)] = True
                result.checked[name] = entries = entries.reshape(p.shape)
            result[name], result.kinks[name] = numerical_gradient(loss, p, h, lambda: _layers_kink_state(net.layers),
                                                                  entries)
    return result


def check_function(fn, inputs, dout=None, seed=0, h=1e-4, rtol=1e-5, atol=1e-7):
    """Backprop through the graph of ``fn(*Variables)`` against numerical gradients of Σ fn(…) ∘ dout."""
    names = _argument_names(fn, len(inputs))
    arrays = [_float_input(names[i], a) for i, a in enumerate(inputs)]
    variables = [Variable(a.copy()) for a in arrays]
    with mode.replay_randomness(seed):
        out = fn(*variables)
    if not isinstance(out, Variable):
        raise TypeError(f"gradient_check: the function returned {type(out).__name__}; expected a Variable "
                        "computed from its Variable arguments")
    dout = _random_dout(out.data, seed) if dout is None else dout
    out.backward(np.broadcast_to(np.asarray(dout, dtype=out.dtype), out.shape).copy())
    report = GradCheckReport()
    for i, (v, a) in enumerate(zip(variables, arrays)):
        kink_state = []

        def objective(values, i=i):
            args = [Variable(values if j == i else arrays[j]) for j in range(len(arrays))]
            with mode.replay_randomness(seed):
                result = fn(*args)
            kink_state[:] = _graph_kink_state(result)
            return np.sum(result.data * dout)

        def differentiate(entries, step, objective=objective, a=a):
            return numerical_gradient(objective, a, step, lambda: list(kink_state), entries)

        numeric, crossed = numerical_gradient(objective, a, h, lambda: list(kink_state))
        report[names[i]] = compare_rechecking(names[i], v.grad, numeric, differentiate, h, rtol, atol, crossed)
    if not report.ok and LOCATE is not None:   # name the layer: each node checked on its own, in backward order
        report.culprit = LOCATE(out, h, rtol, atol, seed)
    return report


def _argument_names(fn, count):
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"input{i}" for i in range(count)]


def gradient_check(target, *inputs, dout=None, seed=0, h=1e-4, rtol=1e-5, atol=1e-7, max_entries=None):
    """Compare backprop with numerical gradients; returns a :class:`GradCheckReport`.

    ``target`` is a layer (``forward``/``backward``), a network
    (``loss``/``gradient``/``params``: pass ``x, t``; ``max_entries`` checks
    large parameters on a random sample of entries) or a function of
    Variables returning a Variable.
    """
    if hasattr(target, "gradient") and hasattr(target, "loss") and hasattr(target, "params"):
        if len(inputs) != 2:
            raise TypeError(f"gradient_check: a network takes (x, t), got {len(inputs)} inputs")
        return check_network(target, *inputs, seed=seed, h=h, rtol=rtol, atol=atol, max_entries=max_entries)
    if max_entries is not None:
        raise TypeError("gradient_check: max_entries is for networks; layers and functions are checked in full")
    if hasattr(target, "forward") and hasattr(target, "backward"):
        return check_layer(target, inputs, dout, seed, h, rtol, atol)
    if callable(target):
        return check_function(target, inputs, dout, seed, h, rtol, atol)
    raise TypeError(f"gradient_check: {type(target).__name__} is neither a layer (forward/backward), a network "
                    "(loss/gradient/params) nor a function of Variables")
