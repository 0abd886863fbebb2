"""A fair speed comparison: every measurement in a fresh process of its own, with its library's defaults.

No thread or OpenMP variable is set (each library picks its threads), so no library's idle threads can
steal the CPU from another's. Within each round every implementation runs once, the order rotating from
round to round; ratios are taken per round and their median and range reported. A benchmark script
defines its implementations as functions ``name(network) -> (step, make_batch, info)`` and calls
:func:`main` with them; the same script is re-run as the worker.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")


def torch_sgd_step(model, x, t, rng, lr, n_data, batch):
    """PyTorch's usual training step for ``model``: cross-entropy, backward, ``optim.SGD`` (its defaults)."""
    import torch
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x_t, t_t = torch.from_numpy(x), torch.from_numpy(t)

    def step(idx):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x_t[idx]), t_t[idx]).backward()
        opt.step()
    return step, lambda: torch.from_numpy(rng.integers(0, n_data, batch)), \
        {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def worker(implementations, impl, network, iters, blocks):
    step, batch, info = implementations[impl](network)
    batches = [batch() for _ in range(iters)]
    for idx in batches[:max(3, iters // 5)]:  # warm up: caches, allocator, thread pools
        step(idx)
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for idx in batches:
            step(idx)
        times.append((time.perf_counter() - start) / iters * 1e3)
    print(json.dumps({"ms": statistics.median(times), "blocks_ms": times, **info}))


def measure(script, impl, network, iters, blocks):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    out = subprocess.run([sys.executable, str(script), "--worker", impl, "--network", network, "--iters", str(iters),
                          "--blocks", str(blocks)], capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{impl} on {network} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def have(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main(script, description, implementations, networks, defaults, reference="chainrule", peer="pytorch",
         extra=None):
    """Parse the arguments; run as the worker or as the driver; print a table and write the JSON."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--rounds", type=int, default=defaults["rounds"], help="rounds; each runs every implementation once")
    p.add_argument("--iters", type=int, default=defaults["iters"], help="iterations per timed block")
    p.add_argument("--blocks", type=int, default=defaults["blocks"], help="timed blocks per process, median taken")
    p.add_argument("--networks", nargs="*", choices=list(networks), help="only these networks")
    p.add_argument("--only", nargs="*", choices=list(implementations), help="only these implementations")
    p.add_argument("--quick", action="store_true", help="2 rounds of few iterations (a smoke run)")
    p.add_argument("--out", default=str(Path(script).parent / "results" / defaults["out"]))
    p.add_argument("--worker", choices=list(implementations), help=argparse.SUPPRESS)
    p.add_argument("--network", choices=list(networks), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(implementations, args.worker, args.network, args.iters, args.blocks)
    if args.quick:
        args.rounds, args.iters, args.blocks = 2, max(3, defaults["iters"] // 10), 2
    impls = [i for i in (args.only or implementations) if i != peer or have("torch")]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.rounds} rounds, each "
          f"implementation in its own process with its defaults, {args.blocks} blocks × {args.iters} iterations"
          + ("" if peer in impls else f"; {peer} is not installed"), flush=True)
    results = []
    for network in args.networks or list(networks):
        samples, info = {i: [] for i in impls}, {}
        for r in range(args.rounds):
            for impl in impls[r % len(impls):] + impls[:r % len(impls)]:
                m = measure(script, impl, network, args.iters, args.blocks)
                samples[impl].append(m["ms"])
                info[impl] = {k: v for k, v in m.items() if k not in ("ms", "blocks_ms")}
        med = {i: statistics.median(v) for i, v in samples.items()}
        row = {"network": network, "median_ms": med, "rounds_ms": samples, "versions": info}
        line = f"{network:<16}" + "".join(f"  {i} {med[i]:.3f} ms" for i in impls)
        if reference in samples and peer in samples:
            ratios = [c / t for c, t in zip(samples[reference], samples[peer])]
            row["ratio_to_" + peer] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                                       "rounds": ratios}
            line += (f"  {reference}/{peer} {statistics.median(ratios):.2f}× (rounds {min(ratios):.2f}–"
                     f"{max(ratios):.2f})")
        if extra:
            line += extra(row, info, med)
        results.append(row)
        print(line, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": {"processor": platform.processor() or platform.machine(),
                                                      "cpus": os.cpu_count(), "python": platform.python_version()},
                                          "date": time.strftime("%Y-%m-%d", time.gmtime()),
                                          "command": " ".join(["python", f"benchmarks/{Path(script).name}",
                                                               *sys.argv[1:]]),
                                          "rounds": args.rounds, "iters": args.iters, "blocks": args.blocks,
                                          "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")
