"""The documentation's generated tables: measured results from benchmarks/results/*.json, the module map from the
modules' own docstrings and the table of layers from the layers themselves. Never typed by hand.

    python benchmarks/tables.py            # print every table
    python benchmarks/tables.py --write    # rewrite the generated blocks of README.md and docs/ from their sources

In README.md and docs/**/*.md each table sits between ``<!-- generated: NAME -->`` and
``<!-- end generated -->``, each exactly once; tests/test_results_tables.py fails when a block and its source
disagree. Each table ends with where its numbers come from: the command, the machine, the versions and, where
the file records it, the date.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end generated -->)", re.S)
NETWORK_NAMES = {"simple-cnn": "SimpleConvNet", "deep-cnn": "DeepConvNet",
                 "simple-cnn-inference": "SimpleConvNet, inference", "deep-cnn-inference": "DeepConvNet, inference"}
MLP_TARGETS = {"784-50-10": 0.7, "784-100-100-10": 0.7, "784-1000-10": 0.9}
#: the targets of the speed tables: chainrule's time at most this many times PyTorch's
CNN_TARGETS = {"simple-cnn": 0.8, "deep-cnn": 1.0, "simple-cnn-inference": 0.8, "deep-cnn-inference": 0.8}


def _load(name):
    return json.loads((RESULTS / f"{name}.json").read_text())


def _provenance(data, script):
    m = data.get("machine", {})
    when = data.get("date") or "date not recorded"
    command = data.get("command") or f"python benchmarks/{script}.py"
    versions = {}
    for r in data.get("results", []):
        for per_implementation in (r.get("versions") or {}).values():
            if isinstance(per_implementation, dict):
                versions.update({k: v for k, v in per_implementation.items() if isinstance(v, str)})
    shown = "; ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    return (f"*From `benchmarks/results/{script}.json`: `{command}` on {m.get('processor', '?')}, "
            f"{m.get('cpus', '?')} cores, Python {m.get('python', '?')}; {when}"
            + (f"; {shown}" if shown else "") + ".*")


def _verdict(r, goal):
    """"≤ 0.8× met" (or missed) for a row's median ratio to PyTorch; empty without a target."""
    if goal is None:
        return ""
    return f"≤ {goal:.1f}× " + ("met" if r["ratio_to_pytorch"]["median"] <= goal else "**missed**")


def _ratio(r):
    q = r["ratio_to_pytorch"]
    return f"**{q['median']:.2f}×** ({q['min']:.2f}–{q['max']:.2f})"


def train_speed():
    data = _load("train_speed")
    rows = ["| network | chainrule | PyTorch CPU | chainrule / PyTorch (range over rounds) | target "
            "| book style, NumPy float64 | step's matmuls alone (BLAS) | chainrule's BLAS share |",
            "|---|---|---|---|---|---|---|---|"]
    for r in data["results"]:
        ms, blas = r["median_ms"], r.get("blas") or {}
        matmuls = f"{ms['blas_matmuls']:.3f} ms ({blas.get('gflops', 0):.0f} GFLOP/s)"
        verdict = _verdict(r, MLP_TARGETS.get(r["network"]))
        rows.append(f"| {r['network']} | {ms['chainrule']:.3f} ms | {ms['pytorch']:.3f} ms | {_ratio(r)} | {verdict} | "
                    f"{ms['book_numpy_f64']:.3f} ms | {matmuls} | {blas.get('chainrule_share', 0):.0%} |")
    rows += ["", f"Medians of {data['rounds']} rounds ({data['blocks']} blocks × {data['iters']} iterations per "
                 "process). " + _provenance(data, "train_speed")]
    return "\n".join(rows)


def cnn_speed():
    data = _load("cnn_speed")
    rows = ["| network (training step, or inference) | chainrule | PyTorch CPU | chainrule / PyTorch (range over "
            "rounds) | target | book's im2col code |", "|---|---|---|---|---|---|"]
    for r in data["results"]:
        ms = r["median_ms"]
        verdict = _verdict(r, CNN_TARGETS.get(r["network"]))
        rows.append(f"| {NETWORK_NAMES.get(r['network'], r['network'])} | {ms['chainrule']:.1f} ms | "
                    f"{ms['pytorch']:.1f} ms | {_ratio(r)} | {verdict} | {ms['book_im2col']:.1f} ms |")
    rows += ["", f"Medians of {data['rounds']} rounds ({data['blocks']} blocks × {data['iters']} steps per "
                 "process). " + _provenance(data, "cnn_speed")]
    return "\n".join(rows)


def _paired(mine, peer):
    """The seed-by-seed difference of two runs with the same seeds: its mean and standard error, in points."""
    a = {s["seed"]: s["test_accuracy"] for s in mine.get("seeds", [])}
    b = {s["seed"]: s["test_accuracy"] for s in peer.get("seeds", [])}
    diffs = [100 * (a[k] - b[k]) for k in sorted(a.keys() & b.keys())]
    if len(diffs) < 2:
        return ""
    mean = sum(diffs) / len(diffs)
    se = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)) ** 0.5
    reading = "within" if abs(mean) <= 2 * se else "outside"
    return (f" Seed by seed, chainrule minus PyTorch is {mean:+.2f} points on average, with a standard error of "
            f"{se:.2f}: {reading} twice the standard error, so these {len(diffs)} seeds "
            f"{'cannot tell the two apart' if reading == 'within' else 'do tell them apart'}.")


def accuracy():
    data = _load("accuracy")
    rows = ["| data set | recipe | epochs | test after epoch 1 | train | test | target | time |",
            "|---|---|---|---|---|---|---|---|"]
    for r in data["results"]:
        met = "met" if r.get("met") else "**missed**"
        seeds = f" (mean of {len(r['seeds'])} seeds)" if len(r.get("seeds", [])) > 1 else ""
        rows.append(f"| {r['dataset']} | {r['run']}{seeds} | {r['epochs']} | {r['first_epoch_test_accuracy']:.4f} | "
                    f"{r['train_accuracy']:.4f} | {r['test_accuracy']:.4f} | ≥ {r['target']:.2f} {met} | "
                    f"{r['seconds']:.1f} s |")
    by_run = {(r["dataset"], r["run"]): r for r in data["results"]}
    for (dataset, run), r in by_run.items():
        mine = by_run.get((dataset, "book SimpleConvNet recipe (--arch simple-cnn)"))
        if run.startswith("PyTorch") and mine:
            verdict = "at least matches" if mine["test_accuracy"] >= r["test_accuracy"] else "**falls short of**"

            def spread(run):
                tests = [s["test_accuracy"] for s in run.get("seeds", [])]
                return "" if len(tests) < 2 else f" (seeds {', '.join(f'{a:.2%}' for a in tests)})"

            count = len(mine.get("seeds", []))
            mean = f", mean test accuracy over {count} seeds" if count > 1 else ""
            rows += ["", f"The book's SimpleConvNet recipe on {dataset}{mean}: chainrule "
                         f"{mine['test_accuracy']:.2%}{spread(mine)}, PyTorch {r['test_accuracy']:.2%}{spread(r)} "
                         "with the same network, initialisation, optimizer and epochs: chainrule "
                         f"{verdict} PyTorch.{_paired(mine, r)}"]
    rows += ["", _provenance(data, "accuracy")]
    return "\n".join(rows)


#: the package's modules in the order they import one another (a test checks there is no cycle)
MODULES = ["version", "backend", "array_math", "nonfinite", "graph", "mode", "im2col", "parallel", "kernel_loops",
           "conv_loops_writer", "conv_loops", "kernels", "layers", "functions", "expression", "draw", "gradcheck",
           "locate", "exercises", "memory", "atomic", "param_files", "nets", "optimizers", "datasets", "runfiles",
           "model_io",
           "training", "sweep", "examples", "console", "cli"]


def modules():
    """The module map: each module's own first sentence (its docstring), and a package's modules: kept once."""
    import importlib
    import sys
    sys.path.insert(0, str(ROOT))
    rows = ["| module | what it is (its docstring's first line) |", "|---|---|"]
    for name in MODULES:
        module = importlib.import_module(f"chainrule.{name}")
        first = " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())
        first = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", first).replace("``", "`")  # reST roles as Markdown
        path = Path(module.__file__)
        if path.name == "__init__.py":
            parts = sorted(p.name for p in path.parent.glob("*.py") if p.name != "__init__.py")
            rows.append(f"| `chainrule/{name}/` | {first} ({', '.join(f'`{p}`' for p in parts)}) |")
        else:
            rows.append(f"| `chainrule/{name}.py` | {first} |")
    return "\n".join(rows)


def cnn_profile():
    """Per layer of each network: forward, dW and dX (or backward) times, share of the step, and for each convolution
    its GFLOP/s against the single-product peak of its shape (the roofline line)."""
    data = _load("cnn_profile")
    names = {**NETWORK_NAMES, "cnn": "default CNN recipe"}
    rows = ["| network | layer | forward | dW | dX (or backward) | share of the step | GFLOP/s forward / dW / dX "
            "| single-product peak for its shape |", "|---|---|---|---|---|---|---|---|"]
    for r in data["results"]:
        step = r["step_ms"]
        rows.append(f"| **{names.get(r['network'], r['network'])}** | the whole step | | | | {step:.1f} ms | | |")
        for e in r["layers"]:
            if "dW_ms" in e:
                total = e["forward_ms"] + e["dW_ms"] + e["dX_ms"]
                g = e["gflops"]
                dx = f"{e['dX_ms']:.2f} ms" if e["input_grad"] else "not needed (first layer)"
                speeds = " / ".join(f"{v:.0f}" for v in (g["forward"], g["dW"], g["dX"]) if v is not None)
                rows.append(f"| | {e['layer']} | {e['forward_ms']:.2f} ms | {e['dW_ms']:.2f} ms | {dx} | "
                            f"{total / step:.0%} | {speeds} | {e['product_peak_gflops']:.0f} |")
            else:
                total = e["forward_ms"] + e["backward_ms"]
                inside = e.get("inside_the_convolution", "")
                if total / step < 0.01 and not inside:
                    continue
                forward = "in the convolution's" if "forward" in inside else f"{e['forward_ms']:.2f} ms"
                backward = "in the convolution's" if "backward" in inside else f"{e['backward_ms']:.2f} ms"
                rows.append(f"| | {e['layer']} | {forward} | | {backward} | {total / step:.0%} | | |")
    m = data.get("machine", {})
    rows += ["", f"Medians of {data['rounds']} rounds of {data['iters']} training steps (batch {data['batch']}, "
                 f"{data['dtype']}); layers under 1% of the step are left out. A ReLU and a pooling right after a "
                 "convolution run inside it, slice by slice (ReLU's backward too): their time is in the convolution's "
                 f"columns. The machine's peak, a 2048³ float32 "
                 f"product, is {data['machine_peak_gflops']:.0f} GFLOP/s. *From `benchmarks/results/cnn_profile.json`: "
                 f"`{data['command']}` on {m.get('processor', '?')}, {m.get('cpus', '?')} cores, Python "
                 f"{m.get('python', '?')}; {data.get('date', 'date not recorded')}; numpy "
                 f"{data.get('versions', {}).get('numpy', '?')}.*"]
    return "\n".join(rows)


def cnn_recipe_trials():
    """The variants of the default CNN recipe that were tried, as recorded in their JSON."""
    data = _load("cnn_recipe_trials")
    rows = ["| variant | test | time on 2 cores |", "|---|---|---|"]
    rows += [f"| {r['variant']} | {r['test_accuracy']:.2%} | {r['time']} |" for r in data["results"]]
    rows += ["", f"*From `benchmarks/results/cnn_recipe_trials.json`: {data['what']}*"]
    return "\n".join(rows)


def cnn_changes():
    """The convolutional networks' step and inference at each commit that changed their path, oldest first."""
    data = _load("cnn_changes")
    rows = ["| commit | change (each row on top of the ones above) | SimpleConvNet step | inference "
            "| DeepConvNet step | inference |", "|---|---|---|---|---|---|"]
    rows += [f"| `{r['commit']}` | {r['change']} | {r['simple-cnn step']:.1f} ms | {r['simple-cnn inference']:.1f} ms "
             f"| {r['deep-cnn step']:.1f} ms | {r['deep-cnn inference']:.1f} ms |" for r in data["results"]]
    rows += ["", f"Medians of {data['rounds']} rounds of {data['iters']} steps, each commit in its own process, "
                 "alternating. " + _provenance(data, "cnn_changes")]
    return "\n".join(rows)


def page_speed():
    """A CNN page's size and the time of one learning step in it (Chromium), from benchmarks/page_speed.py."""
    data = _load("page_speed")
    rows = ["| network (its page on 2 Fashion-MNIST samples) | page size | a learning step in the page (batch 20) |",
            "|---|---|---|"]
    rows += [f"| {NETWORK_NAMES.get(r['network'], r['network'])} | {r['page_bytes'] / 1e6:.1f} MB | "
             f"{r['step_ms_median']:.0f} ms (median of {r['steps']} steps) |" for r in data["results"]]
    m = data.get("machine", {})
    browsers = sorted({r["browser"] for r in data["results"]})
    rows += ["", f"*From `benchmarks/results/page_speed.json`: `{data['command']}` in headless Chromium "
                 f"{', '.join(browsers)} on {m.get('processor', '?')}, {m.get('cpus', '?')} cores; {data['date']}.*"]
    return "\n".join(rows)


def layers():
    """The layers with their forward and backward rules, from the classes (``chainrule.layers.rules_table``)."""
    import sys
    sys.path.insert(0, str(ROOT))
    from chainrule.layers import rules_table
    return rules_table().strip("\n")


TABLES = {"train_speed": train_speed, "cnn_speed": cnn_speed, "cnn_profile": cnn_profile, "accuracy": accuracy,
          "cnn_recipe_trials": cnn_recipe_trials, "page_speed": page_speed, "cnn_changes": cnn_changes,
          "modules": modules, "layers": layers}


def documents():
    """The files that may hold generated blocks: README.md and every Markdown page of the docs."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def rewrite(text):
    """``text`` with every generated block made anew."""
    return BLOCK.sub(lambda m: m.group(1) + TABLES[m.group(2)]() + "\n" + m.group(4), text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated blocks of README.md and docs/")
    args = parser.parse_args()
    if args.write:
        for path in documents():
            text = path.read_text()
            if BLOCK.search(text) and rewrite(text) != text:
                path.write_text(rewrite(text))
                print(f"rewrote the generated tables of {path.relative_to(ROOT)}")
    else:
        for name, make in TABLES.items():
            print(f"## {name}\n\n{make()}\n")


if __name__ == "__main__":
    main()
