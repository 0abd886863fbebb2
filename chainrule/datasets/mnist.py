"""MNIST and Fashion-MNIST with the book's options (``normalize``, ``flatten``, ``one_hot_label``)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..functions import one_hot
from .download import cache_dir, fetch
from .idx import read_images_and_labels

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


def format_arrays(images, labels, normalize=True, flatten=True, one_hot_label=False, dtype=np.float32):
    """Apply the book's options to uint8 images (N, H, W) and labels (N,)."""
    x = images.astype(dtype) / dtype(255.0) if normalize else images
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *images.shape[1:])
    t = one_hot(labels.astype(np.int64), int(labels.max()) + 1 if labels.size else 10, dtype=np.float32) \
        if one_hot_label else labels.astype(np.int64)
    if one_hot_label and t.shape[1] < 10:
        t = np.pad(t, ((0, 0), (0, 10 - t.shape[1])))
    return x, t


def load_idx_dataset(source, data_dir=None, normalize=True, flatten=True, one_hot_label=False, download=True,
                     dtype=np.float32):
    """``(x_train, t_train), (x_test, t_test)`` of an MNIST-format data set.

    Looks in ``data_dir`` if given, then the per-user cache, then system
    directories (Debian's Fashion-MNIST package), then downloads into the cache
    (not with ``download=False`` or the environment variable ``CHAINRULE_OFFLINE=1``).
    """
    if isinstance(source, str):
        source = SOURCES[source]
    dirs = ([data_dir] if data_dir else []) + [cache_dir(source.name)] + list(source.system_dirs)
    offline = os.environ.get("CHAINRULE_OFFLINE", "") not in ("", "0")
    paths = fetch(source.sha256, dirs, source.mirrors, cache_dir(source.name), source.name,
                  allow_download=download and not offline)
    train = read_images_and_labels(paths[FILES[0]], paths[FILES[1]])
    test = read_images_and_labels(paths[FILES[2]], paths[FILES[3]])
    opts = dict(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, dtype=dtype)
    return format_arrays(*train, **opts), format_arrays(*test, **opts)


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, download=True, dtype=np.float32):
    """MNIST handwritten digits: 60,000 training and 10,000 test images of 28×28."""
    return load_idx_dataset("mnist", data_dir, normalize, flatten, one_hot_label, download, dtype)


def load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, download=True,
                       dtype=np.float32):
    """Fashion-MNIST: 60,000 training and 10,000 test images of clothing, 28×28, 10 classes."""
    return load_idx_dataset("fashion-mnist", data_dir, normalize, flatten, one_hot_label, download, dtype)
