"""The interactive page in a real browser: Debian's Chromium driven by Playwright, from file://, offline.

Each test fails on any console error and on any request that is not to the page itself. Skipped cleanly
where Playwright or a Chromium binary is missing (set CHAINRULE_CHROMIUM to point at one).
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chainrule import examples
from chainrule.draw import describe, format_number, format_value, to_html
from chainrule.training.spiral_page import spiral_training
from chainrule.expression import build
from chainrule.graph import Variable
from chainrule.layers import Affine

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install "
                                                              "'chainrule[browser]')")


def chromium_binary():
    for candidate in (os.environ.get("CHAINRULE_CHROMIUM"), "/usr/bin/chromium-headless-shell", "/usr/bin/chromium",
                      shutil.which("chromium-headless-shell"), shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = chromium_binary()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install "
                                                         "chromium-headless-shell)")
SCREENSHOTS = Path(os.environ.get("CHAINRULE_SCREENSHOTS", "/tmp/chainrule-screenshots"))


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                "--disable-background-networking",
                                                                "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


class Page:
    """A page opened from disk, watching for console errors and for any request that leaves the file."""

    def __init__(self, browser, path, fragment=""):
        self.context = browser.new_context(viewport={"width": 1400, "height": 820}, accept_downloads=True)
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        url = Path(path).resolve().as_uri()
        self.page.on("request", lambda r: None if r.url.split("#")[0] == url or r.url.startswith(("blob:", "data:"))
                     else self.problems.append(f"request {r.url}"))
        self.page.goto(url + fragment)
        self.page.wait_for_selector("body[data-ready=true]")

    def texts(self, selector):
        # a label's text without its hover title (a matrix's rows are lines of their own: joined with a space)
        return self.page.eval_on_selector_all(selector, "els => els.map(e => e.querySelector('tspan') ? "
                                              "Array.from(e.querySelectorAll('tspan'), (t) => t.textContent).join('') "
                                              ": e.firstChild.textContent)")

    def label(self, kind, ref, node=None):
        sel = f'#graph text[data-kind="{kind}"][data-ref="{ref}"]' + (f'[data-node="{node}"]' if node else "")
        return self.texts(sel)

    def end(self):
        self.page.keyboard.press("End")

    def close(self, screenshot=None):
        if screenshot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / screenshot))
        self.context.close()
        assert not self.problems, self.problems


def value_id(data, name):
    return next(k for k, v in data["values"].items() if v["name"] == name)


def write_page(tmp_path, output, name):
    return to_html(output, tmp_path / f"{name}.html")


def test_the_page_is_small_self_contained_and_forbids_the_network(tmp_path):
    text = write_page(tmp_path, examples.fruit_graph(), "fruit").read_text()
    assert len(text.encode()) < 200_000
    assert "Content-Security-Policy" in text and "default-src 'none'" in text and "script-src 'sha256-" in text
    for forbidden in ("http://", "https://", "<link", "src="):
        assert forbidden not in text.split('<script type="application/json"')[0].replace(
            'content="width=device-width', ""), forbidden


@pytest.mark.parametrize("example,expected", [
    ("apple", {"apple": "2.2", "apple_num": "110", "tax": "200"}),
    ("fruit", {"apple": "2.2", "apple_num": "110", "orange": "3.3", "orange_num": "165", "tax": "650"}),
])
def test_stepping_to_the_end_shows_the_books_gradients(browser, tmp_path, example, expected):
    output = examples.GRAPHS[example]()
    data = describe(output)
    page = Page(browser, write_page(tmp_path, output, example))
    for _ in range(len(data["nodes"]) + len(data["backward"]) + 1):  # with the keyboard, one step at a time
        page.page.keyboard.press("ArrowRight")
    assert page.page.inner_text("#step-count") == f"step {len(data['nodes']) + len(data['backward']) + 1} of " \
                                                  f"{len(data['nodes']) + len(data['backward']) + 1}"
    for name, grad in expected.items():
        assert page.label("total", value_id(data, name)) == [f"d {name} = {grad}"]
    out = data["output"]
    assert page.label("value", out) == [f"price = {'220' if example == 'apple' else '715'}"]
    page.close(screenshot=f"{example}-end.png")


def test_the_fruit_graph_forward_and_backward_numbers(browser, tmp_path):
    output = examples.fruit_graph()
    data = describe(output)
    page = Page(browser, write_page(tmp_path, output, "fruit"))
    ids = {v["name"]: k for k, v in data["values"].items()}
    page.page.keyboard.press("ArrowRight")
    assert page.label("value", ids["apple_price"]) == ["apple_price = 200"]
    assert page.label("value", ids["orange_price"]) == []          # not computed yet at step 1
    page.end()
    assert page.label("value", ids["orange_price"]) == ["orange_price = 450"]
    assert page.label("value", ids["all_price"]) == ["all_price = 650"]
    assert page.label("grad", ids["apple_price"]) == ["1.1"] and page.label("grad", ids["all_price"]) == ["1.1"]
    panel = page.page.inner_text("#step-panel")
    assert "d orange = dout × orange_num = 1.1 × 3 = 3.3" in panel        # the same words as explain()
    assert "local derivative ∂orange_price/∂orange = orange_num = 3" in panel
    page.close()


def test_a_value_used_twice_shows_the_branch_sum(browser, tmp_path):
    x = Variable(3.0, "x")
    y = x * 1.1 + x * x
    y.name = "y"
    y.backward()
    data = describe(y)
    page = Page(browser, write_page(tmp_path, y, "branch"))
    page.end()
    panel = page.page.inner_text("#step-panel")
    assert "branch rule: x is used 3 times, so ∂y/∂x = 1.1 (via ×1.1) + 3 (via ×) + 3 (via ×) = 7.1" in panel
    assert page.label("total", value_id(data, "x")) == ["d x = 7.1"]
    page.close(screenshot="branch.png")


def test_an_affine_batch_shows_shapes_and_numbers_on_hover(browser, tmp_path):
    rng = np.random.default_rng(0)
    layer = Affine(rng.standard_normal((3, 2)), np.zeros(2))
    x = Variable(rng.standard_normal((5, 3)), "X")
    loss = (layer(x) * layer(x)).sum()
    loss.name = "L"
    loss.backward()
    data = describe(loss)
    page = Page(browser, write_page(tmp_path, loss, "affine"))
    page.end()                                                 # the last step: one of the two Affine nodes
    panel = page.page.inner_text("#step-panel")
    assert "d W = Xᵀ · dout = (3×5) · [[" in panel             # which dimensions meet: (D×N)·(N×H); 10 numbers in full
    assert "d X = dout · Wᵀ = [[" in panel
    title = page.page.eval_on_selector(f'#graph text[data-kind="value"][data-ref="{value_id(data, "X")}"] title',
                                       "t => t.textContent")
    assert format_number(x.data[0, 0]) in title and "(5×3)" in title
    page.close()


def test_editing_an_input_recomputes_every_number_as_python_does(browser, tmp_path):
    data = describe(examples.fruit_graph())
    page = Page(browser, write_page(tmp_path, examples.fruit_graph(), "fruit"))
    page.end()
    apple = value_id(data, "apple")
    page.page.click(f'#graph [data-item="{apple}"]')
    field = page.page.locator('#editor input[data-entry="0"]')
    field.fill("150")
    field.press("Enter")
    page.page.wait_for_function(f'() => document.querySelector(\'#graph text[data-kind="value"][data-ref="'
                                f'{data["output"]}"]\').textContent.startsWith("price = 825")')
    python = describe(examples.fruit_graph(apple=150))
    for vid, v in python["values"].items():
        if v["role"] in ("input", "parameter") and v["grad_label"]:
            assert page.label("total", vid) == [f"d {v['name']} = {v['grad_label']}"]
    for vid, v in python["values"].items():
        shown = page.label("value", vid)
        assert all(s.endswith(v["label"]) for s in shown) and shown, (v["name"], shown, v["label"])
    assert "edit=" in page.page.evaluate("location.hash")
    page.close(screenshot="fruit-edited.png")


def test_an_edit_that_makes_a_step_infinite_is_refused_and_the_numbers_stay(browser, tmp_path):
    """An apple of 1e200 bought 1e200 times made the page draw 'apple_price = inf' and every gradient after it
    without a word. The edit is now refused as `chainrule graph` refuses such values (the node, its finite
    inputs, what it gave); the graph keeps its numbers; a link carrying such edits opens without them."""
    data = describe(examples.fruit_graph())
    apple, apple_num = value_id(data, "apple"), value_id(data, "apple_num")
    page = Page(browser, write_page(tmp_path, examples.fruit_graph(), "fruit"))
    page.end()
    for vid in (apple, apple_num):
        page.page.click(f'#graph [data-item="{vid}"]')
        field = page.page.locator('#editor input[data-entry="0"]')
        field.fill("1e200")
        field.press("Enter")
    panel = page.page.inner_text("#step-panel")
    assert "apple_num entry 0 = 1e+200 refused: Mul (×): forward gave inf from finite inputs apple = 1e+200, " \
           "apple_num = 1e+200; choose values where every step is finite" in panel, panel
    assert "inf" not in " ".join(page.texts("#graph text"))
    assert page.label("value", value_id(data, "apple_price")) == ["apple_price = 2e+200"]
    assert page.page.evaluate("document.querySelector('#editor input[data-entry=\"0\"]').validity.valid") is False
    page.close()
    linked = Page(browser, write_page(tmp_path, examples.fruit_graph(), "fruit"),
                  f"#step=9&edit={apple}:1e308;{apple_num}:1e308")
    panel = linked.page.inner_text("#step-panel")
    assert "The link's edited values were not used: Mul (×): forward gave inf" in panel, panel
    assert "inf" not in " ".join(linked.texts("#graph text"))
    assert linked.label("value", data["output"]) == ["price = 715"]
    linked.close(screenshot="fruit-refused-link.png")


def test_the_numerical_check_agrees_with_backprop(browser, tmp_path):
    page = Page(browser, write_page(tmp_path, examples.mlp_graph(), "mlp"))
    page.end()
    page.page.click("#check")
    lines = page.page.inner_text("#step-panel")
    assert "max |backprop − numerical|" in lines and "✓" in lines and "✗" not in lines
    page.close(screenshot="mlp-end.png")


def test_state_lives_in_the_url(browser, tmp_path):
    data = describe(examples.apple_graph())
    apple = value_id(data, "apple")
    path = write_page(tmp_path, examples.apple_graph(), "apple")
    page = Page(browser, path, fragment=f"#view=graph&step=5&edit={apple}:50")
    assert page.page.inner_text("#step-count") == "step 5 of 5"
    assert page.label("total", value_id(data, "tax")) == ["d tax = 100"]   # 50 × 2 apples
    page.close()


def test_export_svg(browser, tmp_path):
    page = Page(browser, write_page(tmp_path, examples.apple_graph(), "apple"))
    page.end()
    with page.page.expect_download() as info:
        page.page.click("#export")
    saved = tmp_path / "export.svg"
    info.value.save_as(saved)
    svg = saved.read_text()
    assert svg.startswith("<svg") and "apple_num" in svg and "<style>" in svg and ">2.2<" in svg
    page.close()


def test_keyboard_only_editing(browser, tmp_path):
    page = Page(browser, write_page(tmp_path, examples.apple_graph(), "apple"))
    page.page.focus('#graph [role="button"]')
    page.page.keyboard.press("Enter")
    assert page.page.inner_text("#editor").startswith("Edit ")
    page.close()


def test_training_view_matches_python_and_learns(browser, tmp_path):
    path = to_html(examples.mlp_graph(), tmp_path / "mlp.html", training=spiral_training())
    page = Page(browser, path, fragment="#view=train")
    python = spiral_training()["python_losses"]
    assert page.page.inner_text("#train-loss") == f"iteration 0: loss {format_number(python[0])}"
    for k in range(1, 4):
        page.page.click("#step-btn")
        assert page.page.inner_text("#train-loss") == f"iteration {k}: loss {format_number(python[k])}"
    assert "W1[0,0] ← W1[0,0] − lr·dW1[0,0] =" in page.page.inner_text("#train-info")
    for _ in range(60):
        page.page.click("#step-btn")
    final = float(page.page.inner_text("#train-loss").split("loss ")[1])
    assert final < python[3]
    page.page.click("#reset")
    assert page.page.inner_text("#train-loss") == f"iteration 0: loss {format_number(python[0])}"  # same start
    for typed in ("-0.5", "abc", "0", ""):      # refused where typed, and it stays refused
        page.page.fill("#lr", typed)
        assert "refused" in page.page.inner_text("#lr-error")
        assert page.page.get_attribute("#lr", "aria-invalid") == "true" and page.page.is_disabled("#step-btn")
        page.page.evaluate("() => document.getElementById('step-btn').click()")
        assert page.page.inner_text("#train-loss") == f"iteration 0: loss {format_number(python[0])}"
        assert "refused" in page.page.inner_text("#lr-error")
    page.page.fill("#lr", "0.5")
    assert page.page.inner_text("#lr-error") == "" and not page.page.is_disabled("#step-btn")
    page.page.fill("#lr", "1e308")     # overflows: the step is refused and named, the weights stay (Play stops too)
    page.page.click("#step-btn")
    assert page.page.inner_text("#lr-error").startswith("stopped at iteration 1: the ")
    assert "try a smaller learning rate (now 1e+308); the weights are those before this step" in \
        page.page.inner_text("#lr-error")
    assert page.page.inner_text("#train-loss") == f"iteration 0: loss {format_number(python[0])}"
    page.page.click("#play")
    page.page.wait_for_function("() => document.getElementById('play').textContent === 'Play'")
    assert page.page.inner_text("#train-loss") == f"iteration 0: loss {format_number(python[0])}"
    page.close(screenshot="training.png")


def test_hidden_views_are_hidden_and_only_controls_are_tab_stops(browser, tmp_path):
    path = to_html(examples.mlp_graph(), tmp_path / "mlp.html", training=spiral_training())
    page = Page(browser, path)
    assert not page.page.is_visible("#train-view") and not page.page.is_visible("#regions")
    stops = page.page.evaluate("""() => Array.from(document.querySelectorAll('[tabindex], button, input, a[href]'))
        .filter((e) => e.tabIndex >= 0 && !e.closest('[hidden]') && !e.disabled)
        .map((e) => e.getAttribute('role') || e.tagName.toLowerCase())""")
    assert set(stops) <= {"button", "tab", "input"}, stops   # no operation node, nothing of the hidden view
    for _ in range(40):                                        # the keyboard never walks into the hidden view
        page.page.keyboard.press("Tab")
        assert not page.page.evaluate("() => !!document.activeElement.closest('#train-view')")
    page.close()


def test_a_page_without_training_data_offers_no_train_view(browser, tmp_path):
    page = Page(browser, write_page(tmp_path, examples.fruit_graph(), "fruit"), fragment="#view=train")
    assert page.page.query_selector("#tab-train") is None and page.page.query_selector("#train-view") is None
    assert page.page.is_visible("#graph")
    page.close()


NUMBERS = [0.0, 1.0, -1.0, 2.2, 220.00000000000003, 110.00000000000001, 0.125, -0.125, 2.5, 0.0625, 1 / 3, -2 / 3,
           1.2345e-5, 0.000123456, 9.99951, 99999.5, 123456.7, 1234567.8, 1e20, -1e-9, 0.1 + 0.2, 3.3000000000000003,
           1.0005, 1.00049999, 0.00001, 5e-324, 1.7976931348623157e308, float("nan"), float("inf"), -float("inf")]


def test_python_and_the_page_write_every_number_the_same_way(browser, tmp_path):
    page = Page(browser, write_page(tmp_path, examples.apple_graph(), "apple"))
    rng = np.random.default_rng(0)
    numbers = NUMBERS + list(rng.standard_normal(300) * 10.0 ** rng.integers(-8, 8, 300))
    as_text = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
    js = page.page.evaluate("xs => xs.map(x => CR.formatNumber(Number(x)))",
                            [as_text.get(repr(float(v)), repr(float(v))) for v in numbers])
    assert js == [format_number(v) for v in numbers]
    arrays = [rng.standard_normal(s) for s in [(3,), (2, 3), (4, 5), (13,), (2, 2, 2)]]
    js = page.page.evaluate("ts => ts.map(t => CR.formatValue(CR.tensor(t.shape, t.data)))",
                            [{"shape": list(a.shape), "data": a.ravel().tolist()} for a in arrays])
    assert js == [format_value(a) for a in arrays]
    page.close()


def op_zoo():
    """One graph using every op the page recomputes, with broadcasting and a value used twice."""
    from chainrule import functions as F
    from chainrule.layers import BatchNormalization, Dropout, Mean, MeanSquaredError, Reshape, Sum, Transpose
    rng = np.random.default_rng(3)
    x = Variable(rng.standard_normal((4, 3)) + 0.2, "x")
    W = Variable(rng.standard_normal((3, 3)), "W")
    b = Variable(rng.standard_normal(3), "b")
    h = F.relu(x @ W + b) * x - x / 3.0
    h = F.sigmoid(h) + F.tanh(-h) + F.exp(h * 0.1) + F.log(h * h + 1.0) + h ** 3
    h = BatchNormalization(np.ones(3), np.zeros(3))(h)
    h = Dropout(0.3, seed=1)(h)
    h = Transpose()(Reshape((3, 4))(h)) + Affine(rng.standard_normal((3, 3)), rng.standard_normal(3))(x)
    s = F.softmax(h)
    loss = F.softmax_cross_entropy(h, np.array([0, 2, 1, 1])) + MeanSquaredError()(s, np.full((4, 3), 1 / 3)) \
        + Sum(axis=0)(s).sum() * 0.01 + Mean()(h @ W.T)
    loss.name = "loss"
    loss.backward()
    return loss


def conv_zoo():
    """Convolution (stride 2, pad 1, 2 channels), per-channel batch norm, overlapping padded max pooling, average
    pooling, Flatten and an Affine on images, with the pooled value used twice."""
    from chainrule import functions as F
    from chainrule.layers import BatchNormalization, Convolution, Flatten, Pooling
    rng = np.random.default_rng(5)
    x = Variable(rng.standard_normal((2, 2, 7, 7)), "x")
    z = Convolution(rng.standard_normal((3, 2, 3, 3)) * 0.5, rng.standard_normal(3), stride=2, pad=1)(x)
    h = F.relu(BatchNormalization(np.ones(3) * 1.5, np.full(3, 0.1))(z))
    p = Pooling(2, 2, stride=1, pad=1)(h)
    a = Pooling(2, 2, stride=2, mode="average")(p)
    scores = Affine(rng.standard_normal((12, 4)), rng.standard_normal(4))(a) + Flatten()(a) @ Variable(
        rng.standard_normal((12, 4)), "V") * 0.1
    loss = F.softmax_cross_entropy(scores, np.array([1, 3]))
    loss.name = "loss"
    loss.backward()
    return loss


@pytest.mark.parametrize("make", [op_zoo, conv_zoo, examples.cnn_graph], ids=["ops", "convolution", "book_cnn"])
def test_the_page_recomputes_every_op_as_python_does(browser, tmp_path, make):
    loss = make()
    data = describe(loss)
    assert data["recompute"]
    page = Page(browser, write_page(tmp_path, loss, "zoo"))
    js = page.page.evaluate("""() => {
        const data = JSON.parse(document.getElementById('chainrule-graph').textContent);
        const r = CR.compute(data, {});
        const out = {};
        const numbers = (t) => t ? {shape: t.shape, data: Array.from(t.data)} : null;
        for (const id of Object.keys(data.values)) out[id] = [numbers(r.vals[id]), numbers(r.grads[id])];
        const rules = [];
        const nodes = Object.fromEntries(data.nodes.map((n) => [n.id, n]));
        for (const s of r.steps) {
            const texts = CR.stepTexts(data, nodes[s.node], r.states[s.node], s.upstream, r.vals, s.sent);
            for (const x of texts) rules.push([s.node, x.input, x.symbolic ?? null, x.numeric ?? null, x.note ?? null]);
        }
        return {values: out, rules};
    }""")
    # the same numbers up to rounding: sums may run in another order (a gradient that is 0 in exact arithmetic
    # may come out as ±1e-17 on one side), so compare to 1e-9 relative and 1e-12 absolute
    for vid, v in data["values"].items():
        if v["role"] == "constant":
            continue
        for js_tensor, python, what in ((js["values"][vid][0], v["value"], "value"),
                                        (js["values"][vid][1], v["grad"], "gradient")):
            if python is None:
                continue
            expected = np.asarray(python, dtype=float).reshape(v["shape"])
            got = np.asarray(js_tensor["data"]).reshape(js_tensor["shape"])
            assert got.shape == expected.shape, (v["name"], what)
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=f"{v['name']} {what}")
    python_rules = [[s["node"], e["input"], e.get("symbolic"), e.get("numeric"), e.get("note")]
                    for s in data["backward"] for e in s["sent"]]
    assert js["rules"] == python_rules
    page.close()


def test_a_student_types_an_expression_and_steps_through_it(browser, tmp_path):
    """The book's figure 5-7, (x+y)**2, typed into the page: built, drawn and stepped at once."""
    page = Page(browser, write_page(tmp_path, examples.fruit_graph(), "fruit"))
    p = page.page
    assert p.get_attribute("#expression", "aria-describedby").startswith("expression-error")
    assert p.inner_text("label[for=expression]") == "expression"
    p.fill("#expression", "(x+y)**2")
    p.press("#expression", "Enter")
    assert p.input_value('input[aria-label="value of x"]') == "1"          # an editable default for each name
    assert p.input_value('input[aria-label="value of y"]') == "1"
    assert p.inner_text("#title") == "Backpropagation through (x+y)**2"
    p.fill('input[aria-label="value of x"]', "2")
    p.fill('input[aria-label="value of y"]', "3")
    p.press('input[aria-label="value of y"]', "Enter")
    page.end()
    panel = p.inner_text("#step-panel")
    assert "d x = dout × 1 = 10 × 1 = 10" in panel or "d y = dout × 1 = 10 × 1 = 10" in panel
    python = build("(x+y)**2", {"x": np.array(2.0), "y": np.array(3.0)})
    python.name = "out"
    python.backward()
    js = p.evaluate("() => 0")  # the page is alive
    assert js == 0
    labels = page.texts('#graph text[data-kind="total"]')
    assert sorted(labels) == ["d x = 10", "d y = 10"]
    # a mistake: one line under the field, the graph stays
    p.fill("#expression", "(x+y)**")
    p.press("#expression", "Enter")
    assert "invalid syntax" in p.inner_text("#expression-error")
    assert p.get_attribute("#expression", "aria-invalid") == "true"
    assert sorted(page.texts('#graph text[data-kind="total"]')) == ["d x = 10", "d y = 10"]
    p.fill("#expression", "x @ y")
    p.press("#expression", "Enter")
    assert "MatMul" in p.inner_text("#expression-error") and "\n" not in p.inner_text("#expression-error").strip()
    # values that make a step infinite are refused as `chainrule graph "exp(x)" --set x=1000` refuses them
    p.fill("#expression", "exp(x) * y")
    p.fill('input[aria-label="value of x"]', "1000")
    p.press('input[aria-label="value of x"]', "Enter")
    python = run_cli_graph(["exp(x) * y", "--set", "x=1000", "y=3"])
    assert p.inner_text("#expression-error") == python.split("chainrule graph: error: ")[1].strip(), python
    assert sorted(page.texts('#graph text[data-kind="total"]')) == ["d x = 10", "d y = 10"]
    page.close(screenshot="typed.png")


def run_cli_graph(args):
    """What `chainrule graph ARGS` prints on stderr."""
    import contextlib
    import io

    from chainrule.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["graph", *args]) == 2
    return err.getvalue()


HOSTILE = ['<!--<script>', '</script><b>x</b>', '"\'&amp;<>', '\u2028\u2029', '{{x}} ${x} %s', '\\"]]>-->']


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_field_stays_text(browser, tmp_path, text):
    """Titles and names land in HTML, in the page's script data, in SVG and in DOT: each escaped for its place."""
    x = Variable(2.0, text)
    y = x * 3.0
    y.name = "out" + text
    y.backward()
    path = to_html(y, tmp_path / "hostile.html", title=text, expression=text)
    page = Page(browser, path)                              # it becomes ready: the data parsed
    assert page.page.inner_text("#title") == text.strip() or page.page.inner_text("#title") == text
    assert page.page.input_value("#expression") == text
    names = page.page.eval_on_selector_all("#graph text.name", "els => els.map(e => e.textContent)")
    assert text in names
    page.close()
    from chainrule.draw import to_dot
    import xml.dom.minidom
    dot = to_dot(y, title=text)
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True).stdout
        xml.dom.minidom.parseString(svg)                   # well-formed: the text was escaped for SVG


GEOMETRY = """() => {
    const svg = document.getElementById('graph'), ctm = svg.getScreenCTM();
    const rect = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const items = Array.from(svg.querySelectorAll('.item')).map((g) => ({
        id: g.dataset.item, shape: rect(g.querySelector('circle, rect')),
        texts: Array.from(g.querySelectorAll('text')).map(rect) }));
    const edges = Array.from(svg.querySelectorAll('.edge')).map((g) => {
        const path = g.querySelector('path.arrow'), n = path.getTotalLength(), points = [];
        for (let k = 0; k <= 200; k++) {
            const p = path.getPointAtLength(n * k / 200), q = svg.createSVGPoint();
            q.x = p.x; q.y = p.y;
            const s = q.matrixTransform(ctm);
            points.push([s.x, s.y]);
        }
        return { points, labels: Array.from(g.querySelectorAll('text')).map(rect) };
    });
    const ends = Array.from(svg.querySelectorAll('.edge')).map((g, k) => k);
    return { items, edges, view: rect(svg), ends };
}"""


def overlap(a, b, slack=0.5):
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def check_geometry(page, data):
    """No arrow through a box that is not its end, no label over another label or a box, one labelled arrow per
    use of a value, and the whole graph inside the drawing area."""
    g = page.page.evaluate(GEOMETRY)
    producer = {n["output"]: n["id"] for n in data["nodes"]}
    uses = [(producer.get(i["ref"], i["ref"]), n["id"]) for n in data["nodes"] for i in n["inputs"] if i["ref"]]
    uses += [(producer[data["output"]], data["output"])] if data["output"] in producer else []
    assert len(g["edges"]) == len(uses)                                  # every use has its own arrow
    boxes = {i["id"]: i["shape"] for i in g["items"]}
    view = g["view"]
    for shape in boxes.values():                                          # zoomed to fit: all of it is shown
        assert view[0] - 1 <= shape[0] and shape[2] <= view[2] + 1
        assert view[1] - 1 <= shape[1] and shape[3] <= view[3] + 1
    for (source, target), edge in zip(uses, g["edges"]):
        for item, shape in boxes.items():
            if item in (source, target):
                continue
            inner = [shape[0] + 1.5, shape[1] + 1.5, shape[2] - 1.5, shape[3] - 1.5]
            inside = [p for p in edge["points"] if inner[0] < p[0] < inner[2] and inner[1] < p[1] < inner[3]]
            assert not inside, f"the arrow {source} → {target} passes through {item}"
    labels = [r for e in g["edges"] for r in e["labels"]] + [t for i in g["items"] for t in i["texts"]]
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            assert not overlap(a, b), f"labels overlap: {a} {b}"
    for e in g["edges"]:
        for label in e["labels"]:
            for item, shape in boxes.items():
                assert not overlap(label, shape), f"a label overlaps {item}"


def random_outputs(count, seed):
    import random

    from random_graphs import random_expression
    rng, found = random.Random(seed), []
    while len(found) < count:
        text, values = random_expression(rng, depth=3)
        try:
            out = build(text, {k: np.asarray(v, dtype=float) for k, v in values.items()})
        except Exception:
            continue
        if isinstance(out, Variable) and out.creator is not None and out.size == 1:
            with np.errstate(all="ignore"):
                out.backward()
            found.append(out)
    return found


def branch_graph():
    out = build("x*x + x", {"x": np.array(3.0)})
    out.name = "out"
    out.backward()
    return out


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_drawing_is_a_real_layout_on_the_books_graphs_and_random_ones(browser, tmp_path, viewport):
    outputs = [examples.apple_graph(), examples.fruit_graph(), examples.mlp_graph(), examples.cnn_graph(),
               branch_graph(), *random_outputs(6, seed=viewport[0])]
    for k, out in enumerate(outputs):
        page = Page(browser, to_html(out, tmp_path / f"g{k}.html"), fragment="#step=999")
        page.page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        page.page.wait_for_timeout(50)
        check_geometry(page, describe(out))
        if viewport[0] < 500:                                             # the phone: the step panel is there too
            assert page.page.is_visible("#step-panel") and page.page.inner_text("#step-panel").strip()
        page.close(screenshot=f"layout-{k}-{viewport[0]}.png" if k in (1, 4) else None)


def test_zoom_pan_and_fit_by_mouse_keyboard_and_buttons(browser, tmp_path):
    page = Page(browser, write_page(tmp_path, examples.mlp_graph(), "mlp"))
    p = page.page
    box = lambda: [float(v) for v in p.get_attribute("#graph", "viewBox").split()]  # noqa: E731
    fitted = box()
    p.click("#zoom-in")
    assert box()[2] < fitted[2]
    p.click("#zoom-fit")
    assert box() == fitted
    p.keyboard.press("+")
    zoomed = box()
    assert zoomed[2] < fitted[2]
    r = p.eval_on_selector("#graph", "e => { const b = e.getBoundingClientRect(); "
                                     "return [b.x, b.y, b.width, b.height]; }")
    p.mouse.move(r[0] + r[2] / 2, r[1] + r[3] / 2)
    p.mouse.down()
    p.mouse.move(r[0] + r[2] / 2 + 80, r[1] + r[3] / 2 + 30, steps=4)
    p.mouse.up()
    panned = box()
    assert panned[0] < zoomed[0] and panned[2] == zoomed[2]              # dragged: moved, same zoom
    p.mouse.wheel(0, 300)
    assert box()[2] > panned[2]
    p.keyboard.press("0")
    assert box() == fitted
    page.close()


def test_a_graph_with_infinite_values_opens_and_shows_them(browser, tmp_path):
    from chainrule.nonfinite import nonfinite_policy
    with nonfinite_policy("ignore"):
        out = build("sum(x / y)", {"x": np.array([1.0, -1.0]), "y": np.array([0.0, 0.0])})
        out.name = "out"
        out.backward()
    page = Page(browser, to_html(out, tmp_path / "inf.html"), fragment="#step=2")
    labels = page.texts('#graph text[data-kind="value"]')
    assert any("[inf, -inf]" in label for label in labels), labels
    page.close()


def test_arrays_of_up_to_a_dozen_numbers_are_written_in_full_on_the_drawing(browser, tmp_path):
    data = describe(examples.mlp_graph())
    page = Page(browser, write_page(tmp_path, examples.mlp_graph(), "mlp"), fragment="#step=999")
    grads = page.label("grad", value_id(data, "Z2"))                 # dout of Z2: 4×2, eight numbers
    assert grads == ["[[0.1275, -0.1275], [0.1251, -0.1251], [-0.1076, 0.1076], [0.1076, -0.1076]]"]
    values = page.label("value", value_id(data, "H"))               # H: 4×5, twenty numbers: its shape
    assert values == ["H = (4×5) array"]
    check_geometry(page, data)
    page.close(screenshot="mlp-full.png")


def test_a_models_long_vectors_are_broken_into_lines_and_the_graph_stays_readable(browser, tmp_path):
    """A trained model's graph (a bias of 10 classes) was drawn with the bias's 10 numbers on one arrow label,
    which made the page zoom the whole graph out until its text was about 5 pixels high. Every label line now
    holds at most six numbers (numbers.label_lines, the PNG's rule too), the text stays readable, and a
    heatmap of a large gradient says in words which entries it shows ("every 2nd row and column", not "2th")."""
    from chainrule.nets import MultiLayerNet
    net = MultiLayerNet(64, [100, 100], 10, seed=0)
    x = Variable(np.random.default_rng(3).random((2, 64)), name="x")
    loss = net.loss(x, np.array([6, 1]), train_flg=True)
    loss.name = "L"
    loss.backward()
    page = Page(browser, write_page(tmp_path, loss, "model"))
    page.page.set_viewport_size({"width": 1400, "height": 900})          # a laptop's browser window
    page.end()
    lines = page.page.eval_on_selector_all(
        "#graph text", "els => els.map(e => e.querySelector('tspan') ? Array.from(e.querySelectorAll('tspan'), "
        "(t) => t.textContent) : [e.firstChild ? e.firstChild.textContent : '']).flat()")
    assert any(line.count(",") >= 4 for line in lines)                     # b3 and d b3, five numbers a line
    assert all(len(line.split(", ")) <= 6 for line in lines), [line for line in lines if len(line.split(", ")) > 6]
    heights = page.page.eval_on_selector_all("#graph text", "els => els.map(e => e.getBoundingClientRect().height)")
    assert np.median([h for h in heights if h > 0]) >= 8, sorted(heights)  # pixels on the screen, zoomed to fit
    captions = page.page.inner_text("#step-panel")
    assert not re.search(r"\b(1|2|3|[02-9]1|[02-9]2|[02-9]3)th\b", captions), captions
    assert re.search(r"every \d+(st|nd|rd|th) row and column", captions), captions
    page.close(screenshot="model-end.png")


def test_the_page_of_chainrule_check_says_what_the_red_node_got_wrong(browser, tmp_path):
    """`chainrule check --html` drew the wrong node in red and said nothing else on the page: the expected and the
    received gradient, and the hint, were only in the terminal. They are beside the graph now, at the start and
    at that node's backward step."""
    from chainrule.exercises import check_file
    solutions = (Path(__file__).resolve().parent.parent / "exercises" / "solutions" / "layers.py").read_text()
    mine = tmp_path / "mine.py"
    mine.write_text(solutions.replace("return dout * self.y, dout * self.x", "return dout * self.x, dout * self.y"))
    ok, lines = check_file(mine, html=tmp_path / "wrong.html")
    assert not ok
    page = Page(browser, tmp_path / "wrong.html")
    panel = page.page.inner_text("#step-panel")
    assert "The node drawn in red sends a wrong gradient:\nbackward step 1: YourMulLayer sends a wrong gradient to " \
           "x" in panel and "dx: expected 1.1 (numerical), got 650" in panel, panel
    page.page.keyboard.press("End")          # backward step 1 is the red node's: the last step lists the others
    for _ in range(20):
        if "This node (in red)" in page.page.inner_text("#step-panel"):
            break
        page.page.keyboard.press("ArrowLeft")
    assert "This node (in red) sends a wrong gradient:" in page.page.inner_text("#step-panel")
    assert "dx: expected 1.1 (numerical), got 650" in page.page.inner_text("#step-panel")
    page.close()
