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


def cmd_graph(args):
    from . import draw, examples
    build = {"apple": examples.apple_graph, "fruit": examples.fruit_graph, "mlp": examples.mlp_graph}[args.example]
    output = build()
    if args.out:
        try:
            path = draw.render(output, args.out, title=args.title)
        except (draw.GraphvizNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from None
        print(f"wrote {path}", file=sys.stderr)
    elif not args.explain:
        sys.stdout.write(draw.to_dot(output, title=args.title))
    if args.explain:
        sys.stdout.write(draw.explain(output))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation on computational graphs, real, fast and visible.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("examples", help="run the seeds' worked examples (apple, fruit, seed 001 softmax)")
    p.set_defaults(func=cmd_examples)

    p = sub.add_parser("graph", help="draw a seed's computational graph with forward values and red gradients",
                       description="Build one of the seeds' graphs, run backward and draw it (DOT on stdout, "
                                   "or a .dot/.svg/.png/.pdf file with --out).")
    p.add_argument("example", choices=["apple", "fruit", "mlp"],
                   help="apple: 2 apples and tax; fruit: apples, oranges and tax; mlp: a 2-layer perceptron")
    p.add_argument("--out", metavar="FILE", help="write FILE (.dot, or .svg/.png/.pdf with Graphviz installed)")
    p.add_argument("--explain", action="store_true", help="print the backward pass step by step")
    p.add_argument("--title", help="a title drawn above the graph")
    p.set_defaults(func=cmd_graph)
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
