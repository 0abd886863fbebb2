"""A convolution followed by ReLU applies ReLU's rule to its own slices (``Relu.rectifier`` forward, ``Relu.masker``
backward), and a pooling after them, or right after the convolution, pools each slice too (``Pooling.pooler``):
the network's step then skips
passes over the batch. The promise: the same numbers as running
the layers one by one, to the last bit, on random networks and batches with NaN, ±∞ and −0, in both dtypes, with
the compiled loops and without."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule import eval_mode, kernels, mode, parallel
from chainrule.layers import Convolution, Pooling, Relu
from chainrule.nets import DeepConvNet, LayerNet
from chainrule.nets.network import _fused_plans

from bits import same_bits

SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0]


def layer_by_layer(net):
    """The same network made to run each layer on its own (no rule applied inside another layer)."""
    net.fuse = False
    net._forward_plan, net._backward_plan = _fused_plans(net.layers, fuse=False)
    return net


def step(net, x, t):
    """Scores in inference, then the training step's loss, gradients and each ReLU's mask."""
    with eval_mode():
        scores = net.predict(x)
    with mode.replay_randomness(7):
        grads = net.gradient(x, t)
    masks = [layer.mask.copy() for layer in net.layers if isinstance(layer, Relu)]
    return scores, net.last_loss, grads, masks


#: a convolution (filters, size, pad) and what follows it: ReLU or not, then a max pooling, an average one or none
CONV = st.tuples(st.sampled_from([4, 8, 16, 30]), st.sampled_from([1, 3, 5]), st.integers(0, 2), st.booleans(),
                 st.sampled_from(["", "pool(2)", "avgpool(2)"]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NaN and ∞ in products on the helper thread
@settings(max_examples=25, deadline=None)
@given(st.lists(CONV, min_size=1, max_size=3), st.integers(1, 5), st.sampled_from([1, 3]), st.integers(6, 14),
       st.sampled_from(["float32", "float64"]), st.booleans(), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_relu_inside_the_convolution_gives_the_layer_by_layer_bits(convs, n, channels, size, dtype, compiled,
                                                                   special, seed):
    """Convolutions with and without a ReLU after them, with a max, an average or no pooling after that: only a
    ReLU right after a convolution, and a pooling right after that ReLU or right after the convolution, run inside
    it."""
    parts, side = [], size
    for filters, k, pad, relu, pool in convs:
        parts += [f"conv({filters},{k},pad={pad})"] + ["relu"] * relu + [pool] * bool(pool)
        side = side + 2 * pad - k + 1
        assume(side >= 1)                       # images that every layer fits
        if pool:
            assume(side >= 2)
            side //= 2
    spec = "-".join(parts + ["affine(7)", "relu"])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, channels, size, size)).astype(dtype)
    if special:
        pick = rng.random(x.shape) < 0.05
        x[pick] = rng.choice(SPECIAL, size=int(pick.sum()))
    t = rng.integers(0, 5, n)
    fused, plain = (LayerNet((channels, size, size), spec, 5, dtype=dtype, seed=seed % 1000) for _ in range(2))
    layer_by_layer(plain)
    kernels.use(None if compiled else False)
    try:
        with pytest.MonkeyPatch.context() as mp, np.errstate(all="ignore"):
            mp.setattr(parallel, "PARALLEL_MIN_BYTES", 0)           # every layer split, on 2 threads
            parallel.set_threads(2)
            results = step(fused, x, t), step(plain, x, t)
    finally:
        kernels.use(None)
        parallel.set_threads(None)
    (s1, l1, g1, m1), (s2, l2, g2, m2) = results
    same_bits(s1, s2)
    same_bits(l1, l2)
    assert g1.keys() == g2.keys()
    for name in g1:
        same_bits(g1[name], g2[name])
    for a, b in zip(m1, m2, strict=True):
        same_bits(a, b)


def test_deep_conv_net_applies_each_relu_inside_the_convolution_before_it(monkeypatch):
    """DeepConvNet (book §8.1): all six ReLUs after convolutions run inside them (and the three poolings after
    them), the one after Affine on its own; the step is the layer-by-layer step."""
    pooled = []
    pooler = Pooling.pooler
    monkeypatch.setattr(Pooling, "pooler", lambda self, x: pooled.append(self) or pooler(self, x))
    net = DeepConvNet(dtype=np.float64, seed=0)
    inside = {id(layer) for layer, then in net._forward_plan if then is not None}
    assert len(inside) == 6 and all(isinstance(layer, Convolution) for layer in net.layers if id(layer) in inside)
    net.predict(np.random.default_rng(0).random((1, 1, 28, 28)))    # one image: layer by layer, not by slices
    assert pooled == [layer for layer in net.layers if isinstance(layer, Pooling)]
    assert all(layer._prepared is None for layer in pooled)   # each pooled batch was taken by its forward
    stepped = [layer for layer, _ in net._backward_plan]
    relus = [layer for layer in net.layers if isinstance(layer, Relu)]
    assert [layer for layer in relus if layer in stepped] == [relus[-1]]
    rng = np.random.default_rng(1)
    x, t = rng.random((3, 1, 28, 28)), rng.integers(0, 10, 3)
    plain = layer_by_layer(DeepConvNet(dtype=np.float64, seed=0))
    for got, want in zip(step(net, x, t), step(plain, x, t), strict=True):        # scores, loss, gradients, masks
        if isinstance(want, dict):
            assert got.keys() == want.keys()
            got, want = list(got.values()), list(want.values())
        for a, b in zip(got, want, strict=True) if isinstance(want, list) else [(got, want)]:
            same_bits(a, b)


def test_a_relu_handed_another_array_after_its_rectifier_applies_its_rule_itself():
    """The rectifier marks one array as done; forward of any other array computes max(x, 0) as always."""
    layer = Relu()
    out = np.array([[-1.0, 2.0]])
    layer.rectifier(out)(0, 1)
    other = np.array([[3.0, -4.0]])
    assert np.array_equal(layer.forward(other), [[3.0, 0.0]]) and np.array_equal(layer.mask, [[True, False]])
    assert layer.forward(out) is not out        # the mark is used once: now an ordinary forward of out
    assert np.array_equal(layer.forward(out), [[0.0, 2.0]])


def test_a_masker_refuses_a_dout_of_the_wrong_shape_or_before_forward():
    layer = Relu()
    with pytest.raises(RuntimeError, match="Relu: backward was called before forward"):
        layer.masker(np.ones((2, 3)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Relu: dout has shape \(3, 2\); expected \(2, 3\)"):
        layer.masker(np.ones((3, 2)))


def test_a_pooling_handed_another_array_after_its_pooler_pools_it_itself():
    """The pooler marks one input as done; forward of any other array (or of that one again) pools it afresh."""
    layer = Pooling(2, 2, stride=2)
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    rows = layer.pooler(x)
    rows(0, 1)
    assert np.array_equal(layer.forward(x), [[[[5.0, 7.0], [13.0, 15.0]]]])
    other = -x
    assert np.array_equal(layer.forward(other), [[[[0.0, -2.0], [-8.0, -10.0]]]])
    assert np.array_equal(layer.forward(x), [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_the_default_cnn_pools_inside_each_convolution_and_steps_as_layer_by_layer():
    """chainrule's default CNN (conv-pool-bn-relu, twice): each pooling right after a convolution pools its slices
    inside it; scores, loss, gradients and masks are the layer-by-layer step's, bit for bit."""
    from chainrule.nets.architectures import CNN_SPEC
    net = LayerNet((1, 12, 12), CNN_SPEC, 10, dtype=np.float32, seed=0)
    poolings = [layer for layer in net.layers if isinstance(layer, Pooling)]
    fused = [then for layer, then in net._forward_plan if isinstance(layer, Convolution)]
    assert len(poolings) == 2 and all(then is not None for then in fused)
    assert [then.__self__ for then in fused] == poolings                # each convolution's rule: its pooling's
    rng = np.random.default_rng(3)
    x, t = rng.random((6, 1, 12, 12), dtype=np.float32), rng.integers(0, 10, 6)
    plain = layer_by_layer(LayerNet((1, 12, 12), CNN_SPEC, 10, dtype=np.float32, seed=0))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel, "PARALLEL_MIN_BYTES", 0)                   # every layer split, on 2 threads
        parallel.set_threads(2)
        try:
            results = step(net, x, t), step(plain, x, t)
        finally:
            parallel.set_threads(None)
    for got, want in zip(*results, strict=True):
        if isinstance(want, dict):
            assert got.keys() == want.keys()
            got, want = list(got.values()), list(want.values())
        for a, b in zip(got, want, strict=True) if isinstance(want, list) else [(got, want)]:
            same_bits(a, b)
    assert all(layer._prepared is None for layer in poolings)           # each pooled batch was taken by its forward
