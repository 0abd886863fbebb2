"""``same_bits``: the check the tests use where two paths promise the very same numbers (compiled loops against
NumPy's, layers run inside a convolution against layers run one by one)."""
import numpy as np


def same_bits(a, b):
    """Equal entry by entry, NaN where NaN, and the sign of every zero (arrays, or numbers as 0-d arrays)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    assert np.array_equal(nan, np.isnan(b) if b.dtype.kind == "f" else nan)
    assert np.array_equal(a[~nan], b[~nan])
    if a.dtype.kind == "f":
        assert np.array_equal(np.signbit(a[~nan]), np.signbit(b[~nan]))
