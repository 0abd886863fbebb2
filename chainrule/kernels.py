"""Compiled loops (optional: numba): ReLU and the book's 2×2 max pooling, and stride-1 convolutions.

NumPy computes ReLU's output and its mask in two passes over the batch, and a 2×2 max pooling with its winners
in a dozen (three maxima, three comparisons, the index arithmetic), each pass over arrays that no longer fit
in the cache. These loops do each in one pass. They are the same rules as the layers state (ReLU: y = max(x, 0)
and dx = dout ∘ [x > 0]; max pooling: y = the window's maximum, the first of equal largest wins, dx = dout at the
winner), written again only as loops; NumPy's version stays the reference, and the tests check that both give
the same numbers to the last bit, NaN, ±∞, −0 and ties included (``dout × mask`` is a product, so an infinite
dout times a closed mask is NaN in both).

They run when numba is installed (``pip install "chainrule[fast]"``) and ``CHAINRULE_KERNELS`` is not ``0``,
for NumPy arrays of float32 or float64, slice by slice on chainrule's threads (:mod:`chainrule.parallel`); the
first call compiles them (:mod:`chainrule.kernel_loops`, cached on disk by numba). Everything else takes the
NumPy path.

Convolutions at stride 1 (:func:`convolution`) are sums that BLAS runs far below its peak when a layer has few
channels (16–64): as a product over copied windows, each window value is used by only FN filters. The loops of
:mod:`chainrule.conv_loops` keep a block of 16 filters × 8 output positions in the vector registers while the
whole window is added in, reading the (padded) image itself. Their sums are the layer's, in another order, so
they agree with the NumPy path to rounding (the tests compare them on random shapes, pads, NaN and ±∞); they
are compiled with LLVM's SLP vectorizer, which numba leaves off by default, for these functions only.
"""
from __future__ import annotations

import os
import threading
import warnings

import numpy as np

_kernels = None     # the compiled functions, or False when numba is not there or switched off
_conv: dict = {}    # dtype → the compiled convolution loops for it
_conv_lock = threading.Lock()
CONV_LOOPS = ("forward_16", "forward_8", "weight_grad_4x4", "weight_grad_4x1")


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
                            ("relu_forward", "relu_backward", "max_pool_2x2", "max_unpool_2x2")}
    if not _kernels:
        return None
    for a in arrays:
        if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
            return None
    return _kernels


def convolution(*arrays):
    """The compiled convolution loops for these arrays (NumPy, all float32 or all float64), else None.

    Compiled (or loaded from numba's disk cache) on the first call for each dtype, on the calling thread."""
    if get(*arrays) is None or len({a.dtype for a in arrays}) != 1:
        return None
    dtype = arrays[0].dtype
    with _conv_lock:
        if dtype not in _conv:
            _conv[dtype] = _compile_convolution(dtype)
    return _conv[dtype]


def _compile_convolution(dtype):
    import numba
    from . import conv_loops

    array = numba.types.Array(numba.from_dtype(dtype), 1, "C")
    i = numba.types.int64
    signatures = {"forward_16": (array,) * 4 + (i,) * 9, "forward_8": (array,) * 4 + (i,) * 9,
                  "weight_grad_4x4": (array,) * 3 + (i,) * 9 + (numba.from_dtype(dtype),)}
    signatures["weight_grad_4x1"] = signatures["weight_grad_4x4"]
    compiled = {}
    before = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1      # read when a function is optimised: only these are compiled with it
    try:
        for name in CONV_LOOPS:
            loop = numba.njit(nogil=True, cache=True, fastmath={"contract"})(getattr(conv_loops, name))
            loop.compile(signatures[name])
            compiled[name] = loop
    finally:
        numba.config.SLP_VECTORIZE = before
    compiled["lanes"] = conv_loops.LANES            # output positions in a block: rows are padded to a multiple
    return compiled


def use(on: bool | None) -> None:
    """Switch the compiled loops off (False) or back to the default (None: on when numba is installed)."""
    global _kernels
    _kernels = False if on is False else None
