"""Compiled loops for what NumPy needs many passes for: ReLU and the book's 2×2 max pooling (optional: numba).

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
"""
from __future__ import annotations

import os
import warnings

import numpy as np

_kernels = None     # the compiled functions, or False when numba is not there or switched off


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


def use(on: bool | None) -> None:
    """Switch the compiled loops off (False) or back to the default (None: on when numba is installed)."""
    global _kernels
    _kernels = False if on is False else None
