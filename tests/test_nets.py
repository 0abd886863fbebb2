import re

import numpy as np
import pytest

from chainrule import array_math as F
from chainrule.gradcheck import gradient_check
from chainrule.layers import Affine, Relu, Sigmoid, Tanh
from chainrule.nets import MultiLayerNet, TwoLayerNet, build, init_scale
from conftest import assert_gradients_match


def test_two_layer_net_has_the_books_structure():
    net = TwoLayerNet(784, 50, 10, seed=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.params["W1"].shape == (784, 50) and net.params["b2"].shape == (10,)
    assert [type(layer) for layer in net.layers] == [Affine, Relu, Affine]
    assert net.layers[0].W is net.params["W1"]  # shared by reference, as in the book
    assert 0.008 < net.params["W1"].std() < 0.012 and not net.params["b1"].any()


def test_two_layer_net_gradient_matches_numerical_in_float64(rng):
    net = TwoLayerNet(20, 8, 4, weight_init_std=0.5, seed=1)
    x, t = rng.standard_normal((3, 20)), np.array([0, 3, 1])
    numeric = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    for key in ("W1", "b1", "W2", "b2"):
        assert np.abs(backprop[key] - numeric[key]).mean() < 1e-9, key


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("hidden", [[], [7], [6, 5, 4]])
def test_multi_layer_net_gradcheck_any_depth(activation, hidden, rng):
    net = MultiLayerNet(9, hidden, 3, activation=activation, weight_init_std="xavier", weight_decay_lambda=0.1,
                        seed=2)
    x, t = rng.standard_normal((4, 9)), rng.integers(0, 3, 4)
    report = gradient_check(net, x, t)
    assert_gradients_match(report)
    assert len(report) == 2 * (len(hidden) + 1)
    kinds = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
    assert sum(isinstance(layer, kinds[activation]) for layer in net.layers) == len(hidden)


def test_labels_as_indices_or_one_hot_give_the_same_loss_and_gradient(rng):
    net = MultiLayerNet(5, [4], 3, seed=0)
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    g1, l1 = net.gradient(x, t), net.loss(x, t)
    g2, l2 = net.gradient(x, F.one_hot(t, 3)), net.loss(x, F.one_hot(t, 3))
    assert l1 == pytest.approx(l2)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k])
    assert net.accuracy(x, t) == net.accuracy(x, F.one_hot(t, 3))


def test_weight_decay_adds_to_loss_and_gradient(rng):
    x, t = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    plain = MultiLayerNet(5, [4], 3, seed=0)
    decayed = MultiLayerNet(5, [4], 3, seed=0, weight_decay_lambda=0.5)
    penalty = 0.25 * sum((plain.params[k] ** 2).sum() for k in ("W1", "W2"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty)
    np.testing.assert_allclose(decayed.gradient(x, t)["W1"], plain.gradient(x, t)["W1"] + 0.5 * plain.params["W1"])


def test_accuracy_counts_argmax_hits():
    net = MultiLayerNet(2, [], 2, seed=0)
    net.params["W1"][...] = [[1, 0], [0, 1]]
    x = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0]])
    assert net.accuracy(x, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert net.accuracy(x, np.array([0, 1, 1]), batch_size=2) == pytest.approx(2 / 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_used_throughout(dtype, rng):
    net = MultiLayerNet(6, [5], 3, dtype=dtype, seed=0)
    grads = net.gradient(rng.standard_normal((4, 6)), np.array([0, 1, 2, 0]))
    assert all(p.dtype == dtype for p in net.params.values())
    assert all(g.dtype == dtype for g in grads.values())


def test_first_layer_skips_the_input_gradient():
    net = MultiLayerNet(6, [5], 3, seed=0)
    assert net.layers[0].input_grad is False and net.layers[-1].input_grad is True


def test_init_scales():
    assert init_scale("he", 50) == pytest.approx(np.sqrt(2 / 50))
    assert init_scale("xavier", 50) == pytest.approx(np.sqrt(1 / 50))
    assert init_scale(0.01, 50) == 0.01
    with pytest.raises(ValueError, match="weight_init_std"):
        init_scale("gauss", 3)


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        MultiLayerNet(3, [2], 2, activation="swish")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        MultiLayerNet(3, [2], 2, dtype=np.int32)
    with pytest.raises(ValueError, match="layer sizes must be positive"):
        MultiLayerNet(3, [0], 2)


def test_architecture_round_trip():
    for net in (TwoLayerNet(4, 3, 2), MultiLayerNet(4, [3, 3], 2, activation="tanh", dtype="float32")):
        rebuilt = build(net.config())
        assert type(rebuilt) is type(net) and rebuilt.config() == net.config()


# ---- networks from any spec of layers ---------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from chainrule.nets import LayerNet  # noqa: E402

#: layers without parameters a spec may start with (input dropout, pooling or flattening the images first, …)
LEADING = ["relu", "sigmoid", "tanh", "dropout(0.3)", "pool(2)", "avgpool(2)", "flatten", "bn"]


@st.composite
def specs(draw):
    """Images (C, H, W) and a spec that fits them: leading layers without weights, then convolutions (3×3, pad 1),
    pooling and batch norm while there are images, then affine layers, with activations and dropout anywhere; at
    most one batch norm per layer with weights (they are named after it)."""
    c, size = draw(st.integers(1, 2)), draw(st.integers(4, 8))
    parts, state = [], {"images": True, "size": size, "normalized": False}

    def add(name):
        pools = name.endswith("pool(2)")
        if name == "bn" and state["normalized"] or pools and (not state["images"] or state["size"] < 2):
            return
        parts.append(name)
        state["normalized"] |= name == "bn"
        state["images"] &= name != "flatten" and not name.startswith("affine")
        state["size"] //= 2 if pools else 1

    for name in draw(st.lists(st.sampled_from(LEADING), max_size=2)):
        add(name)
    for _ in range(draw(st.integers(1, 3))):
        conv = state["images"] and draw(st.booleans())
        state["normalized"] = False
        add(f"conv({draw(st.integers(1, 4))},3,pad=1)" if conv else f"affine({draw(st.integers(2, 6))})")
        for name in draw(st.lists(st.sampled_from(["bn", "relu", "tanh", "pool(2)", "dropout(0.3)"]), max_size=2)):
            add(name)
    return (c, size, size), "-".join(parts)


@settings(max_examples=40, deadline=None)
@given(specs(), st.integers(0, 2 ** 32 - 1))
def test_any_spec_trains_and_its_backprop_is_the_numerical_gradient(drawn, seed):
    """Whatever a spec starts with (ReLU, dropout, pooling, flatten or batch norm before the first weights), one
    training step runs and backprop's gradient of every parameter equals the numerical one (book §5.7, float64).
    A spec starting with a layer without weights used to fail in backward: the first Affine skips dL/dx of the
    data and handed the layers before it no dout."""
    shape, spec = drawn
    rng = np.random.default_rng(seed)
    net = LayerNet(shape, spec, 3, weight_init_std=0.5, seed=seed)
    x, t = rng.standard_normal((4, *shape)), rng.integers(0, 3, 4)
    grads = net.gradient(x, t)
    assert set(grads) == set(net.params) and all(np.isfinite(g).all() for g in grads.values())
    assert_gradients_match(gradient_check(net, x, t))


def test_a_spec_with_two_batch_norms_after_the_same_weights_is_refused_clearly():
    """A batch norm's γ and β carry the number of the conv or affine before it (the book's gamma1, beta1), so two
    in a row would share them: refused with the layer and the names, not "two parameters would be called …"."""
    for spec, names in (("bn-bn-affine(4)", "gamma0, beta0"), ("conv(4,3)-bn-relu-bn", "gamma1, beta1"),
                        ("affine(5)-bn-tanh-dropout(0.2)-bn", "gamma1, beta1")):
        with pytest.raises(ValueError, match=f"a second batch norm .*\\({names}\\)"):
            LayerNet((1, 6, 6), spec, 3)
    LayerNet((1, 6, 6), "bn-conv(4,3)-bn-relu-affine(8)-bn", 3)      # one after each: gamma0, gamma1, gamma2


def test_a_spec_without_convolutions_takes_rows_of_any_length():
    """A spec of affine layers, activations, batch norm and dropout needs no images: on the spiral's two
    coordinates it trains (it was refused: "a convolutional network needs images"); digits stay 1×8×8 images (an
    Affine flattens them), and a spec with a conv or a pooling on rows is still refused clearly."""
    from chainrule.nets import build_network
    net = build_network("affine(20)-bn-relu-dropout(0.1)", (2,), 3, dtype="float64", seed=0)
    assert net.input_dim == (2,) and net.params["W1"].shape == (2, 20)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 2)), rng.integers(0, 3, 5)
    assert_gradients_match(gradient_check(net, x, t))
    assert build_network("affine(20)-relu", (64,), 10).input_dim == (1, 8, 8)
    for spec in ("conv(4,3)-relu", "affine(8)-avgpool(2)"):
        with pytest.raises(ValueError, match="a convolutional network needs images; samples of shape \\(2,\\)"):
            build_network(spec, (2,), 3)


def test_accuracy_and_evaluate_need_one_label_per_sample():
    """x of 6 samples with 2 labels gave NumPy's "operands could not be broadcast"; with 8 labels, evaluate used
    the first 6 and said nothing. Both name the two counts now; one-hot rows still count as one label each."""
    rng = np.random.default_rng(0)
    net = MultiLayerNet(4, [5], 3, seed=0)
    x = rng.standard_normal((6, 4))
    for what, call in (("accuracy", net.accuracy), ("evaluate", net.evaluate)):
        for t in (np.array([0, 1]), np.arange(8) % 3, np.eye(3)[[0, 1]]):
            with pytest.raises(ValueError, match=f"MultiLayerNet.{what}: x holds 6 samples but t holds {len(t)} "
                                                 "labels"):
                call(x, t)
        with pytest.raises(ValueError, match=f"{what}: x has shape \\(4,\\); expected a batch"):
            call(x[0], np.array([1]))
    t = np.arange(6) % 3
    assert net.accuracy(x, np.eye(3)[t]) == net.accuracy(x, t) == net.evaluate(x, t)["accuracy"]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 5), st.sampled_from([np.nan, np.inf, 1e300, 1.0]), st.sampled_from(["float32", "float64"]))
def test_a_sample_without_finite_scores_gets_no_class(bad_row, value, dtype):
    """predict_classes, accuracy and evaluate give a class only from finite scores: a sample whose scores are inf
    or NaN (its inputs, or weights too large for them) is refused by number, never counted as class 0."""
    net = TwoLayerNet(4, 3, 2, dtype=dtype, seed=0)
    net.params["W1"][...] = 1e30 if value == 1.0 else net.params["W1"]     # 1.0: large weights overflow instead
    x = np.ones((6, 4))
    x[bad_row] = value if value != 1.0 else 1e20
    with np.errstate(all="ignore"):
        scores = net.predict(x.astype(dtype))
    t = np.zeros(6, dtype=int)
    if np.isfinite(scores).all():
        assert list(net.predict_classes(x)) == list(scores.argmax(axis=1))
        return
    first = int(np.argmin(np.isfinite(scores).all(axis=1)))
    for call in (lambda: net.predict_classes(x), lambda: net.accuracy(x, t), lambda: net.evaluate(x, t)):
        with pytest.raises(ValueError, match=rf"the scores of sample {first} are not finite"):
            call()


def test_the_books_multilayernetextend_arguments_build_the_same_network():
    """The book's chapter-6 call (use_dropout, dropout_ration in its spelling, weight_init_std='relu') builds the
    network chainrule's own arguments build: the same layers and, for the same seed, the same weights."""
    from chainrule.nets import MultiLayerNetExtend
    book = MultiLayerNetExtend(input_size=784, hidden_size_list=[100, 100], output_size=10, activation="relu",
                               weight_init_std="relu", weight_decay_lambda=0.1, use_dropout=True,
                               dropout_ration=0.2, use_batchnorm=True, seed=3)
    ours = MultiLayerNet(784, [100, 100], 10, weight_init_std="he", weight_decay_lambda=0.1, dropout_ratio=0.2,
                         use_batchnorm=True, seed=3)
    assert book.config() == ours.config() and [repr(a) for a in book.layers] == [repr(a) for a in ours.layers]
    assert all(np.array_equal(book.params[k], ours.params[k]) for k in ours.params)
    assert MultiLayerNetExtend(4, [3], 2, use_dropout=True).dropout_ratio == 0.5        # the book's default
    assert MultiLayerNetExtend(4, [3], 2, use_dropout=False, dropout_ration=0.3).dropout_ratio == 0.0
    with pytest.raises(ValueError, match="not both"):
        MultiLayerNetExtend(4, [3], 2, use_dropout=True, dropout_ratio=0.2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["conv(2,1,pad={})", "conv({},1)", "affine({})", "pool(2,pad=1)-conv(3,1,pad={})",
                        "conv(2,{},pad=1)"]),
       st.integers(0, 14).flatmap(lambda k: st.integers(10 ** k, 10 ** (k + 1))))     # every decade alike
def test_a_huge_spec_is_refused_in_words_never_by_an_overflow(monkeypatch, template, n):
    """Sizes are counted in Python integers: a pad of 10¹² made NumPy's int64 product of the shapes wrap to a
    negative number ("negative dimensions are not allowed", and a RuntimeWarning from a square root)."""
    import warnings
    monkeypatch.setenv("CHAINRULE_MEMORY_LIMIT", "64M")      # whatever fits is built: keep that small
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            LayerNet((1, 8, 8), template.format(n), 3, seed=0)
        except ValueError as e:
            assert "negative dimensions" not in str(e)
            assert re.search(r"would hold more than|would need about|do not fit|does not fit|must be", str(e)), str(e)


@pytest.mark.parametrize("spec,message", [
    ("conv(16,3,size=5)", "'conv(16,3,size=5)': size given twice"),            # was built with size 5, silently
    ("bn(3)", "'bn(3)': bn takes no numbers; write bn"),
    ("affine(1,2)", "'affine(1,2)': affine takes at most 1 number (size), e.g. affine(100)"),
    ("affine(10)--relu", "layer 2 is empty (two '-' in a row"),
    ("conv(4,3))-relu", "the parentheses do not pair up"),
    ("conv(pad=1,4,3)", "cannot read the arguments; expected numbers, then options such as pad=1"),
    ("conv(nan,3)", "'conv(nan,3)': the arguments must be numbers, e.g. conv(16,3,pad=1)"),
    ("relu(size=2)", "'relu(size=2)': relu takes no numbers; write relu"),
    ("avgpool(2)-conv(4,0)", "layer 2 (conv on inputs of shape (1, 4, 4)): conv size must be a positive integer"),
    ("pool(2)-pool(2)-pool(2)-pool(2)", "layer 4 (pool on inputs of shape (1, 1, 1)): pool: a 2×2 window does not"),
    ("affine(4)-relu-pool(1,1,1)", "layer 3 (pool on inputs of shape (4,)): pool needs images"),
    ("conv(4,3)-pool(1,1,1)", "layer 2 (pool on inputs of shape (4, 6, 6)): Pooling: pad 1 is more than half the"),
])
def test_a_wrong_spec_is_refused_naming_the_layer_and_what_it_expects(spec, message):
    """A number given in its place and again by name (conv(16,3,size=5)) built a 5×5 convolution silently; the
    other refusals said 'takes at most 0 numbers', showed 'e.g. relu(2)' for a layer that takes none, or did not
    say which of several convolutions was wrong."""
    from chainrule.nets import build_network
    with pytest.raises(ValueError, match=re.escape(message)):
        build_network(spec, (1, 8, 8), 10)


SPEC_WORDS = ["conv", "pool", "maxpool", "avgpool", "affine", "relu", "sigmoid", "tanh", "bn", "dropout", "flatten",
              "foo", ""]
SPEC_NUMBERS = ["0", "1", "2", "3", "-1", "0.5", "1e9", "True", "None", "'a'", "[1]", "2**3", "3j", "nan", "1_0"]


@st.composite
def any_spec(draw):
    """Text people might type as a spec: right and wrong layer names, numbers, options and punctuation."""
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        name = draw(st.sampled_from(SPEC_WORDS))
        if draw(st.booleans()):
            args = draw(st.lists(st.one_of(st.sampled_from(SPEC_NUMBERS), st.builds(
                "{}={}".format, st.sampled_from(["pad", "stride", "size", "ratio", "mode"]),
                st.sampled_from(SPEC_NUMBERS))), max_size=3))
            name += "(" + ",".join(args) + draw(st.sampled_from([")", ")", ")", "", "))"]))
        layers.append(name)
    return "-".join(layers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_spec(), st.sampled_from([(1, 8, 8), (64,), (2, 5, 7)]))
def test_any_text_as_a_spec_builds_a_network_that_learns_or_is_refused_in_one_line(spec, shape):
    """Property: a spec either builds a network whose gradients on a batch are finite, or is refused with a
    ValueError of one line that quotes the spec's wrong part or numbers the layer; never another exception."""
    from chainrule.nets import build_network
    try:
        net = build_network(spec, shape, 4, seed=0)
    except ValueError as e:
        text = str(e)
        assert "\n" not in text and len(text) < 400, text
        assert "layer " in text or "'" in text or "images" in text, text
        return
    x = np.random.default_rng(0).random((3, *shape))
    grads = net.gradient(x, np.array([0, 1, 3]))
    assert all(np.all(np.isfinite(g)) for g in grads.values()), spec
