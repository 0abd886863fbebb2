"""Splitting a batch over the cores (chainrule.parallel): the numbers never depend on the threads or the slices,
errors and Ctrl-C come back to the caller after every thread has stopped, and a forked worker starts afresh."""
import multiprocessing
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import parallel
from chainrule.layers import Affine, Convolution, Pooling, Relu
from chainrule.nets import DeepConvNet, SimpleConvNet


@pytest.fixture
def tiny_slices(monkeypatch):
    """One sample per slice and threads even for tiny batches, so that every test below really splits."""
    monkeypatch.setattr(parallel, "SLICE_BYTES", 1)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    yield
    parallel.set_threads(None)


def run_on(threads, fn):
    parallel.set_threads(threads)
    try:
        return fn()
    finally:
        parallel.set_threads(None)


@given(st.integers(0, 500), st.integers(1, 10 ** 6), st.integers(1, 10 ** 7), st.integers(1, 16))
def test_slices_cover_the_batch_once_in_order_and_evenly(n, sample_bytes, slice_bytes, min_slices):
    parts = parallel.slices(n, sample_bytes, slice_bytes, min_slices)
    assert [i for lo, hi in parts for i in range(lo, hi)] == list(range(n))
    sizes = [hi - lo for lo, hi in parts]
    assert all(sizes) and (not sizes or max(sizes) - min(sizes) <= 1)
    assert len(parts) >= min(n, min_slices)
    assert all(size == 1 or size * sample_bytes <= slice_bytes + sample_bytes for size in sizes)


def test_results_come_back_in_slice_order_and_each_slice_runs_once(tiny_slices):
    seen, names = [], set()

    def task(lo, hi):
        time.sleep(0.001)                 # long enough for every thread to take some slices
        seen.append((lo, hi))
        names.add(threading.current_thread().name.split("_")[0])
        return lo

    out = run_on(2, lambda: parallel.over_batch(task, 37, 1))
    assert out == [lo for lo, _ in parallel.slices(37, 1, 1)]
    assert sorted(seen) == parallel.slices(37, 1, 1)
    assert names == {"MainThread", "chainrule"}


def test_an_error_in_a_slice_is_raised_in_the_caller_after_all_threads_stop(tiny_slices):
    running = []

    def task(lo, hi):
        time.sleep(0.001)
        running.append(lo)
        if lo == 5:
            raise ValueError("slice 5 failed")
        return lo

    with pytest.raises(ValueError, match="slice 5 failed"):
        run_on(2, lambda: parallel.over_batch(task, 40, 1))
    count = len(running)
    time.sleep(0.05)
    assert len(running) == count      # nothing still running after the call returned
    assert count < 40                 # no new slice was taken once one had failed (bar those already running)


def test_a_keyboard_interrupt_in_the_calling_thread_stops_the_helpers(tiny_slices):
    done = []

    def task(lo, hi):
        time.sleep(0.001)
        if threading.current_thread() is threading.main_thread() and lo > 3:
            raise KeyboardInterrupt
        done.append(lo)

    with pytest.raises(KeyboardInterrupt):
        run_on(2, lambda: parallel.over_batch(task, 1000, 1))
    count = len(done)
    time.sleep(0.05)
    assert len(done) == count         # nothing still running after the call returned
    assert count < 1000


def test_the_caller_does_not_wait_for_a_helper_that_took_no_slice(tiny_slices):
    """The hand-over: a helper that is busy (here, held inside another caller's slice) when a batch arrives takes
    none of its slices, and that batch's caller runs them all itself and returns at once, without waiting for the
    helper to wake. Once free, the helper finds that batch finished and takes nothing from it."""
    parallel.set_threads(2)
    release, inside, seen = threading.Event(), threading.Event(), []

    def held(lo, hi):
        if threading.current_thread().name.startswith("chainrule"):
            inside.set()
            release.wait(10)          # the helper stays here until released
        else:
            inside.wait(10)           # the other caller leaves slices for the helper to take
        return lo

    other = threading.Thread(target=lambda: seen.append(parallel.over_batch(held, 50, 1)), name="other caller")
    other.start()
    try:
        assert inside.wait(10)        # the only helper is now busy with the other caller's batch
        start = time.perf_counter()
        threads = set()
        out = parallel.over_batch(lambda lo, hi: threads.add(threading.current_thread().name) or lo, 40, 1)
        assert time.perf_counter() - start < 5
        assert out == list(range(40)) and threads == {"MainThread"}
    finally:
        release.set()
        other.join(10)
    assert seen == [list(range(50))]


CONV = st.tuples(st.integers(1, 7), st.integers(1, 4), st.integers(2, 9), st.integers(1, 5), st.integers(1, 3),
                 st.integers(1, 2), st.integers(0, 1))


@settings(max_examples=30, deadline=None)
@given(CONV, st.integers(0, 2 ** 32 - 1))
def test_a_cnn_layer_stack_gives_the_same_bits_on_one_thread_and_on_many(case, seed):
    """Convolution, ReLU, max pooling, Affine: forward and backward on 1 and on 3 threads, in a network's step
    (BLAS on one thread, every layer split), agree to the last bit."""
    n, c, h, fn, k, stride, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h + k, h + k))

    def once():
        conv = Convolution(np.random.default_rng(seed).standard_normal((fn, c, k, k)), np.ones(fn), stride, pad)
        layers = [conv, Relu(), Pooling(2, 2, 2, pad=1)]
        with parallel.own_threads():
            y = x
            for layer in layers:
                y = layer.forward(y)
            flat = y.reshape(n, -1)
            affine = Affine(np.random.default_rng(seed + 1).standard_normal((flat.shape[1], 3)), np.zeros(3))
            out = affine.forward(flat)
            d = affine.backward(np.random.default_rng(seed + 2).standard_normal(out.shape)).reshape(y.shape)
            for layer in reversed(layers):
                d = layer.backward(d)
        return [out, d, conv.dW, conv.db, affine.dW, affine.db]

    for one, many in zip(run_on(1, once), run_on(3, once)):
        np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("net", [SimpleConvNet, DeepConvNet])
def test_a_network_step_does_not_depend_on_the_number_of_threads(net):
    x = np.random.default_rng(0).random((12, 1, 28, 28), dtype=np.float32)
    t = np.arange(12) % 10

    def step():
        grads = net(dtype=np.float32, seed=0).gradient(x, t)
        return grads

    one, many = run_on(1, step), run_on(2, step)
    assert one.keys() == many.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], many[name], err_msg=name)


def _child_convolution(queue):
    layer = Convolution(np.ones((2, 1, 3, 3)), np.zeros(2))
    queue.put(float(layer.forward(np.ones((64, 1, 40, 40))).sum()))


def test_a_forked_worker_starts_its_own_threads():
    layer = Convolution(np.ones((2, 1, 3, 3)), np.zeros(2))
    expected = float(layer.forward(np.ones((64, 1, 40, 40))).sum())   # the parent's threads exist now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_convolution, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5) == expected


@pytest.mark.parametrize("value,message", [("0", "≥ 1"), ("two", "whole number")])
def test_a_bad_thread_count_is_refused_clearly(monkeypatch, value, message):
    monkeypatch.setenv("CHAINRULE_THREADS", value)
    parallel.set_threads(None)
    with pytest.raises(ValueError, match=f"CHAINRULE_THREADS.*{message}"):
        parallel.threads()
    monkeypatch.delenv("CHAINRULE_THREADS")
    parallel.set_threads(None)
    assert parallel.threads() >= 1


def test_the_callers_errstate_holds_on_every_thread(tiny_slices):
    """NumPy keeps np.errstate per thread: a convolution under the caller's `np.errstate(invalid="ignore")` still
    warned from the helper threads ("invalid value encountered in matmul"). Helpers now take the caller's."""
    import warnings
    helpers = set()

    def task(lo, hi):
        time.sleep(0.001)
        helpers.add(threading.current_thread().name.split("_")[0])
        return float((np.array([np.inf]) * 0.0)[0])     # invalid: inf × 0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(invalid="ignore"):
            run_on(2, lambda: parallel.over_batch(task, 40, 1))
    assert "chainrule" in helpers and not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        run_on(2, lambda: parallel.over_batch(task, 40, 1))
