"""The array backend: NumPy by default, CuPy when asked.

Every layer computes with ufuncs and ``np.`` functions, which NumPy forwards to
CuPy for CuPy arrays (``__array_ufunc__``/``__array_function__``). Only code that
*creates* arrays needs to know which module to use: it asks
:func:`get_array_module` for the module that owns its inputs, or :func:`xp` for
the current default. So the math of every layer exists once and runs on both.

    >>> import chainrule.backend as backend
    >>> backend.use("cupy")        # doctest: +SKIP
    >>> backend.use("numpy")
"""
from __future__ import annotations

import numpy as np

_current = "numpy"


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDARuntimeError, driver problems
        return False


def use(name: str) -> None:
    """Select the default array module: ``"numpy"`` (CPU) or ``"cupy"`` (GPU)."""
    global _current
    name = {"cpu": "numpy", "gpu": "cupy"}.get(name, name)
    if name not in ("numpy", "cupy"):
        raise ValueError(f"backend.use: unknown backend {name!r}; expected 'numpy' or 'cupy' (or 'cpu'/'gpu')")
    if name == "cupy" and not cupy_available():
        raise RuntimeError("backend.use('cupy'): CuPy is not installed or no CUDA GPU is visible; "
                           "install the matching cupy-cudaXXx package on a machine with a GPU")
    _current = name


def name() -> str:
    """The name of the default backend, ``"numpy"`` or ``"cupy"``."""
    return _current


def xp():
    """The default array module (``numpy`` or ``cupy``)."""
    if _current == "cupy":
        import cupy
        return cupy
    return np


def get_array_module(*arrays):
    """The module (``numpy`` or ``cupy``) that owns the given arrays."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy
            return cupy
    return np


def asarray(a, dtype=None):
    """Move ``a`` to the default backend's device (a no-op for NumPy on NumPy)."""
    return xp().asarray(a, dtype=dtype)


_KEEPING = False


def keep_freed_memory():
    """Ask the C library to keep freed memory for the next allocation instead of returning it to the system.

    A training step allocates the same large arrays (a convolution's windows, each layer's output)
    again and again; by default glibc hands big blocks back to the kernel when they are freed, and every
    new one then page-faults in, zeroed, page by page: measured, that made a convolutional step up to 1.5×
    slower. With ``M_MMAP_THRESHOLD`` at its maximum (32 MB) and ``M_TRIM_THRESHOLD`` at 1 GB the blocks
    are reused. Called by the trainer; a no-op where the C library is not glibc. Returns whether it applied.
    """
    global _KEEPING
    if _KEEPING:
        return True
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    _KEEPING = bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
    return _KEEPING


def to_numpy(a):
    """A NumPy array (copied from the GPU when ``a`` is a CuPy array)."""
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def beyond_dtype(values, dtype):
    """Why finite ``values`` do not fit ``dtype`` ("values up to 1e+300, beyond float32 (largest 3.4e+38)"), or
    None when every one does: 1e300 becomes inf in float32, and every number computed from it inf or NaN."""
    dtype = np.dtype(dtype)
    a = np.asarray(to_numpy(values), dtype=np.float64)
    if dtype.kind != "f" or a.size == 0:
        return None
    big = float(np.max(np.abs(a)))
    largest = float(np.finfo(dtype).max)
    if big <= largest:
        return None
    with np.errstate(over="ignore"):
        if np.all(np.isfinite(a.astype(dtype))):   # just above the largest: rounds down to it
            return None
    return f"values up to {big:.3g}, beyond {dtype.name} (largest {largest:.3g})"

