"""``chainrule gradcheck``: the book's gradient check (§5.7.3) on a few real samples, in float64."""
from __future__ import annotations

import sys

import numpy as np

from .common import (HelpFormatter, UsageError, data_options, finite_float, hidden_sizes, load_data, one_line,
                     positive_int, seed, weight_init)


def add_parser(sub):
    """Register ``chainrule gradcheck``."""
    p = sub.add_parser("gradcheck", parents=[data_options()], formatter_class=HelpFormatter,
                       help="compare backprop with numerical gradients (book §5.7.3)",
                       description="The book's gradient check: a network's gradients by backprop and by numerical "
                                   "differentiation (central differences, h = 1e-4) on a few samples, in float64. "
                                   "Entries where a ReLU switches within ±h have no derivative there; they are "
                                   "counted and left out.")
    p.add_argument("--arch", metavar="ARCH", default="mlp",
                   help="the network, as for chainrule train: mlp (from --hidden), simple-cnn, deep-cnn, cnn or a "
                        "spec of layers such as 'conv(4,3,pad=1)-relu-pool(2)-affine(20)-relu'; default mlp")
    p.add_argument("--hidden", type=hidden_sizes, default=[50], metavar="W1,W2,…",
                   help="hidden widths of the mlp; one width is the book's TwoLayerNet (default: 50)")
    p.add_argument("--samples", type=positive_int, default=3, help="how many samples (the book checks 3)")
    p.add_argument("--init", type=weight_init, metavar="he|xavier|STD",
                   help="initial weight scale; default: the book's 0.01 for the mlp, he for convolutional networks "
                        "(tiny weights would let the deeper layers' signals vanish)")
    p.add_argument("--entries", type=positive_int, default=10_000, metavar="N",
                   help="check at most N entries of each parameter, chosen at random by --seed (each costs two "
                        "losses); default 10000")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the weights")
    p.add_argument("--threshold", type=finite_float(low=0, low_open=True), default=1e-7,
                   help="fail when a parameter's mean |backprop − numerical| exceeds this")
    p.set_defaults(func=run)
    return p


def _network(args, input_shape, classes):
    from ..nets import TwoLayerNet, build_network, check_arch
    if args.arch == "mlp" and len(args.hidden) == 1:  # the book's TwoLayerNet (§5.7.3)
        init = 0.01 if args.init is None else args.init
        return TwoLayerNet(int(np.prod(input_shape)), args.hidden[0], classes, weight_init_std=init, seed=args.seed)
    try:
        check_arch(args.arch)
    except ValueError as e:
        raise UsageError(f"--arch: {one_line(e)}") from None
    init = args.init if args.init is not None else 0.01 if args.arch == "mlp" else "he"
    try:
        return build_network(args.arch, input_shape, classes, hidden=args.hidden, weight_init=init, seed=args.seed,
                             dtype="float64")
    except ValueError as e:
        raise UsageError(one_line(e)) from None


def run(args):
    """Check a network's gradients; exit 0 when they agree."""
    from ..gradcheck import RECHECKED, gradient_check
    (x_train, t_train), _ = load_data(args.dataset, args.data_dir)
    x = x_train[:args.samples].astype(np.float64)
    t = t_train[:args.samples]
    classes = int(t_train.max()) + 1
    net = _network(args, x.shape[1:], classes)
    from ..nets.plan import batch_norms_over_rows
    rows = batch_norms_over_rows(getattr(net, "planned", ()))
    if rows and len(x) < 2:
        raise UsageError(f"--samples {len(x)}: the batch normalisation of layer {rows[0]} estimates a mean and a "
                         "variance over the samples (the check runs in training mode) and needs at least 2; give "
                         "--samples 2 or more")
    try:
        report = gradient_check(net, x, t, max_entries=args.entries)
    except ValueError as e:
        raise UsageError(f"{one_line(e)}{' (--init ' + str(args.init) + ')' if args.init is not None else ''}") \
            from None
    every = f" (every training sample it has; --samples {args.samples} asked)" if len(x) < args.samples else ""
    print(f"gradient check of {net.describe()} on {len(x)} {args.dataset} sample(s){every}: every parameter's "
          "gradient by backprop against central differences (f(w + h) − f(w − h)) / 2h, h = 1e-4")
    for name, c in report.items():
        kinks = f", {c.kinks} of {c.kinks + c.compared} entries skipped at a kink" if c.kinks else ""
        if c.unchecked:
            kinks += f", {c.kinks + c.compared} random entries of {c.kinks + c.compared + c.unchecked} checked"
        if c.rechecked:
            kinks += f", {c.rechecked} entries rechecked at a smaller step: {RECHECKED}"
        print(f"{name}: {c.mean_abs:.3e}   (mean |backprop − numerical|; max {c.max_abs:.3e}, max relative "
              f"{c.max_rel:.3e}{kinks}){'' if c.ok else '  MISMATCH ' + c.why}")
    worst = max(c.mean_abs for c in report.values())
    skipped = sum(c.kinks for c in report.values())
    if skipped:
        print(f"{skipped} entries were left out: there a perturbation of ±h moves a ReLU input across 0 or changes "
              "a max-pooling window's winner, where the loss has a kink and no derivative, so the central "
              "difference measures a different function")
    if worst > args.threshold or not report.ok:
        reason = f"{worst:.3e} is above the threshold {args.threshold:.1e}" if worst > args.threshold else \
            "some entries differ by more than 1e-7 + 1e-5 × |numerical|"
        print(f"FAILED: {reason}", file=sys.stderr)
        return 1
    print(f"ok: every mean difference is below {args.threshold:.1e} and every compared entry agrees")
    return 0
