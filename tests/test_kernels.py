"""The compiled loops (chainrule.kernels, with numba) give NumPy's numbers to the last bit: ReLU, the book's 2×2
max pooling and batch normalisation over channels, forward and backward, in training and in inference, on random
batches with NaN, ±∞, −0 and ties."""
from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule import eval_mode, kernels, parallel
from chainrule.layers import BatchNormalization, Pooling, Relu, SoftmaxWithLoss

from bits import same_bits

pytest.importorskip("numba")

DTYPES = st.sampled_from(["float32", "float64"])
SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 2.0]


def batch(rng, shape, dtype):
    """Normal numbers with special values and ties (small integers) mixed in."""
    x = rng.standard_normal(shape)
    ties = rng.random(shape) < 0.3
    x[ties] = rng.integers(-2, 3, int(ties.sum()))
    pick = rng.random(shape) < 0.25
    x[pick] = rng.choice(SPECIAL, size=int(pick.sum()))
    return x.astype(dtype)


def both_ways(fn, split=True):
    """fn() with the compiled loops, then with NumPy alone; with ``split`` every layer split, on 2 threads, else
    on the calling thread as outside a convolutional network (∞ · 0 is NaN in both, and NumPy warns of it: not
    here)."""
    results = []
    for on in (None, False):
        kernels.use(on)
        try:
            with pytest.MonkeyPatch.context() as mp, np.errstate(invalid="ignore"), \
                    (parallel.own_threads() if split else nullcontext()):
                mp.setattr(parallel, "PARALLEL_MIN_BYTES", 0 if split else parallel.PARALLEL_MIN_BYTES)
                results.append(fn())
        finally:
            kernels.use(None)
    return results


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), DTYPES, st.booleans(), st.booleans(),
       st.integers(0, 2 ** 32 - 1))
def test_compiled_relu_is_numpys_relu(shape, dtype, split, transposed, seed):
    """ReLU y = max(x, 0), its mask [x > 0] and dx = dout ∘ mask: the same bits with the compiled loop as with
    NumPy, for batches of 1 to 4 dimensions, split over the threads or not (an MLP's small layers take the
    compiled loop too), and for transposed views (which take NumPy's path)."""
    rng = np.random.default_rng(seed)
    x, dout = batch(rng, shape, dtype), batch(rng, shape, dtype)
    if transposed:
        x, dout = x.T, dout.T

    def run():
        layer = Relu()
        y = layer.forward(x)
        return y, layer.mask.copy(), layer.backward(dout)

    assert kernels.get(x) is not None
    for compiled, numpy_ in zip(*both_ways(run, split)):
        same_bits(compiled, numpy_)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.integers(0, 1),
       st.integers(0, 1), DTYPES, st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_compiled_max_pooling_is_numpys_max_pooling(n, c, oh, ow, odd_h, odd_w, dtype, inference, seed):
    """Outputs, winners (the first of equal largest; NaN as NumPy's tournament has it) and dx, where an infinite
    or NaN dout times a losing position is NaN as in NumPy's product; with an odd height or width, the last row
    or column is in no window (7 × 7 pools to 3 × 3) and its dx is 0."""
    rng = np.random.default_rng(seed)
    x, dout = batch(rng, (n, c, 2 * oh + odd_h, 2 * ow + odd_w), dtype), batch(rng, (n, c, oh, ow), dtype)

    def run():
        layer = Pooling(2, 2, stride=2)
        if inference:
            with eval_mode():
                y = layer.forward(x)
        else:
            y = layer.forward(x)
        return y, layer.kink_state().copy(), layer.backward(dout)

    for compiled, numpy_ in zip(*both_ways(run)):
        same_bits(compiled, numpy_)


def test_the_compiled_loops_stay_out_of_what_they_do_not_cover():
    """Other windows, pads, other dtypes and switched off: the NumPy path (None here)."""
    x = np.zeros((2, 1, 4, 4), np.float32)
    assert kernels.get(x) is not None and kernels.get(x.astype(np.float16)) is None
    assert kernels.get(x.astype(np.int64)) is None
    layer = Pooling(2, 2, stride=2)
    layer.forward(x)
    assert layer._compiled(x) is not None
    for other, shape in ((Pooling(3, 3, stride=3), (2, 1, 6, 6)), (Pooling(2, 2, stride=1), (2, 1, 4, 4)),
                         (Pooling(2, 2, stride=2, pad=1), (2, 1, 4, 4)),
                         (Pooling(2, 2, stride=2, mode="average"), (2, 1, 4, 4))):
        data = np.zeros(shape, np.float32)
        other.forward(data)
        assert other._compiled(data) is None
    kernels.use(False)
    try:
        assert kernels.get(x) is None
    finally:
        kernels.use(None)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 8), st.integers(1, 12), DTYPES, st.sampled_from([0.0, 0.2]), st.floats(0.1, 1e3),
       st.sampled_from(["int64", "int32", "uint8"]), st.integers(0, 2 ** 32 - 1))
def test_compiled_softmax_with_loss_is_the_rule_to_rounding(n, c, dtype, special, spread, label_dtype, seed):
    """SoftmaxWithLoss with labels as indices (book §5.6.3): y = exp(x − max) / Σ exp(x − max) and
    L = −(1/N) Σ log y[t], compiled and in NumPy, both within a few rounding errors of float64 arithmetic on
    the same logits (their sums run in another order); NaN and ±∞ give NaN in the same places. The backward,
    dx = (y − t)/N, is the same operations on the same y: the same bits."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * spread).astype(dtype)
    pick = rng.random((n, c)) < special
    x[pick] = rng.choice([np.nan, np.inf, -np.inf, -0.0], size=int(pick.sum()))
    t = rng.integers(0, c, n).astype(label_dtype)
    eps = float(np.finfo(dtype).eps)

    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        shifted = x64 - x64.max(axis=1, keepdims=True)
        log_s = np.log(np.exp(shifted).sum(axis=1))
    y_exact = np.exp(shifted - log_s[:, None])
    terms = log_s - shifted[np.arange(n), t]
    loss_exact, size = terms.mean(), np.abs(log_s).mean() + np.abs(shifted[np.arange(n), t]).mean() + 1

    results = []
    for on in (None, False):
        kernels.use(on)
        try:
            layer = SoftmaxWithLoss()
            with np.errstate(invalid="ignore"):
                loss = layer.forward(x, t)
            results.append((layer, loss))
        finally:
            kernels.use(None)
    for layer, loss in results:
        assert loss.dtype == np.dtype(dtype) and layer.y.dtype == np.dtype(dtype)
        assert np.isnan(loss) == np.isnan(loss_exact)
        if np.isfinite(loss_exact):
            assert abs(float(loss) - loss_exact) <= 16 * eps * size * (c + 1)
        elif not np.isnan(loss_exact):   # a label whose logit is −∞: an infinite loss in both
            assert float(loss) == loss_exact
        np.testing.assert_array_equal(np.isnan(layer.y), np.isnan(y_exact))
        np.testing.assert_allclose(layer.y, y_exact, rtol=8 * c * eps, atol=8 * eps, equal_nan=True)

    compiled_layer = results[0][0]
    dx = []
    for on in (None, False):
        kernels.use(on)
        try:
            dx.append(compiled_layer.backward(1.0))
        finally:
            kernels.use(None)
    same_bits(*dx)


def test_a_slow_compile_is_told_once_per_dtype_and_a_load_from_the_cache_is_not(monkeypatch):
    """``kernels.compile_notices``: a convolution loop that takes longer than SLOW_COMPILE_SECONDS to be ready was
    compiled (not loaded from numba's disk cache), and whoever listens hears it once for that dtype."""
    import time

    ready_in = {"forward_8x8": 0.3, "forward_16x8": 0.0}

    def compile_(name, dtype):
        time.sleep(ready_in.get(name, 0.0))
        return object()
    monkeypatch.setattr(kernels, "_compile", compile_)
    monkeypatch.setattr(kernels, "_conv", {})
    monkeypatch.setattr(kernels, "_told", set())
    monkeypatch.setattr(kernels, "SLOW_COMPILE_SECONDS", 0.1)
    heard = []
    with kernels.compile_notices(heard.append):
        kernels._loop("forward_16x8", np.dtype(np.float32))                 # as fast as a load: nothing said
        assert heard == []
        kernels._loop("forward_8x8", np.dtype(np.float32))
        kernels._loop("forward_8x8", np.dtype(np.float32))                  # compiled already: nothing to wait for
        ready_in["forward_16x16"] = 0.3
        kernels._loop("forward_16x16", np.dtype(np.float32))                # slow again, the same dtype: said once
        kernels._loop("forward_8x8", np.dtype(np.float64))
    assert len(heard) == 2 and "float32" in heard[0] and "float64" in heard[1], heard
    assert "compiling" in heard[0] and "once" in heard[0]
    kernels._loop("forward_16x16", np.dtype(np.float64))                    # nobody listening any more
    assert len(heard) == 2


def test_the_trainer_says_it_is_compiling_before_a_first_batch_that_waits(monkeypatch, capsys):
    """A CNN's first batch that waits for numba gets one line on stderr, not a silent minute."""
    from chainrule import optimizers
    from chainrule.nets import SimpleConvNet
    from chainrule.training.trainer import Trainer
    monkeypatch.setattr(kernels, "_conv", {})
    monkeypatch.setattr(kernels, "_told", set())
    monkeypatch.setattr(kernels, "SLOW_COMPILE_SECONDS", -1.0)    # every loop counts as compiled, not loaded
    rng = np.random.default_rng(0)
    net = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 8, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=8, output_size=3, dtype=np.float32, seed=0)
    x, t = rng.random((20, 1, 10, 10), dtype=np.float32), rng.integers(0, 3, 20)
    Trainer(net, optimizers.SGD(0.1), x, t, epochs=1, batch_size=10, progress=False, verbose=True).train()
    err = capsys.readouterr().err
    assert err.count("compiling chainrule's convolution loops for float32") == 1, err
    monkeypatch.setattr(kernels, "_conv", {})
    monkeypatch.setattr(kernels, "_told", set())
    Trainer(net, optimizers.SGD(0.1), x, t, epochs=1, batch_size=10, progress=False, verbose=False).train()
    assert "compiling" not in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 9), st.integers(1, 6), st.integers(1, 6), DTYPES, st.booleans(),
       st.booleans(), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_compiled_batch_norm_over_channels_is_numpys(n, c, h, w, dtype, special, inference, split, seed):
    """Spatial batch normalisation (images, one γ per channel): y, x̂, the running statistics, dx, dγ and dβ are the
    same bits with the compiled loops as with NumPy's passes, in training and inference, on one thread or split."""
    assume(inference or n * h * w >= 2)
    rng = np.random.default_rng(seed)
    x = (batch(rng, (n, c, h, w), dtype) if special else rng.standard_normal((n, c, h, w)).astype(dtype)) * 3 + 1
    dout = batch(rng, x.shape, dtype) if special else rng.standard_normal(x.shape).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    mean, var = rng.standard_normal(c).astype(dtype), rng.random(c).astype(dtype) + 0.5

    def run():
        layer = BatchNormalization(gamma.copy(), beta.copy(), running_mean=mean.copy(), running_var=var.copy())
        y = layer.forward(x, train_flg=not inference)
        dx = layer.backward(dout)
        return y, layer.xn, layer.running_mean, layer.running_var, dx, layer.dgamma, layer.dbeta

    for a, b in zip(*both_ways(run, split)):
        same_bits(a, b)


def test_batch_norm_takes_the_compiled_loops_only_for_images_over_channels(monkeypatch):
    """One γ per channel of images: the loops. One γ per value (the book's way, (N, D)): NumPy's passes, as before;
    γ of another dtype than the images: NumPy's passes forward (they promote), the loop backward (all float64)."""
    calls = []
    loops = dict(kernels.get(np.zeros(1)))
    for name in ("subtract_per_channel", "normalize_and_scale", "batch_norm_dx"):
        monkeypatch.setitem(loops, name, (lambda f, name: lambda *a: (calls.append(name), f(*a)))(loops[name], name))
    monkeypatch.setattr(kernels, "get", lambda *arrays: loops)
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 5))
    for layer, expected in ((BatchNormalization(np.ones(3), np.zeros(3)),
                             ["subtract_per_channel", "normalize_and_scale", "batch_norm_dx"]),
                            (BatchNormalization(np.ones(75), np.zeros(75)), []),
                            (BatchNormalization(np.ones(3, np.float32), np.zeros(3, np.float32)), ["batch_norm_dx"])):
        calls.clear()
        y = layer.forward(x, train_flg=True)
        assert y.dtype == np.float64
        layer.backward(np.ones_like(y))
        assert calls == expected, (layer, calls)
