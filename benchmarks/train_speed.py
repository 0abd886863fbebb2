"""Time per training iteration: chainrule vs PyTorch CPU vs the book's plain NumPy style, each in its own process.

    python benchmarks/train_speed.py [--rounds 10] [--iters 200] [--networks 784-50-10 ...]

One iteration = forward + backward + SGD update on a batch of 100 (float32 for
chainrule and PyTorch; the book's style runs in float64 as the book does).

Fairness: every measurement runs in a fresh process of its own with its
library's default settings (no thread or OpenMP variables are set: each library
picks its threads, 2 on a 2-core machine), so no library's idle threads can
steal the CPU from another's. The processes alternate within each round (the
order rotates from round to round), and the chainrule/PyTorch ratio is taken per
round, then its median over rounds is reported with its range. The step's matrix
products alone, in NumPy (BLAS), are timed the same way, for chainrule's share of
the machine's BLAS throughput. Writes benchmarks/results/train_speed.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = {"784-50-10": [50], "784-100-100-10": [100, 100], "784-1000-10": [1000]}
N_DATA, LR, BATCH = 10_000, 0.01, 100


# --- the workers: each runs in its own process ---------------------------------------------------------
def data(np):
    rng = np.random.default_rng(0)
    return rng.random((N_DATA, 784), dtype=np.float32), rng.integers(0, 10, N_DATA).astype(np.int64), rng


def chainrule_step(hidden):
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from chainrule import backend, nets, optimizers
    backend.keep_freed_memory()  # as chainrule's Trainer does
    x, t, rng = data(np)
    net = nets.MultiLayerNet(784, hidden, 10, dtype=np.float32, seed=0)
    opt = optimizers.SGD(LR)

    def step(idx):
        opt.update(net.params, net.gradient(x[idx], t[idx]))
    return step, lambda: rng.integers(0, N_DATA, BATCH), {"numpy": np.__version__}


def book_step(hidden):
    """The book's common/layers.py style in plain NumPy float64: a baseline, not chainrule."""
    import numpy as np
    x, t, rng = data(np)
    x, onehot = x.astype(np.float64), np.eye(10)[t]
    sizes = [784, *hidden, 10]
    Ws = [np.sqrt(2.0 / a) * rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b) for b in sizes[1:]]

    def step(idx):
        xs, masks, h = [], [], x[idx]
        for i, (W, b) in enumerate(zip(Ws, bs)):
            xs.append(h)
            h = np.dot(h, W) + b
            if i < len(Ws) - 1:
                mask = h <= 0
                h = h.copy()
                h[mask] = 0
                masks.append(mask)
        h = h - h.max(axis=1, keepdims=True)
        y = np.exp(h) / np.sum(np.exp(h), axis=1, keepdims=True)
        dout = (y - onehot[idx]) / len(idx)
        for i in reversed(range(len(Ws))):
            dW, db = np.dot(xs[i].T, dout), np.sum(dout, axis=0)
            dout = np.dot(dout, Ws[i].T)
            if i > 0:
                dout[masks[i - 1]] = 0
            Ws[i] -= LR * dW
            bs[i] -= LR * db
    return step, lambda: rng.integers(0, N_DATA, BATCH), {"numpy": np.__version__}


def torch_step(hidden):
    import numpy as np
    import torch
    x, t, rng = data(np)
    torch.manual_seed(0)
    sizes, layers = [784, *hidden, 10], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    from harness import torch_sgd_step
    return torch_sgd_step(torch.nn.Sequential(*layers), x, t, rng, LR, N_DATA, BATCH)


def blas_step(hidden):
    """The products one training step needs, alone (float32, NumPy → BLAS): X·W, dW = Xᵀ·dY, dX = dY·Wᵀ
    (not for the first layer), with Xᵀ and Wᵀ as transposed views exactly as chainrule's Affine uses them."""
    import numpy as np
    rng = np.random.default_rng(0)
    sizes, ops = [784, *hidden, 10], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        X, W, dY = (rng.standard_normal(s).astype(np.float32) for s in ((BATCH, a), (a, b), (BATCH, b)))
        ops.append((X, W, np.empty((BATCH, b), np.float32)))
        ops.append((X.T, dY, np.empty((a, b), np.float32)))
        if i > 0:
            ops.append((dY, W.T, np.empty((BATCH, a), np.float32)))
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in ops)

    def step(_idx):
        for a, b, out in ops:
            np.matmul(a, b, out=out)
    return step, lambda: None, {"numpy": np.__version__, "flops_per_step": flops}


IMPLEMENTATIONS = {"chainrule": chainrule_step, "pytorch": torch_step, "book_numpy_f64": book_step,
                   "blas_matmuls": blas_step}


def blas_share(row, info, med):
    flops = info["blas_matmuls"]["flops_per_step"]
    row["blas"] = {"gflops": flops / med["blas_matmuls"] / 1e6,
                   "chainrule_share": med["blas_matmuls"] / med["chainrule"]}
    return f"  BLAS share {row['blas']['chainrule_share']:.0%}"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import main
    sys.exit(main(__file__, __doc__.splitlines()[0], {k: (lambda f: lambda net: f(NETWORKS[net]))(f)
                                                       for k, f in IMPLEMENTATIONS.items()},
                  NETWORKS, {"rounds": 10, "iters": 200, "blocks": 5, "out": "train_speed.json"},
                  extra=blas_share))
