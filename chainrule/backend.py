"""The array backend: NumPy by default, CuPy when asked.

Every layer computes with ufuncs and ``np.`` functions, which NumPy forwards to
CuPy for CuPy arrays (``__array_ufunc__``/``__array_function__``). Only code that
*creates* arrays needs to know which module to use: it asks
:func:`get_array_module` for the module that owns its inputs, or :func:`xp` for
the current default. So the math of every layer exists once and runs on both.

    >>> import chainrule.backend as backend
    >>> backend.use("cupy")        # doctest: +SKIP  (needs a CUDA GPU)
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


def to_numpy(a):
    """A NumPy array (copied from the GPU when ``a`` is a CuPy array)."""
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)
