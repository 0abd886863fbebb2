"""Time per training iteration: chainrule vs the book's plain NumPy style vs PyTorch CPU.

    python benchmarks/train_speed.py [--threads 2] [--rounds 15] [--quick]

One iteration = forward + backward + SGD update on a batch of 100 (float32 for
chainrule and PyTorch; the book's style runs in float64 as the book does).
The implementations are interleaved round by round after a warm-up, and the
medians are reported with the chainrule/PyTorch ratio from the same run. The
matrix products a training step needs are also timed alone in NumPy (BLAS)
to give chainrule's share of the machine's BLAS throughput. Writes
benchmarks/results/train_speed.json. PyTorch is optional (``pip install torch``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="BLAS/PyTorch threads (default 2)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds per configuration (default 15)")
    p.add_argument("--iters", type=int, default=20, help="iterations per implementation per round (default 20)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    p.add_argument("--networks", nargs="*", help="only these configurations, e.g. 784-1000-10")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_speed.json"))
    return p.parse_args()


ARGS = parse_args()
# Idle OpenMP threads must sleep, not spin: with 2 cores, one library's spinning threads would steal
# the CPU from the other in the interleaved runs (measured: 2× slower steps right after PyTorch ran).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before NumPy and PyTorch load their BLAS

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chainrule import nets, optimizers  # noqa: E402

try:
    import torch
    torch.set_num_threads(ARGS.threads)
except ImportError:
    torch = None

CONFIGS = {"784-50-10": [50], "784-100-100-10": [100, 100], "784-1000-10": [1000]}
N_DATA, LR = 10_000, 0.01


# --- the book's reference style, plain NumPy float64 (a baseline, not chainrule) ----------------
class BookNet:
    """common/layers.py style: Affine with np.dot, Relu with a mask assignment, one-hot SoftmaxWithLoss, SGD."""

    def __init__(self, sizes, rng):
        self.W = [np.sqrt(2.0 / a) * rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b) for b in sizes[1:]]

    def step(self, x, t_onehot):
        xs, masks, h = [], [], x
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            xs.append(h)
            h = np.dot(h, W) + b
            if i < len(self.W) - 1:
                mask = h <= 0
                h = h.copy()
                h[mask] = 0
                masks.append(mask)
        h = h - h.max(axis=1, keepdims=True)
        y = np.exp(h) / np.sum(np.exp(h), axis=1, keepdims=True)
        dout = (y - t_onehot) / len(x)
        for i in reversed(range(len(self.W))):
            dW, db = np.dot(xs[i].T, dout), np.sum(dout, axis=0)
            dout = np.dot(dout, self.W[i].T)
            if i > 0:
                dout[masks[i - 1]] = 0
            self.W[i] -= LR * dW
            self.b[i] -= LR * db


def chainrule_step_fn(hidden, x_all, t_all):
    net = nets.MultiLayerNet(784, hidden, 10, dtype=np.float32, seed=0)
    opt = optimizers.SGD(LR)

    def step(idx):
        grads = net.gradient(x_all[idx], t_all[idx])
        opt.update(net.params, grads)
    return step


def book_step_fn(hidden, x_all, t_all):
    net = BookNet([784, *hidden, 10], np.random.default_rng(0))
    x64, onehot = x_all.astype(np.float64), np.eye(10)[t_all]
    return lambda idx: net.step(x64[idx], onehot[idx])


def torch_step_fn(hidden, x_all, t_all):
    torch.manual_seed(0)
    sizes, layers = [784, *hidden, 10], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x_t, t_t = torch.from_numpy(x_all), torch.from_numpy(t_all)

    def step(idx):
        i = torch.from_numpy(idx)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x_t[i]), t_t[i])
        loss.backward()
        opt.step()
    return step


def step_matmul_shapes(hidden, batch):
    """The products one training step needs: forward X·W, dW = Xᵀ·dY, and dX = dY·Wᵀ except for the first layer."""
    sizes, shapes = [784, *hidden, 10], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append(("forward", (batch, a), (a, b)))    # X·W
        shapes.append(("dW", (a, batch), (batch, b)))      # Xᵀ·dY
        if i > 0:
            shapes.append(("dX", (batch, b), (b, a)))      # dY·Wᵀ
    return shapes


def blas_step_fn(shapes):
    """The step's products alone (NumPy → BLAS, float32, preallocated outputs): the machine's BLAS reference."""
    rng = np.random.default_rng(0)
    ops = []
    for kind, (m, k), (_, n) in shapes:
        a = rng.standard_normal((m, k)).astype(np.float32)
        if kind == "dW":  # Xᵀ is a transposed view of the C-ordered batch, exactly as in Affine.backward
            a = np.ascontiguousarray(a.T).T
        b = rng.standard_normal((k, n)).astype(np.float32)
        if kind == "dX":  # Wᵀ is a transposed view of the C-ordered weight
            b = np.ascontiguousarray(b.T).T
        ops.append((a, b, np.empty((m, n), np.float32)))

    def step(_idx):
        for a, b, out in ops:
            np.matmul(a, b, out=out)
    return step


def main():
    rng = np.random.default_rng(0)
    x_all = rng.random((N_DATA, 784), dtype=np.float32)
    t_all = rng.integers(0, 10, N_DATA).astype(np.int64)
    rounds = 3 if ARGS.quick else ARGS.rounds
    impls = {"chainrule": chainrule_step_fn, "book_numpy_f64": book_step_fn}
    if torch is not None:
        impls["pytorch"] = torch_step_fn
    results = []
    print(f"threads {ARGS.threads}, batch {ARGS.batch}, {rounds} rounds × {ARGS.iters} iterations, "
          f"NumPy {np.__version__}" + (f", PyTorch {torch.__version__}" if torch else ", PyTorch not installed"))
    header = f"{'network':<16}" + "".join(f"{name + ' ms':>18}" for name in impls) + \
        f"{'cr/torch':>10}{'BLAS ms':>9}{'GFLOP/s':>9}{'BLAS share':>11}"
    print(header)
    for config, hidden in CONFIGS.items():
        if ARGS.networks and config not in ARGS.networks:
            continue
        shapes = step_matmul_shapes(hidden, ARGS.batch)
        flops = sum(2 * m * k * n for _, (m, k), (_, n) in shapes)
        steps = {name: make(hidden, x_all, t_all) for name, make in impls.items()}
        steps["blas_only"] = blas_step_fn(shapes)  # timed in the same rounds, under the same conditions
        batches = [rng.integers(0, N_DATA, ARGS.batch) for _ in range(ARGS.iters)]
        for step in steps.values():  # warm up
            for idx in batches[:5]:
                step(idx)
        samples = {name: [] for name in steps}
        for _ in range(rounds):
            for name, step in steps.items():  # interleaved: every round runs each implementation once
                start = time.perf_counter()
                for idx in batches:
                    step(idx)
                samples[name].append((time.perf_counter() - start) / len(batches))
        median = {name: statistics.median(s) for name, s in samples.items()}
        blas_s = median.pop("blas_only")
        row = {"network": config, "median_ms": {k: v * 1e3 for k, v in median.items()},
               "samples_ms": {k: [x * 1e3 for x in v] for k, v in samples.items()},
               "ratio_chainrule_to_pytorch": median["chainrule"] / median["pytorch"] if "pytorch" in median else None,
               "step_matmul_flops": flops, "blas_ms": blas_s * 1e3, "blas_gflops": flops / blas_s / 1e9,
               "chainrule_blas_share": blas_s / median["chainrule"]}
        results.append(row)
        ratio = f"{row['ratio_chainrule_to_pytorch']:.2f}×" if row["ratio_chainrule_to_pytorch"] else "-"
        print(f"{config:<16}" + "".join(f"{median[n] * 1e3:>18.3f}" for n in impls) +
              f"{ratio:>10}{blas_s * 1e3:>9.3f}{row['blas_gflops']:>9.1f}{row['chainrule_blas_share']:>10.0%}",
              flush=True)
    out = Path(ARGS.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
                    "numpy": np.__version__, "torch": torch.__version__ if torch else None},
        "threads": ARGS.threads, "batch": ARGS.batch, "rounds": rounds, "iterations_per_round": ARGS.iters,
        "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
