"""The ``chainrule`` command line. ``chainrule --help`` lists the commands.

Every failure is reported in one line (a missing data set in a few, saying how
to get it) with exit code 2; nothing ends in a traceback. Set
``CHAINRULE_DEBUG=1`` to see the traceback of an unexpected error.
"""
from __future__ import annotations

import os
import sys

from ..version import __version__
from ..console import quiet_broken_pipe
from . import check, gradcheck, graph, predict, sweep, train
from .common import HelpFormatter, Parser, UsageError, one_line


def _examples(args):
    from ..examples import main as run_examples
    run_examples()
    return 0


def build_parser():
    """The ``chainrule`` argument parser with every command."""
    parser = Parser(prog="chainrule", formatter_class=HelpFormatter,
                    description="Backpropagation on computational graphs, real, fast and visible.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    p = sub.add_parser("examples", formatter_class=HelpFormatter,
                       help="print the book's worked examples: the apple and fruit graphs (§5.4), a softmax-with-loss "
                            "batch (§5.6.3)")
    p.set_defaults(func=_examples)
    for module in (graph, train, predict, gradcheck, sweep, check):
        module.add_parser(sub)
    return parser


def main(argv=None):
    """Run the command line on ``argv`` (default: ``sys.argv``); returns the exit code, errors in one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with quiet_broken_pipe():
            return args.func(args)
    except UsageError as e:
        message = str(e) if "\n" in str(e) else one_line(e)
        print(f"chainrule {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure: still one line, unless asked for the traceback
        if os.environ.get("CHAINRULE_DEBUG"):
            raise
        print(f"chainrule {args.command}: error: {type(e).__name__}: {one_line(e)} (set CHAINRULE_DEBUG=1 for "
              "the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
