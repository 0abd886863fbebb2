"""GPU step time: chainrule on CuPy vs PyTorch CUDA, float32, for an MLP and the book's two CNNs.

    python benchmarks/gpu_speed.py [--rounds 20] [--iters 50] [--networks mlp simple-cnn deep-cnn]

mlp: 784-4096-4096-10 ReLU, batch 1024. simple-cnn / deep-cnn: the book's SimpleConvNet (§7.5) and
DeepConvNet (§8.1) on 1×28×28 images, batch 100 (as benchmarks/cnn_speed.py on the CPU). One step =
forward + backward + SGD update. Needs a CUDA GPU, CuPy (pip install 'chainrule[gpu]') and a CUDA build of
PyTorch. The two alternate block by block in one process (a GPU is not shared between processes the way
CPU threads are), the device is synchronised around every timed block; reports medians and the ratio per
network, writes benchmarks/results/gpu_speed.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from chainrule import backend, nets, optimizers  # noqa: E402

LR = 0.01
SETTINGS = {"mlp": dict(batch=1024, n_data=16384, shape=(784,)),
            "simple-cnn": dict(batch=100, n_data=4000, shape=(1, 28, 28)),
            "deep-cnn": dict(batch=100, n_data=4000, shape=(1, 28, 28))}


def chainrule_net(network):
    if network == "mlp":
        return nets.MultiLayerNet(784, [4096, 4096], 10, dtype=np.float32, seed=0)
    return (nets.SimpleConvNet if network == "simple-cnn" else nets.DeepConvNet)(dtype=np.float32, seed=0)


def torch_net(network):
    import torch
    if network == "mlp":
        nn = torch.nn
        return nn.Sequential(nn.Linear(784, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10))
    from cnn_speed import torch_model
    return torch_model(network)


def measure(network, rounds, iters):
    import cupy as cp
    import torch
    s = SETTINGS[network]
    rng = np.random.default_rng(0)
    x_host = rng.random((s["n_data"], *s["shape"]), dtype=np.float32)
    t_host = rng.integers(0, 10, s["n_data"])
    batches = [rng.integers(0, s["n_data"], s["batch"]) for _ in range(iters)]

    x_cp, t_cp = cp.asarray(x_host), cp.asarray(t_host)
    idx_cp = [cp.asarray(i) for i in batches]
    net = chainrule_net(network)
    opt = optimizers.SGD(LR)

    def chainrule_block():
        for i in idx_cp:
            opt.update(net.params, net.gradient(x_cp[i], t_cp[i]))
        cp.cuda.Device().synchronize()

    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = torch_net(network).to(dev)
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
        block()  # warm up: kernels compiled, memory pools filled, cuDNN algorithms chosen
    samples = {k: [] for k in blocks}
    for _ in range(rounds):
        for name, block in blocks.items():
            start = perf_counter()
            block()
            samples[name].append((perf_counter() - start) / iters * 1e3)
    median = {k: statistics.median(v) for k, v in samples.items()}
    return {"batch": s["batch"], "median_ms": median, "samples_ms": samples,
            "ratio_to_pytorch": median["chainrule_cupy"] / median["pytorch_cuda"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--networks", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu_speed.json"))
    args = p.parse_args()
    if not backend.cupy_available():
        print("no CuPy or no CUDA GPU here: nothing to measure")
        return 1
    import torch
    backend.use("cupy")
    results = {}
    print(f"{torch.cuda.get_device_name()}, float32, medians of {args.rounds} rounds × {args.iters} steps")
    print(f"{'network':<12}{'batch':>6}{'chainrule ms':>14}{'PyTorch ms':>12}{'ratio':>8}")
    for network in args.networks:
        r = results[network] = measure(network, args.rounds, args.iters)
        m = r["median_ms"]
        print(f"{network:<12}{r['batch']:>6}{m['chainrule_cupy']:>14.3f}{m['pytorch_cuda']:>12.3f}"
              f"{r['ratio_to_pytorch']:>7.2f}×")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                          "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
