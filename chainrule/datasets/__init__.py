"""Data sets, each returning ``(x_train, t_train), (x_test, t_test)`` with the book's options.

``mnist`` and ``fashion-mnist`` (IDX files: found locally or downloaded with
SHA-256 checks), ``digits`` (scikit-learn's bundled 8×8 digits) and ``spiral``
(synthetic). Images come as float32 in [0, 1] (``normalize``), flattened
(``flatten``), labels as class indices or one-hot rows (``one_hot_label``).
"""
from .download import DataNotFoundError, DownloadError, cache_dir
from .idx import IDXError, read_idx, write_idx
from .mnist import CLASS_NAMES, load_fashion_mnist, load_mnist
from .small import load_digits, load_spiral, make_spiral

NAMES = ("digits", "mnist", "fashion-mnist", "spiral")
#: the data sets whose classes a mirror changes: a handwritten 2, 3, 4, 5, 7 or 9 mirrored left to right is no
#: digit of its class, so mirroring them while training (--flip) teaches wrong examples (clothes look the same)
MIRROR_CHANGES_CLASS = ("digits", "mnist")


def mirror_note(name, what="--flip"):
    """The note for mirroring ``name``'s training images (``what`` does it), or None where a mirror keeps classes."""
    if name not in MIRROR_CHANGES_CLASS:
        return None
    return (f"note: {what} mirrors half of the {name} training images, and a mirrored 2, 3, 4, 5, 7 or 9 is no digit "
            "of its class: expect a lower accuracy (flip suits classes that look the same in a mirror, such as "
            "clothes)")


def load(name, data_dir=None, normalize=True, flatten=True, one_hot_label=False, **kwargs):
    """Load a data set by name: one of ``digits``, ``mnist``, ``fashion-mnist``, ``spiral``."""
    opts = dict(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, **kwargs)
    if name == "mnist":
        return load_mnist(data_dir=data_dir, **opts)
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir=data_dir, **opts)
    if data_dir is not None:
        raise ValueError(f"--data-dir is for the MNIST-format data sets (mnist, fashion-mnist), not {name!r}")
    kwargs.pop("download", None)
    opts.pop("download", None)
    if name == "digits":
        return load_digits(**opts)
    if name == "spiral":
        return load_spiral(one_hot_label=one_hot_label, **kwargs)
    raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(NAMES)}")


def load_for_networks(name, data_dir=None, **kwargs):
    """The data set as chainrule's commands (train, predict, gradcheck, graph, sweep) take it.

    Images of one channel that are square (MNIST's 28×28, the digits' 8×8) come as rows of H·W values, the
    book's ``flatten=True``: a row's length gives their shape back. Other images, such as an MNIST-format set
    of 24×16 pictures, come as (N, 1, H, W), so that a convolutional network sees their height and width (a
    row of 384 values could be 24×16, 16×24, 32×12, …). Rows of values (the spiral) come as they are.
    """
    train, test = load(name, data_dir=data_dir, flatten=False, **kwargs)
    return tuple((_rows_where_square(x), t) for x, t in (train, test))


def _rows_where_square(x):
    if x.ndim == 4 and x.shape[1] == 1 and x.shape[2] == x.shape[3]:
        return x.reshape(len(x), -1)
    return x


#: the errors a data set may raise for bad or missing files (the CLI reports them without a traceback)
ERRORS = (DataNotFoundError, IDXError, ValueError, ImportError)

__all__ = ["load", "load_for_networks", "load_mnist", "load_fashion_mnist", "load_digits", "load_spiral",
           "make_spiral", "read_idx", "write_idx", "IDXError", "DataNotFoundError", "DownloadError", "cache_dir",
           "CLASS_NAMES", "NAMES", "MIRROR_CHANGES_CLASS", "mirror_note", "ERRORS"]
