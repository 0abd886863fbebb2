"""Small data sets that need no download: scikit-learn's 8×8 ``digits`` and a synthetic ``spiral``."""
from __future__ import annotations

import numpy as np

from ..array_math import one_hot
from .options import book_options


def _split(x, t, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return (x[train], t[train]), (x[test], t[test])


def load_digits(normalize=True, flatten=True, one_hot_label=False, test_fraction=0.2, seed=0, dtype=np.float32):
    """scikit-learn's 1,797 handwritten digits (8×8, values 0–16), split reproducibly (80/20 by default)."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise ImportError("the digits data set comes with scikit-learn: pip install 'chainrule[digits]' "
                          "(or pip install scikit-learn)") from None
    bunch = sklearn_digits()
    x, t = bunch.images, bunch.target
    (x_train, t_train), (x_test, t_test) = _split(x, t, test_fraction, seed)
    opts = dict(classes=10, max_value=16.0, normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
                dtype=dtype, source="digits")
    return book_options(x_train, t_train, **opts), book_options(x_test, t_test, **opts)


def make_spiral(points_per_class=300, classes=3, noise=0.2, seed=0, dtype=np.float32):
    """Interleaved 2-D spirals, one arm per class: not linearly separable."""
    rng = np.random.default_rng(seed)
    x = np.empty((points_per_class * classes, 2))
    t = np.repeat(np.arange(classes), points_per_class)
    for k in range(classes):
        r = np.linspace(0.05, 1.0, points_per_class)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, points_per_class) + rng.standard_normal(points_per_class) * noise
        x[k * points_per_class:(k + 1) * points_per_class] = np.c_[r * np.sin(theta), r * np.cos(theta)]
    return x.astype(dtype), t


def load_spiral(points_per_class=300, classes=3, noise=0.2, one_hot_label=False, seed=0, dtype=np.float32, **_):
    """A synthetic spiral: the test set is drawn independently (another seed) from the same spirals."""
    (x_train, t_train), (x_test, t_test) = (make_spiral(points_per_class, classes, noise, seed, dtype),
                                            make_spiral(points_per_class // 3, classes, noise, seed + 1, dtype))
    if one_hot_label:
        t_train, t_test = one_hot(t_train, classes, np.float32), one_hot(t_test, classes, np.float32)
    return (x_train, t_train), (x_test, t_test)
