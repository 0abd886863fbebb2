"""``chainrule check FILE.py``: your own layers (the book's exercises) checked node by node, the mistake located.

    chainrule check exercises/layers.py                # each layer: ✓, or the node, input, entries and a hint
    chainrule check exercises/layers.py --html wrong.html   # and the graph's page, the wrong node in red
"""
from __future__ import annotations

import sys

from .common import HelpFormatter, UsageError, one_line, path_name, seed


def add_parser(sub):
    """Register ``chainrule check``."""
    p = sub.add_parser("check", formatter_class=HelpFormatter,
                       help="check your own layers (MulLayer, AddLayer, Relu, Sigmoid, Affine, SoftmaxWithLoss) and "
                            "say which node's backward is wrong, and where (book §5.7.3)",
                       description=__doc__.split("\n", 1)[1])
    p.add_argument("file", metavar="FILE.py", help="a Python file defining some of the exercise classes")
    p.add_argument("--html", metavar="PAGE", type=path_name,
                   help="write the page of the graph with the wrong node marked in red")
    p.add_argument("--seed", type=seed, default=0,
                   help="random seed of the inputs the layers are checked on; default 0")
    p.set_defaults(func=run)
    return p


def run(args):
    """Check the exercise file; exit 0 when every layer agrees, 1 when one does not."""
    from ..exercises import check_file
    try:
        ok, lines = check_file(args.file, html=args.html, seed=args.seed)
    except (OSError, ValueError, SyntaxError, ImportError) as e:
        message = one_line(e)        # named by the file once ("FILE: FILE: no such file" named it twice)
        raise UsageError(message if message.startswith(str(args.file)) else f"{args.file}: {message}") from None
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if ok else 1
