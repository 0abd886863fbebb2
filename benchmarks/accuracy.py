"""Accuracy figures: the book's TwoLayerNet recipe and chainrule's default recipes.

    python benchmarks/accuracy.py            # prints a table, writes benchmarks/results/accuracy.json

Needs the Fashion-MNIST files (Debian's dataset-fashion-mnist, the cache, or
--data-dir) and scikit-learn for digits. MNIST runs too when its files can be found.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chainrule import datasets  # noqa: E402
from chainrule.training import job, recipes  # noqa: E402

BOOK = recipes.BOOK

RUNS = [
    ("book TwoLayerNet 784-50-10, SGD 0.1, batch 100, 10k iterations", "fashion-mnist", BOOK, 0.85),
    ("default recipe", "fashion-mnist", {}, 0.89),
    ("default recipe", "digits", {}, 0.97),
    ("book TwoLayerNet 784-50-10, SGD 0.1, batch 100, 10k iterations", "mnist", BOOK, 0.95),
    ("default recipe", "mnist", {}, 0.97),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory with Fashion-MNIST files (default: the usual places)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "accuracy.json"))
    args = parser.parse_args()
    results = []
    for label, name, overrides, target in RUNS:
        try:
            data = datasets.load(name, data_dir=args.data_dir if name == "fashion-mnist" else None, download=False) \
                if name != "digits" else datasets.load(name)
        except (datasets.DataNotFoundError, ImportError) as e:
            print(f"skipped {name}: {str(e).splitlines()[0]}")
            continue
        r = recipes.recipe(name, **overrides)
        start = time.perf_counter()
        m = job.run(r, data, log=lambda msg: None, progress=False, verbose=False).metrics
        wall = time.perf_counter() - start
        results.append({"run": label, "dataset": name, "recipe": r, "epochs": m["epochs"],
                        "first_epoch_test_accuracy": m["history"][0]["test_accuracy"],
                        "train_accuracy": m["train_accuracy"], "test_accuracy": m["test_accuracy"],
                        "target": target, "met": m["test_accuracy"] >= target, "seconds": wall})
        print(f"{name:<14} {label:<66} train {m['train_accuracy']:.4f}  test {m['test_accuracy']:.4f}  "
              f"(target ≥ {target:.2f}: {'met' if results[-1]['met'] else 'MISSED'})  {wall:6.1f}s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                               "processor": platform.processor() or platform.machine()},
                   "results": results}, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
