"""``chainrule gradcheck``: the book's gradient check (§5.7.3) on a few real samples, in float64."""
from __future__ import annotations

import sys

import numpy as np

from .common import (HelpFormatter, data_options, finite_float, hidden_sizes, load_data, positive_int, seed,
                     weight_init)


def add_parser(sub):
    p = sub.add_parser("gradcheck", parents=[data_options()], formatter_class=HelpFormatter,
                       help="compare backprop with numerical gradients (book §5.7.3)",
                       description="The book's gradient check: a network's gradients by backprop and by numerical "
                                   "differentiation (central differences, h = 1e-4) on a few samples, in float64. "
                                   "Entries where a ReLU switches within ±h have no derivative there; they are "
                                   "counted and left out.")
    p.add_argument("--hidden", type=hidden_sizes, default=[50], metavar="W1,W2,…",
                   help="hidden widths; one width is the book's TwoLayerNet (default: 50)")
    p.add_argument("--samples", type=positive_int, default=3, help="how many samples (the book checks 3)")
    p.add_argument("--init", type=weight_init, default=0.01, metavar="he|xavier|STD",
                   help="initial weight scale (the book's 0.01)")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the weights")
    p.add_argument("--threshold", type=finite_float(low=0, low_open=True), default=1e-7,
                   help="fail when a parameter's mean |backprop − numerical| exceeds this")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..gradcheck import gradient_check
    from ..nets import MultiLayerNet, TwoLayerNet
    (x_train, t_train), _ = load_data(args.dataset, args.data_dir)
    x = x_train[:args.samples].astype(np.float64)
    t = t_train[:args.samples]
    classes = int(t_train.max()) + 1
    if len(args.hidden) == 1:
        net = TwoLayerNet(x.shape[1], args.hidden[0], classes, weight_init_std=args.init, seed=args.seed)
    else:
        net = MultiLayerNet(x.shape[1], args.hidden, classes, weight_init_std=args.init, seed=args.seed)
    report = gradient_check(net, x, t)
    print(f"gradient check of {net.describe()} on {len(x)} {args.dataset} sample(s): every parameter's gradient by "
          "backprop against central differences (f(w + h) − f(w − h)) / 2h, h = 1e-4")
    for name, c in report.items():
        kinks = f", {c.kinks} of {c.kinks + c.compared} entries skipped at a ReLU kink" if c.kinks else ""
        print(f"{name}: {c.mean_abs:.3e}   (mean |backprop − numerical|; max {c.max_abs:.3e}, max relative "
              f"{c.max_rel:.3e}{kinks}){'' if c.ok else '  MISMATCH ' + c.why}")
    worst = max(c.mean_abs for c in report.values())
    skipped = sum(c.kinks for c in report.values())
    if skipped:
        print(f"{skipped} entries were left out: there a perturbation of ±h moves a ReLU input across 0, where the "
              "loss has a kink and no derivative, so the central difference measures a different function")
    if worst > args.threshold or not report.ok:
        reason = f"{worst:.3e} is above the threshold {args.threshold:.1e}" if worst > args.threshold else \
            "some entries differ by more than 1e-7 + 1e-5 × |numerical|"
        print(f"FAILED: {reason}", file=sys.stderr)
        return 1
    print(f"ok: every mean difference is below {args.threshold:.1e} and every compared entry agrees")
    return 0
