"""IDX reading, the search order and the real download code (against a local HTTP server)."""
import functools
import hashlib
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule import datasets
from chainrule.datasets import mnist as mnist_module
from chainrule.datasets.idx import IMAGES_MAGIC, IDXError, read_idx, write_idx
from chainrule.datasets.mnist import FILES, Source


def make_mnist_files(directory, n_train=12, n_test=5, seed=0, gz=True):
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8)]
    for name, a in zip(FILES, arrays):
        write_idx(directory / (name if gz else name[:-3]), a)
    return arrays


# --- the IDX format ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, name):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, a)), a)
    f = np.linspace(-1, 1, 6).astype(np.float32)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx", f)), f)


def test_idx_header_is_big_endian_mnist_layout(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros((2, 28, 28), np.uint8))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:8] == (2).to_bytes(4, "big") and len(raw) == 16 + 2 * 784


def test_idx_truncated_file(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IDXError, match=r"x.idx: file is truncated: dimensions \(3, 28, 28\) need 2352 data bytes, "
                                       r"found 2342"):
        read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "x.idx.gz", np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(IDXError, match="gzip data is truncated or corrupt"):
        read_idx(path)


def test_idx_wrong_magic(tmp_path):
    labels = write_idx(tmp_path / "labels.idx", np.zeros(5, np.uint8))
    with pytest.raises(IDXError, match=r"magic number 2049 .* expected 2051 .* for images"):
        read_idx(labels, IMAGES_MAGIC)
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(IDXError, match="not an IDX file"):
        read_idx(tmp_path / "junk")


def test_idx_extra_bytes(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IDXError, match="longer than its header says"):
        read_idx(path)


# --- loading with the book's options ------------------------------------------------

def test_load_from_data_dir_with_book_options(tmp_path):
    train_x, train_t, test_x, _ = make_mnist_files(tmp_path, gz=False)
    (x, t), (xt, tt) = datasets.load_mnist(data_dir=tmp_path, download=False)
    assert x.shape == (12, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x[0], train_x[0].ravel() / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(t, train_t)
    (x, t), _ = datasets.load_mnist(data_dir=tmp_path, normalize=False, flatten=False, one_hot_label=True,
                                    download=False)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.uint8
    assert t.shape == (12, 10) and (t.argmax(axis=1) == train_t).all()


def test_mismatched_image_and_label_counts(tmp_path):
    make_mnist_files(tmp_path)
    write_idx(tmp_path / FILES[1], np.zeros(3, np.uint8))
    with pytest.raises(IDXError, match="holds 12 images but .* holds 3 labels"):
        datasets.load_mnist(data_dir=tmp_path, download=False)


def test_offline_error_says_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))
    monkeypatch.setitem(mnist_module.SOURCES, "mnist",
                        Source("mnist", dict(mnist_module.SOURCES["mnist"].sha256), ["http://127.0.0.1:9/"]))
    with pytest.raises(datasets.DataNotFoundError) as info:
        datasets.load_mnist()
    lines = str(info.value).splitlines()
    assert lines[0] == "mnist: the data files are not on this machine and could not be downloaded."
    assert lines[1] == f"  looked in {tmp_path / 'cache' / 'mnist'}"
    assert lines[2].startswith("  download failed: http://127.0.0.1:9/train-images-idx3-ubyte.gz: ")
    assert "--data-dir DIR" in lines[3] and "digits" in lines[4] and "dataset-fashion-mnist" in lines[4]


# --- downloading, against a server on 127.0.0.1 ---------------------------------------

@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def use_source(monkeypatch, tmp_path, mirrors, sha):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))
    monkeypatch.setitem(mnist_module.SOURCES, "mnist", Source("mnist", sha, mirrors))


def test_download_verifies_and_caches(http_server, tmp_path, monkeypatch):
    root, url = http_server
    arrays = make_mnist_files(root / "good")
    sha = {name: sha256(root / "good" / name) for name in FILES}
    use_source(monkeypatch, tmp_path, [url + "/missing/", url + "/good/"], sha)
    (x, t), (xt, tt) = datasets.load_mnist(normalize=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), arrays[0])
    np.testing.assert_array_equal(tt, arrays[3])
    cache = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)  # no leftovers
    for name in FILES:
        os.remove(root / "good" / name)
    (x2, _), _ = datasets.load_mnist(normalize=False)  # from the cache now: the server has nothing left
    np.testing.assert_array_equal(x2, x)


def test_corrupt_download_is_refused_and_leaves_nothing(http_server, tmp_path, monkeypatch):
    root, url = http_server
    make_mnist_files(root / "good")
    sha = {name: sha256(root / "good" / name) for name in FILES}
    bad = root / "bad"
    bad.mkdir()
    for name in FILES:
        data = (root / "good" / name).read_bytes()
        (bad / name).write_bytes(data[:-7] + b"corrupt")  # same size, wrong bytes
    use_source(monkeypatch, tmp_path, [url + "/bad/"], sha)
    with pytest.raises(datasets.DataNotFoundError, match="SHA-256 mismatch"):
        datasets.load_mnist()
    cache = tmp_path / "cache" / "mnist"
    assert not cache.exists() or list(cache.iterdir()) == []
    use_source(monkeypatch, tmp_path, [url + "/bad/", url + "/good/"], sha)  # the next mirror is good
    (x, _), _ = datasets.load_mnist()
    assert x.shape == (12, 784)


def test_fashion_mnist_debian_location_is_searched():
    assert "/usr/share/datasets/fashion-mnist" in mnist_module.SOURCES["fashion-mnist"].system_dirs


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_files_read():
    labels = read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and np.bincount(labels).tolist() == [1000] * 10


# --- digits and spiral ------------------------------------------------------------------

def test_digits_split_is_reproducible():
    (x, t), (xt, tt) = datasets.load_digits()
    assert x.shape == (1438, 64) and xt.shape == (359, 64) and x.dtype == np.float32
    assert x.max() == 1.0 and set(np.unique(t)) == set(range(10))
    (x2, t2), _ = datasets.load_digits()
    np.testing.assert_array_equal(x, x2)
    (x3, _), _ = datasets.load_digits(seed=1)
    assert not np.array_equal(x, x3)
    (x4, t4), _ = datasets.load("digits", flatten=False, one_hot_label=True)
    assert x4.shape == (1438, 1, 8, 8) and t4.shape == (1438, 10)


def test_spiral_has_balanced_classes():
    (x, t), (xt, tt) = datasets.load_spiral(points_per_class=100, classes=4)
    assert x.shape == (400, 2) and np.bincount(t).tolist() == [100] * 4 and xt.shape == (132, 2)
    assert np.abs(x).max() <= 1.5


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        datasets.load("cifar")


def test_offline_switch_stops_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CHAINRULE_OFFLINE", "1")
    with pytest.raises(datasets.DataNotFoundError, match=r"downloading is switched off .*CHAINRULE_OFFLINE=1"):
        datasets.load_mnist()


# --- no silent fallbacks, no mixing, labels checked at load ------------------------------------------------

def test_data_dir_problems_never_fall_back(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))
    make_mnist_files(tmp_path / "cache" / "mnist")                     # a complete copy the user did not ask for
    with pytest.raises(datasets.DataNotFoundError, match=r"mnist: --data-dir .*nowhere does not exist"):
        datasets.load_mnist(data_dir=tmp_path / "nowhere")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(datasets.DataNotFoundError, match=r"afile is a file; expected the directory"):
        datasets.load_mnist(data_dir=tmp_path / "afile")
    make_mnist_files(tmp_path / "mine")
    os.remove(tmp_path / "mine" / FILES[3])
    with pytest.raises(datasets.DataNotFoundError, match=r"--data-dir .*mine lacks t10k-labels-idx1-ubyte.gz"):
        datasets.load_mnist(data_dir=tmp_path / "mine")


def test_the_files_of_one_load_all_come_from_one_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))
    make_mnist_files(tmp_path / "cache" / "mnist", n_train=7, seed=1)
    for name in FILES[2:]:
        os.remove(tmp_path / "cache" / "mnist" / name)                # the cache holds the training files only
    system = make_mnist_files(tmp_path / "system", n_train=12, seed=2)
    monkeypatch.setitem(mnist_module.SOURCES, "mnist", Source("mnist", dict(mnist_module.SOURCES["mnist"].sha256),
                                                              [], [str(tmp_path / "system")]))
    (x, t), (xt, tt) = datasets.load_mnist(normalize=False, download=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), system[0])   # all four from the complete copy
    np.testing.assert_array_equal(tt, system[3])


def test_labels_outside_the_classes_are_refused_at_load(tmp_path):
    make_mnist_files(tmp_path)
    write_idx(tmp_path / FILES[1], np.array([200] + [1] * 11, np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: label 200 is not one of the 10 classes"):
        datasets.load_mnist(data_dir=tmp_path)


# --- downloads that go wrong, against a server on 127.0.0.1 ------------------------------------------------

class BrokenHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.endswith("cutoff"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)            # then the connection closes
        elif self.path.endswith("garbage"):
            self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
        elif self.path.endswith("huge"):
            self.send_response(200)
            self.send_header("Content-Length", str(10 ** 12))
            self.end_headers()
        elif self.path.endswith("endless"):
            self.send_response(200)
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"y" * 65536)


@pytest.fixture
def broken_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BrokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path,message", [("cutoff", "the transfer was cut off after 100 of 1,000 bytes"),
                                          ("garbage", "a broken HTTP reply"),
                                          ("huge", "is over the"),
                                          ("endless", "more than 1,000,000 bytes")])
def test_broken_downloads_are_clear_errors_and_leave_nothing(broken_server, tmp_path, path, message):
    from chainrule.datasets.download import DownloadError, download
    with pytest.raises(DownloadError, match=message) as caught:
        download(f"{broken_server}/{path}", tmp_path / "f.gz", "0" * 64, timeout=10, max_bytes=1_000_000)
    assert all(c.isprintable() for c in str(caught.value))        # no server's \r\n copied into the one line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given,holds", [("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")])
def test_the_other_published_data_set_under_this_name_is_refused(tmp_path, given, holds):
    """Debian's Fashion-MNIST given as --dataset mnist trained on clothes and called them digits (its .gz files
    are recompressed, so their SHA-256 cannot tell): the test labels' first ten say which data set it is."""
    import gzip
    import struct
    from chainrule.datasets.mnist import FILES, FIRST_TEST_LABELS, _checked_data_dir
    rng = np.random.default_rng(0)
    labels = np.concatenate([FIRST_TEST_LABELS[holds], rng.integers(0, 10, 9_990)]).astype(np.uint8)
    for name in FILES:
        data = struct.pack(">II", 2049, 10_000) + labels.tobytes() if name == FILES[3] else b"not read here"
        (tmp_path / name).write_bytes(gzip.compress(data) if name == FILES[3] else data)
    with pytest.raises(datasets.DataNotFoundError, match=rf"holds the {holds} files .*use --dataset {holds}"):
        _checked_data_dir(tmp_path, given)
    assert len(_checked_data_dir(tmp_path, holds)) == 4          # under its own name it is taken
    labels[0] = (labels[0] + 1) % 10                              # data of neither (your own): taken
    (tmp_path / FILES[3]).write_bytes(gzip.compress(struct.pack(">II", 2049, 10_000) + labels.tobytes()))
    assert len(_checked_data_dir(tmp_path, given)) == 4


def test_an_idx_header_whose_dimensions_wrap_int64_is_refused_as_truncated(tmp_path):
    """(2¹⁶)⁴ = 2⁶⁴ wrapped NumPy's int64 product to 0 bytes, so an empty body passed the length check and
    failed later in reshape with NumPy's words; the length is now counted in Python integers."""
    import struct
    from chainrule.datasets import IDXError, read_idx
    path = tmp_path / "forged-idx3-ubyte"
    path.write_bytes(struct.pack(">HBB", 0, 0x08, 4) + struct.pack(">4I", *(2**16,) * 4))
    with pytest.raises(IDXError, match=r"file is truncated: dimensions \(65536, 65536, 65536, 65536\) need "
                                       r"18446744073709551616 data bytes, found 0"):
        read_idx(path)


# --- images as chainrule's commands take them -------------------------------------------------

@given(height=st.integers(1, 12), width=st.integers(1, 12))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_commands_get_rows_for_square_images_and_images_otherwise(tmp_path_factory, height, width):
    """Square one-channel images come as the book's rows of H·W values (the same as ``flatten=True``): their
    length gives the shape back. Other images keep (N, 1, H, W): a row of 24·16 values could be 16×24 or 32×12,
    so a convolutional network would not know their height and width."""
    directory = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(height * 100 + width)
    for name, shape in zip(FILES, [(6, height, width), (6,), (3, height, width), (3,)]):
        write_idx(directory / name, rng.integers(0, 256 if len(shape) > 1 else 10, shape).astype(np.uint8))
    flat = datasets.load("mnist", data_dir=directory)
    for (x, t), (x_flat, t_flat) in zip(datasets.load_for_networks("mnist", data_dir=directory), flat):
        np.testing.assert_array_equal(t, t_flat)
        np.testing.assert_array_equal(x.reshape(len(x), -1), x_flat)
        assert x.dtype == x_flat.dtype
        assert x.shape == ((len(x), height * width) if height == width else (len(x), 1, height, width))


def test_commands_get_the_small_data_sets_as_the_book_loads_them():
    for name in ("digits", "spiral"):
        for (x, t), (x_book, t_book) in zip(datasets.load_for_networks(name), datasets.load(name)):
            np.testing.assert_array_equal(x, x_book)
            np.testing.assert_array_equal(t, t_book)
            assert x.shape == x_book.shape
