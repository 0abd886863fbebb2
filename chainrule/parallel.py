"""A batch split across the CPU's cores: ``over_batch(task, n)`` runs ``task(lo, hi)`` on slices of the samples.

Why: a convolution of a batch is many small matrix products (a few filters, a few hundred window positions per
image). As one product over the whole batch, its windows (im2col) go out to memory and back, and BLAS runs the
thin product far below its peak. Cut into slices of images, each slice's windows are copied and multiplied
while they are still in the core's cache, one slice per core at a time (``benchmarks/cnn_profile.py`` measures
each layer against the best single product of its shape). NumPy releases the GIL in its copies, ufuncs and
products, so plain Python threads run in parallel. BLAS is kept to one thread meanwhile
(:func:`own_threads`, by threadpoolctl), so that the cores are not asked for twice their number.

The result never depends on the number of threads: the slices are fixed by the batch and the sizes, not by the
cores, and partial results (a layer's dW summed over slices) are added in slice order.

A network's inference goes further (``Network._predict_by_slices``): each slice goes through all its layers
on one core, and inside such a slice :func:`this_thread_only` keeps every layer on that thread.

``CHAINRULE_THREADS=1`` runs everything on the calling thread; the default is the number of threads BLAS itself
is told to use (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``), else the CPUs this process may use.
"""
from __future__ import annotations

import os
import queue
import threading
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

#: slices hold about this many bytes of their largest temporary (a convolution's windows): they stay in cache
SLICE_BYTES = 4 << 20
#: at least this many slices (when there are as many samples), so that up to this many cores share the work evenly
MIN_SLICES = 8
#: work smaller than this (bytes of the array split) runs on the calling thread: a thread's start costs more
PARALLEL_MIN_BYTES = 1 << 18

_lock = threading.Lock()
_pool = None       # (the queue of batches, the helper threads), started on first use
_blas = None      # threadpoolctl's controller of the BLAS library NumPy loaded
_threads: int | None = None
_splitting = ContextVar("chainrule_splitting", default=False)
_on_this_thread = ContextVar("chainrule_on_this_thread", default=False)


def _reset_after_fork():
    """A forked child (a Dask or multiprocessing worker) has none of the parent's threads: start afresh."""
    global _pool, _blas, _threads
    _pool = _blas = _threads = None


os.register_at_fork(after_in_child=_reset_after_fork)


def _blas_controller():
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def threads() -> int:
    """How many threads share a batch: ``CHAINRULE_THREADS`` if set, else ``OPENBLAS_NUM_THREADS`` or
    ``OMP_NUM_THREADS`` if set (as BLAS itself reads them), else the CPUs this process may use."""
    global _threads
    if _threads is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        for name in ("CHAINRULE_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            env = os.environ.get(name, "").strip()
            if env:
                if not env.isdigit() or int(env) < 1:
                    raise ValueError(f"{name} must be a whole number ≥ 1, got {env!r}")
                _threads = int(env) if name == "CHAINRULE_THREADS" else min(int(env), cpus)
                break
        else:
            _threads = cpus
    return _threads


@contextmanager
def own_threads():
    """Within: BLAS on one thread, and the layers that can split their batch (Affine and ReLU too) do it here.

    A network with convolutions runs its steps inside. Why not leave BLAS its own threads between the
    convolutions: after each product, BLAS's idle threads spin on the cores for a while (about 0.1 s in
    OpenBLAS), and the slices of the next layer would run beside them, at half speed or worse.
    """
    if _splitting.get():
        yield
        return
    token = _splitting.set(True)
    try:
        with _blas_controller().limit(limits=1):
            yield
    finally:
        _splitting.reset(token)


@contextmanager
def this_thread_only():
    """Within: every batch runs on the calling thread (:func:`over_batch` as on one thread, in slices only where
    the cache needs them, and no layer splits its batch). For a task that is itself one slice of a batch split over
    the cores: it has its core already, and each call into Python's code holds the lock all threads share (the
    GIL), which a dozen small slices per layer would make the threads wait for."""
    inside, split = _on_this_thread.set(True), _splitting.set(False)
    try:
        yield
    finally:
        _splitting.reset(split)
        _on_this_thread.reset(inside)


def splitting() -> bool:
    """True inside :func:`own_threads`: BLAS is on one thread, so any large product is worth splitting."""
    return _splitting.get()


def worth_splitting(a) -> bool:
    """A batch (NumPy, at least 2-D, ``PARALLEL_MIN_BYTES`` or more) inside :func:`own_threads`."""
    return _splitting.get() and isinstance(a, np.ndarray) and a.ndim > 1 and a.nbytes >= PARALLEL_MIN_BYTES


def set_threads(n: int | None) -> None:
    """Use ``n`` threads from now on (``None``: back to the default). Results do not change, only the time."""
    global _threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_threads: n must be a whole number ≥ 1 or None, got {n!r}")
    with _lock:
        _threads = n
        _stop_helpers()


def _stop_helpers():
    """Ask the helper threads to end (they are started again when next needed). Under ``_lock``."""
    global _pool
    if _pool is not None:
        for _ in _pool[1]:
            _pool[0].put(None)
        _pool = None


def _helpers():
    """The queue the helper threads wait on: :func:`threads` − 1 of them, started once."""
    global _pool
    with _lock:
        if _pool is None:
            jobs = queue.SimpleQueue()
            helpers = [threading.Thread(target=_help, args=(jobs,), name=f"chainrule_{k}", daemon=True)
                       for k in range(max(threads() - 1, 1))]
            for helper in helpers:
                helper.start()
            _pool = (jobs, helpers)
        return _pool[0]


def _help(jobs):
    """A helper thread: each batch it is handed, it helps with until no slice is left; None ends it."""
    while True:
        batch = jobs.get()
        if batch is None:
            return
        batch.work(helper=True)


class _Batch:
    """The slices of one :func:`over_batch` call, taken one at a time by whichever thread is free.

    The calling thread waits only for slices a helper has taken and not finished: a helper that wakes after
    the caller has run every slice itself finds none left and costs the caller nothing. (Handing work to a
    sleeping thread and back costs two wake-ups, 40–100 µs on a small virtual machine, about a convolution
    slice's time; a batch is split many times in one training step.)
    """

    def __init__(self, task, parts):
        self.task, self.parts = task, parts
        self.errstate = np.geterr()   # the caller's np.errstate: NumPy keeps it per thread, helpers follow it
        self.results = [None] * len(parts)
        self.next = 0
        self.running = 0            # slices helpers have taken and not finished
        self.stopped = False        # no slice is taken any more (all taken, an error, or the caller is done)
        self.waiting = False        # the caller waits on ``finished`` for the running slices
        self.errors = []
        self.lock = threading.Lock()
        self.finished = threading.Lock()
        self.finished.acquire()     # released once, by the helper that finishes the last running slice

    def _take(self, helper):
        with self.lock:
            if self.stopped or self.next >= len(self.parts):
                self.stopped = True
                return None
            k = self.next
            self.next += 1
            self.running += helper
            return k

    def work(self, helper=False):
        if helper:
            with np.errstate(**self.errstate):
                return self._work(helper)
        return self._work(helper)

    def _work(self, helper):
        while (k := self._take(helper)) is not None:
            try:
                self.results[k] = self.task(*self.parts[k])
            except BaseException as error:  # noqa: BLE001 - raised again in the caller
                with self.lock:
                    self.errors.append(error)
                    self.stopped = True
                if not helper:
                    raise
            finally:
                if helper:
                    with self.lock:
                        self.running -= 1
                        last = self.running == 0 and self.waiting
                    if last:
                        self.finished.release()

    def wait(self):
        """Stop handing out slices and wait for those the helpers are still running."""
        with self.lock:
            self.stopped = True
            if self.running == 0:
                return
            self.waiting = True
        self.finished.acquire()


def slices(n: int, sample_bytes: int, slice_bytes: int | None = None,
           min_slices: int = MIN_SLICES) -> list[tuple[int, int]]:
    """The (lo, hi) slices of n samples, in order, their sizes differing by at most one: as many as it takes to
    keep each near ``slice_bytes`` of temporaries (one sample at least), and at least ``min_slices`` of them
    (as many as there are samples, if fewer).

    They depend only on n and the sizes, so a result summed over slices is the same on any machine.
    """
    slice_bytes = slice_bytes or SLICE_BYTES
    count = min(n, max(-(-n * max(int(sample_bytes), 1) // slice_bytes), min_slices))
    return [(k * n // count, (k + 1) * n // count) for k in range(count)]


def over_batch(task, n: int, sample_bytes: int, slice_bytes: int | None = None,
               min_slices: int = MIN_SLICES) -> list:
    """``task(lo, hi)`` for each slice of :func:`slices`, on :func:`threads` threads; their results in slice order.

    ``sample_bytes`` is the size of one sample's largest temporary. A task that is one product with no
    temporaries may ask for fewer, larger slices (``min_slices=2``). Work of less than ``PARALLEL_MIN_BYTES``
    in all, or a single thread, runs on the calling thread. The calling thread works too: each thread takes
    the next slice not yet taken until none is left. An exception in a task (or a Ctrl-C) is raised here, after
    every thread has stopped: none is left writing into an array the caller goes on to use.
    """
    alone = _on_this_thread.get()       # inside a slice that has its core: the cache alone decides the slices
    parts = slices(n, sample_bytes, slice_bytes, 1 if alone else min_slices)
    workers = min(threads(), len(parts))
    # a task that splits again: stay on its thread
    nested = alone or threading.current_thread().name.startswith("chainrule")
    if workers == 1 or nested or n * sample_bytes < PARALLEL_MIN_BYTES:
        return [task(lo, hi) for lo, hi in parts]
    batch = _Batch(task, parts)
    jobs = _helpers()
    with own_threads():
        for _ in range(workers - 1):
            jobs.put(batch)
        try:
            batch.work()
        finally:
            batch.wait()        # whatever stopped the caller (an error, Ctrl-C): no helper is left writing
    if batch.errors:
        raise batch.errors[0]
    return batch.results
