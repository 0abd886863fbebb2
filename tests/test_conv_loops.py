"""The compiled convolution loops (chainrule.conv_loops, with numba): a convolution at stride 1, Y = b + W ⊛ X
(book §7.4), its dX (the same sum with the filters turned 180°) and dW = Σ dout · X, give the definition's
numbers to rounding on random shapes and pads, pass the numerical gradient check, spread NaN and ±∞ to the
same outputs as the NumPy path, do not depend on the number of threads, and are what their writer writes."""
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule.layers.convolution as convolution_module
from chainrule import conv_loops_writer, kernels, parallel
from chainrule.gradcheck import gradient_check
from chainrule.layers import Convolution
from conftest import assert_gradients_match
from test_convolution import direct_convolution, direct_convolution_backward

pytest.importorskip("numba")

# channels and filters: blocks of 16 or 8 filters take the compiled loops, other counts (the book's 30) the NumPy path
# in the same layer
CHANNELS = st.sampled_from([1, 3, 4, 8, 12, 16, 24, 32])
FILTERS = st.sampled_from([4, 5, 8, 16, 24, 30, 32, 48])


def passes(layer, x, dout):
    """Y, dX, dW, db of one forward and backward."""
    y = layer.forward(x)
    dx = layer.backward(dout)
    return y, dx, layer.dW.copy(), layer.db.copy()


def uses_the_loops(layer, x):
    """Whether this layer's forward takes the compiled loops (so that the test is not vacuous)."""
    return layer._compiled(x) is not None and layer.W.shape[0] >= 8


def test_float32_blocks_fill_512_bit_vectors_where_the_cpu_has_them():
    """On a CPU with AVX-512 the forward loop holds 16 float32 positions per block (one 512-bit vector), and its
    numbers are the definition's; float64 and other CPUs use blocks of 8."""
    import llvmlite.binding as llvm
    avx512 = "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")
    assert kernels.convolution(np.zeros(1, np.float32)).widths == ((8, 16) if avx512 else (8,))
    assert kernels.convolution(np.zeros(1)).widths == (8,)
    if not avx512:
        pytest.skip("no AVX-512 here: blocks of 8 only")
    rng = np.random.default_rng(5)
    x, W, b = rng.standard_normal((3, 8, 20, 13)), rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16)
    layer = Convolution(W.astype(np.float32), b.astype(np.float32), 1, 1)
    assert convolution_module._lanes(layer._compiled(x.astype(np.float32)), 16, 13) == 16
    np.testing.assert_allclose(layer.forward(x.astype(np.float32)), direct_convolution(x, W, b, 1, 1),
                               rtol=1e-4, atol=1e-4)


def test_the_loops_are_what_their_writer_writes():
    """chainrule/conv_loops.py is generated: edit chainrule/conv_loops_writer.py and run it."""
    assert conv_loops_writer.TARGET.read_text(encoding="utf-8") == conv_loops_writer.source()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), CHANNELS, FILTERS, st.integers(1, 12), st.integers(1, 12), st.integers(1, 5),
       st.integers(1, 5), st.integers(0, 3), st.integers(0, 2 ** 32 - 1))
def test_compiled_convolution_is_its_definition(n, c, fn, h, w, fh, fw, pad, seed):
    """Y, dX, dW, db in float64 equal the definition loop by loop to 1e-12 (relative), for any filter size, pad
    (also pads larger than the filter, where dX's dout is cropped) and row length (blocks of 8 positions and
    a partial last one)."""
    assume(h + 2 * pad >= fh and w + 2 * pad >= fw)
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn)
    layer = Convolution(W, b, 1, pad)
    assert uses_the_loops(layer, x) == (fn >= 8)     # FN not a multiple of 8: the last block overlaps
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape)
    got = passes(layer, x, dout)
    want = (direct_convolution(x, W, b, 1, pad),) + direct_convolution_backward(x, W, dout, 1, pad)
    for name, a, e in zip(("Y", "dX", "dW", "db"), got, want):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(e).max()), err_msg=name)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.sampled_from([8, 16]), st.sampled_from([8, 16, 32]), st.integers(3, 21),
       st.integers(1, 4), st.integers(0, 2), st.integers(0, 2 ** 32 - 1))
def test_compiled_convolution_in_float32_stays_float32_and_agrees_with_float64(n, c, fn, size, k, pad, seed):
    """Rows up to 24 outputs: blocks of 16 positions, whole, overlapping the row's end, or longer than the row."""
    assume(size + 2 * pad >= k)
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((n, c, size, size)), rng.standard_normal((fn, c, k, k)), rng.standard_normal(fn)
    y = rng.standard_normal((n, fn, size + 2 * pad - k + 1, size + 2 * pad - k + 1))
    wide = passes(Convolution(W, b, 1, pad), x, y)
    single = passes(Convolution(W.astype(np.float32), b.astype(np.float32), 1, pad), x.astype(np.float32),
                    y.astype(np.float32))
    for a, e in zip(single, wide):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=2e-5 * max(1.0, np.abs(e).max()))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.sampled_from([1, 3, 8, 16]), st.sampled_from([8, 13, 16, 30, 32]), st.integers(3, 18),
       st.sampled_from([3, 5]), st.integers(0, 2), st.sampled_from(["float32", "float64"]), st.integers(0, 2 ** 32 - 1))
def test_a_cpu_without_avx512_takes_its_own_blocks_and_gets_the_definitions_numbers(n, c, fn, size, k, pad, dtype,
                                                                                     seed):
    """Most machines (AVX2 only) never take the blocks this machine takes: float32 in 8-wide forward blocks and
    8-filter dW taps blocks, and float64 rows up to 8 channels-last (8 float64 fill two 256-bit vectors). Run as
    such a CPU would (kernels told there is no AVX-512), the layer must still give the definition's numbers."""
    assume(size + 2 * pad >= k)
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((n, c, size, size)), rng.standard_normal((fn, c, k, k)), rng.standard_normal(fn)
    y = rng.standard_normal((n, fn, size + 2 * pad - k + 1, size + 2 * pad - k + 1))
    want = (direct_convolution(x, W, b, 1, pad),) + direct_convolution_backward(x, W, y, 1, pad)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels, "_wide", False)
        mp.setattr(kernels, "_conv", {})        # loops compiled as for that CPU stay in this test
        layer, images = Convolution(W.astype(dtype), b.astype(dtype), 1, pad), x.astype(dtype)
        assert layer._compiled(images).widths == (8,) and uses_the_loops(layer, images) == (fn >= 8)
        got = passes(layer, images, y.astype(dtype))
    tolerance = 1e-4 if dtype == "float32" else 1e-12
    for name, a, e in zip(("Y", "dX", "dW", "db"), got, want):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, e, rtol=tolerance, atol=tolerance * max(1.0, np.abs(e).max()), err_msg=name)


@pytest.mark.parametrize("arch", ["simple-cnn", "deep-cnn", "cnn"])
def test_a_network_step_without_avx512_is_the_same_as_with_it(arch):
    """A whole float32 step of each CNN the recipes train (fused ReLU and pooling, batch norm, the inference by
    slices) on 8-wide blocks only, as on a CPU without AVX-512, against the 16-wide blocks used here: the same
    loss and gradients to float32 rounding."""
    from chainrule import nets
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((6, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 6)
    results = []
    for wide in (None, False):
        with pytest.MonkeyPatch.context() as mp:
            if wide is False:
                mp.setattr(kernels, "_wide", False)
                mp.setattr(kernels, "_conv", {})
            net = nets.build_network(arch, (1, 28, 28), 10, dtype=np.float32, seed=0)
            grads = net.gradient(x, t)
            results.append((net.last_loss, grads, net.predict(x)))
    (loss, grads, y), (loss8, grads8, y8) = results
    np.testing.assert_allclose(loss8, loss, rtol=1e-5)
    np.testing.assert_allclose(y8, y, rtol=1e-4, atol=1e-4)
    for name in grads:
        np.testing.assert_allclose(grads8[name], grads[name], rtol=1e-3,
                                   atol=1e-5 * max(1.0, np.abs(grads[name]).max()), err_msg=name)


@pytest.mark.parametrize("case", [(2, 8, 5, 6, 16, 3, 3, 1), (1, 16, 4, 4, 8, 2, 3, 2), (2, 8, 9, 3, 8, 1, 1, 0)],
                         ids=lambda c: "N{}C{}H{}W{}F{}k{}x{}p{}".format(*c))
def test_compiled_convolution_gradcheck(case):
    """Backprop through the compiled loops against numerical gradients of Σ Y ∘ dout, in float64."""
    n, c, h, w, fn, fh, fw, pad = case
    rng = np.random.default_rng(7)
    layer = Convolution(rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn), 1, pad)
    x = rng.standard_normal((n, c, h, w))
    assert uses_the_loops(layer, x)
    assert_gradients_match(gradient_check(layer, x))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.sampled_from([8, 16]), st.sampled_from([8, 16]), st.integers(2, 10), st.integers(1, 3),
       st.integers(0, 2), st.sampled_from(["float32", "float64"]), st.integers(0, 2 ** 32 - 1))
def test_nan_and_infinity_reach_the_same_outputs_as_on_the_numpy_path(n, c, fn, size, k, pad, dtype, seed):
    """A NaN or ±∞ in the images spreads to exactly the outputs (Y) and input gradients (dX) it reaches on the
    NumPy path: no extra position of a block leaks into a kept one."""
    assume(size + 2 * pad >= k)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, size, size))
    x[rng.random(x.shape) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.03] = np.inf
    W, b = rng.standard_normal((fn, c, k, k)).astype(dtype), rng.standard_normal(fn).astype(dtype)
    x = x.astype(dtype)
    layer = Convolution(W, b, 1, pad)
    with np.errstate(invalid="ignore", over="ignore"):
        y = layer.forward(x)
        dout = rng.standard_normal(y.shape).astype(dtype)
        dout[rng.random(dout.shape) < 0.03] = -np.inf
        compiled = passes(layer, x, dout)
        kernels.use(False)
        try:
            numpy_path = passes(layer, x, dout)
        finally:
            kernels.use(None)
    for name, a, e in zip(("Y", "dX"), compiled[:2], numpy_path[:2]):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=name)
        np.testing.assert_array_equal(np.isposinf(a), np.isposinf(e), err_msg=name)
        np.testing.assert_array_equal(np.isneginf(a), np.isneginf(e), err_msg=name)


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 12), st.sampled_from([8, 16]), st.sampled_from([16, 30, 32]), st.integers(3, 14),
       st.integers(0, 2 ** 32 - 1))
def test_compiled_convolution_gives_the_same_bits_on_one_thread_and_on_many(n, c, fn, size, seed):
    rng = np.random.default_rng(seed)
    layer = Convolution(rng.standard_normal((fn, c, 3, 3)).astype(np.float32), np.zeros(fn, np.float32), 1, 1)
    x = rng.standard_normal((n, c, size, size)).astype(np.float32)
    dout = rng.standard_normal((n, fn, size, size)).astype(np.float32)
    results = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel, "SLICE_BYTES", 1)          # one image per slice: every batch really splits
        mp.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
        for threads in (1, 3):
            parallel.set_threads(threads)
            try:
                with parallel.own_threads():
                    results.append(passes(layer, x, dout))
            finally:
                parallel.set_threads(None)
    for one, many in zip(*results):
        np.testing.assert_array_equal(one, many)


def test_padded_places_the_images_and_zeroes_only_the_border():
    """The helper behind every padded copy: x at (top, left), rows or columns outside dropped, zeros around."""
    x = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    out = np.full((1, 1, 5, 6), 99.0)
    convolution_module._padded(x, 1, 2, 5, 6, out)
    expected = np.zeros((5, 6))
    expected[1:4, 2:6] = x[0, 0]
    np.testing.assert_array_equal(out[0, 0], expected)
    cropped = convolution_module._padded(x, -1, -2, 3, 3)
    np.testing.assert_array_equal(cropped[0, 0], [[7, 8, 0], [11, 12, 0], [0, 0, 0]])


def test_a_numba_that_cannot_compile_the_loops_costs_speed_not_a_result(monkeypatch):
    """If numba fails (no writable cache, a broken LLVM), one warning per loop, then the NumPy path gives the
    numbers."""
    from chainrule import kernels as kernels_module

    def broken(name, dtype):
        raise RuntimeError("cannot cache function")

    monkeypatch.setattr(kernels_module, "_conv", {})
    monkeypatch.setattr(kernels_module, "_compile", broken)
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((2, 8, 6, 6)), rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16)
    layer = Convolution(W, b, 1, 1)
    with pytest.warns(RuntimeWarning, match="could not be compiled"):
        y = layer.forward(x)
    np.testing.assert_allclose(y, direct_convolution(x, W, b, 1, 1), atol=1e-12)
    assert kernels_module._conv and all(loop is None for loop in kernels_module._conv.values())
    dout = rng.standard_normal(y.shape)
    with pytest.warns(RuntimeWarning, match="could not be compiled"):
        dx = layer.backward(dout)
    want = direct_convolution_backward(x, W, dout, 1, 1)
    for got, expected in zip((dx, layer.dW, layer.db), want):
        np.testing.assert_allclose(got, expected, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 7), st.integers(1, 7), st.integers(-3, 4),
       st.integers(-3, 4), st.integers(1, 10), st.integers(1, 10), st.sampled_from(["float32", "float64"]),
       st.integers(0, 2 ** 32 - 1))
def test_compiled_padding_is_numpys_padding(n, c, h, w, top, left, height, width, dtype, seed):
    """The one-pass pad of the compiled loops places the images exactly as the NumPy version (NaN, −0 kept)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = -0.0
    compiled = convolution_module._padded(x, top, left, height, width)
    kernels.use(False)
    try:
        reference = convolution_module._padded(x, top, left, height, width)
    finally:
        kernels.use(None)
    np.testing.assert_array_equal(compiled, reference)
    np.testing.assert_array_equal(np.signbit(compiled), np.signbit(reference))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 20), st.integers(1, 9), st.integers(1, 9),
       st.sampled_from(["float32", "float64"]), st.integers(0, 2 ** 32 - 1))
def test_dout_channels_last_and_its_sum_in_one_pass(n, c, h, w, dtype, seed):
    """dout turned channels-last is the transpose, bit for bit, and db its sum over N, OH, OW, taken in float64 in
    the order n, y, x for each filter (a running sum, as np.cumsum takes it): the same bits whichever way the loop
    walks the batch."""
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((n, c, h, w)).astype(dtype)
    out, total = np.empty((n, h, w, c), dtype), np.empty(c, dtype)
    kernels.get(d)["channels_last_and_sum"](d, out, total)
    np.testing.assert_array_equal(out, d.transpose(0, 2, 3, 1))
    running = np.cumsum(d.transpose(1, 0, 2, 3).reshape(c, -1).astype(np.float64), axis=1)[:, -1]
    np.testing.assert_array_equal(total, running.astype(dtype))
    np.testing.assert_allclose(total, d.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_loop_compiles(dtype):
    """Each loop of chainrule/conv_loops.py compiles (a loop that did not would leave its part to NumPy, slower, with
    a warning); those of 16 positions on the 512-bit target where the CPU has AVX-512."""
    from chainrule import kernels as kernels_module
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels_module.compile_all((dtype,)) == []


def test_read_only_images_take_the_compiled_loops_as_they_are(monkeypatch):
    """A read-only batch (a memory-mapped file, a broadcast view) gives the same numbers through the loops compiled
    for writable arrays: nothing is compiled anew for it."""
    from chainrule import kernels as kernels_module
    rng = np.random.default_rng(11)
    x, W, b = rng.standard_normal((3, 8, 9, 9)), rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16)
    layer = Convolution(W, b, 1, 1)
    layer.forward(x)
    layer.backward(np.ones((3, 16, 9, 9)))
    compiled = {key: loop.signatures for key, loop in kernels_module._conv.items() if loop is not None}
    x.flags.writeable = False
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape)
    dout.flags.writeable = False
    dx = layer.backward(dout)
    assert {key: loop.signatures for key, loop in kernels_module._conv.items() if loop is not None} == compiled
    np.testing.assert_allclose(y, direct_convolution(x, W, b, 1, 1), atol=1e-12)
    for got, want in zip((dx, layer.dW, layer.db), direct_convolution_backward(x, W, dout, 1, 1)):
        np.testing.assert_allclose(got, want, atol=1e-11)


#: the kinds of forward block, as (widest row computed channels-last, output rows per block, rows of 8 two to a
#: vector): blocks of 2 rows of 8 in one vector, of 2 rows, of one row, channels-last
BLOCK_KINDS = [(0, 2, True), (0, 2, False), (0, 1, False), (100, 1, False)]


def by_every_block(x, W, b, oh, ow, top, left, fill):
    """Y (N, FN, oh, ow) of the images placed at (``top``, ``left``), by each kind of forward block in turn."""
    loops = kernels.convolution(x, W, b)
    results = []
    with pytest.MonkeyPatch.context() as mp, np.errstate(invalid="ignore"):
        for widest_channels_last, rows, row8 in BLOCK_KINDS:
            for name in ("CHANNELS_LAST_MAX_ROW", "CHANNELS_LAST_MAX_ROW_SPLIT"):
                mp.setattr(convolution_module, name, widest_channels_last)
            mp.setattr(convolution_module, "FORWARD_ROWS", rows)
            mp.setattr(convolution_module, "ROW8_BLOCKS", row8)
            forward = convolution_module._CompiledForward(loops, W, b, oh, ow)
            assert forward.loop is not None
            assert forward.row8 == (row8 and ow == 8 and oh >= 4 and 16 in loops.widths)
            assert forward.rows == (rows if oh >= rows and widest_channels_last < ow else 1)
            out = np.full((len(x), len(W), oh, ow), fill, x.dtype)
            forward(x, out, top, left)
            results.append(out)
    for out in results[1:]:
        np.testing.assert_array_equal(out, results[0])
    return results[0]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.sampled_from([1, 3, 8, 16]), st.sampled_from([8, 12, 16, 24, 30, 32]), st.integers(1, 19),
       st.integers(1, 19), st.sampled_from([1, 3, 5]), st.integers(0, 2), st.booleans(),
       st.sampled_from(["float32", "float64"]), st.integers(0, 2 ** 32 - 1))
def test_every_forward_block_gives_the_same_bits(n, c, fn, h, w, k, pad, rows_of_8, dtype, seed):
    """Blocks of 2 rows of 8 in one vector, of 2 rows (the last block overlapping the one before where OH is not a
    multiple of its rows), of one row and channels-last take each output's sum in the same order: the same bits,
    NaN and ±∞ included, on any shape."""
    if rows_of_8:                                   # output rows of exactly 8, which the vectors of 2 rows take
        w = 8 - 2 * pad + k - 1
    assume(h + 2 * pad >= k and w + 2 * pad >= k and w >= 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    x[rng.random(x.shape) < 0.02] = np.nan
    x[rng.random(x.shape) < 0.02] = -np.inf
    x, W, b = x.astype(dtype), rng.standard_normal((fn, c, k, k)).astype(dtype), rng.standard_normal(fn).astype(dtype)
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    got = by_every_block(x, W, b, oh, ow, pad, pad, 7.0)
    with np.errstate(invalid="ignore"):
        want = direct_convolution(x.astype(float), W.astype(float), b.astype(float), 1, pad)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, equal_nan=True)


def placed(x, top, left, height, width):
    """x (N, C, H, W) placed at row ``top`` and column ``left`` of zeros (N, C, height, width), cropped where it
    falls outside (negative ``top`` or ``left``: the first rows or columns of x dropped)."""
    out = np.zeros(x.shape[:2] + (height, width), x.dtype)
    h, w = x.shape[2:]
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + h, height), min(left + w, width)
    if r1 > r0 and c1 > c0:
        out[:, :, r0:r1, c0:c1] = x[:, :, r0 - top:r1 - top, c0 - left:c1 - left]
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2), st.sampled_from([1, 8, 16]), st.sampled_from([8, 13, 16, 24]), st.integers(1, 12),
       st.integers(1, 12), st.sampled_from([1, 2, 3, 5]), st.integers(-3, 3), st.integers(-3, 3), st.integers(1, 12),
       st.sampled_from([None, 8]), st.sampled_from(["float32", "float64"]), st.integers(0, 2 ** 32 - 1))
def test_every_forward_block_pads_and_crops_alike(n, c, fn, h, w, k, top, left, oh, ow, dtype, seed):
    """Any placement of the images in the zeros the window runs over, the way dX uses it (a negative ``top`` or
    ``left`` crops, as where pad > FH − 1), and any output size: each kind of block gives the same bits, equal
    to the definition over the placed images."""
    rng = np.random.default_rng(seed)
    ow = ow or int(rng.integers(1, 13))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W, b = rng.standard_normal((fn, c, k, k)).astype(dtype), rng.standard_normal(fn).astype(dtype)
    got = by_every_block(x, W, b, oh, ow, top, left, np.nan)
    want = direct_convolution(placed(x, top, left, oh + k - 1, ow + k - 1).astype(float), W.astype(float),
                              b.astype(float), 1, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_compile_all_compiles_each_loop_for_each_dtype_and_names_those_that_failed(monkeypatch):
    """``kernels.compile_all`` (run ahead of time, and by the tests' background process) asks for every loop of
    chainrule/conv_loops.py in each dtype and reports the ones that could not be compiled by name and dtype."""
    import inspect

    from chainrule import conv_loops
    from chainrule import kernels as kernels_module
    asked = []

    def loop(name, dtype):
        asked.append((name, dtype))
        return None if name == "forward_8x8" and dtype == np.float64 else object()
    monkeypatch.setattr(kernels_module, "_loop", loop)
    assert kernels_module.compile_all(("float32", "float64")) == ["forward_8x8 (float64)"]
    names = [name for name, fn in vars(conv_loops).items() if inspect.isfunction(fn)]
    assert sorted(asked) == sorted((name, np.dtype(d)) for d in ("float32", "float64") for name in names)


@pytest.mark.parametrize("fn,block", [(8, 8), (16, 8), (13, 8), (30, 8), (30, 16), (32, 16), (24, 16)])
def test_filters_are_packed_in_the_blocks_the_loops_run(fn, block):
    """W packed as the loops read it: block kb holds filters k0 … k0 + block − 1 with k0 = kb·block, or FN − block for
    a last block that would run past the last filter (it overlaps the one before), each tap's filters side by side."""
    w = np.random.default_rng(fn).standard_normal((fn, 3, 2, 2))
    starts = [min(k0, fn - block) for k0 in range(0, fn, block)]
    want = np.stack([w[k0:k0 + block].transpose(1, 2, 3, 0) for k0 in starts]).ravel()
    np.testing.assert_array_equal(convolution_module._packed(w, block), want)
