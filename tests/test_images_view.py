"""The page's Images view (a CNN's pictures, book chapter 7): every image it paints is exactly Python's numbers.

Under Node.js (no browser), the page's own card builder (static/images.js) runs on graphs of convolutional networks,
and every tile is compared with the value or gradient it claims to show: the input, each convolution's filters and
their dW, each layer's feature maps and the dout it receives, Affine activations, and the class probabilities
(softmax of the scores, the label marked, the data set's class names). In Chromium the view opens, paints every
image, and shows a legend per card.
"""
import json
import re
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
            if view == "details":
                continue
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
                assert filters and len(filters[0]["tiles"]) == min(w["shape"][0], 16) * min(w["shape"][1], 4)
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
        # pick a position of the convolution's first map, then of the pooling's: the window, the sum, the winner
        page.page.check("#phase-forward")
        first_map = page.page.locator("#image-cards figure", has_text="conv →").locator("canvas.pickable").first
        first_map.click(position={"x": 30, "y": 30})
        assert page.page.locator(".tile .window").count() == 1 and page.page.locator(".tile .picked").count() == 1
        detail = page.page.locator(".window-detail").inner_text()
        assert "Σ W[1]" in detail and "window of X" in detail
        page.page.check("#phase-backward")
        detail = page.page.locator(".window-detail").inner_text()
        assert "dout =" in detail and "col2im" in detail and page.page.locator(".tile .window").count() == 1
        page.page.screenshot(path=str(page_tests.SCREENSHOTS / "images-view-window.png"), full_page=True)
        page.page.check("#phase-forward")
        page.page.locator("#image-cards figure", has_text="max pool →").locator("canvas.pickable").nth(2).click(
            position={"x": 10, "y": 10})
        assert page.page.locator(".tile .argmax").count() == 1
        assert "wins" in page.page.locator(".window-detail").inner_text()
        page.page.select_option("#sample", "1")
        assert "sample=1" in page.page.evaluate("() => location.hash")
        page.close()
        browser.close()


def test_a_picked_position_shows_its_window_its_sum_and_where_its_gradient_goes(cards):
    """For output positions of every convolution and max pooling: the window is the one the layer used (padding
    as 0), Σ W ∘ window + b is Python's output there, the written sum checks out at its shown digits (or says ≈),
    max pooling's winner is the first largest entry, and the col2im sum for an input entry is Python's dX there."""
    import equation_check
    checked = 0
    for (data, _), per_view in cards:
        for d in per_view["details"]:
            node = next(n for n in data["nodes"] if n["id"] == d["node"])
            x, out = array(data, d["input"]), array(data, d["output"])
            i, f, y, z = d["sample"], d["channel"], d["y"], d["z"]
            assert d["value"] == out[i, f, y, z]
            a = node["attributes"]
            pad = a["pad"]
            xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)],
                        constant_values=(-np.inf if node["op"] == "Pooling" else 0.0))
            top, left = y * a["stride"], z * a["stride"]        # in padded coordinates
            assert (d["top"], d["left"]) == (top - pad, left - pad)
            if node["op"] == "Pooling":
                window = xp[i, f, top:top + a["pool_h"], left:left + a["pool_w"]]
                assert [e["value"] for e in d["entries"]] == window.ravel().tolist()
                assert d["argmax"] == int(np.argmax(window.ravel())) and window.max() == d["value"]
                oh, ow = out.shape[2:]
                expected = []
                for yy in range(oh):
                    for zz in range(ow):
                        r0, c0 = yy * a["stride"], zz * a["stride"]
                        w = xp[i, f, r0:r0 + a["pool_h"], c0:c0 + a["pool_w"]]
                        u, v = np.unravel_index(int(np.argmax(w)), w.shape)   # NumPy's argmax: the first largest
                        expected.append([int(r0 + u - pad), int(c0 + v - pad)])
                assert d["winners"] == expected
            else:
                W, b = array(data, node["inputs"][1]["ref"]), array(data, node["inputs"][2]["ref"])
                fh, fw = W.shape[2:]
                window = xp[i, :, top:top + fh, left:left + fw]
                assert [t["x"] for t in d["terms"]] == window.ravel().tolist()
                assert [t["w"] for t in d["terms"]] == W[f].ravel().tolist()
                assert np.isclose(np.sum(window * W[f]) + b[f], d["value"], rtol=1e-12, atol=1e-12)
                eq = d["equation"]
                if eq["relation"] == "=":
                    assert equation_check.agrees(equation_check.evaluate(" + ".join(eq["terms"])), eq["result"]), eq
                if d.get("col2im"):
                    c2 = d["col2im"]
                    assert np.isclose(c2["sum"], array(data, d["input"], grad=True)[i, c2["c"], c2["r"], c2["col"]],
                                      rtol=1e-10, atol=1e-13)
            checked += 1
    assert checked >= 15


def digits_graphs():
    """Loss graphs of float64 CNNs on real test samples (scikit-learn's 8×8 digits): the model's own samples."""
    from chainrule import datasets
    (_, _), (x_test, t_test) = datasets.load("digits")
    out = []
    for seed, spec in enumerate(["conv(6,3,pad=1)-relu-pool(2)-affine(20)-relu",
                                 "conv(4,3,stride=2,pad=1)-relu-conv(8,2)-avgpool(2,stride=1)",
                                 "conv(5,5,pad=2)-tanh-pool(3,stride=2,pad=1)-conv(3,3,pad=1)-pool(2)"]):
        net = LayerNet((1, 8, 8), spec, 10, seed=seed)
        x = Variable(x_test[seed * 4:seed * 4 + 4].astype(np.float64), "x")
        loss = net.loss(x, t_test[seed * 4:seed * 4 + 4], train_flg=True)
        loss.backward()
        out.append(describe(loss))
    return out


def test_the_pages_convolution_and_pooling_are_pythons_on_the_models_own_samples(tmp_path):
    """Under Node.js: every convolution and pooling node recomputed by the page's engine from its inputs, forward
    and backward (with the dout it received), agrees with Python's layers to float64 precision."""
    if NODE is None:
        pytest.skip("Node.js is not installed")
    path = tmp_path / "graphs.json"
    path.write_text(json.dumps(digits_graphs()))
    result = subprocess.run([NODE, str(ROOT / "tests" / "js" / "layer_ops.js"), str(path)], capture_output=True,
                            text=True, timeout=120, check=True)
    found = [d for graph in json.loads(result.stdout) for d in graph]
    assert {d["op"] for d in found} == {"Convolution", "Pooling"} and len(found) >= 8
    for d in found:
        assert d["forward"] < 1e-12 and d["backward"] < 1e-12, d
        assert d["inputs"] == (3 if d["op"] == "Convolution" else 1)


def test_the_same_agreement_inside_chromium(tmp_path):
    page_tests = pytest.importorskip("test_page")
    if page_tests.CHROMIUM is None:
        pytest.skip("no Chromium")
    source = (ROOT / "tests" / "js" / "layer_ops.js").read_text()
    function = source[source.index("CR.layerDifferences = "):source.index("if (require.main")]
    graph = digits_graphs()[2]
    loss_free = tmp_path / "digits-cnn.html"
    from chainrule.draw.html import page as page_text
    loss_free.write_text(page_text(None, data=graph))
    with page_tests.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=page_tests.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = page_tests.Page(browser, loss_free)
        found = page.page.evaluate("() => { " + function + " return CR.layerDifferences(JSON.parse("
                                   "document.getElementById('chainrule-graph').textContent), "
                                   "['Convolution', 'Pooling']); }")
        page.close()
        browser.close()
    assert len(found) == 4 and all(d["forward"] < 1e-12 and d["backward"] < 1e-12 for d in found), found


def test_the_page_trains_a_cnn_as_python_does(tmp_path):
    """The page's trainer (under Node.js) takes Python's batches (the same sequence) and gets Python's losses for
    the first steps, to float64 precision; it learns (accuracy on its samples rises over 150 steps); Reset (a new
    network from the same spec) starts from the same accuracy; and the small copy keeps the layers' order."""
    if NODE is None:
        pytest.skip("Node.js is not installed")
    from chainrule import datasets
    from chainrule.nets import SimpleConvNet
    from chainrule.training.cnn_page import CHECKED_STEPS, batches, cnn_training, small_copy
    (x_train, t_train), _ = datasets.load("digits")
    tall = np.ascontiguousarray(x_train.reshape(-1, 1, 8, 8)[:, :, :, 1:7])    # 8×6 images: height ≠ width
    specs = []
    for seed, (net, x) in enumerate([
            (SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 30, "filter_size": 3}, hidden_size=100),
             x_train),
            (LayerNet((1, 8, 8), "conv(12,3,pad=1)-bn-relu-pool(2)-conv(4,2)-tanh-dropout(0.2)", 10), x_train),
            (LayerNet((1, 8, 8), "bn-dropout(0.2)", 10), x_train),        # nothing the page runs
            (LayerNet((1, 8, 6), "conv(12,3,pad=1)-relu-pool(2)-conv(4,2)-tanh", 10), tall)]):
        spec = cnn_training(net, x, t_train, samples=200, seed=seed)
        spec["steps"] = 150
        specs.append(spec)
    assert specs[0]["same"] and not specs[0]["left_out"]          # the book's SimpleConvNet is trained whole
    assert small_copy(specs[1]["shown"]) == ("conv(12,3,pad=1)-relu-pool(2)-conv(4,2)-tanh", ["batchnorm", "dropout"])
    assert small_copy("conv(64,3)-affine(256)-relu")[0] == "conv(32,3)-affine(100)-relu"
    assert small_copy("bn-dropout(0.2)") == ("flatten", ["batchnorm", "dropout"])   # the output Affine alone
    path = tmp_path / "specs.json"
    path.write_text(json.dumps(specs))
    result = subprocess.run([NODE, str(ROOT / "tests" / "js" / "cnn_train.js"), str(path)], capture_output=True,
                            text=True, timeout=300, check=True)
    for spec, got in zip(specs, json.loads(result.stdout)):
        assert got["batches"][:CHECKED_STEPS] == batches(CHECKED_STEPS, len(spec["t"]), spec["batch"], spec["seed"])
        assert np.allclose(got["losses"][:CHECKED_STEPS], spec["python_losses"], rtol=1e-10, atol=0)
        rise = 0.15 if spec["spec"] != "flatten" else 0.05   # the Affine alone on raw pixels learns slowly at lr 0.01
        assert got["after"] > got["before"] + rise and got["again"] == got["before"]
        assert re.fullmatch(r"the (update made some weights inf or NaN|loss (became (NaN|inf)|exploded to \S+ \(it "
                            r"started at \S+\)) after the last update)", got["diverged"] or "") and got["kept"], got
        # (lr 1e300 overflowed every weight and the page kept playing on NaN; now the step is refused and named)


def trained_model_page(tmp_path, dataset, arch, iterations):
    """`chainrule train` a CNN briefly, then `chainrule graph MODEL.npz --html`: the page a user gets."""
    from chainrule.cli import main
    out = tmp_path / "run"
    assert main(["train", "--dataset", dataset, "--arch", arch, "--iterations", str(iterations), "--out", str(out),
                 "--quiet"]) == 0
    page = tmp_path / "cnn.html"
    assert main(["graph", str(out / "model.npz"), "--html", str(page)]) == 0      # 2 test samples, the default
    return page


def open_learning(page_tests, browser, path, viewport):
    page = page_tests.Page(browser, path)
    page.page.set_viewport_size(viewport)
    page.page.click("#tab-images")
    assert page.page.is_visible("#learn")
    return page


@pytest.mark.parametrize("dataset,arch,iterations,max_ms", [
    ("digits", "conv(8,3,pad=1)-relu-pool(2)-affine(32)-relu", 20, 1000),
    ("fashion-mnist", "simple-cnn", 10, 1000),      # the book's SimpleConvNet, trained whole: a step well under 1 s
    pytest.param("fashion-mnist", "deep-cnn", 2, None, marks=pytest.mark.slow)])   # its small copy: looked at
def test_a_trained_models_page_shows_its_images_and_learns_live(tmp_path, dataset, arch, iterations, max_ms):
    """The page of a CLI-trained CNN: class names on the bars, the Learn-live panel steps (each step well under a
    second; the page under 5 MB), the loss curve grows, Reset returns to step 0 with the same accuracy; no console
    error, no request; screenshots at 1280×800 and 390 px wide."""
    page_tests = pytest.importorskip("test_page")
    if page_tests.CHROMIUM is None:
        pytest.skip("no Chromium")
    if dataset == "fashion-mnist" and not Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    path = trained_model_page(tmp_path, dataset, arch, iterations)
    size = path.stat().st_size
    assert max_ms is None or size < 4e6, size        # the SimpleConvNet page well under 5 MB
    with page_tests.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=page_tests.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = open_learning(page_tests, browser, path, {"width": 1280, "height": 800})
        if dataset == "fashion-mnist":
            assert "Ankle boot" in page.page.locator("#image-cards .bars").inner_text()
        info = page.page.locator("#learn-info")
        before = info.inner_text()
        for _ in range(5 if max_ms else 2):
            page.page.click("#learn-step")
        assert info.get_attribute("data-steps") == ("5" if max_ms else "2")
        ms = float(info.get_attribute("data-ms"))
        assert ms > 0 and (max_ms is None or ms < max_ms), ms
        assert page.page.locator("#learn-curve polyline").count() == 1
        assert page.page.locator("#learn-cards canvas").count() >= 16       # the filters and their dW
        page.page.screenshot(path=str(page_tests.SCREENSHOTS / f"learn-{dataset}-{arch[:9]}-1280.png"), full_page=True)
        page.page.fill("#learn-lr", "1e300")     # overflows: the step is refused, named, the weights kept
        for _ in range(2):                       # the update, or the next forward pass, overflows
            page.page.click("#learn-step")
        assert info.get_attribute("data-steps") == ("5" if max_ms else "2")
        assert page.page.inner_text("#learn-lr-error").startswith(f"stopped at step {6 if max_ms else 3}: ")
        assert f"try a smaller learning rate (now 1e+300); the weights are those of step {5 if max_ms else 2}" in \
            page.page.inner_text("#learn-lr-error")
        page.page.click("#learn-reset")
        assert page.page.inner_text("#learn-lr-error") == ""
        page.page.fill("#learn-lr", "0.01")
        assert info.get_attribute("data-steps") == "0" and info.inner_text().split(" · ")[1] == \
            before.split(" · ")[1]
        page.close()
        narrow = open_learning(page_tests, browser, path, {"width": 390, "height": 844})
        narrow.page.screenshot(path=str(page_tests.SCREENSHOTS / f"learn-{dataset}-{arch[:9]}-390.png"))
        overflow = narrow.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        narrow.close()
        browser.close()
    assert overflow <= 0, f"the page is {overflow} px wider than a 390 px screen"
    print(f"{dataset} {arch}: page {size / 1e6:.2f} MB, a learning step {ms:.0f} ms")
