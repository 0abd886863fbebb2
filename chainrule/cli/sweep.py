"""``chainrule sweep``: hyperparameter search over ``train`` options with Optuna, trials run on Dask workers."""
from __future__ import annotations

import signal
import sys

from .common import HelpFormatter, UsageError, data_options, one_line, path_name, positive_int, whole_number
from .train import add_recipe_options, recipe_overrides

EPILOG = """\
The space: entries KEY=DISTRIBUTION separated by ';' (quote it for the shell).
KEY is a train option (lr, weight_decay, dropout, hidden, batch_size, epochs,
shift, weight_init, optimizer, activation, lr_schedule, batchnorm, flip, arch);
DISTRIBUTION is one of
  loguniform(LOW,HIGH)  a number, each decade equally likely (book §6.5.2: lr, weight decay)
  uniform(LOW,HIGH)     a number, uniform
  int(LOW,HIGH)         a whole number, uniform
  logint(LOW,HIGH)      a whole number, each decade equally likely
  choice(A|B|C)         one of the values; '|' separates them (hidden=choice(100|256,128))
Options not searched take the values given here, else the data set's recipe.

Writes into --out: sweep.json (the settings), study.db (the Optuna study),
trials.csv and trials.md (best first), sweep.png (validation accuracy against
each option, pruned trials as open circles, and the learning curves), best/
(model.npz, metrics.json with the test accuracy, curves.png).

examples:
  chainrule sweep --trials 20 --epochs 10 --out runs/sweep
  chainrule sweep --dataset fashion-mnist --trials 40 --epochs 5 --prune median --out runs/fm \\
      --space 'lr=loguniform(1e-4,1e-1); weight_decay=loguniform(1e-8,1e-1); hidden=choice(100|256,128)'
  chainrule sweep --resume --out runs/fm                  # after Ctrl-C or a crash
  chainrule sweep --address tcp://HOST:8786 --storage postgresql://USER:PW@HOST/DB ...   # a Dask cluster
"""


def add_parser(sub):
    """Register ``chainrule sweep``."""
    p = sub.add_parser("sweep", parents=[data_options(None, "data set (default: digits)")],
                       formatter_class=HelpFormatter, epilog=EPILOG,
                       help="search hyperparameters (book §6.5): many short trainings on Dask workers, the best kept",
                       description="Hyperparameter search (book §6.5): draw values of train options from --space, "
                                   "train each trial on the training data less a validation part, keep the best by "
                                   "validation accuracy and evaluate its model on the test set once. Runs on a local "
                                   "Dask cluster of --jobs worker processes (127.0.0.1 only), or on the cluster "
                                   "behind --address.")
    p.add_argument("--space", metavar="SPACE",
                   help="what to search, e.g. 'lr=loguniform(1e-4,1e-1); weight_decay=loguniform(1e-8,1e-1)' "
                        "(see below); default: that")
    p.add_argument("--trials", type=positive_int, help="trials to complete or prune (default: 20)")
    p.add_argument("--jobs", type=positive_int,
                   help="trials at a time: the local cluster's worker processes (default: the cores; at most 4 "
                        "per core), or with --address the tasks in flight (default: the cluster's worker threads)")
    p.add_argument("--sampler", choices=["random", "tpe"],
                   help="random: independent draws, the book's method; tpe: Optuna's Tree-structured Parzen "
                        "Estimator, which draws more often near good trials (default: random)")
    p.add_argument("--prune", choices=["none", "median", "halving"],
                   help="stop bad trials early by their validation accuracy after each epoch: median (below the "
                        "median of earlier trials at that epoch, from the second epoch, once 5 finished) or "
                        "halving (successive halving: only the best third goes on at 1, 3, 9, … epochs) "
                        "(default: none)")
    p.add_argument("--validation", type=_fraction, metavar="FRACTION",
                   help="part of the training data held out to judge trials; the test set is used once, for the "
                        "best model (default: 0.1)")
    p.add_argument("--out", metavar="DIR", default="runs/sweep", type=path_name,
                   help="output directory (default: runs/sweep)")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep in --out (after Ctrl-C or a crash) with its settings; only --trials, "
                        "--jobs, --address, --storage, --heartbeat may be given anew")
    p.add_argument("--address", metavar="tcp://HOST:PORT", help="use this Dask scheduler and its workers instead of "
                                                                "a local cluster")
    p.add_argument("--storage", metavar="URL",
                   help="the Optuna study's database, an SQLAlchemy URL every worker reaches, e.g. "
                        "postgresql://user:password@host/db (default: sqlite in --out, for one machine)")
    p.add_argument("--dashboard", action="store_true", help="open the local cluster's Dask dashboard on "
                                                            "http://127.0.0.1:8787 (default: no port opened)")
    p.add_argument("--heartbeat", type=whole_number(1, 3600, "a whole number of seconds from 1 to 3600"),
                   metavar="SECONDS", help="a running trial reports every SECONDS; one silent for 3 times that is "
                                           "failed and run again (default: 5)")
    add_recipe_options(p)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="a line per trial, no progress bar")
    p.set_defaults(func=run)
    return p


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        import argparse
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction; expected a number between 0 and 1, e.g. 0.1")
    return value


#: options a resumed sweep takes from its sweep.json
_FIXED_ON_RESUME = ("dataset", "data_dir", "space", "sampler", "prune", "validation")
DEFAULT_SPACE = "lr=loguniform(1e-4,1e-1); weight_decay=loguniform(1e-8,1e-1)"


def _changed_on_resume(args, fixed):
    """The options given again with --resume whose values differ from the sweep's own (rerunning the very same
    command is allowed: only changes are refused)."""
    import json
    from pathlib import Path

    from ..sweep.space import SpaceError, parse_space, space_text
    try:
        stored = json.loads((Path(args.out) / "sweep.json").read_text())
    except (OSError, ValueError):
        return []  # the driver says what is wrong with the folder
    if not isinstance(stored, dict):
        return []
    changed = []
    for key in _FIXED_ON_RESUME:
        value = getattr(args, key)
        if value is None:
            continue
        old = stored.get(key)
        if key == "space":
            try:
                value, old = space_text(parse_space(value)), old
            except SpaceError:
                pass
        elif key == "data_dir":
            value = str(Path(value).resolve())
        if value != old:
            changed.append(f"--{key.replace('_', '-')}")
    for key, value in fixed.items():
        old = (stored.get("fixed") or {}).get(key)
        if value != old and not (isinstance(value, (tuple, list)) and list(value) == old):
            changed.append(f"--{key.replace('_', '-')}")
    return changed


def run(args):
    """Run or resume a sweep; exit 130 when interrupted."""
    from ..sweep.driver import SweepError, missing_extra_message
    from ..sweep.space import SpaceError
    try:
        from ..sweep.driver import sweep
        import dask.distributed  # noqa: F401
        import optuna  # noqa: F401
    except ImportError as e:
        raise UsageError(missing_extra_message(e)) from None
    fixed = {k: v for k, v in recipe_overrides(args).items() if v is not None}
    if args.resume:
        changed = _changed_on_resume(args, fixed)
        if changed:
            raise UsageError(f"{', '.join(changed)} cannot be changed: --resume takes the sweep's settings from "
                             f"{args.out}/sweep.json (only --trials, --jobs, --address, --storage and --heartbeat "
                             "may change; the same values may be given again)")
        fixed = {}
    seed = fixed.pop("seed", 0)
    data = None
    if not args.resume:
        from .common import load_data
        args.dataset = args.dataset or "digits"
        args.space = DEFAULT_SPACE if args.space is None else args.space  # an empty --space '' is an error
        args.sampler, args.prune = args.sampler or "random", args.prune or "none"
        args.validation = args.validation or 0.1
        try:
            from ..sweep.space import parse_space
            searched = {d.key for d in parse_space(args.space)}
        except SpaceError as e:
            raise UsageError(f"--space: {e}") from None
        from ..datasets import mirror_note
        note = mirror_note(args.dataset, "--flip" if fixed.get("flip") else "the space searches flip, which")
        if note and (fixed.get("flip") or "flip" in searched):
            print(note, file=sys.stderr)
        data = load_data(args.dataset, args.data_dir)
    try:
        result = sweep(args.dataset, args.space, args.trials, out=args.out, jobs=args.jobs, sampler=args.sampler,
                       prune=args.prune, validation=args.validation, seed=seed, address=args.address,
                       storage=args.storage, resume=args.resume, dashboard=args.dashboard, heartbeat=args.heartbeat,
                       data_dir=args.data_dir, data=data, progress=None if args.progress else False,
                       log=lambda m: print(m, flush=True), **fixed)
    except SpaceError as e:
        raise UsageError(f"--space: {e}") from None
    except (SweepError, OSError, ValueError) as e:
        raise UsageError(one_line(e)) from None
    c = result.counts
    print(f"{c['complete']} complete, {c['pruned']} pruned, {c['diverged']} diverged, {c['failed']} failed")
    if result.best is not None:
        b = result.best
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in b["params"].items())
        print(f"best: trial {b['trial']} ({params}): validation accuracy {b['validation_accuracy']:.4f}, test "
              f"accuracy {b['test_accuracy']:.4f}")
    print(f"wrote {', '.join(f'{args.out}/{name}' for name in result.written)}")
    if result.status == "interrupted":
        term = result.stopped_by == "SIGTERM"
        print(f"chainrule sweep: {'stopped by SIGTERM' if term else 'interrupted'}; continue with: chainrule sweep "
              f"--resume --out {args.out}", file=sys.stderr)
        return 128 + signal.SIGTERM if term else 130
    return 0
