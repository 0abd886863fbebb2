"""The ``chainrule`` command line. ``chainrule --help`` lists the commands."""
from __future__ import annotations

import argparse
import sys

from . import __version__


class UsageError(Exception):
    """Bad options or bad data: reported as one line, exit code 2."""


def cmd_examples(args):
    from .examples import main as run_examples
    run_examples()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation on computational graphs, real, fast and visible.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("examples", help="run the seeds' worked examples (apple, fruit, seed 001 softmax)")
    p.set_defaults(func=cmd_examples)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except UsageError as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
