"""``chainrule graph``: build one of the book's graphs, run backward, draw or explain it."""
from __future__ import annotations

import sys

from .common import HelpFormatter, UsageError, one_line


def add_parser(sub):
    p = sub.add_parser("graph", formatter_class=HelpFormatter,
                       help="draw a computational graph with forward values and red gradients (book §5.1–5.4)",
                       description="Build one of the book's graphs, run backward and draw it (DOT on stdout, or a "
                                   ".dot/.svg/.png/.pdf file with --out).")
    p.add_argument("example", choices=["apple", "fruit", "mlp"],
                   help="apple: 2 apples and tax (§5.4.1); fruit: apples, oranges and tax (§5.4.2); mlp: a 2-layer "
                        "perceptron on a batch of 4")
    p.add_argument("--out", metavar="FILE", help="write FILE (.dot, or .svg/.png/.pdf with Graphviz installed)")
    p.add_argument("--explain", action="store_true", help="print the backward pass step by step")
    p.add_argument("--title", help="a title drawn above the graph")
    p.set_defaults(func=run)
    return p


def run(args):
    from .. import draw, examples
    output = examples.GRAPHS[args.example]()
    if args.out:
        try:
            path = draw.render(output, args.out, title=args.title)
        except (draw.GraphvizNotFoundError, ValueError, RuntimeError, OSError) as e:
            raise UsageError(one_line(e)) from None
        print(f"wrote {path}", file=sys.stderr)
    elif not args.explain:
        sys.stdout.write(draw.to_dot(output, title=args.title))
    if args.explain:
        sys.stdout.write(draw.explain(output))
    return 0
