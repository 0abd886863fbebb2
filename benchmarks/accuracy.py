"""Accuracy figures: the book's recipes (TwoLayerNet, SimpleConvNet, DeepConvNet) and chainrule's default recipes.

    python benchmarks/accuracy.py                      # every run whose data is here; writes a table and
                                                       # benchmarks/results/accuracy.json
    python benchmarks/accuracy.py --only cnn           # runs whose description or data set contains "cnn"
    python benchmarks/accuracy.py --mnist-dir DIR      # the MNIST runs too, from your four MNIST files
    python benchmarks/accuracy.py --only PyTorch       # the peer run alone
    python benchmarks/accuracy.py --only SimpleConvNet --seeds 3   # the book's SimpleConvNet recipe and its peer,
                                                                   # seeds 0, 1, 2 each: their means compared

Beside the book's SimpleConvNet recipe runs its peer: the same network trained by PyTorch (``Conv2d``,
``MaxPool2d``, ``Linear``; weights drawn from N(0, 0.01²) and zero biases as the book's weight_init_std=0.01;
``torch.optim.Adam(lr=0.001)`` with PyTorch's defaults; batch 100; 20 epochs; the same data), in a process of
its own, so the two accuracies compare side by side, on Fashion-MNIST and (where its files are) on MNIST.

Needs the Fashion-MNIST files (Debian's dataset-fashion-mnist, the cache, or
--data-dir) and scikit-learn for digits. MNIST runs when its files can be found
(the cache or --mnist-dir); nothing is downloaded. A run with a time limit
reports whether it kept to it (wall time of the whole run, on this machine).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chainrule import datasets  # noqa: E402
from chainrule.nets import image_shape  # noqa: E402
from chainrule.training import job, recipes  # noqa: E402

BOOK = recipes.BOOK
#: the peer run: PyTorch training the book's SimpleConvNet recipe (see the module's docstring)
PEER = "PyTorch: the same SimpleConvNet, init, optimizer and epochs"


def pytorch_simple_cnn(dataset, data_dir, epochs=20, batch=100, lr=0.001, std=0.01, seed=0):
    """Train the book's SimpleConvNet with PyTorch on ``dataset``; returns the metrics of a chainrule run's shape."""
    import numpy as np
    import torch
    nn = torch.nn
    (x_train, t_train), (x_test, t_test) = datasets.load_for_networks(dataset, data_dir=data_dir, download=False)
    _, height, width = image_shape(x_train.shape[1:])   # 28×28 for MNIST; other digits work too
    x_train, x_test = (torch.from_numpy(a.reshape(-1, 1, height, width).astype(np.float32)) for a in (x_train, x_test))
    t_train, t_test = torch.from_numpy(t_train.astype(np.int64)), torch.from_numpy(t_test.astype(np.int64))
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                          nn.Linear(30 * ((height - 4) // 2) * ((width - 4) // 2), 100),
                          nn.ReLU(), nn.Linear(100, 10))
    with torch.no_grad():
        for m in model:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0.0, std)
                m.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)

    def accuracy(x, t):
        model.eval()
        with torch.no_grad():
            right = sum(int((model(x[i:i + 1000]).argmax(1) == t[i:i + 1000]).sum()) for i in range(0, len(x), 1000))
        model.train()
        return right / len(x)

    history = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x_train[idx]), t_train[idx]).backward()
            opt.step()
        history.append({"test_accuracy": accuracy(x_test, t_test)})
    return {"epochs": epochs, "history": history, "train_accuracy": accuracy(x_train, t_train),
            "test_accuracy": history[-1]["test_accuracy"], "torch": torch.__version__}

#: (description, data set, recipe options, target test accuracy, time limit in seconds or None)
RUNS = [
    ("book TwoLayerNet 784-50-10, SGD 0.1, batch 100, 10k iterations", "fashion-mnist", BOOK, 0.85, None),
    ("default recipe (MLP)", "fashion-mnist", {}, 0.89, None),
    ("default CNN recipe (--arch cnn)", "fashion-mnist", {"arch": "cnn"}, 0.93, 15 * 60),
    ("book SimpleConvNet recipe (--arch simple-cnn)", "fashion-mnist", {"arch": "simple-cnn"}, 0.90, None),
    (PEER, "fashion-mnist", {"arch": "simple-cnn"}, 0.90, None),
    ("default recipe (MLP)", "digits", {}, 0.97, None),
    ("book TwoLayerNet 784-50-10, SGD 0.1, batch 100, 10k iterations", "mnist", BOOK, 0.95, None),
    ("default recipe (MLP)", "mnist", {}, 0.97, None),
    ("default CNN recipe (--arch cnn)", "mnist", {"arch": "cnn"}, 0.99, 15 * 60),
    ("book SimpleConvNet recipe (--arch simple-cnn)", "mnist", {"arch": "simple-cnn"}, 0.989, None),
    (PEER, "mnist", {"arch": "simple-cnn"}, 0.989, None),
    ("book DeepConvNet recipe (--arch deep-cnn)", "mnist", {"arch": "deep-cnn"}, 0.994, None),
]
#: the option that names each data set's directory (the peer's process gets the same)
DIR_OPTION = {"fashion-mnist": "--data-dir", "mnist": "--mnist-dir"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory with Fashion-MNIST files (default: the usual places)")
    parser.add_argument("--mnist-dir", help="directory with the four MNIST files (default: the cache)")
    parser.add_argument("--only", metavar="TEXT", help="only the runs whose description or data set contains TEXT")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "accuracy.json"))
    parser.add_argument("--seeds", type=int, default=1, metavar="K",
                        help="train the book's SimpleConvNet recipe and its PyTorch peer with seeds 0…K−1 and compare "
                             "their means (one seed says little: seeds differ by a few tenths of a point)")
    parser.add_argument("--peer-worker", metavar="DATASET", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:   # the PyTorch run, in a process of its own
        data_dir = {"fashion-mnist": args.data_dir, "mnist": args.mnist_dir}.get(args.peer_worker)
        print(json.dumps(pytorch_simple_cnn(args.peer_worker, data_dir, seed=args.seed)))
        return
    results = []
    for label, name, overrides, target, limit in RUNS:
        if args.only and args.only not in label and args.only not in name:
            continue
        data_dir = {"fashion-mnist": args.data_dir, "mnist": args.mnist_dir}.get(name)
        try:
            data = datasets.load_for_networks(name, data_dir=data_dir, download=False) if name != "digits" else \
                datasets.load_for_networks(name)
        except (datasets.DataNotFoundError, ImportError) as e:
            print(f"skipped {name} / {label}: {str(e).splitlines()[0]}")
            continue
        paired = overrides.get("arch") == "simple-cnn"          # the chainrule run and its PyTorch peer
        runs = []
        for seed in range(args.seeds) if paired else [None]:
            r = recipes.recipe(name, **overrides, **({} if seed is None else {"seed": seed}))
            start = time.perf_counter()
            if label == PEER:
                command = [sys.executable, __file__, "--peer-worker", name, "--seed", str(r["seed"])] + \
                          ([DIR_OPTION[name], data_dir] if data_dir else [])
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"skipped {name} / {label}: {done.stderr.strip().splitlines()[-1] if done.stderr else '?'}")
                    break
                m = json.loads(done.stdout.strip().splitlines()[-1])
            else:
                m = job.run(r, data, log=lambda msg: None, progress=False, verbose=False).metrics
            runs.append({"seed": r["seed"], "epochs": m["epochs"], "seconds": time.perf_counter() - start,
                         "first_epoch_test_accuracy": m["history"][0]["test_accuracy"],
                         "train_accuracy": m["train_accuracy"], "test_accuracy": m["test_accuracy"]})
        if not runs or (paired and len(runs) < args.seeds):
            continue

        def mean(key):
            return sum(run[key] for run in runs) / len(runs)

        wall = mean("seconds")
        in_time = None if limit is None else wall <= limit
        results.append({"run": label, "dataset": name, "recipe": r, "epochs": runs[0]["epochs"],
                        "first_epoch_test_accuracy": mean("first_epoch_test_accuracy"),
                        "train_accuracy": mean("train_accuracy"), "test_accuracy": mean("test_accuracy"),
                        "target": target, "met": mean("test_accuracy") >= target, "seconds": wall,
                        "time_limit_seconds": limit, "within_time_limit": in_time,
                        **({"seeds": runs} if paired else {})})
        m = results[-1]
        timing = "" if limit is None else f" (limit {limit / 60:.0f} min: {'kept' if in_time else 'EXCEEDED'})"
        print(f"{name:<14} {label:<66} train {m['train_accuracy']:.4f}  test {m['test_accuracy']:.4f}  "
              f"(target ≥ {target:.3g}: {'met' if results[-1]['met'] else 'MISSED'})  {wall:6.1f}s{timing}",
              flush=True)
    # runs not repeated this time (--only, data not here) keep their last figures
    out = Path(args.out)
    previous = json.loads(out.read_text()).get("results", []) if out.exists() else []
    done = {(r["dataset"], r["run"]) for r in results}
    order = [(name, label) for label, name, *_ in RUNS]
    merged = [r for r in previous if (r["dataset"], r["run"]) not in done and (r["dataset"], r["run"]) in order]
    merged = sorted(merged + results, key=lambda r: order.index((r["dataset"], r["run"])))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d", time.gmtime()),
                               "command": " ".join(["python", "benchmarks/accuracy.py", *sys.argv[1:]]),
                               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                           "processor": platform.processor() or platform.machine()},
                               "results": merged}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
