"""Compiled loops (optional: numba): ReLU, the book's 2×2 max pooling, softmax with cross-entropy, the optimizers'
updates, batch normalisation's elementwise passes over channels, and stride-1 convolutions.

NumPy computes ReLU's output and its mask in two passes over the batch, and a 2×2 max pooling with its winners
in a dozen (three maxima, three comparisons, the index arithmetic), each pass over arrays that no longer fit
in the cache. These loops do each in one pass. They are the same rules as the layers state (ReLU: y = max(x, 0)
and dx = dout ∘ [x > 0]; max pooling: y = the window's maximum, the first of equal largest wins, dx = dout at the
winner), written again only as loops; NumPy's version stays the reference, and the tests check that both give
the same numbers to the last bit, NaN, ±∞, −0 and ties included (``dout × mask`` is a product, so an infinite
dout times a closed mask is NaN in both).

Batch normalisation of images (one γ per channel) broadcasts a per-channel constant over rows of H·W values, a
short inner loop for NumPy in each of its five elementwise passes: x − μ, then x̂ = (x − μ)/σ with y = x̂ ∘ γ + β
in one pass, and backward dx = x̂ ∘ a + dout ∘ (γ/σ) − e in one; the same operations in the same order on each
element (the same bits, tested), while the batch's means and sums stay NumPy's.

Softmax with cross-entropy (labels as class indices) is one loop each way where NumPy takes about ten passes,
each of which, for 10 classes, costs more to call than to run; its sums run in another order than NumPy's, so it
agrees with NumPy's path to rounding (tested), and its backward is NumPy's operations, the same bits.

They run when numba is installed (``pip install "chainrule[fast]"``) and ``CHAINRULE_KERNELS`` is not ``0``,
for NumPy arrays of float32 or float64, slice by slice on chainrule's threads (:mod:`chainrule.parallel`); the
first call compiles them (:mod:`chainrule.kernel_loops`, cached on disk by numba). Everything else takes the
NumPy path.

Convolutions at stride 1 (:func:`convolution`) are sums that BLAS runs far below its peak when a layer has few
channels (16–64): as a product over copied windows, each window value is used by only FN filters. The loops of
:mod:`chainrule.conv_loops` keep a block of sums in the vector registers while the whole window is added in:
8 filters × 2 output rows × 16 (or 8) positions for Y and dX (2 rows of 8 to a vector for rows of exactly 8,
16 filters × 16 positions for a single row, 8 positions × 16 filters for rows of at most 5), 16 or 32 filters ×
9 taps for dW with dout channels-last (see :mod:`chainrule.conv_loops_writer`). Their sums are the
layer's, in another order, so they agree with the NumPy path to rounding (the tests compare them with the
definition on random shapes, pads and filter sizes, and the spread of NaN and ±∞ with the NumPy path); they are
compiled with LLVM's SLP vectorizer, which numba leaves off by default, for these functions only, and those of
16 positions on a numba target of their own that uses 512-bit vectors where the CPU has AVX-512.
"""
from __future__ import annotations

import os
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np

_kernels = None     # the compiled functions, or False when numba is not there or switched off
_conv: dict = {}    # (name, dtype) → a compiled convolution loop, or None where it could not be compiled
_conv_lock = threading.Lock()
_wide = None        # whether the CPU has AVX-512
_wide_jit = None    # numba's jit on a target that uses 512-bit vectors
_listeners = []     # who is told of slow compiles (compile_notices)
_told = set()       # the dtypes whose slow compiling was told of already

#: a loop that takes longer than this to be ready was compiled, not loaded from numba's disk cache (a load takes
#: about 0.04 s, a compile 1–8 s): worth telling whoever waits for the first batch
SLOW_COMPILE_SECONDS = 0.5


def get(*arrays):
    """The compiled functions when they apply to these arrays (NumPy, float32 or float64), else None."""
    global _kernels
    if _kernels is None:
        if os.environ.get("CHAINRULE_KERNELS", "1").strip() == "0":
            _kernels = False
        else:
            try:
                from . import kernel_loops
            except ImportError:     # numba is not installed (or not for this NumPy): the NumPy path, as documented
                _kernels = False
            except Exception as error:  # noqa: BLE001 - a broken numba costs speed, never a result
                warnings.warn(f"chainrule.kernels: numba could not be loaded ({error}); ReLU and max pooling take "
                              "the NumPy path", RuntimeWarning, stacklevel=2)
                _kernels = False
            else:
                _kernels = {name: getattr(kernel_loops, name) for name in
                            ("relu_forward", "relu_in_place", "relu_backward", "relu_backward_in_place",
                             "max_pool_2x2", "max_unpool_2x2", "pad_into", "channels_last_and_sum", "sgd_update",
                             "momentum_update", "adam_update", "softmax_cross_entropy",
                             "softmax_cross_entropy_backward", "subtract_per_channel", "normalize_and_scale",
                             "batch_norm_dx")}
    if not _kernels:
        return None
    for a in arrays:
        if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
            return None
    return _kernels


def convolution(*arrays):
    """The compiled convolution loops (:class:`ConvolutionLoops`) for these arrays (NumPy, all float32 or all
    float64), else None."""
    if get(*arrays) is None or len({a.dtype for a in arrays}) != 1:
        return None
    return ConvolutionLoops(arrays[0].dtype)


class ConvolutionLoops:
    """The loops of :mod:`chainrule.conv_loops` for one dtype, each compiled on its first use (or loaded from
    numba's disk cache); a loop that cannot be compiled is None, with one warning, and its layer takes the NumPy
    path.

    ``widths``: the row positions a block can hold, 8 (a 256-bit vector of float32, a 512-bit one of float64)
    and, for float32 on a CPU with AVX-512, 16."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.widths = (8, 16) if self.dtype == np.float32 and _wide_vectors() else (8,)

    def one_vector(self, lanes):
        """Whether ``lanes`` numbers of this dtype fit one vector register of the target their loop is compiled
        for (512 bits where the CPU has AVX-512, else 256)."""
        return lanes * self.dtype.itemsize * 8 <= (512 if _wide_vectors() else 256)

    def forward(self, filters, lanes):
        """Y = b + W ⊛ X in blocks of ``filters`` (16 or 8) filters × ``lanes`` positions (``lanes`` 16: 16 only)."""
        return _loop(f"forward_{filters}x{lanes}", self.dtype)

    def forward_rows(self, filters, rows, lanes):
        """Y = b + W ⊛ X in blocks of ``filters`` (8) filters × ``rows`` (2) output rows × ``lanes`` (16: 16 only,
        or 8) positions."""
        return _loop(f"forward_{filters}x{rows}x{lanes}", self.dtype)

    def forward_row8(self, filters, vectors):
        """Y = b + W ⊛ X for rows of exactly 8 outputs, in blocks of ``filters`` (8) × ``vectors`` (2) vectors of 16
        positions, 2 rows each (where the widths have 16 only)."""
        return _loop(f"forward_row8_{filters}x{vectors}x16", self.dtype)

    def forward_channels_last(self, filters):
        """Y = b + W ⊛ X with W and Y channels-last, in blocks of 8 positions × ``filters`` (16: 16 only, or 8)."""
        return _loop(f"forward_cl_8x{filters}", self.dtype)

    def weight_grad_taps(self, channels, filters, size=3):
        """dW of size × size filters (3 or 5) = Σ dout · X with dout and dW channels-last, in blocks of ``filters``
        (32 and 16: where the widths have 16 only; or 8) × ``channels`` (2 or 1; 1 for 5 × 5 and for 32 filters)
        × size² taps."""
        return _loop(f"weight_grad_{size}x{size}c{channels}x{filters}", self.dtype)

    def weight_grad(self, channels, lanes=8):
        """dW = Σ dout · X in blocks of 4 filters × ``channels`` (4 or 1) × ``lanes`` (8) positions."""
        return _loop(f"weight_grad_4x{channels}x{lanes}", self.dtype)


def _loop(name, dtype):
    key = (name, dtype)
    with _conv_lock:
        if key not in _conv:
            start = time.perf_counter()
            try:
                _conv[key] = _compile(name, dtype)
            except Exception as error:  # noqa: BLE001 - a numba that cannot compile costs speed, never a result
                warnings.warn(f"chainrule.kernels: the convolution loop {name} could not be compiled for {dtype} "
                              f"({error}); that part of the convolution takes the NumPy path", RuntimeWarning,
                              stacklevel=3)
                _conv[key] = None
            if time.perf_counter() - start > SLOW_COMPILE_SECONDS and dtype not in _told and _listeners:
                _told.add(dtype)
                for tell in list(_listeners):
                    tell(f"compiling chainrule's convolution loops for {dtype} (numba, their first use on this "
                         "machine: up to a minute or two, once; they are kept on disk for later runs)")
    return _conv[key]


@contextmanager
def compile_notices(tell):
    """Within: ``tell(message)`` (once per dtype and process) when a convolution loop is being compiled rather than
    loaded from numba's disk cache, so that a first batch which waits a minute for it does not look like a hang.
    ``tell`` None: nothing. The trainer shows it above its progress bar."""
    if tell is not None:
        _listeners.append(tell)
    try:
        yield
    finally:
        if tell is not None:
            _listeners.remove(tell)


def _wide_vectors():
    """Whether this CPU has AVX-512 (and the user left numba's choice of CPU alone)."""
    global _wide
    if _wide is None:
        try:
            import llvmlite.binding as llvm
            import numba
            _wide = numba.config.CPU_FEATURES is None and numba.config.CPU_NAME is None and \
                "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")
        except Exception:  # noqa: BLE001 - CPU features that cannot be read: 256-bit vectors, which always work
            _wide = False
    return _wide


def _dispatcher(wide):
    """numba's jit for these loops. On a CPU with AVX-512, numba (as LLVM) vectorizes with 256-bit registers
    unless told otherwise, for the whole process; the loops whose vectors are 512 bits (``wide``: 16 float32
    positions, 8 float64) get a target of their own that is told otherwise, so that such a block is one 512-bit
    register (measured 1.5–1.7× faster on 14–28 wide rows in float32). Everything else compiled by numba is left
    as it was. That target knows numba's core (arithmetic, indexing, loops) but not every library function
    (``max`` and ``min`` of integers fail to compile there): the loops use none, and the tests compile every loop
    for both dtypes."""
    global _wide_jit
    import numba
    if not wide or not _wide_vectors():
        return numba.njit
    if _wide_jit is None:
        import llvmlite.binding as llvm
        from numba.core import registry

        before = numba.config.CPU_FEATURES
        numba.config.CPU_FEATURES = llvm.get_host_cpu_features().flatten() + ",-prefer-256-bit"
        try:
            target = registry.CPUTarget("cpu")
            target.target_context                    # its code generator is made now, with these features
        finally:
            numba.config.CPU_FEATURES = before

        class WideDispatcher(registry.CPUDispatcher):
            targetdescr = target

        def wide_jit(**options):
            def wrap(fn):
                cache = options.pop("cache", False)
                options.setdefault("nopython", True)
                dispatcher = WideDispatcher(fn, targetoptions=options)
                if cache:
                    dispatcher.enable_caching()
                return dispatcher
            return wrap

        _wide_jit = wide_jit
    return _wide_jit


def _vector_bits(name, dtype):
    """The bits of one vector of a loop's block: its lanes (the number after its name's last "x": forward_8x2x16
    has 16) times its dtype's. Loops of 512 bits or more are compiled on the 512-bit target (:func:`_dispatcher`):
    float32 blocks of 16 or 32, and float64 blocks of 8 (measured 1.8–2.1× faster there than split into two
    256-bit halves on numba's usual target: 8 filters × 2 rows × 8 positions on 8- to 28-wide rows)."""
    return int(name.rsplit("x", 1)[1]) * np.dtype(dtype).itemsize * 8


def _compile(name, dtype):
    import numba
    from . import conv_loops

    import inspect

    loop = getattr(conv_loops, name)
    array, scalar = numba.types.Array(numba.from_dtype(dtype), 1, "C"), numba.from_dtype(dtype)
    kinds = {"x": array, "w": array, "b": array, "y": array, "d": array, "dt": array, "dw": array, "scratch": array,
             "zero": scalar}
    signature = tuple(kinds.get(name, numba.types.int64) for name in inspect.signature(loop).parameters)
    before = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1      # read when a function is optimised: only these are compiled with it
    try:
        jit = _dispatcher(wide=_vector_bits(name, dtype) >= 512)
        compiled = jit(nogil=True, cache=True, fastmath={"contract"})(loop)
        compiled.compile(signature)
    finally:
        numba.config.SLP_VECTORIZE = before
    return compiled


def compile_all(dtypes=("float32", "float64")) -> list[str]:
    """Compile (or load from numba's disk cache) every convolution loop for each of ``dtypes`` now, instead of on
    each loop's first use; the names of those that could not be compiled (each also warned about, and left to the
    NumPy path). A cold cache takes about a minute per dtype: a fresh install can do it ahead of time, and the test
    suite does it in a low-priority process beside its first tests (tests/conftest.py)."""
    import inspect

    if get(np.zeros(1)) is None:
        return []
    from . import conv_loops
    names = [name for name, fn in vars(conv_loops).items() if inspect.isfunction(fn)]
    return [f"{name} ({np.dtype(dtype)})" for dtype in dtypes for name in names if _loop(name, np.dtype(dtype)) is None]


def use(on: bool | None) -> None:
    """Switch the compiled loops off (False) or back to the default (None: on when numba is installed)."""
    global _kernels
    _kernels = False if on is False else None
