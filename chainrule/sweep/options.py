"""What each train option a sweep can search takes (:func:`searchable_options`): its meaning in words, and a check
that turns one written value into the option's value or says what was expected.
"""
from __future__ import annotations

import math
import re


def _number(low=None, low_open=False, high=None, high_open=False):
    def check(value):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise ValueError(f"expected a number {'>' if low_open else '≥'} {low:g}")
        if high is not None and (value >= high if high_open else value > high):
            raise ValueError(f"expected a number {'<' if high_open else '≤'} {high:g}")
        return value
    return check


def _whole(low=1, high=None):
    def check(value):
        if isinstance(value, str):
            value = value.strip()
            if not re.fullmatch(r"[+-]?\d+", value):
                raise ValueError("expected a whole number")
        elif float(value) != int(value):
            raise ValueError("expected a whole number")
        value = int(value)
        if value < low or (high is not None and value > high):
            raise ValueError(f"expected a whole number from {low}" + (f" to {high}" if high is not None else " up"))
        return value
    return check


def _widths(value):
    if isinstance(value, (int, float)):
        return [_whole(1)(value)]
    sizes = [part.strip() for part in str(value).split(",")]
    if not sizes or not all(re.fullmatch(r"\d+", s) and int(s) > 0 for s in sizes):
        raise ValueError("expected hidden layer widths such as 100 or 256,128")
    return [int(s) for s in sizes]


def _one_of(names):
    def check(value):
        value = str(value).strip()
        if value not in names:
            raise ValueError(f"expected one of {', '.join(names)}")
        return value
    return check


def _switch(value):
    text = str(value).strip().lower()
    if text in ("true", "on", "yes", "1"):
        return True
    if text in ("false", "off", "no", "0"):
        return False
    raise ValueError("expected true or false")


def _weight_init(value):
    text = str(value).strip()
    if text in ("he", "xavier"):
        return text
    try:
        return _number(0, low_open=True)(text)
    except ValueError:
        raise ValueError("expected he, xavier or a positive number such as 0.01") from None


def _arch(value):
    from ..nets import parse_spec
    from ..nets import ARCHS
    text = str(value).strip()
    if text not in ARCHS:
        parse_spec(text)
    return text


def searchable_options():
    """Each train option a sweep can search: key → (what its value is, a check that converts one value or raises
    ValueError saying what was expected, and "float" or "int" where it may be drawn as a number, else None)."""
    from ..nets import ACTIVATIONS
    from ..optimizers import OPTIMIZERS
    return {
        "lr": ("the learning rate", _number(0, low_open=True), "float"),
        "weight_decay": ("the L2 weight decay λ", _number(0), "float"),
        "dropout": ("the dropout ratio", _number(0, high=1, high_open=True), "float"),
        "hidden": ("the hidden layer widths", _widths, "int"),
        "batch_size": ("the mini-batch size", _whole(1), "int"),
        "epochs": ("the epochs of each trial", _whole(1, 10_000), "int"),
        "shift": ("the augmenting shift in pixels", _whole(0, 64), "int"),
        "weight_init": ("the initial weight scale", _weight_init, "float"),
        "optimizer": ("the update rule", _one_of(list(OPTIMIZERS)), None),
        "activation": ("the hidden activation", _one_of(sorted(ACTIVATIONS)), None),
        "lr_schedule": ("the learning-rate schedule", _one_of(["constant", "cosine"]), None),
        "batchnorm": ("batch normalisation on or off", _switch, None),
        "flip": ("mirroring half of the images", _switch, None),
        "arch": ("the network", _arch, None),
    }
