"""What happens when an operation turns finite numbers into inf or NaN: one policy, chosen by the user.

``x / y`` with y = 0, ``log(0)``, ``exp(1000)``: NumPy answers with inf or NaN and a
RuntimeWarning from deep inside the library, and the non-finite number spreads into every
drawing and gradient after it. In a recorded graph chainrule checks each node instead: when
its inputs are finite and what it computes (forward, or the gradients backward sends) is not,
it reports the node by name, with its operation and its input values, as the policy says:

* ``"warn"`` (the default): a :class:`NonFiniteWarning`, one per node, from the user's line;
* ``"raise"``: a :class:`NonFiniteError` (``chainrule graph`` uses this: one line, exit 2);
* ``"ignore"``: nothing.

Choose it like NumPy's ``errstate``, for a block::

    with chainrule.nonfinite_policy("raise"):
        y = x / z

NumPy's own RuntimeWarnings inside recorded operations are silenced: the report above replaces
them. Layers called by hand (``layer.forward(x)``, training loops) are not checked here; the
trainer has its own divergence check.
"""
from __future__ import annotations

import contextlib
import contextvars
import warnings

import numpy as np

POLICIES = ("warn", "raise", "ignore")
_policy = contextvars.ContextVar("chainrule_nonfinite", default="warn")


class NonFiniteError(ArithmeticError, ValueError):
    """An operation produced inf or NaN from finite inputs (policy ``"raise"``)."""


class NonFiniteWarning(RuntimeWarning):
    """An operation produced inf or NaN from finite inputs (policy ``"warn"``)."""


@contextlib.contextmanager
def nonfinite_policy(policy):
    """Inside this block, an operation that makes inf or NaN from finite inputs warns, raises or is ignored."""
    if policy not in POLICIES:
        raise ValueError(f"nonfinite_policy: expected one of {', '.join(POLICIES)}, got {policy!r}")
    token = _policy.set(policy)
    try:
        yield
    finally:
        _policy.reset(token)


def current_policy():
    """The policy in force: ``warn``, ``raise`` or ``ignore``."""
    return _policy.get()


def all_finite(a) -> bool:
    """True unless ``a`` (an array or number) holds inf or NaN."""
    if a is None:
        return True
    dtype = getattr(a, "dtype", None)
    if dtype is not None and dtype.kind not in "fc":
        return True
    try:
        return bool(np.isfinite(a).all())
    except TypeError:
        return True


class Unnamed(str):
    """An argument without a name, described instead (``"a constant"``): shown as "value (description)"."""


def _text(a):
    """A short, exact-enough picture of an input: the number, a small array ([[1, -2], [3, 0]]), or its shape and
    extremes."""
    a = np.asarray(getattr(a, "get", lambda: a)(), dtype=np.float64) if hasattr(a, "dtype") or np.ndim(a) == 0 \
        else np.asarray(a, dtype=np.float64)
    if a.size <= 6:
        def nested(b):
            return f"{float(b):.6g}" if b.ndim == 0 else "[" + ", ".join(nested(row) for row in b) + "]"
        return nested(a)
    return f"an array of shape {a.shape} (min {a.min():.4g}, max {a.max():.4g})"


def _described(name, value):
    return f"{_text(value)} ({name})" if isinstance(name, Unnamed) else f"{name} = {_text(value)}"


def report(what, layer, names, values, produced):
    """Report, as the policy says, that ``layer`` made ``produced`` (the bad array) in ``what`` (forward/backward)."""
    policy = _policy.get()
    if policy == "ignore":
        return
    produced = np.asarray(getattr(produced, "get", lambda: produced)())
    kinds = []
    if np.isnan(produced).any():
        kinds.append("NaN")
    if np.isposinf(produced).any():
        kinds.append("inf")
    if np.isneginf(produced).any():
        kinds.append("-inf")
    inputs = ", ".join(_described(n, v) for n, v in zip(names, values))
    message = (f"{type(layer).__name__} ({getattr(layer, 'symbol', '?')}): {what} gave {' and '.join(kinds)} from "
               f"finite inputs {inputs}")
    if policy == "raise":
        raise NonFiniteError(message)
    warnings.warn(message, NonFiniteWarning, stacklevel=_outside_chainrule())


def _outside_chainrule():
    """The stack level of the first caller outside the chainrule package: the warning points at the user's line."""
    import os
    import sys
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
