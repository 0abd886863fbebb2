"""Inference of a convolutional network runs depth first (``Network._predict_by_slices``): the batch is cut into
slices fixed by its size, and each slice goes through every layer on one core while it is in that core's cache.
The promise, on random networks and batches with NaN and ±∞: the scores of the layers run one by one over the
whole batch (to rounding: an Affine's product over fewer rows may round differently), NaN and ±∞ in the same
places; the same bits on one thread as on two; Dropout and BatchNorm in inference mode on every thread, the
helper threads included; the network's own layers left as they were."""
import threading

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule import eval_mode, parallel
from chainrule.nets import LayerNet, network

from bits import same_bits

SPECIAL = [np.nan, np.inf, -np.inf, -0.0]
CONV = st.tuples(st.sampled_from([4, 8, 16]), st.sampled_from([1, 3]), st.integers(0, 1), st.booleans(),
                 st.sampled_from(["", "pool(2)", "avgpool(2)"]), st.booleans())


def layer_by_layer(net, x):
    """The scores with each layer's forward over the whole batch, in inference mode."""
    with eval_mode():
        for layer in net.layers:
            x = layer.forward(x)
    return x


def on_fresh_threads(task, n, sample_bytes, slice_bytes=None, min_slices=parallel.MIN_SLICES):
    """parallel.over_batch with every slice on a new thread, which starts (as chainrule's helpers do) in a context
    of its own: no eval_mode() block around it."""
    parts = parallel.slices(n, sample_bytes, slice_bytes, min_slices)
    results = [None] * len(parts)

    def run(k, lo, hi):
        results[k] = task(lo, hi)
    threads = [threading.Thread(target=run, args=(k, lo, hi)) for k, (lo, hi) in enumerate(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NaN and ∞ in products
@settings(max_examples=20, deadline=None)
@given(st.lists(CONV, min_size=2, max_size=3), st.integers(2, 24), st.integers(6, 12),
       st.sampled_from(["float32", "float64"]), st.booleans(), st.sampled_from([1 << 10, 1 << 14, 1 << 20]),
       st.integers(0, 2 ** 32 - 1))
def test_inference_by_slices_is_the_layer_by_layer_inference(convs, n, size, dtype, special, slice_bytes, seed):
    parts, side = [], size
    for filters, k, pad, relu, pool, norm in convs:
        parts += [f"conv({filters},{k},pad={pad})"] + ["batchnorm"] * norm + ["relu"] * relu + [pool] * bool(pool)
        side = side + 2 * pad - k + 1
        assume(side >= 1)                        # images that every layer fits
        if pool:
            assume(side >= 2)
            side //= 2
    spec = "-".join(parts + ["affine(9)", "relu", "dropout(0.5)"])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, size, size)).astype(dtype)
    if special:
        pick = rng.random(x.shape) < 0.03
        x[pick] = rng.choice(SPECIAL, size=int(pick.sum()))
    net = LayerNet((2, size, size), spec, 5, dtype=dtype, seed=seed % 1000)
    for layer in net.layers:                     # batch-norm statistics that are not the identity's
        if hasattr(layer, "running_mean"):
            layer.running_mean[...] = rng.standard_normal(layer.running_mean.shape)
            layer.running_var[...] = rng.random(layer.running_var.shape) + 0.5
    with pytest.MonkeyPatch.context() as mp, np.errstate(all="ignore"):
        mp.setattr(network, "INFERENCE_SLICE_BYTES", slice_bytes)
        mp.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
        want = layer_by_layer(net, x)
        got = {}
        for threads in (1, 2):
            parallel.set_threads(threads)
            try:
                with eval_mode():
                    got[threads] = net.predict(x)
            finally:
                parallel.set_threads(None)
        mp.setattr(parallel, "over_batch", on_fresh_threads)
        got["fresh"] = net.predict(x)            # predict's own default: inference
    same_bits(got[1], got[2])                    # the slices are the batch's, not the threads'
    same_bits(got[1], got["fresh"])              # helper threads run in inference mode too
    assert got[1].dtype == np.dtype(dtype) and got[1].shape == want.shape
    for special_value in (np.isnan, np.isposinf, np.isneginf):
        assert np.array_equal(special_value(got[1]), special_value(want))
    finite = np.isfinite(want)
    rtol = 1e-4 if dtype == "float32" else 1e-11
    scale = max(1.0, float(np.abs(want[finite]).max())) if finite.any() else 1.0
    np.testing.assert_allclose(got[1][finite], want[finite], rtol=rtol, atol=rtol * scale)


def test_inference_by_slices_leaves_the_layers_it_copied_as_they_were():
    """The slices run copies of the layers before the first Affine (which share their parameters): what those of
    the network kept from a training forward is still there, the very same arrays; the Affine layers after them
    run on the whole batch as before. A network with one convolution runs layer by layer: its ReLU and pooling
    already run inside the convolution's slices."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 3, 6)
    net = LayerNet((1, 8, 8), "conv(8,3,pad=1)-relu-pool(2)-conv(8,3,pad=1)-relu-affine(3)", 3, seed=1)
    net.loss(x, t, train_flg=True)
    sliced = net.layers[:net._depth_first]
    assert [type(layer).__name__ for layer in sliced] == ["Convolution", "Relu", "Pooling", "Convolution", "Relu"]
    kept = [dict(vars(layer)) for layer in sliced]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(network, "INFERENCE_SLICE_BYTES", 1)       # one sample a slice
        scores = net.predict(rng.standard_normal((5, 1, 8, 8)))
    assert scores.shape == (5, 3)
    for layer, before in zip(sliced, kept, strict=True):
        assert vars(layer).keys() == before.keys()
        assert all(vars(layer)[k] is v for k, v in before.items())
    assert net.layers[net._depth_first].x.shape == (5, 8 * 4 * 4)      # the first Affine: the whole batch
    assert LayerNet((1, 8, 8), "conv(8,3,pad=1)-relu-pool(2)-affine(3)", 3)._depth_first == 0
