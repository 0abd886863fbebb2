"""The claim of book §5.7.3, measured: backprop gives every gradient in one backward pass, numerical
differentiation needs two forward passes per parameter.

    python benchmarks/backprop_vs_numerical.py [--batch 3] [--dataset fashion-mnist]

Times one full gradient of the book's 784-50-10 TwoLayerNet (float64) both
ways, checks that they agree, prints a table and writes
benchmarks/results/backprop_vs_numerical.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chainrule import datasets  # noqa: E402
from chainrule.nets import TwoLayerNet  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=3, help="samples (the book checks 3)")
    p.add_argument("--dataset", default="fashion-mnist", help="784-input data set, or 'random'")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "backprop_vs_numerical.json"))
    args = p.parse_args()
    try:
        (x_train, t_train), _ = datasets.load(args.dataset, download=False)
        x, t, source = x_train[:args.batch].astype(np.float64), t_train[:args.batch], args.dataset
    except (ValueError, datasets.DataNotFoundError):
        rng = np.random.default_rng(0)
        x, t, source = rng.random((args.batch, 784)), rng.integers(0, 10, args.batch), "random"
    net = TwoLayerNet(784, 50, 10, seed=0)
    n_params = sum(v.size for v in net.params.values())

    backprop_times = []
    for _ in range(50):
        start = time.perf_counter()
        grads = net.gradient(x, t)
        backprop_times.append(time.perf_counter() - start)
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    start = time.perf_counter()
    numeric = net.numerical_gradient(x, t)
    numerical_time = time.perf_counter() - start
    backprop_time = statistics.median(backprop_times)
    diffs = {k: float(np.abs(grads[k] - numeric[k]).mean()) for k in grads}

    print(f"one full gradient of TwoLayerNet 784-50-10 (float64, {n_params} parameters, {args.batch} {source} "
          "samples)")
    print(f"{'method':<26}{'seconds':>12}")
    print(f"{'backprop (median of 50)':<26}{backprop_time:>12.6f}")
    print(f"{'numerical (central diff.)':<26}{numerical_time:>12.3f}")
    print(f"backprop is {numerical_time / backprop_time:,.0f}× faster")
    print("mean |backprop − numerical|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    agree = max(diffs.values()) < 1e-7
    print("they agree" if agree else "THEY DISAGREE")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"network": "784-50-10", "dtype": "float64", "samples": args.batch, "data": source,
                               "parameters": n_params, "backprop_seconds": backprop_time,
                               "numerical_seconds": numerical_time, "speedup": numerical_time / backprop_time,
                               "mean_abs_difference": diffs, "agree": agree}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
