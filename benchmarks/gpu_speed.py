"""GPU step time: chainrule on CuPy vs PyTorch CUDA, 784-4096-4096-10 ReLU MLP, batch 1024, float32.

    python benchmarks/gpu_speed.py [--rounds 20] [--iters 50]

Needs a CUDA GPU, CuPy (pip install 'chainrule[gpu]') and a CUDA build of
PyTorch. Interleaves the two, synchronises the device around every timed
block, reports medians and the ratio, writes benchmarks/results/gpu_speed.json.
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
from chainrule import backend, nets, optimizers  # noqa: E402

HIDDEN, BATCH, N_DATA, LR = [4096, 4096], 1024, 16384, 0.01


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu_speed.json"))
    args = p.parse_args()
    if not backend.cupy_available():
        print("no CuPy or no CUDA GPU here: nothing to measure")
        return 1
    import cupy as cp
    import torch
    backend.use("cupy")
    rng = np.random.default_rng(0)
    x_host = rng.random((N_DATA, 784), dtype=np.float32)
    t_host = rng.integers(0, 10, N_DATA)
    batches = [rng.integers(0, N_DATA, BATCH) for _ in range(args.iters)]

    x_cp, t_cp = cp.asarray(x_host), cp.asarray(t_host)
    idx_cp = [cp.asarray(i) for i in batches]
    net = nets.MultiLayerNet(784, HIDDEN, 10, dtype=np.float32, seed=0)
    opt = optimizers.SGD(LR)

    def chainrule_block():
        for i in idx_cp:
            opt.update(net.params, net.gradient(x_cp[i], t_cp[i]))
        cp.cuda.Device().synchronize()

    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 4096),
                                torch.nn.ReLU(), torch.nn.Linear(4096, 10)).to(dev)
    topt = torch.optim.SGD(model.parameters(), lr=LR)
    x_t, t_t = torch.from_numpy(x_host).to(dev), torch.from_numpy(t_host).to(dev)
    idx_t = [torch.from_numpy(i).to(dev) for i in batches]

    def torch_block():
        for i in idx_t:
            topt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x_t[i]), t_t[i]).backward()
            topt.step()
        torch.cuda.synchronize()

    blocks = {"chainrule_cupy": chainrule_block, "pytorch_cuda": torch_block}
    for block in blocks.values():
        block()  # warm up: kernels compiled, memory pools filled
    samples = {k: [] for k in blocks}
    for _ in range(args.rounds):
        for name, block in blocks.items():
            start = time.perf_counter()
            block()
            samples[name].append((time.perf_counter() - start) / args.iters * 1e3)
    median = {k: statistics.median(v) for k, v in samples.items()}
    ratio = median["chainrule_cupy"] / median["pytorch_cuda"]
    print(f"784-4096-4096-10, batch {BATCH}, float32, {torch.cuda.get_device_name()}")
    for k, v in median.items():
        print(f"{k:<16}{v:8.3f} ms/iteration")
    print(f"chainrule / PyTorch: {ratio:.2f}×")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "network": "784-4096-4096-10",
                                          "batch": BATCH, "median_ms": median, "samples_ms": samples,
                                          "ratio_chainrule_to_pytorch": ratio}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
