"""Convolution and pooling (book chapter 7): gradient checks on random shapes, strides and paddings, the book's
im2col/col2im, ties in max pooling, dtypes, errors, graphs, networks of any layers and their model files."""
import numpy as np
import pytest

from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule.layers.convolution as convolution_module
from chainrule import kernels, parallel
from chainrule import Variable, model_io
from chainrule.cli import main
from chainrule.gradcheck import gradient_check
from chainrule.im2col import col2im, im2col
from chainrule.layers import Convolution, Flatten, Pooling
from chainrule.nets import DeepConvNet, LayerNet, SimpleConvNet, build, parse_spec, planned_state
from conftest import assert_gradients_match

R = np.random.default_rng(2024)


def direct_convolution(x, W, b, stride, pad):
    """The definition, loop by loop: a reference for the fast paths."""
    n, c, h, w = x.shape
    fn, _, fh, fw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    out = np.zeros((n, fn, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw]
            out[:, :, i, j] = np.tensordot(window, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


CONV_CASES = [  # N, C, H, W, FN, FH, FW, stride, pad
    (2, 1, 7, 6, 3, 3, 3, 1, 0), (2, 3, 8, 8, 4, 3, 3, 2, 1), (1, 2, 5, 7, 2, 5, 3, 1, 2), (3, 4, 6, 6, 2, 3, 3, 1, 1),
    (2, 8, 5, 5, 3, 2, 2, 1, 0), (2, 16, 6, 5, 3, 3, 3, 1, 2), (1, 4, 9, 9, 2, 3, 3, 3, 0), (2, 5, 4, 4, 3, 4, 4, 1, 1)]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "N{}C{}H{}W{}F{}k{}x{}s{}p{}".format(*c))
def test_convolution_gradcheck_and_definition(case):
    n, c, h, w, fn, fh, fw, stride, pad = case
    layer = Convolution(R.standard_normal((fn, c, fh, fw)), R.standard_normal(fn), stride, pad)
    x = R.standard_normal((n, c, h, w))
    np.testing.assert_allclose(layer.forward(x), direct_convolution(x, layer.W, layer.b, stride, pad), atol=1e-12)
    report = gradient_check(layer, x)
    assert_gradients_match(report)
    assert list(report) == ["x", "W", "b"] and report["x"].shape == x.shape


def direct_convolution_backward(x, W, dout, stride, pad):
    """dX, dW, db by the definition of Y: each output's dout times what it was made of, added up."""
    n, c, h, w = x.shape
    fn, _, fh, fw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + fh), slice(j * stride, j * stride + fw)
            dW += np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], W, axes=([1], [0]))
    return dxp[:, :, pad:pad + h, pad:pad + w], dW, dout.sum(axis=(0, 2, 3))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 5), st.integers(1, 9), st.integers(1, 9), st.integers(1, 6),
       st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3),
       st.integers(0, 2 ** 32 - 1))
def test_convolution_is_its_definition_on_any_slicing_of_the_batch(n, c, h, w, fn, fh, fw, stride, pad, threads,
                                                                  seed):
    """Y, dX, dW and db equal the definition, loop by loop, on random shapes, strides and pads, however the batch is
    cut into slices, on however many threads (the slices are taken as small as one image here), whichever way
    the windows are copied (long runs over wide rows, or row by row) and dW is multiplied (one product per slice
    or one per image); and the numbers do not depend on the number
    of threads at all, to the last bit."""
    assume(h + 2 * pad >= fh and w + 2 * pad >= fw)
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn)
    layer = Convolution(W, b, stride, pad)
    results = []
    for count, wide, one_product in ((1, True, None), (threads, True, None), (threads, False, 10 ** 9), (1, True, 0)):
        parallel.set_threads(count)
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(parallel, "SLICE_BYTES", 1)               # one image per slice
                mp.setattr(parallel, "PARALLEL_MIN_BYTES", 0)        # threads even for tiny batches
                if not wide:                                         # the short-run window copy, at stride 1 too
                    mp.setattr(Convolution, "_wide", lambda self, ow: False)
                if one_product is not None:                          # dW image by image, or as one product
                    mp.setattr(convolution_module, "ONE_PRODUCT_MIN_WINDOW", one_product)
                y = layer.forward(x)
                dout = np.random.default_rng(seed + 1).standard_normal(y.shape)
                dx = layer.backward(dout)
        finally:
            parallel.set_threads(None)
        results.append((y, dx, layer.dW, layer.db))
    dx_ref, dW_ref, db_ref = direct_convolution_backward(x, W, dout, stride, pad)
    for result in (results[0], results[2], results[3]):              # every way of copying and multiplying
        for got, want in zip(result, (direct_convolution(x, W, b, stride, pad), dx_ref, dW_ref, db_ref)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    for one, more in zip(results[0], results[1]):
        np.testing.assert_array_equal(one, more)


def test_the_books_im2col_and_col2im():
    x = R.standard_normal((2, 3, 7, 7))
    col = im2col(x, 5, 5, stride=1, pad=0)
    assert col.shape == (2 * 3 * 3, 75)                          # the book's (N·OH·OW, C·FH·FW)
    np.testing.assert_array_equal(col[0], x[0, :, 0:5, 0:5].ravel())
    np.testing.assert_array_equal(col[4], x[0, :, 1:6, 1:6].ravel())
    counts = col2im(np.ones_like(col), x.shape, 5, 5)            # how many windows cover each pixel
    assert counts[0, 0, 0, 0] == 1 and counts[0, 0, 3, 3] == 9 and counts.shape == x.shape
    # col2im is im2col's adjoint: <im2col x, d> = <x, col2im d>
    d = R.standard_normal(col.shape)
    assert np.isclose(np.sum(im2col(x, 5, 5) * d), np.sum(x * col2im(d, x.shape, 5, 5)))


POOL_CASES = [(2, 3, 6, 6, 2, 2, 2, 0, "max"), (2, 2, 7, 5, 3, 2, 1, 1, "max"), (1, 2, 7, 7, 3, 3, 2, 1, "max"),
              (2, 2, 6, 6, 2, 2, 2, 0, "average"), (1, 2, 7, 7, 3, 3, 2, 1, "average"), (2, 2, 7, 7, 2, 2, 2, 0, "max")]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "{}x{}x{}x{}-pool{}x{}-s{}-p{}-{}".format(*c))
def test_pooling_gradcheck(case):
    n, c, h, w, ph, pw, stride, pad, mode = case
    x = R.standard_normal((n, c, h, w))
    layer = Pooling(ph, pw, stride, pad, mode)
    out = layer.forward(x)
    fill = -np.inf if mode == "max" else 0.0
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    reduce = np.max if mode == "max" else np.mean
    expected = np.array([[[[reduce(padded[i, ch, a * stride:a * stride + ph, b * stride:b * stride + pw])
                            for b in range(out.shape[3])] for a in range(out.shape[2])] for ch in range(c)]
                         for i in range(n)])
    np.testing.assert_allclose(out, expected)
    assert_gradients_match(gradient_check(layer, x))


def test_max_pooling_ties_go_to_the_first_maximum_in_row_major_order():
    layer = Pooling(2, 2, 2)
    for window, position in (([[1.0, 1.0], [0.0, 1.0]], 0), ([[0.0, 2.0], [2.0, 2.0]], 1), ([[0, 0], [3, 3]], 2)):
        layer.forward(np.array([[window]], dtype=float))
        dx = layer.backward(np.array([[[[5.0]]]]))
        assert dx.ravel().tolist() == [5.0 if k == position else 0.0 for k in range(4)]
    x = np.zeros((1, 1, 4, 4))
    report = gradient_check(layer, x)                            # every window is a tie: all kinks, none compared
    assert report["x"].kinks == 16 and report["x"].compared == 0


@pytest.mark.parametrize("layer", [lambda: Convolution(np.ones((2, 3, 3, 3), np.float32), np.zeros(2, np.float32)),
                                   lambda: Pooling(2, 2, 2), lambda: Pooling(2, 2, 2, mode="average"),
                                   lambda: Flatten()])
def test_dtypes_are_kept(layer):
    x = R.standard_normal((2, 3, 6, 6)).astype(np.float32)
    obj = layer()
    y = obj.forward(x)
    assert y.dtype == np.float32
    dx = obj.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape
    if hasattr(obj, "dW"):
        assert obj.dW.dtype == np.float32 and obj.db.dtype == np.float32


@pytest.mark.parametrize("make,x,message", [
    (lambda: Convolution(np.ones((2, 3, 3, 3)), np.zeros(2)), np.ones((2, 3, 5)),
     r"Convolution: x has shape \(2, 3, 5\)"),
    (lambda: Convolution(np.ones((2, 3, 3, 3)), np.zeros(2)), np.ones((2, 4, 5, 5)),
     r"Convolution: x has shape \(2, 4, 5, 5\) but W has shape \(2, 3, 3, 3\); "
     r"expected images of shape \(N, 3, H, W\)"),
    (lambda: Convolution(np.ones((2, 1, 5, 5)), np.zeros(2)), np.ones((2, 1, 3, 3)),
     r"Convolution: images of 3×3 with pad 0 are smaller than the 5×5 filters"),
    (lambda: Pooling(3, 3, 3), np.ones((1, 1, 2, 2)), r"Pooling: images of 2×2 with pad 0 are smaller than the 3×3"),
    (lambda: Pooling(2, 2), np.ones((4, 4)), r"Pooling: x has shape \(4, 4\); expected images"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2)), np.ones((0, 1, 5, 5)), "an empty batch"),
])
def test_bad_shapes_name_the_layer(make, x, message):
    with pytest.raises(ValueError, match=message):
        make().forward(x)


def test_bad_construction():
    with pytest.raises(ValueError, match=r"Convolution: W must be 4-D"):
        Convolution(np.ones((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"Convolution: b has shape \(3,\); expected \(2,\)"):
        Convolution(np.ones((2, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="stride must be an integer ≥ 1"):
        Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), stride=0)
    with pytest.raises(ValueError, match="mode must be 'max' or 'average'"):
        Pooling(2, 2, mode="median")


def test_a_small_cnn_is_a_graph_with_parameter_leaves():
    conv = Convolution(R.standard_normal((2, 1, 3, 3)), np.zeros(2))
    x = Variable(R.standard_normal((2, 1, 6, 6)))
    out = Flatten()(Pooling(2, 2, 2)(conv(x))).sum()
    out.backward()
    hand = Convolution(conv.W, conv.b)
    pool, flat = Pooling(2, 2, 2), Flatten()
    y = flat.forward(pool.forward(hand.forward(x.data)))
    hand.backward(pool.backward(flat.backward(np.ones_like(y))))
    np.testing.assert_allclose(conv.parameters["W"].grad, hand.dW)
    np.testing.assert_allclose(conv.parameters["b"].grad, hand.db)


def test_simple_conv_net_has_the_books_structure():
    net = SimpleConvNet(seed=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)}
    assert 0.008 < net.params["W1"].std() < 0.012                 # the book's weight_init_std = 0.01
    small = SimpleConvNet((1, 10, 10), {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}, 8, 4,
                          weight_init_std=0.3, seed=0)
    x, t = R.random((3, 1, 10, 10)), np.array([0, 1, 3])
    assert_gradients_match(gradient_check(small, x, t))
    np.testing.assert_array_equal(small.predict(x), small.predict(x.reshape(3, 100)))  # rows read as images


def test_deep_conv_net_has_the_books_structure():
    net = DeepConvNet(seed=0)
    assert [net.params[f"W{i}"].shape for i in range(1, 9)] == [
        (16, 1, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3), (64, 32, 3, 3), (64, 64, 3, 3), (1024, 50),
        (50, 10)]
    assert np.sqrt(2 / (16 * 9)) * 0.9 < net.params["W2"].std() < np.sqrt(2 / (16 * 9)) * 1.1   # He per layer
    assert sum(type(layer).__name__ == "Dropout" for layer in net.layers) == 2


def test_layer_specs_parse_and_refuse_clearly():
    assert parse_spec("conv(8,3,pad=1)-relu-pool(2)-affine(10)") == [
        ("conv", {"filters": 8, "size": 3, "pad": 1}), ("relu", {}), ("pool", {"mode": "max", "size": 2}),
        ("affine", {"size": 10})]
    for bad, message in (("conv(8)", "conv needs size"), ("wibble", "is not a layer"), ("pool(2,2,2,2)", "at most 3"),
                         ("conv(a,3)", "must be numbers"), ("conv(8,3,bias=1)", "has no option bias")):
        with pytest.raises(ValueError, match=message):
            parse_spec(bad)
    with pytest.raises(ValueError, match="conv needs images"):
        LayerNet((1, 8, 8), "affine(10)-conv(4,3)", 3)


def test_cnn_model_files_round_trip_and_are_planned_before_allocation(tmp_path):
    net = LayerNet((1, 8, 8), "conv(4,3,pad=1)-bn-relu-pool(2)-affine(16)-relu", 10, seed=0)
    x = R.random((5, 64))
    net.gradient(x, np.arange(5))
    loaded, _ = model_io.load_model(model_io.save_model(tmp_path / "m.npz", net))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert build(net.config()).config() == net.config()
    assert planned_state(SimpleConvNet(seed=0).config())["W2"] == (4320, 100)
    deep, _ = model_io.load_model(model_io.save_model(tmp_path / "d.npz", DeepConvNet(seed=1)))
    assert isinstance(deep, DeepConvNet)


def test_cli_trains_predicts_and_checks_cnns(tmp_path, capsys):
    assert main(["train", "--arch", "simple-cnn", "--epochs", "2", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SimpleConvNet 1×8×8-conv(30,5)-relu-pool(2)-affine(100)-relu-affine(10)" in out
    assert main(["predict", str(tmp_path / "model.npz")]) == 0
    assert "digits test: 359 samples, accuracy" in capsys.readouterr().out
    assert main(["gradcheck", "--arch", "conv(3,3,pad=1)-relu-pool(2)-affine(8)-relu", "--samples", "2"]) == 0
    assert "ok:" in capsys.readouterr().out
    assert main(["graph", str(tmp_path / "model.npz"), "--explain"]) == 0
    assert "conv" in capsys.readouterr().out


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(2, 7), st.integers(1, 3), st.integers(1, 3), st.integers(0, 1),
       st.integers(0, 2 ** 32 - 1))
def test_max_pooling_in_inference_finds_its_winners_only_when_backward_asks(n, c, h, pool, stride, pad, seed):
    """In inference, forward keeps no winners (it only takes the maxima); a backward that follows anyway (a graph
    recorded in eval mode, a gradient check) finds them then: the same outputs, winners and dx as in training,
    ties (small integers) included."""
    from chainrule import eval_mode
    assume(h + 2 * pad >= pool and 2 * pad <= pool)
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (n, c, h, h)).astype(float)
    trained, inferred = Pooling(pool, pool, stride, pad), Pooling(pool, pool, stride, pad)
    y = trained.forward(x)
    kernels.use(False)              # the compiled 2×2 loop finds the winners anyway, in the same pass
    try:
        with eval_mode():
            y_eval = inferred.forward(x)
    finally:
        kernels.use(None)
    assert inferred.arg is None
    np.testing.assert_array_equal(y_eval, y)
    dout = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(inferred.backward(dout), trained.backward(dout))
    np.testing.assert_array_equal(inferred.kink_state(), trained.kink_state())
