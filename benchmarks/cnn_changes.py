"""What each change to the convolutional path bought: the same training step timed at successive commits.

    python benchmarks/cnn_changes.py [--rounds 3] [--iters 20]

Each commit listed in ``CHANGES`` is exported from this repository's git history into a temporary folder
(``git archive``), and SimpleConvNet's and DeepConvNet's training step and inference (batch 100, float32, the
step of ``cnn_speed.py``) are timed with that commit's ``chainrule``, each commit in a process of its own,
the commits alternating within every round. Medians over rounds. Writes benchmarks/results/cnn_changes.json;
``python benchmarks/tables.py --write`` puts its table in docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import date
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (commit, what it changed), oldest first: each row is measured with everything above it in place
CHANGES = [
    ("d1bf63a", "before: each convolution one BLAS product over the whole batch (shifted slices, or window "
                "columns for a first layer), on BLAS's own 2 threads"),
    ("b3ef554", "the batch in slices of images, each slice's windows copied and multiplied on its own core; "
                "BLAS on one thread for the step; dX at stride 1 as a convolution; Affine, ReLU, pooling in "
                "slices"),
    ("e2d171f", "stride-1 windows copied as long runs over rows as wide as the padded image"),
    ("d4ece41", "max pooling in inference takes only the maxima"),
    ("79214ad", "dW of small windows (a first layer's) image by image"),
    ("ba9b363", "ReLU and 2×2 max pooling as compiled one-pass loops (numba installed: the fast extra)"),
    ("4a59d91", "stride-1 convolutions as compiled loops that keep a block of outputs in vector registers "
                "(Y and dX: 16 filters × 8 positions; dW: 4 filters × 4 channels × 8 positions)"),
    ("6dfb475", "blocks of 16 float32 positions in one 512-bit vector (AVX-512) for Y and dX"),
    ("6e2af26", "dW with dout channels-last, a vector of 16 filters per position; rows of at most 8 outputs "
                "computed channels-last"),
    ("858b7aa", "padding and dout's turn to channels-last in one compiled pass each; Y and dX pad row by row in "
                "the core's cache"),
    ("78e2e1f", "ReLU's rule applied by the convolution before it, to each slice while it is in the cache (forward "
                "and backward); SGD's update in one compiled pass; work handed to the helper thread without "
                "waiting for it when it took none"),
    ("8322f59", "the forward and dX loops store every block as whole vectors (the first filter's sums had lost "
                "their vector)"),
    ("63b0b84", "max pooling too inside the convolution's slices"),
    ("4f47629", "dW in blocks of 32 filters × 9 taps where FN allows; the padding copy vectorised"),
    ("b39e02f", "a row's last block of outputs overlaps the one before instead of running past the row"),
    ("7739a77", "inference depth first: slices of the batch through every layer before the first Affine, on one core "
                "each, where two convolutions or more come before it; softmax with cross-entropy in one compiled "
                "loop"),
    ("115e260", "forward and dX in blocks of 8 filters × 2 output rows (each weight loaded once for both), rows of "
                "exactly 8 outputs two to a 512-bit vector; dout's turn to channels-last read row by row"),
    ("3ac11ab", "the compiled loops for any FN ≥ 8 (the book's 30 filters): the last block of filters overlaps the "
                "one before"),
]
NETWORKS = ("simple-cnn", "deep-cnn")


def worker(iters):
    """Time the four measurements with the chainrule found first on sys.path; print them as JSON."""
    import numpy as np
    from chainrule import backend, eval_mode, optimizers
    from chainrule.nets import DeepConvNet, SimpleConvNet
    backend.keep_freed_memory()
    rng = np.random.default_rng(0)
    x = rng.random((2000, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 2000)
    result = {}
    for name, cls in (("simple-cnn", SimpleConvNet), ("deep-cnn", DeepConvNet)):
        net, opt = cls(dtype=np.float32, seed=0), optimizers.SGD(0.01)
        batches = [rng.integers(0, 2000, 100) for _ in range(iters)]

        def step(idx):
            opt.update(net.params, net.gradient(x[idx], t[idx]))

        def predict(idx):
            with eval_mode():
                net.predict(x[idx])

        for kind, fn in (("step", step), ("inference", predict)):
            for idx in batches[:3]:
                fn(idx)
            times = []
            for idx in batches:
                start = time.perf_counter()
                fn(idx)
                times.append((time.perf_counter() - start) * 1e3)
            result[f"{name} {kind}"] = statistics.median(times)
    print(json.dumps(result))


def export(commit, folder):
    """The commit's chainrule package, unpacked under ``folder``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit, "chainrule"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")


def measure(folder, iters):
    env = {**os.environ, "PYTHONPATH": str(folder)}
    out = subprocess.run([sys.executable, __file__, "--worker", "--iters", str(iters)], capture_output=True,
                         text=True, env=env, cwd=folder, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cnn_changes.json"))
    args = p.parse_args()
    if args.worker:
        return worker(args.iters)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for commit, _ in CHANGES:
            folders[commit] = Path(tmp) / commit
            export(commit, folders[commit])
        runs = {commit: [] for commit, _ in CHANGES}
        for r in range(args.rounds):
            order = CHANGES[r % len(CHANGES):] + CHANGES[:r % len(CHANGES)]
            for commit, _ in order:
                runs[commit].append(measure(folders[commit], args.iters))
                print(f"round {r + 1}: {commit} {runs[commit][-1]}", flush=True)
    results = []
    for commit, what in CHANGES:
        keys = runs[commit][0].keys()
        results.append({"commit": commit, "change": what,
                        **{k: statistics.median(run[k] for run in runs[commit]) for k in keys}})
    import numpy as np
    data = {"benchmark": "cnn_changes", "date": date.today().isoformat(), "rounds": args.rounds,
            "iters": args.iters, "batch": 100, "dtype": "float32",
            "machine": {"processor": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "versions": {"numpy": np.__version__}, "command": "python benchmarks/cnn_changes.py", "results": results}
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
