"""The book's data options, applied the same way to every data set (``load_mnist``'s arguments, §3.6.1).

``normalize`` scales pixel values to [0, 1], ``flatten`` gives one row per
image (else (N, 1, H, W) images), ``one_hot_label`` gives one-hot rows instead
of class indices. Labels are checked: every label must be a class.
"""
from __future__ import annotations

import numpy as np

from ..array_math import one_hot


def check_label_values(labels, classes, source):
    """Refuse labels outside [0, classes) (a corrupt file), naming where they came from."""
    labels = np.asarray(labels)
    if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)] if labels.dtype.kind in "iu" else labels[:1]
        raise ValueError(f"{source}: label {bad.flat[0].item()!r} is not one of the {classes} classes 0–{classes - 1}; "
                         "the file is corrupt or belongs to another data set")
    return labels


def book_options(images, labels, classes, max_value, normalize=True, flatten=True, one_hot_label=False,
                 dtype=np.float32, source="data"):
    """``(x, t)`` from images (N, H, W) and labels (N,) with the book's options."""
    labels = check_label_values(labels, classes, source)
    x = images.astype(dtype) / dtype(max_value) if normalize else images
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *images.shape[1:])
    t = one_hot(labels.astype(np.int64), classes, dtype=np.float32) if one_hot_label else labels.astype(np.int64)
    return x, t
