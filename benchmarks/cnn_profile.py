"""Where a convolutional network's training step goes, layer by layer, and how close each convolution is to the
machine's matrix-product speed (a roofline line per convolution).

    python benchmarks/cnn_profile.py [--rounds 6] [--iters 10] [--networks simple-cnn deep-cnn]

For the book's SimpleConvNet and DeepConvNet and the default CNN recipe's network (batch 100, 1×28×28, float32,
NumPy's default threads), every layer's
forward and backward are timed inside real training steps (forward, backward, SGD update); a convolution's
backward is split into dW (backward with ``input_grad`` off: dW and db only) and dX (the rest). Medians over
``--rounds`` rounds of ``--iters`` steps. For each convolution the roofline line gives

* its floating-point work: 2·N·OH·OW·FN·C·FH·FW per pass (forward, dW and dX each);
* the GFLOP/s it achieves in each pass;
* the product peak for its shape: the same work as one matrix product (FN, C·FH·FW) · (C·FH·FW, N·OH·OW) of
  ready-made float32 arrays, no window copied, timed here; and the machine peak, a 2048³ float32 product.

Writes benchmarks/results/cnn_profile.json; ``python benchmarks/tables.py --write`` puts its table in docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chainrule import backend, optimizers  # noqa: E402
from chainrule.layers import Convolution, Pooling, Relu  # noqa: E402
from chainrule.nets import DeepConvNet, LayerNet, SimpleConvNet  # noqa: E402
from chainrule.nets.architectures import CNN_SPEC  # noqa: E402

BATCH, N_DATA = 100, 1000


def best_ms(fn, repeats=7):
    """The fastest of ``repeats`` calls of ``fn`` (after one warm-up), in ms: a peak, not a typical time."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def machine_peak():
    """GFLOP/s of a 2048³ float32 matrix product: what NumPy's BLAS reaches on large, square shapes."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    return 2 * 2048 ** 3 / best_ms(lambda: a @ a, 3) / 1e6


def product_peak(fn, k, m):
    """GFLOP/s of one (fn, k) · (k, m) float32 product of ready-made arrays: the convolution's work as a single
    matrix product, with no window copied (the most this shape gets from BLAS)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((fn, k), dtype=np.float32), rng.random((k, m), dtype=np.float32)
    return 2 * fn * k * m / best_ms(lambda: a @ b) / 1e6


class Timed:
    """Wraps one layer's forward and backward with timers (and, for a convolution, a dW-only backward)."""

    def __init__(self, index, layer, totals):
        self.name = f"{index:02d} {layer!r}"
        self.layer, self.totals = layer, totals
        self.forward, self.backward = layer.forward, layer.backward
        layer.forward, layer.backward = self.timed_forward, self.timed_backward

    def timed_forward(self, *args, **kwargs):
        start = time.perf_counter()
        out = self.forward(*args, **kwargs)
        self.totals[self.name]["forward"].append(time.perf_counter() - start)
        return out

    def timed_backward(self, dout, *args, **kwargs):
        layer = self.layer
        if isinstance(layer, Convolution) and layer.input_grad:
            layer.input_grad = False  # dW and db only: the same work as the full backward's first part
            start = time.perf_counter()
            self.backward(dout, *args, **kwargs)   # a following ReLU's mask applied twice: the same numbers
            self.totals[self.name]["dW"].append(time.perf_counter() - start)
            layer.input_grad = True
        start = time.perf_counter()
        result = self.backward(dout, *args, **kwargs)
        self.totals[self.name]["backward"].append(time.perf_counter() - start)
        return result


def profile(network, rounds, iters):
    backend.keep_freed_memory()  # as chainrule's Trainer does
    rng = np.random.default_rng(0)
    x = rng.random((N_DATA, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, N_DATA)
    if network == "cnn":      # the default CNN recipe's network
        net = LayerNet((1, 28, 28), CNN_SPEC, 10, dtype=np.float32, seed=0)
    else:
        net = (SimpleConvNet if network == "simple-cnn" else DeepConvNet)(dtype=np.float32, seed=0)
    opt = optimizers.SGD(0.01)
    totals = defaultdict(lambda: defaultdict(list))
    timers = [Timed(i, layer, totals) for i, layer in enumerate([*net.layers, net.last_layer])]
    shapes = {}

    def step():
        idx = rng.integers(0, N_DATA, BATCH)
        opt.update(net.params, net.gradient(x[idx], t[idx]))

    for _ in range(3):
        step()
    per_round = []
    layer_rounds = defaultdict(lambda: defaultdict(list))
    for _ in range(rounds):
        totals.clear()
        start = time.perf_counter()
        for _ in range(iters):
            step()
        extra = sum(sum(parts.get("dW", [])) for parts in totals.values())   # the dW-only passes added for timing
        per_round.append((time.perf_counter() - start - extra) / iters * 1e3)
        for name, parts in totals.items():
            for part, values in parts.items():
                layer_rounds[name][part].append(sum(values) / iters * 1e3)
    # a ReLU (and a pooling) after a convolution runs inside it (Relu.rectifier, Pooling.pooler; ReLU's backward
    # by Relu.masker): their time is in the convolution's columns
    inside = {id(layer) for conv, then in net._forward_plan if then is not None
              for layer in net.layers[net.layers.index(conv) + 1:net.layers.index(conv) + 3]
              if isinstance(layer, (Relu, Pooling))}
    layers = []
    for timer in timers:
        parts = {part: statistics.median(v) for part, v in layer_rounds[timer.name].items()}
        entry = {"layer": timer.name[3:], "forward_ms": parts.get("forward", 0.0)}
        if id(timer.layer) in inside:
            entry["inside_the_convolution"] = "forward and backward" if isinstance(timer.layer, Relu) else "forward"
        layer = timer.layer
        if isinstance(layer, Convolution):
            fn, c, fh, fw = layer.W.shape
            n, _, h, w = layer.x_shape
            _, oh, ow = layer.output_shape(layer.x_shape[1:])
            work = 2 * n * oh * ow * fn * c * fh * fw
            dw = parts.get("dW", parts.get("backward", 0.0))
            dx = parts.get("backward", 0.0) - dw if layer.input_grad else 0.0
            entry.update(dW_ms=dw, dX_ms=max(dx, 0.0), input_grad=bool(layer.input_grad), gflop_per_pass=work / 1e9,
                         shape={"N": n, "C": c, "H": h, "W": w, "FN": fn, "FH": fh, "FW": fw, "OH": oh, "OW": ow},
                         gflops={"forward": work / entry["forward_ms"] / 1e6, "dW": work / dw / 1e6,
                                 "dX": work / dx / 1e6 if layer.input_grad and dx > 0 else None},
                         product_peak_gflops=shapes.setdefault((fn, c * fh * fw, n * oh * ow),
                                                               product_peak(fn, c * fh * fw, n * oh * ow)))
        else:
            entry["backward_ms"] = parts.get("backward", 0.0)
        layers.append(entry)
    return {"network": network, "step_ms": statistics.median(per_round), "step_ms_rounds": per_round,
            "layers": layers}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--networks", nargs="+", default=["simple-cnn", "deep-cnn", "cnn"],
                        help="simple-cnn, deep-cnn, or cnn (the default CNN recipe's network)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cnn_profile.json"))
    args = parser.parse_args()
    results = [profile(n, args.rounds, args.iters) for n in args.networks]
    peak = machine_peak()
    data = {"benchmark": "cnn_profile", "date": date.today().isoformat(), "batch": BATCH, "dtype": "float32",
            "rounds": args.rounds, "iters": args.iters, "machine_peak_gflops": peak,
            "machine": {"processor": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "versions": {"numpy": np.__version__},
            "command": " ".join(["python", "benchmarks/cnn_profile.py", *sys.argv[1:]]), "results": results}
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    for r in results:
        print(f"{r['network']}: step {r['step_ms']:.1f} ms")
        for entry in r["layers"]:
            if "dW_ms" in entry:
                g = entry["gflops"]
                print(f"  {entry['layer']:<52} fwd {entry['forward_ms']:6.2f}  dW {entry['dW_ms']:6.2f}  "
                      f"dX {entry['dX_ms']:6.2f} ms   GFLOP/s fwd {g['forward']:.0f} dW {g['dW']:.0f} "
                      f"dX {g['dX'] or 0:.0f} (product peak {entry['product_peak_gflops']:.0f})")
            else:
                print(f"  {entry['layer']:<52} fwd {entry['forward_ms']:6.2f}  bwd {entry['backward_ms']:6.2f} ms")
    print(f"machine peak (2048³ float32 product): {peak:.0f} GFLOP/s; wrote {args.out}")


if __name__ == "__main__":
    main()
