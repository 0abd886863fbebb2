"""How large a CNN's page is, and how long a step of learning live takes in it, measured in Chromium.

    python benchmarks/page_speed.py [--steps 20] [--networks simple-cnn deep-cnn]

For the book's SimpleConvNet (and DeepConvNet) on Fashion-MNIST, the page `chainrule graph MODEL.npz --html` writes
(its loss on 2 test samples, float32, with 300 training images to learn from) is built, its size taken, and opened
from disk in Debian's headless Chromium (Playwright): the Images view's Step button is pressed ``--steps`` times and
the median of the page's own step times (forward, backward and SGD update on a batch of 20, as the page reports
them) is recorded. Writes benchmarks/results/page_speed.json; ``python benchmarks/tables.py --write`` puts the table
into README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from chainrule import datasets  # noqa: E402
from chainrule.datasets import CLASS_NAMES  # noqa: E402
from chainrule.draw import to_html  # noqa: E402
from chainrule.graph import Variable  # noqa: E402
from chainrule.nets import DeepConvNet, SimpleConvNet  # noqa: E402
from chainrule.training.cnn_page import cnn_training  # noqa: E402


def build_page(network, folder):
    """The page of a float32 network on 2 Fashion-MNIST test samples, as `chainrule graph MODEL.npz --html` makes."""
    (x_train, t_train), (x_test, t_test) = datasets.load("fashion-mnist", download=False)
    net = (SimpleConvNet if network == "simple-cnn" else DeepConvNet)(dtype=np.float32, seed=0)
    x = Variable(np.asarray(x_test[:2], dtype=np.float32), name="x")
    loss = net.loss(x, t_test[:2], train_flg=True)
    loss.name = "L"
    loss.backward()
    classes = CLASS_NAMES["fashion-mnist"]
    return to_html(loss, Path(folder) / f"{network}.html", classes=classes,
                   cnn_training=cnn_training(net, x_train, t_train, classes=classes))


def measure(path, steps):
    from playwright.sync_api import sync_playwright
    from test_page import CHROMIUM
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(Path(path).resolve().as_uri())
        page.wait_for_selector("body[data-ready=true]")
        page.click("#tab-images")
        for _ in range(steps):
            page.click("#learn-step")
            times.append(float(page.get_attribute("#learn-info", "data-last-ms")))
        version = browser.version
        browser.close()
    return times, version


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--networks", nargs="+", default=["simple-cnn", "deep-cnn"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "page_speed.json"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for network in args.networks:
            path = build_page(network, folder)
            times, version = measure(path, args.steps)
            results.append({"network": network, "page_bytes": path.stat().st_size, "steps": args.steps,
                            "step_ms_median": statistics.median(times[1:] or times), "step_ms": times,
                            "browser": version})
            print(f"{network}: page {path.stat().st_size / 1e6:.2f} MB, a learning step "
                  f"{results[-1]['step_ms_median']:.0f} ms (median of {args.steps})", flush=True)
    Path(args.out).write_text(json.dumps({
        "benchmark": "page_speed", "date": date.today().isoformat(),
        "machine": {"processor": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "command": " ".join(["python", "benchmarks/page_speed.py", *sys.argv[1:]]),
        "results": results}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
