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
NETWORK_NAMES = {"simple-cnn": "SimpleConvNet", "deep-cnn": "DeepConvNet"}


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


def _ratio(r):
    q = r["ratio_to_pytorch"]
    return f"**{q['median']:.2f}×** ({q['min']:.2f}–{q['max']:.2f})"


def train_speed():
    data = _load("train_speed")
    rows = ["| network | chainrule | PyTorch CPU | chainrule / PyTorch (range over rounds) | book style, NumPy float64 "
            "| step's matmuls alone (BLAS) | chainrule's BLAS share |", "|---|---|---|---|---|---|---|"]
    for r in data["results"]:
        ms, blas = r["median_ms"], r.get("blas") or {}
        matmuls = f"{ms['blas_matmuls']:.3f} ms ({blas.get('gflops', 0):.0f} GFLOP/s)"
        rows.append(f"| {r['network']} | {ms['chainrule']:.3f} ms | {ms['pytorch']:.3f} ms | {_ratio(r)} | "
                    f"{ms['book_numpy_f64']:.3f} ms | {matmuls} | {blas.get('chainrule_share', 0):.0%} |")
    rows += ["", f"Medians of {data['rounds']} rounds ({data['blocks']} blocks × {data['iters']} iterations per "
                 "process). " + _provenance(data, "train_speed")]
    return "\n".join(rows)


def cnn_speed():
    data = _load("cnn_speed")
    rows = ["| network | chainrule | PyTorch CPU | chainrule / PyTorch (range over rounds) | book's im2col code |",
            "|---|---|---|---|---|"]
    for r in data["results"]:
        ms = r["median_ms"]
        rows.append(f"| {NETWORK_NAMES.get(r['network'], r['network'])} | {ms['chainrule']:.1f} ms | "
                    f"{ms['pytorch']:.1f} ms | {_ratio(r)} | {ms['book_im2col']:.1f} ms |")
    rows += ["", f"Medians of {data['rounds']} rounds ({data['blocks']} blocks × {data['iters']} steps per "
                 "process). " + _provenance(data, "cnn_speed")]
    return "\n".join(rows)


def accuracy():
    data = _load("accuracy")
    rows = ["| data set | recipe | epochs | test after epoch 1 | train | test | target | time |",
            "|---|---|---|---|---|---|---|---|"]
    for r in data["results"]:
        met = "met" if r.get("met") else "**missed**"
        rows.append(f"| {r['dataset']} | {r['run']} | {r['epochs']} | {r['first_epoch_test_accuracy']:.4f} | "
                    f"{r['train_accuracy']:.4f} | {r['test_accuracy']:.4f} | ≥ {r['target']:.2f} {met} | "
                    f"{r['seconds']:.1f} s |")
    rows += ["", _provenance(data, "accuracy")]
    return "\n".join(rows)


#: the package's modules in the order they import one another (a test checks there is no cycle)
MODULES = ["version", "backend", "array_math", "nonfinite", "graph", "mode", "im2col", "layers", "functions",
           "expression", "draw", "gradcheck", "locate", "exercises", "memory", "nets", "optimizers", "datasets",
           "atomic", "runfiles", "model_io", "training", "sweep", "examples", "console", "cli"]


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


def layers():
    """The layers with their forward and backward rules, from the classes (``chainrule.layers.rules_table``)."""
    import sys
    sys.path.insert(0, str(ROOT))
    from chainrule.layers import rules_table
    return rules_table().strip("\n")


TABLES = {"train_speed": train_speed, "cnn_speed": cnn_speed, "accuracy": accuracy, "modules": modules,
          "layers": layers}


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
