"""The book's save_params / load_params: a network's arrays by name, written as .npz under any name, read back
from that, from a model file, or from the book's own pickles without building anything but NumPy arrays."""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import model_io
from chainrule.nets import LayerNet, MultiLayerNet, SimpleConvNet
from chainrule.param_files import ParamsFileError

SPECS = ["affine(6)-relu", "affine(5)-bn-relu-dropout(0.2)", "conv(3,3,pad=1)-relu-pool(2)",
         "conv(2,3)-bn-relu-affine(4)-tanh"]


def make(spec, seed, dtype):
    return LayerNet((1, 6, 6), spec, 3, dtype=dtype, seed=seed)


def state(net):
    return {k: np.array(v) for k, v in {**net.params, **net.buffers()}.items()}


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SPECS), st.sampled_from(["float32", "float64"]), st.sampled_from(["params.pkl", "w.npz", "w"]))
def test_what_save_params_writes_load_params_reads_back_exactly(tmp_path_factory, spec, dtype, name):
    path = tmp_path_factory.mktemp("p") / name
    net, other = make(spec, 0, dtype), make(spec, 1, dtype)
    x = np.random.default_rng(0).random((4, 36)).astype(dtype)
    net.gradient(x, np.array([0, 1, 2, 0]))                # batch norm's running statistics move
    net.save_params(path)
    assert path.exists() and path.read_bytes()[:2] == b"PK"   # an .npz under the given name, never a pickle
    other.load_params(path)
    assert all(np.array_equal(a, state(other)[k]) for k, a in state(net).items())
    assert np.array_equal(net.predict(x), other.predict(x))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_the_books_pickle_of_params_is_read(tmp_path, protocol):
    net = SimpleConvNet(seed=0)
    with open(tmp_path / "params.pkl", "wb") as f:        # what the book's save_params writes
        pickle.dump({k: v.copy() for k, v in net.params.items()}, f, protocol=protocol)
    other = SimpleConvNet(seed=1)
    other.load_params(tmp_path / "params.pkl")
    assert all(np.array_equal(net.params[k], other.params[k]) for k in net.params)


class _Runs:
    """A pickle that would create a file when loaded, if anything but NumPy arrays were built."""
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("payload", ["call", "nested", "list"])
def test_a_pickle_that_would_run_code_is_refused_before_anything_runs(tmp_path, payload):
    marker = tmp_path / "ran"
    value = {"call": {"W1": _Runs(marker)}, "nested": {"W1": np.zeros(2), "x": [_Runs(marker)]},
             "list": [np.zeros(2)]}[payload]
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(value, f)
    net = SimpleConvNet(seed=0)
    before = state(net)
    with pytest.raises(ParamsFileError, match="evil.pkl: "):
        net.load_params(tmp_path / "evil.pkl")
    assert not marker.exists()
    assert all(np.array_equal(a, state(net)[k]) for k, a in before.items())


def test_a_file_that_does_not_fit_is_refused_and_nothing_changes(tmp_path):
    net = MultiLayerNet(4, [5], 3, use_batchnorm=True, seed=0)
    before = state(net)
    cases = {"params only (the book's pickles have no batch-norm statistics)": (dict(net.params),
                                                                                "missing running_mean1"),
             "a shape": ({**state(net), "W1": np.zeros((4, 6))}, r"W1 has shape \(4, 6\); this network's has \(4, 5\)"),
             "an extra array": ({**state(net), "W9": np.zeros(1)}, "unexpected W9"),
             "NaN": ({**state(net), "b1": np.full(5, np.nan)}, "b1 holds NaN"),
             "text": ({**state(net), "b1": np.array(["a"] * 5)}, "b1 holds <U1 values")}
    for what, (arrays, message) in cases.items():
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(ParamsFileError, match=message):
            net.load_params(tmp_path / "bad.npz")
        assert all(np.array_equal(a, state(net)[k]) for k, a in before.items()), what
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(ParamsFileError, match="neither a .npz nor a pickle"):
        net.load_params(tmp_path / "junk")
    with pytest.raises(FileNotFoundError, match="no such parameters file"):
        net.load_params(tmp_path / "none.pkl")


def test_a_model_file_of_chainrule_train_loads_as_params(tmp_path):
    net = MultiLayerNet(4, [5], 3, use_batchnorm=True, seed=0)
    model_io.save_model(tmp_path / "model.npz", net, {"dataset": "digits"})
    other = MultiLayerNet(4, [5], 3, use_batchnorm=True, seed=1)
    other.load_params(tmp_path / "model.npz")
    assert all(np.array_equal(a, state(other)[k]) for k, a in state(net).items())


def test_save_params_refuses_a_broken_network_and_keeps_the_old_file(tmp_path):
    net = MultiLayerNet(4, [5], 3, seed=0)
    net.save_params(tmp_path / "params.pkl")
    good = (tmp_path / "params.pkl").read_bytes()
    net.params["W1"][0, 0] = np.inf
    with pytest.raises(ValueError, match="W1 holds NaN or infinite values"):
        net.save_params(tmp_path / "params.pkl")
    assert (tmp_path / "params.pkl").read_bytes() == good


def test_an_npz_claiming_a_huge_array_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """Each entry's shape is read from its own header and checked against the network first: a 1 KB file
    whose W1 claims 10⁶ × 10⁶ values is refused by name, and NumPy never reads (or allocates) it."""
    import io
    import zipfile
    net = MultiLayerNet(4, [5], 3, seed=0)
    with zipfile.ZipFile(tmp_path / "claims.npz", "w") as archive:
        for name, a in state(net).items():
            entry = io.BytesIO()
            if name == "W1":
                np.lib.format.write_array_header_1_0(entry, {"descr": "<f8", "fortran_order": False,
                                                             "shape": (10**6, 10**6)})
                entry.write(b"\0" * 64)
            else:
                np.lib.format.write_array(entry, a)
            archive.writestr(f"{name}.npy", entry.getvalue())
    read = []
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: read.append(1) or pytest.fail("read"))
    with pytest.raises(ParamsFileError, match=r"W1 has shape \(1000000, 1000000\); this network's has \(4, 5\)"):
        net.load_params(tmp_path / "claims.npz")
    assert not read
