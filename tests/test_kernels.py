"""The compiled loops (chainrule.kernels, with numba) give NumPy's numbers to the last bit: ReLU and the book's 2×2
max pooling, forward and backward, in training and in inference, on random batches with NaN, ±∞, −0 and ties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import eval_mode, kernels, parallel
from chainrule.layers import Pooling, Relu

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


def both_ways(fn):
    """fn() with the compiled loops, then with NumPy alone; every layer split, on 2 threads (∞ · 0 is NaN in
    both, and NumPy warns of it: not here)."""
    results = []
    for on in (None, False):
        kernels.use(on)
        try:
            with pytest.MonkeyPatch.context() as mp, parallel.own_threads(), np.errstate(invalid="ignore"):
                mp.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
                results.append(fn())
        finally:
            kernels.use(None)
    return results


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), DTYPES, st.integers(0, 2 ** 32 - 1))
def test_compiled_relu_is_numpys_relu(n, c, h, w, dtype, seed):
    rng = np.random.default_rng(seed)
    x, dout = batch(rng, (n, c, h, w), dtype), batch(rng, (n, c, h, w), dtype)

    def run():
        layer = Relu()
        y = layer.forward(x)
        return y, layer.mask.copy(), layer.backward(dout)

    assert kernels.get(x) is not None
    for compiled, numpy_ in zip(*both_ways(run)):
        same_bits(compiled, numpy_)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), DTYPES, st.booleans(),
       st.integers(0, 2 ** 32 - 1))
def test_compiled_max_pooling_is_numpys_max_pooling(n, c, oh, ow, dtype, inference, seed):
    """Outputs, winners (the first of equal largest; NaN as NumPy's tournament has it) and dx, where an infinite
    or NaN dout times a losing position is NaN as in NumPy's product."""
    rng = np.random.default_rng(seed)
    x, dout = batch(rng, (n, c, 2 * oh, 2 * ow), dtype), batch(rng, (n, c, oh, ow), dtype)

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
    """Other windows, pads, odd sizes, other dtypes and switched off: the NumPy path (None here)."""
    x = np.zeros((2, 1, 4, 4), np.float32)
    assert kernels.get(x) is not None and kernels.get(x.astype(np.float16)) is None
    assert kernels.get(x.astype(np.int64)) is None
    layer = Pooling(2, 2, stride=2)
    layer.forward(x)
    assert layer._compiled(x) is not None
    for other, shape in ((Pooling(3, 3, stride=3), (2, 1, 6, 6)), (Pooling(2, 2, stride=1), (2, 1, 4, 4)),
                         (Pooling(2, 2, stride=2, pad=1), (2, 1, 4, 4)), (Pooling(2, 2, stride=2), (2, 1, 5, 4)),
                         (Pooling(2, 2, stride=2, mode="average"), (2, 1, 4, 4))):
        data = np.zeros(shape, np.float32)
        other.forward(data)
        assert other._compiled(data) is None
    kernels.use(False)
    try:
        assert kernels.get(x) is None
    finally:
        kernels.use(None)
