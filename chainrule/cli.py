"""The ``chainrule`` command line. ``chainrule --help`` lists the commands."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__


class UsageError(Exception):
    """Bad options or bad data: reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (exit code 2) instead of the usage text."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def hidden_sizes(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer widths such as 100,100, got {text!r}")
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive layer widths such as 100,100, got {text!r}")
    return sizes


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def dropout_ratio(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a dropout ratio in [0, 1), got {text!r}")
    return value


def weight_init(text):
    if text in ("he", "xavier"):
        return text
    return positive(float)(text)


def one_line(error):
    return " ".join(str(error).split())


def _use_device(device):
    from . import backend
    try:
        backend.use(device)
    except RuntimeError as e:
        raise UsageError(e) from None


def _load_data(name, data_dir):
    from . import datasets
    try:
        return datasets.load(name, data_dir=data_dir)
    except (datasets.DataNotFoundError, datasets.IDXError, ImportError, ValueError) as e:
        raise UsageError(one_line(e)) from None


def cmd_train(args):
    from . import recipes
    from .trainer import TrainingDiverged
    _use_device(args.device)
    r = recipes.recipe(args.dataset, hidden=args.hidden, activation=args.activation, optimizer=args.optimizer,
                       lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, dtype=args.dtype,
                       weight_decay=args.weight_decay, lr_schedule=args.lr_schedule, iterations=args.iterations,
                       weight_init=args.weight_init, batchnorm=args.batchnorm, dropout=args.dropout)
    data = _load_data(args.dataset, args.data_dir)
    try:
        net, trainer, metrics = recipes.run(r, out=args.out, progress=None if args.progress else False,
                                            data=data, log=lambda m: print(m, flush=True))
    except TrainingDiverged as e:
        print(f"chainrule train: training stopped: {one_line(e)}", file=sys.stderr)
        return 1
    print(f"final: train accuracy {metrics['train_accuracy']:.4f}, test accuracy {metrics['test_accuracy']:.4f} "
          f"({metrics['seconds']:.1f}s)")
    if args.out:
        print(f"wrote {args.out}/model.npz, metrics.json" + (", curves.png" if _has_plot() else ""))
    if trainer.interrupted:
        print(f"interrupted: kept the model of epoch {metrics['epochs']}", file=sys.stderr)
        return 130
    return 0


def _has_plot():
    from .plots import matplotlib_available
    return matplotlib_available()


def cmd_predict(args):
    import numpy as np

    from . import backend
    from .model_io import load_model
    from .recipes import confusion_matrix
    _use_device(args.device)
    try:
        net, meta = load_model(args.model)
    except (OSError, ValueError) as e:
        raise UsageError(one_line(e)) from None
    name = args.dataset or meta.get("dataset")
    if not name:
        raise UsageError("the model does not say which data set it was trained on; pass --dataset")
    (x_train, t_train), (x_test, t_test) = _load_data(name, args.data_dir)
    x, t = (x_test, t_test) if args.split == "test" else (x_train, t_train)
    if x.shape[1] != net.input_size:
        raise UsageError(f"the model expects {net.input_size} inputs per sample but {name} has {x.shape[1]}")
    x = backend.asarray(x, dtype=net.dtype)
    predicted = np.concatenate([backend.to_numpy(net.predict(x[i:i + 10000]).argmax(axis=1))
                                for i in range(0, len(x), 10000)])
    classes = net.output_size
    m = confusion_matrix(predicted, t, classes)
    print(f"{name} {args.split}: {len(t)} samples, accuracy {np.trace(m) / len(t):.4f}")
    print("confusion matrix (rows: true class, columns: predicted class)")
    width = max(5, len(str(m.max())) + 1)
    print("      " + "".join(f"{j:>{width}}" for j in range(classes)))
    for i in range(classes):
        print(f"{i:>5} " + "".join(f"{v:>{width}}" for v in m[i]))
    return 0


def cmd_gradcheck(args):
    import numpy as np

    from .gradcheck import gradient_check
    from .nets import MultiLayerNet, TwoLayerNet
    (x_train, t_train), _ = _load_data(args.dataset, args.data_dir)
    x = x_train[:args.samples].astype(np.float64)
    t = t_train[:args.samples]
    classes = int(t_train.max()) + 1
    if len(args.hidden) == 1:
        net = TwoLayerNet(x.shape[1], args.hidden[0], classes, weight_init_std=args.init, seed=args.seed)
    else:
        net = MultiLayerNet(x.shape[1], args.hidden, classes, weight_init_std=args.init, seed=args.seed)
    report = gradient_check(net, x, t)
    print(f"gradient check of {net.describe()} on {args.samples} {args.dataset} samples "
          "(mean |backprop − numerical| per parameter):")
    for name, c in report.items():
        print(f"{name}: {c.mean_abs:.3e}   (max {c.max_abs:.3e}, max relative {c.max_rel:.3e})")
    worst = max(c.mean_abs for c in report.values())
    if worst > args.threshold:
        print(f"FAILED: {worst:.3e} is above the threshold {args.threshold:.1e}", file=sys.stderr)
        return 1
    print(f"ok: every mean difference is below {args.threshold:.1e}")
    return 0


def build_parser():
    parser = Parser(
        prog="chainrule",
        description="Backpropagation on computational graphs, real, fast and visible.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
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

    from .datasets import NAMES
    from .nets import ACTIVATIONS
    from .optimizers import OPTIMIZERS
    p = sub.add_parser("train", help="train a network on a data set (default: digits, no network needed)",
                       description="Train a multi-layer perceptron with backprop. Options not given take the "
                                   "data set's default recipe (see README).")
    p.add_argument("--dataset", choices=NAMES, default="digits", help="data set (default: digits)")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four MNIST-format files (.gz or not)")
    p.add_argument("--hidden", type=hidden_sizes, metavar="W1,W2,…", help="hidden layer widths, e.g. 100,100")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation (default relu)")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="optimizer (default adam)")
    p.add_argument("--lr", type=positive(float), help="learning rate")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], help="learning-rate schedule over the epochs")
    p.add_argument("--epochs", type=positive(int), help="passes over the training set")
    p.add_argument("--batch-size", type=positive(int), help="mini-batch size")
    p.add_argument("--iterations", type=positive(int), help="stop after this many updates (the book counts 10000)")
    p.add_argument("--weight-init", type=weight_init, metavar="he|xavier|STD",
                   help="initial weight scale: he (default), xavier or a number such as the book's 0.01")
    p.add_argument("--weight-decay", type=float, help="L2 weight decay λ (default 0)")
    p.add_argument("--dropout", type=dropout_ratio, metavar="RATIO",
                   help="dropout after each hidden layer (default: 0.2 for (fashion-)mnist, else 0)")
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None,
                   help="batch normalisation before each activation (default: on for (fashion-)mnist)")
    p.add_argument("--seed", type=int, default=None, help="random seed: same seed, same run (default 0)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="compute dtype (default float32)")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu runs on CuPy (default cpu)")
    p.add_argument("--out", metavar="DIR", help="write model.npz, metrics.json and curves.png into DIR")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="evaluate a saved model: accuracy and confusion matrix")
    p.add_argument("--model", required=True, metavar="FILE", help="a model.npz written by chainrule train")
    p.add_argument("--dataset", choices=NAMES, help="data set (default: the one the model was trained on)")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four MNIST-format files")
    p.add_argument("--split", choices=["test", "train"], default="test", help="which part (default test)")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("gradcheck", help="compare backprop with numerical gradients (book §5.7.3)",
                       description="The book's gradient check: a network's gradients by backprop and by "
                                   "numerical differentiation on a few samples, in float64.")
    p.add_argument("--dataset", choices=NAMES, default="digits", help="data set (default: digits)")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four MNIST-format files")
    p.add_argument("--hidden", type=hidden_sizes, default=[50], help="hidden widths (default 50: TwoLayerNet)")
    p.add_argument("--samples", type=positive(int), default=3, help="how many samples (default 3, as the book)")
    p.add_argument("--init", type=positive(float), default=0.01, help="weight init std (default 0.01)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=positive(float), default=1e-7,
                   help="fail when a mean difference exceeds this (default 1e-7)")
    p.set_defaults(func=cmd_gradcheck)
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
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
