"""``chainrule graph``: build one of the book's graphs or your own expression, run backward, draw or explain it.

    chainrule graph fruit --out fruit.svg                 # the book's apple-and-orange graph (§5.4.2)
    chainrule graph fruit --html fruit.html               # an interactive page: step through forward and backward
    chainrule graph "(x*y + z).exp()" --set x=2 y=3 z=1   # your own expression
    chainrule graph "sum(relu(x @ W))" --set "x=[[1,-2]]" "W=[[0.5,1],[2,-1]]" --explain
    chainrule graph runs/cnn/model.npz --html cnn.html    # a trained model's loss graph on 2 test samples
"""
from __future__ import annotations

import json
import sys

from .common import HelpFormatter, UsageError, data_options, load_data, one_line, path_name, positive_int


def add_parser(sub):
    """Register ``chainrule graph``."""
    from .. import examples
    p = sub.add_parser("graph", parents=[data_options(default_dataset=None, dataset_help="for a model: the data "
                                                      "set whose samples are drawn; default: the model's own")],
                       formatter_class=HelpFormatter,
                       help="draw a computational graph with forward values and red gradients (book §5.1–5.4)",
                       description=__doc__.split("\n", 1)[1])
    p.add_argument("graph", metavar="GRAPH",
                   help=f"one of the book's graphs ({', '.join(examples.GRAPHS)}: "
                        "apple §5.4.1, fruit §5.4.2, mlp a two-layer perceptron on a batch of 4) or an expression "
                        "of names, numbers, + - * / @ **, exp log relu sigmoid tanh softmax sum mean, .T; or a "
                        "model.npz written by chainrule train (its loss on --samples test samples, in training mode)")
    p.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                   help="values of the expression's names: numbers or lists such as W=[[1,2],[3,4]]")
    p.add_argument("--samples", type=positive_int, default=2, metavar="N",
                   help="for a model: how many test samples of its data set go through the graph (default 2)")
    p.add_argument("--out", metavar="FILE", type=path_name,
                   help="write FILE: .dot, or .svg/.png/.pdf with Graphviz installed")
    p.add_argument("--dpi", type=positive_int, default=200, metavar="N",
                   help="pixels per inch of a .png written with --out (default 200: sharp on a 1080p slide)")
    p.add_argument("--html", metavar="FILE", type=path_name,
                   help="write an interactive page (one file, no network needed)")
    p.add_argument("--json", metavar="FILE", type=path_name,
                   help="write the graph as data (format chainrule-graph, version 1)")
    p.add_argument("--explain", action="store_true", help="print the backward pass step by step")
    p.add_argument("--layout", choices=["auto", "LR", "TB"], default="auto",
                   help="left to right (the book's way) or top to bottom; auto turns long graphs")
    p.add_argument("--title", help="a title for the drawing or page")
    p.set_defaults(func=run)
    return p


def build_graph(args):
    """The graph's output Variable, after backward. An operation that turns finite numbers into inf or NaN is an
    error here, naming the node (chainrule.nonfinite, policy "raise"): a drawing of inf teaches nothing."""
    from ..nonfinite import NonFiniteError, nonfinite_policy
    try:
        with nonfinite_policy("raise"):
            return _build_graph(args)
    except NonFiniteError as e:
        raise UsageError(f"{one_line(e)}; choose values where every step is finite") from None


def _build_graph(args):
    from .. import examples
    from ..expression import ExpressionError, build, output_name, parse_value
    if args.graph.endswith(".npz"):
        if args.set:
            raise UsageError(f"--set is for expressions; {args.graph!r} is a model file")
        return model_graph(args)
    if args.graph in examples.GRAPHS:
        if args.set:
            raise UsageError(f"--set is for expressions; {args.graph!r} is one of the book's graphs")
        return examples.GRAPHS[args.graph]()
    values = {}
    try:
        for item in args.set:
            name, sep, text = item.partition("=")
            if not sep or not name.strip().isidentifier():
                raise ExpressionError(f"--set {item!r}: expected NAME=VALUE, e.g. x=2")
            values[name.strip()] = parse_value(text, name.strip())
        output = build(args.graph, values)
    except ExpressionError as e:
        raise UsageError(one_line(e)) from None
    from ..graph import Variable
    if not isinstance(output, Variable) or output.creator is None:
        raise UsageError(f"{args.graph!r} computes nothing from its names; use at least one name and an operation")
    if output.size != 1:
        raise UsageError(f"{args.graph!r} gives an array of shape {output.shape}; backward starts from one number: "
                         f"wrap it in sum(...), e.g. \"sum({args.graph})\"")
    output.name = output.name or output_name(values)
    output.backward()
    return output


def model_graph(args):
    """A trained model's loss on a few test samples, recorded in training mode (seeded dropout), after backward."""
    import numpy as np

    from .. import mode
    from ..datasets import NAMES
    from ..graph import Variable
    from ..model_io import ModelFileError, load_model
    try:
        net, meta = load_model(args.graph)
    except (OSError, ModelFileError, ValueError) as e:
        raise UsageError(one_line(e)) from None
    name = args.dataset or meta.get("dataset")
    if name not in NAMES:
        raise UsageError(f"{args.graph}: the model does not say which data set it was trained on; pass --dataset")
    (x_train, t_train), (x_test, t_test) = load_data(name, args.data_dir)
    if int(np.prod(x_test.shape[1:])) != int(np.prod(net.input_shape)):
        raise UsageError(f"the model expects inputs of shape {net.input_shape} but {name} samples have shape "
                         f"{tuple(x_test.shape[1:])}")
    from ..datasets import CLASS_NAMES
    from ..nets import LayerNet
    args.classes = CLASS_NAMES.get(name)    # the Images view's bars are named by class
    if isinstance(net, LayerNet) and len(net.input_dim) == 3 and args.html:   # a CNN: the page learns live too
        from ..training.cnn_page import cnn_training
        args.cnn_training = cnn_training(net, x_train, t_train, classes=args.classes)
    x = Variable(np.asarray(x_test[:args.samples], dtype=net.dtype), name="x")
    t = np.asarray(t_test[:args.samples])
    with mode.replay_randomness(0):
        loss = net.loss(x, t, train_flg=True)
    loss.name = "L"
    loss.backward()
    if args.title is None:
        args.title = f"{net.describe()}: loss on {len(t)} {name} test sample(s), training mode"
    return loss


def run(args):
    """Build the graph, run backward, and draw, explain or write it as asked."""
    from .. import draw, examples
    output = build_graph(args)
    wrote = []
    try:
        if args.out:
            wrote.append(draw.render(output, args.out, title=args.title, direction=args.layout, dpi=args.dpi))
        if args.html:
            # the Train view trains the book's two-layer net: offered on that net's page only
            training = None
            if args.graph == "mlp":
                from ..training.spiral_page import spiral_training
                training = spiral_training()
            typed = None if args.graph in examples.GRAPHS or args.graph.endswith(".npz") else args.graph
            wrote.append(draw.to_html(output, args.html, title=args.title, direction=args.layout,
                                      training=training, expression=typed, classes=getattr(args, "classes", None),
                                      cnn_training=getattr(args, "cnn_training", None)))
        if args.json:
            from ..atomic import write_text
            data = draw.describe(output, args.title, args.layout)
            # strict JSON (non-finite numbers are the strings "inf", "-inf", "NaN": graphdata.json_number)
            wrote.append(write_text(args.json, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"))
    except (draw.GraphvizNotFoundError, ValueError, RuntimeError, OSError) as e:
        raise UsageError(one_line(e)) from None
    for path in wrote:
        print(f"wrote {path}", file=sys.stderr)
    if not wrote and not args.explain:
        sys.stdout.write(draw.to_dot(output, title=args.title, direction=args.layout))
    if args.explain:
        sys.stdout.write(draw.explain(output))
    return 0
