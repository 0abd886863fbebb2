"""The page's Images view (a CNN's pictures, book chapter 7): every image it paints is exactly Python's numbers.

Under Node.js (no browser), the page's own card builder (static/images.js) runs on graphs of convolutional networks,
and every tile is compared with the value or gradient it claims to show: the input, each convolution's filters and
their dW, each layer's feature maps and the dout it receives, Affine activations, and the class probabilities
(softmax of the scores, the label marked, the data set's class names). In Chromium the view opens, paints every
image, and shows a legend per card.
"""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chainrule import examples
from chainrule.draw import describe, to_html
from chainrule.graph import Variable
from chainrule.nets import LayerNet

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def model_graph(spec, seed, n=3, image=(1, 8, 8)):
    """A LayerNet's loss on n samples, rows of values reshaped to images by the network (as a model file's graph)."""
    net = LayerNet(image, spec, 10, seed=seed)
    rng = np.random.default_rng(seed)
    x = Variable(rng.random((n, int(np.prod(image)))), "x")
    t = rng.integers(0, 10, n)
    loss = net.loss(x, t, train_flg=True)
    loss.name = "L"
    loss.backward()
    return loss, t


def graphs():
    out = []
    loss = examples.cnn_graph()
    out.append((describe(loss), None))
    for seed, spec in enumerate(["conv(4,3,pad=1)-relu-pool(2)-affine(12)-relu",
                                 "conv(3,3)-bn-relu-conv(9,3,pad=1)-relu-pool(2,stride=1)-affine(7)",
                                 "conv(5,3,stride=2,pad=1)-tanh-avgpool(2)-dropout(0.3)"]):
        loss, t = model_graph(spec, seed)
        data = describe(loss)
        data["classes"] = FASHION
        out.append((data, t))
    return out


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    if NODE is None:
        pytest.skip("Node.js is not installed")
    made = graphs()
    path = tmp_path_factory.mktemp("images") / "graphs.json"
    path.write_text(json.dumps([d for d, _ in made]))
    result = subprocess.run([NODE, str(ROOT / "tests" / "js" / "image_cards.js"), str(path)], capture_output=True,
                            text=True, timeout=120, check=True)
    return list(zip(made, json.loads(result.stdout)))


def array(data, vid, grad=False):
    v = data["values"][vid]
    return np.array(v["grad" if grad else "value"], dtype=float).reshape(v["shape"])


def test_every_tile_is_the_slice_of_the_value_it_names(cards):
    """Each tile of each card, for every sample and both passes, is found verbatim in the graph: the sample's plane
    of a 4-D value (or its gradient), a filter's channel, or a row of a 2-D value; and each card's scale is the
    largest |number| it shows (diverging) or its range (the input picture)."""
    checked = 0
    for (data, _), per_view in cards:
        for view, view_cards in per_view.items():
            i, phase = int(view.split()[0]), view.split()[1]
            grad = phase == "backward"
            planes = []
            for vid, v in data["values"].items():
                if not v.get("value") or (grad and not v.get("grad")):
                    continue
                a = array(data, vid, grad)
                if a.ndim == 4:
                    planes += [a[i, c] for c in range(a.shape[1])]
                    if v["role"] == "parameter":
                        planes += [a[f, c] for f in range(a.shape[0]) for c in range(a.shape[1])]
                elif a.ndim == 2:
                    planes.append(a[i:i + 1])
            for card in view_cards:
                if card["kind"] == "bars":
                    continue
                shown = [np.array(t["data"]).reshape(t["h"], t["w"]) for t in card["tiles"]]
                for tile in shown:
                    assert any(p.shape == tile.shape and np.array_equal(p, tile) for p in planes), card["title"]
                    checked += 1
                numbers = np.concatenate([s.ravel() for s in shown])
                if card["kind"] == "image":
                    assert (card["lo"], card["hi"]) == (numbers.min(), numbers.max())
                else:
                    assert card["scale"] == np.abs(numbers).max()
    assert checked > 200


def test_the_forward_cards_show_the_filters_and_every_feature_map(cards):
    for (data, _), per_view in cards:
        forward = per_view["0 forward"]
        titles = " | ".join(c["title"] for c in forward)
        for node in data["nodes"]:
            out = data["values"][node["output"]]
            if len(out["shape"]) == 4 and out.get("value"):
                assert sum(c["shape"] == out["shape"] for c in forward) >= 1, (node["op"], titles)
            if node["op"] == "Convolution":
                w = data["values"][node["inputs"][1]["ref"]]
                filters = [c for c in forward if c["shape"] == w["shape"] and "filters" in c["title"]]
                assert filters and len(filters[0]["tiles"]) == w["shape"][0] * min(w["shape"][1], 8)
        backward = per_view["0 backward"]
        assert any("where the loss would change the picture" in c["title"] for c in backward)
        assert any("gradient it receives (dout)" in c["title"] for c in backward)


def test_the_class_probabilities_are_the_softmax_of_the_scores(cards):
    for (data, labels), per_view in cards:
        loss_node = next(n for n in data["nodes"] if n["op"] == "SoftmaxWithLoss")
        scores = array(data, loss_node["inputs"][0]["ref"])
        for i in range(scores.shape[0]):
            bars = next(c for c in per_view[f"{i} forward"] if c["kind"] == "bars")["bars"]
            e = np.exp(scores[i] - scores[i].max())
            assert np.allclose([b["p"] for b in bars], e / e.sum(), rtol=1e-12, atol=1e-15)
            if labels is not None:
                assert [b["label"] for b in bars].index(True) == labels[i]
                assert [b["name"] for b in bars] == FASHION


def test_the_page_paints_every_image_in_chromium(tmp_path):
    page_tests = pytest.importorskip("test_page")
    if page_tests.CHROMIUM is None:
        pytest.skip("no Chromium")
    loss, _ = model_graph("conv(6,3,pad=1)-relu-pool(2)-affine(16)-relu", seed=3, n=2, image=(1, 12, 12))
    path = to_html(loss, tmp_path / "cnn.html", classes=FASHION)
    with page_tests.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=page_tests.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = page_tests.Page(browser, path)
        page.page.click("#tab-images")
        assert page.page.is_visible("#images-view") and not page.page.is_visible("#graph-view")
        for phase in ("forward", "backward"):
            page.page.check(f"#phase-{phase}")
            painted = page.page.evaluate("""() => Array.from(document.querySelectorAll('#image-cards .tile canvas'),
                (c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                         let ink = 0; for (let k = 0; k < d.length; k += 4) if (d[k] < 250 || d[k + 2] < 250) ink++;
                         return ink; })""")
            assert len(painted) > 20 and sum(1 for ink in painted if ink) >= 0.8 * len(painted), painted
            legends = page.page.eval_on_selector_all("#image-cards .legend", "els => els.length")
            cards = page.page.eval_on_selector_all("#image-cards figure", "els => els.length")
            bars = page.page.eval_on_selector_all("#image-cards figure .bars", "els => els.length")
            assert bars == 1 and legends == cards - bars   # every image card has its legend; the probabilities
            page.page.screenshot(path=str(page_tests.SCREENSHOTS / f"images-view-{phase}.png"), full_page=True)
        page.page.select_option("#sample", "1")
        assert "sample=1" in page.page.evaluate("() => location.hash")
        page.close()
        browser.close()
