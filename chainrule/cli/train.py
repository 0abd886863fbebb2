"""``chainrule train``: train a network with backprop and write model.npz, metrics.json, curves.png."""
from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import sys

from ..nets import ACTIVATIONS, ARCHS
from ..optimizers import OPTIMIZERS
from ..training import recipes
from .common import (HelpFormatter, UsageError, data_options, device_option, finite_float, hidden_sizes, one_line,
                     path_name, positive_int, seed, use_device, weight_init, whole_number)


def _recipe_default(key, show=str):
    values = {name: recipes.recipe(name)[key] for name in recipes.DEFAULTS}
    if len({repr(v) for v in values.values()}) == 1:
        return f"default {show(next(iter(values.values())))}"
    return "default per data set: " + ", ".join(f"{name} {show(v)}" for name, v in values.items())


#: the train options that make up a recipe (what --dataset's defaults fill in where not given)
RECIPE_OPTIONS = ("arch", "hidden", "activation", "optimizer", "lr", "lr_schedule", "epochs", "batch_size",
                  "iterations", "weight_init", "weight_decay", "dropout", "batchnorm", "shift", "flip", "seed",
                  "dtype")


def add_recipe_options(p):
    """The options of a training recipe, shared by ``train`` and ``sweep``."""
    p.add_argument("--arch", metavar="ARCH",
                   help="the network: " + "; ".join(f"{k}: {v}" for k, v in ARCHS.items())
                        + "; or your own spec of layers joined by '-', e.g. 'conv(16,3,pad=1)-relu-pool(2)-"
                          "affine(100)-relu' (an Affine to the classes is added); default mlp")
    p.add_argument("--hidden", type=hidden_sizes, metavar="W1,W2,…",
                   help="hidden layer widths, e.g. 100,100; " +
                        _recipe_default("hidden", lambda v: ",".join(map(str, v))))
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation; " +
                   _recipe_default("activation"))
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="update rule; " + _recipe_default("optimizer"))
    p.add_argument("--lr", type=finite_float(low=0, low_open=True), help="learning rate; " + _recipe_default("lr"))
    p.add_argument("--lr-schedule", choices=["constant", "cosine"],
                   help="learning rate over the epochs; " + _recipe_default("lr_schedule"))
    p.add_argument("--epochs", type=positive_int, help="passes over the training set; " + _recipe_default("epochs"))
    p.add_argument("--batch-size", type=positive_int, help="mini-batch size (capped at the number of samples); " +
                   _recipe_default("batch_size"))
    p.add_argument("--iterations", type=positive_int,
                   help="train for this many updates instead of --epochs, the book's way of counting (it ran "
                        "10000); default: use --epochs")
    p.add_argument("--weight-init", type=weight_init, metavar="he|xavier|STD",
                   help="initial weight scale: he, xavier or a number such as the book's 0.01; " +
                        _recipe_default("weight_init"))
    p.add_argument("--weight-decay", type=finite_float(low=0), metavar="LAMBDA",
                   help="L2 weight decay λ; " + _recipe_default("weight_decay"))
    p.add_argument("--dropout", type=finite_float(low=0, high=1), metavar="RATIO",
                   help="dropout ratio after each hidden layer, in [0, 1); " + _recipe_default("dropout"))
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None,
                   help="batch normalisation before each activation; " +
                        _recipe_default("batchnorm", lambda v: "on" if v else "off"))
    p.add_argument("--shift", type=whole_number(0, 64, "a whole number of pixels from 0 to 64"), metavar="PIXELS",
                   help="augment: move each training image by up to PIXELS pixels (random, whole pixels, zeros "
                        "coming in), afresh in every batch; " + _recipe_default("shift")
                        + f"; --arch cnn {recipes.CNN['shift']}")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="augment: mirror half of the training images left to right, afresh in every batch (for "
                        "classes that look the same in a mirror, such as clothes; never for digits); "
                        + _recipe_default("flip", lambda v: "on" if v else "off"))
    p.add_argument("--seed", type=seed, help="random seed: same seed, same run; default 0")
    p.add_argument("--dtype", choices=["float32", "float64"], help="compute dtype; default float32")


def check_arch(arch):
    """Refuse an ``--arch`` that is neither a named architecture nor a readable spec (chainrule.nets)."""
    if arch is not None:
        from ..nets import check_arch as check
        try:
            check(arch)
        except ValueError as e:
            raise UsageError(f"--arch: {one_line(e)}") from None


#: options that shape the multi-layer perceptron only: another architecture would ignore them
MLP_OPTIONS = ("hidden", "activation", "batchnorm", "dropout")


def recipe_overrides(args):
    """The recipe options given on the command line (None for those not given). An option that shapes the MLP
    only, given with another ``--arch``, is refused: it would change nothing (it was silently ignored)."""
    check_arch(args.arch)
    given = [key for key in MLP_OPTIONS if getattr(args, key, None) is not None]
    if args.arch not in (None, "mlp") and given:
        flags = ", ".join("--" + key.replace("_", "-") for key in given)
        instead = ("its layers are fixed by the name; for others write them as a spec, e.g. "
                   "'conv(16,3,pad=1)-bn-relu-pool(2)-affine(100)-relu-dropout(0.5)'") if args.arch in ARCHS else \
            "the spec lists every layer: write them into it, e.g. 'affine(100)-bn-tanh-dropout(0.5)'"
        raise UsageError(f"{flags} shape{'s' if len(given) == 1 else ''} the MLP (--arch mlp) only; with --arch "
                         f"{args.arch} {instead}")
    if args.epochs is not None and args.iterations is not None:   # --iterations decides; --epochs was ignored
        raise UsageError(f"--epochs {args.epochs} and --iterations {args.iterations} both say how long to train; "
                         "give one (--iterations counts updates, the book's way)")
    return {key: getattr(args, key) for key in RECIPE_OPTIONS}


def add_parser(sub):
    """Register ``chainrule train``."""
    p = sub.add_parser("train", parents=[data_options(None, "data set (default: digits; with --resume: the run's)"),
                                         device_option()], formatter_class=HelpFormatter,
                       help="train a network on a data set (default: digits, no network access needed)",
                       description="Train a network with backprop (book §5.7.4): a multi-layer perceptron by default, "
                                   "or a convolutional network with --arch (book §7.5, §8.1). Options not given "
                                   "take the data set's default recipe.")
    add_recipe_options(p)
    p.add_argument("--val-split", type=finite_float(low=0, high=1), metavar="FRACTION",
                   help="hold out this fraction of the training data (drawn with --seed) for validation, scored every "
                        "epoch; the test set is then scored once, at the end; default 0 (the test set every epoch)")
    p.add_argument("--early-stopping", type=positive_int, metavar="EPOCHS",
                   help="stop after this many epochs without a lower validation loss and keep the best epoch (needs "
                        "--val-split); default: off")
    p.add_argument("--out", metavar="DIR", type=path_name,
                   help="write model.npz, metrics.json and curves.png into DIR, and after every epoch a "
                        "checkpoint.npz; default: write nothing")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last finished epoch, with its options (those given must "
                        "be the same, but --epochs may grow): the same weights as a run never interrupted")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--quiet", action="store_true", help="print only the final line")
    p.set_defaults(func=run)
    return p


def run(args):
    """Train with the recipe the options make; exit 1 on divergence, 130 on Ctrl-C."""
    from ..training import job
    from ..training.outputs import OutputError
    use_device(args.device)
    given = {**recipe_overrides(args), "val_split": args.val_split, "early_stopping": args.early_stopping}
    stored = job.stored_recipe(args.out) if args.resume and args.out else None
    if stored is not None:     # resume with the run's options; those given must match (only --epochs may grow)
        r = {**stored, **{k: v for k, v in given.items() if v is not None}}
        r["dataset"] = args.dataset = args.dataset or stored["dataset"]
    else:
        args.dataset = args.dataset or "digits"
        r = recipes.recipe(args.dataset, **given)
    if args.out:
        try:
            job.outputs.prepare(args.out)
        except OutputError as e:
            raise UsageError(e) from None
    from ..datasets import mirror_note
    if r.get("flip") and not args.resume and mirror_note(args.dataset):
        print(mirror_note(args.dataset), file=sys.stderr)
    from .common import load_data
    data = load_data(args.dataset, args.data_dir)
    log = (lambda m: None) if args.quiet else (lambda m: print(m, flush=True))
    terminated = []
    with _sigterm_as_ctrl_c(terminated):
        try:
            result = job.run(r, data, out=args.out, progress=None if args.progress else False, log=log,
                             verbose=not args.quiet, resume=args.resume)
        except (OutputError, OSError, ValueError) as e:
            raise UsageError(one_line(e)) from None
    m = result.metrics
    if m["epochs"]:
        kept = m.get("best_epoch") or m["epochs"]
        val = "" if m.get("validation_accuracy") is None else f", validation accuracy {m['validation_accuracy']:.4f}"
        test = f", test accuracy {m['test_accuracy']:.4f}" if m.get("test_accuracy") is not None else ""
        print(f"final (epoch {kept}{' of ' + str(m['epochs']) + ', stopped early' if m.get('best_epoch') else ''}): "
              f"train accuracy {m['train_accuracy']:.4f}{val}{test} ({m['seconds']:.1f}s)")
    if result.written:
        print(f"wrote {', '.join(f'{args.out}/{name}' for name in result.written)}")
    elif args.out:
        print(f"nothing written to {args.out}: no epoch finished", file=sys.stderr)
    if result.status == "diverged":
        print(f"chainrule train: training stopped: {one_line(result.message)}", file=sys.stderr)
        return 1
    if result.status == "interrupted":
        print(f"chainrule train: {'stopped by SIGTERM' if terminated else 'interrupted'} after {m['epochs']} "
              f"finished epoch(s)" + (": kept that model" if result.written else ""), file=sys.stderr)
        return 128 + signal.SIGTERM if terminated else 130
    return 0


@contextlib.contextmanager
def _sigterm_as_ctrl_c(terminated):
    """SIGTERM (``kill``, ``timeout``, a batch scheduler's end of time) stops training as Ctrl-C does, keeping
    the model of the last finished epoch; it ended the process at once, leaving only the checkpoint."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
