"""MNIST and Fashion-MNIST with the book's options (``normalize``, ``flatten``, ``one_hot_label``)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .download import DataNotFoundError, cache_dir, fetch, files_in
from .idx import read_images_and_labels
from .options import book_options

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@dataclass
class Source:
    """Where a data set in MNIST format may come from."""

    name: str
    sha256: dict                       # file name → SHA-256 of the .gz as published
    mirrors: list
    system_dirs: list = field(default_factory=list)


SOURCES = {
    "mnist": Source(
        "mnist",
        dict(zip(FILES, ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))),
        ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/",
         "http://yann.lecun.com/exdb/mnist/"]),
    "fashion-mnist": Source(
        "fashion-mnist",
        dict(zip(FILES, ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"))),
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        ["/usr/share/datasets/fashion-mnist"]),
}

CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}


OFFLINE_HELP = ("  data sets that need no download: digits (bundled with scikit-learn), spiral (synthetic), "
                "fashion-mnist from Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)",)


def _checked_data_dir(data_dir, dataset):
    """The four files in the user's ``data_dir``, or a one-line error saying what is wrong with it."""
    d = Path(data_dir)
    if not d.exists():
        raise DataNotFoundError(f"{dataset}: --data-dir {d} does not exist")
    if not d.is_dir():
        raise DataNotFoundError(f"{dataset}: --data-dir {d} is a file; expected the directory holding the four "
                                "MNIST-format files")
    found = files_in(d, FILES)
    missing = [name for name in FILES if name not in found]
    if missing:
        raise DataNotFoundError(f"{dataset}: --data-dir {d} lacks {', '.join(missing)} (each may also be "
                                "uncompressed, without .gz)")
    _not_the_other_data_set(found, dataset, d)
    return found


#: the first ten test labels of each published data set (10,000 of them): enough to tell the two apart
FIRST_TEST_LABELS = {"mnist": (7, 2, 1, 0, 4, 1, 4, 9, 5, 9), "fashion-mnist": (9, 2, 1, 1, 6, 1, 4, 6, 5, 7)}


def _not_the_other_data_set(found, dataset, directory):
    """Refuse another published data set given under this one's name (Fashion-MNIST's files as MNIST would train
    on clothes and call them digits): the test labels, 10,000 of them, are compared with the first ten of each.
    Data of neither (your own in MNIST format) pass."""
    import gzip
    path = Path(found[FILES[3]])
    try:
        with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as f:
            head = f.read(18)
    except (OSError, EOFError):
        return                                   # the reader says what is wrong with the file
    if len(head) < 18 or int.from_bytes(head[4:8], "big") != 10_000:
        return
    labels = tuple(head[8:18])
    for other, first in FIRST_TEST_LABELS.items():
        if other != dataset and labels == first:
            raise DataNotFoundError(f"{dataset}: --data-dir {directory} holds the {other} files (its test labels "
                                    f"begin {', '.join(map(str, first))}); use --dataset {other}, or the {dataset} "
                                    "files")


def load_idx_dataset(source, data_dir=None, normalize=True, flatten=True, one_hot_label=False, download=True,
                     dtype=np.float32):
    """``(x_train, t_train), (x_test, t_test)`` of an MNIST-format data set.

    With ``data_dir``, the four files must be there (nothing else is tried).
    Otherwise: the per-user cache, then system directories (Debian's
    Fashion-MNIST package), then a download into the cache (not with
    ``download=False`` or the environment variable ``CHAINRULE_OFFLINE=1``).
    """
    if isinstance(source, str):
        source = SOURCES[source]
    if data_dir is not None:
        paths = _checked_data_dir(data_dir, source.name)
    else:
        offline = os.environ.get("CHAINRULE_OFFLINE", "") not in ("", "0")
        paths = fetch(source.sha256, [cache_dir(source.name), *source.system_dirs], source.mirrors,
                      cache_dir(source.name), source.name, allow_download=download and not offline,
                      help_lines=OFFLINE_HELP)
    opts = dict(classes=10, max_value=255.0, normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
                dtype=dtype)
    train = read_images_and_labels(paths[FILES[0]], paths[FILES[1]])
    test = read_images_and_labels(paths[FILES[2]], paths[FILES[3]])
    return (book_options(*train, source=str(paths[FILES[1]]), **opts),
            book_options(*test, source=str(paths[FILES[3]]), **opts))


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, download=True, dtype=np.float32):
    """MNIST handwritten digits: 60,000 training and 10,000 test images of 28×28."""
    return load_idx_dataset("mnist", data_dir, normalize, flatten, one_hot_label, download, dtype)


def load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, download=True,
                       dtype=np.float32):
    """Fashion-MNIST: 60,000 training and 10,000 test images of clothing, 28×28, 10 classes."""
    return load_idx_dataset("fashion-mnist", data_dir, normalize, flatten, one_hot_label, download, dtype)
