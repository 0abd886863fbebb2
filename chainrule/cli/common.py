"""What every subcommand shares: one-line errors, option types, and option groups declared once."""
from __future__ import annotations

import argparse
import math
import re

from .. import datasets


class UsageError(Exception):
    """Bad options or bad data: reported as one line (several for a missing data set), exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (exit code 2) instead of the usage text."""

    def parse_known_args(self, args=None, namespace=None):
        """argparse's, keeping what the user typed for :meth:`error`'s hints."""
        self._given = list(args) if args is not None else None
        return super().parse_known_args(args, namespace)

    def error(self, message):
        stray = [a for a in getattr(self, "_given", None) or [] if len(a) > 1 and a[0] == "-" and not a[1].isdigit()
                 and a[1] != "." and a.split("=")[0] not in self._option_string_actions
                 and (a[1] != "-" or not re.fullmatch(r"--[A-Za-z][\w-]*(=.*)?", a))]   # ---x, --(x): no option
        if stray and self.prog.endswith(" graph"):   # `chainrule graph "-x"`: argparse takes it for an option
            message = (f"{stray[0]!r} reads as an option, not as the GRAPH expression: put a space or parentheses "
                       f"first, e.g. chainrule graph ' {stray[0]}' or '({stray[0]})'")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default: its value, "off" for a switch, "none" for an option not given; except where
    the help text already says what decides it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings \
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return text + " (default: off, the flag not given)"
        if action.default is None or isinstance(action.default, bool):
            return text + " (default: none)"
        return text + " (default: %(default)s)"


def one_line(error):
    """An error's message on one line (for the CLI's one-line errors); an OSError's without Python's "[Errno 28]"."""
    text = str(error)
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return " ".join(text.split())


def path_name(text):
    """An argparse type: a file or folder name, never empty (``--out "$DIR"`` with DIR unset wrote nothing,
    silently, and ``--data-dir ""`` looked elsewhere)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file or folder name, got an empty one")
    return text


def finite_float(low=None, low_open=False, high=None, high_open=True):
    """An argparse type: a finite float in the given range (nan and inf are refused)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"expected a number {'>' if low_open else '≥'} {low:g}, got {text!r}")
        if high is not None and (value >= high if high_open else value > high):
            raise argparse.ArgumentTypeError(f"expected a number {'<' if high_open else '≤'} {high:g}, got {text!r}")
        return value
    return parse


def whole_number(low, high, expected):
    """An argparse type: an integer in [low, high]; ``expected`` says what in the error."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    parse.__doc__ = f"An argparse type: {expected}."
    return parse


positive_int = whole_number(1, math.inf, "a positive integer")
seed = whole_number(0, 2 ** 63 - 1, "a whole number from 0 to 2^63 − 1")


def hidden_sizes(text):
    """An argparse type: hidden layer widths such as ``100,100``."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer widths such as 100,100, got {text!r}") \
            from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive layer widths such as 100,100, got {text!r}")
    return sizes


def weight_init(text):
    """An argparse type: ``he``, ``xavier`` or a positive number."""
    if text in ("he", "xavier"):
        return text
    try:
        return finite_float(low=0, low_open=True)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected he, xavier or a positive number such as 0.01, got {text!r}") \
            from None


def data_options(default_dataset="digits", dataset_help="data set"):
    """--dataset and --data-dir, as every command that reads data declares them."""
    p = Parser(add_help=False, formatter_class=HelpFormatter)
    p.add_argument("--dataset", choices=datasets.NAMES, default=default_dataset, help=dataset_help)
    p.add_argument("--data-dir", metavar="DIR", type=path_name,
                   help="directory holding the four MNIST-format files (train-images-idx3-ubyte, "
                        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz or not); "
                        "default: the cache, Debian's package, a download")
    return p


def device_option():
    """A parent parser with ``--device cpu|gpu``."""
    p = Parser(add_help=False, formatter_class=HelpFormatter)
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu computes with CuPy on a CUDA GPU")
    return p


def use_device(device):
    """Select the array backend for ``--device`` (a GPU needs CuPy)."""
    from .. import backend
    try:
        backend.use(device)
    except RuntimeError as e:
        raise UsageError(e) from None


def load_data(name, data_dir, **options):
    """The data set, or a UsageError saying what is wrong (a missing data set explains itself in a few lines)."""
    try:
        return datasets.load_for_networks(name, data_dir=data_dir, **options)
    except datasets.DataNotFoundError as e:
        raise UsageError(str(e)) from None
    except datasets.ERRORS as e:
        raise UsageError(one_line(e)) from None
