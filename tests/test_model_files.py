"""Model files are safe to load from strangers: every bad file is one clear error, found before allocating."""
import json
import os
import stat
import tracemalloc

import numpy as np
import pytest

from chainrule import model_io
from chainrule.cli import main
from chainrule.model_io import ModelFileError, load_model, save_model
from chainrule.nets import MultiLayerNet, TwoLayerNet


def write_model(path, header, arrays):
    np.savez(path, header=np.array(header if isinstance(header, str) else json.dumps(header)), **arrays)
    return path


def good_parts(net):
    header = {"format": "chainrule-model", "version": 1, "architecture": net.config(), "metadata": {}}
    arrays = {f"param/{k}": v for k, v in net.params.items()}
    arrays.update({f"buffer/{k}": v for k, v in net.buffers().items()})
    return header, arrays


@pytest.mark.parametrize("header,message", [
    ("[1, 2, 3]", "the header is list; expected a JSON object"),
    ("null", "the header is NoneType"),
    ("not json", "the header is not valid JSON"),
    ({"format": "chainrule-model", "version": 1, "architecture": None}, "the header's architecture is None"),
    ({"format": "chainrule-model", "version": 1, "architecture": [1]}, "the header's architecture is \\[1\\]"),
    ({"format": "chainrule-model", "version": 7, "architecture": {}},
     "version 7; expected 'chainrule-model' version 1"),
    ({"format": "chainrule-model", "version": 1, "architecture": {"class": "Bogus"}}, "unknown network class 'Bogus'"),
    ({"format": "chainrule-model", "version": 1, "architecture": {"class": "TwoLayerNet", "input_size": "4",
                                                                   "hidden_size": 3, "output_size": 2}},
     "layer sizes must be positive integers"),
    ({"format": "chainrule-model", "version": 1, "architecture": {"class": "MultiLayerNet", "input_size": 4,
                                                                   "hidden_size_list": 3, "output_size": 2}},
     "hidden_size_list must be a list"),
    ({"format": "chainrule-model", "version": 1, "architecture": {"class": "TwoLayerNet", "input_size": 4,
                                                                   "hidden_size": 3, "output_size": 2,
                                                                   "dtype": "int8"}}, "dtype must be float32"),
])
def test_malformed_headers_are_one_clear_error(tmp_path, header, message):
    path = write_model(tmp_path / "m.npz", header, {})
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_absurd_sizes_are_refused_without_allocating(tmp_path):
    net = TwoLayerNet(4, 3, 2)
    header, arrays = good_parts(net)
    header["architecture"]["hidden_size"] = 60_000                 # claims 784×60000 weights in a tiny file
    header["architecture"]["input_size"] = 784
    path = write_model(tmp_path / "big.npz", header, arrays)
    assert path.stat().st_size < 64_000
    tracemalloc.start()                                           # NumPy's buffers are traced too
    try:
        with pytest.raises(ModelFileError, match=r"parameter W1 has shape \(4, 3\).*expects \(784, 60000\)"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak} bytes allocated; 784×60000 weights would be {784 * 60000 * 8}"
    header["architecture"]["hidden_size"] = 10 ** 12             # more than any machine holds
    path = write_model(tmp_path / "huge.npz", header, arrays)
    with pytest.raises(ModelFileError, match="refusing to allocate it"):
        load_model(path)


@pytest.mark.parametrize("content", [b"not a zip", b"PK\x03\x04broken", b""])
def test_non_npz_files_are_one_clear_error(tmp_path, content):
    (tmp_path / "junk.npz").write_bytes(content)
    with pytest.raises(ModelFileError, match="not a readable .npz model file"):
        load_model(tmp_path / "junk.npz")


def test_pickled_and_foreign_entries_are_refused(tmp_path):
    net = TwoLayerNet(4, 3, 2)
    header, arrays = good_parts(net)
    arrays["param/evil"] = np.array([{"a": 1}], dtype=object)
    path = write_model(tmp_path / "m.npz", header, arrays)
    with pytest.raises(ModelFileError, match="unexpected entries evil"):
        load_model(path)
    header, arrays = good_parts(net)
    arrays["param/W1"] = np.array([object()] * 12, dtype=object).reshape(4, 3)
    with pytest.raises(ModelFileError):
        load_model(write_model(tmp_path / "o.npz", header, arrays))


def test_missing_and_non_finite_arrays(tmp_path):
    net = MultiLayerNet(4, [3], 2, use_batchnorm=True)
    header, arrays = good_parts(net)
    del arrays["buffer/running_var1"]
    with pytest.raises(ModelFileError, match="running_var1 missing for the MultiLayerNet"):
        load_model(write_model(tmp_path / "a.npz", header, arrays))
    header, arrays = good_parts(net)
    arrays["param/W1"] = np.full((4, 3), np.inf)
    with pytest.raises(ModelFileError, match="W1 holds NaN or infinite values"):
        load_model(write_model(tmp_path / "b.npz", header, arrays))


def test_a_directory_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="is a directory; expected a model file"):
        load_model(tmp_path)


def test_saving_refuses_non_finite_weights_and_leaves_no_file(tmp_path):
    net = TwoLayerNet(4, 3, 2)
    net.params["W2"][0, 0] = np.nan
    with pytest.raises(ValueError, match="W2 holds NaN or infinite values; refusing to save"):
        save_model(tmp_path / "m.npz", net)
    assert list(tmp_path.iterdir()) == []


def test_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_model(tmp_path / "m.npz", TwoLayerNet(4, 3, 2))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_old_model_files_still_load(tmp_path):
    """A file written by chainrule 0.1 (the same format, MultiLayerNet's architecture keys) loads unchanged."""
    net = MultiLayerNet(4, [3], 2, use_batchnorm=True, dropout_ratio=0.2, seed=0)
    header, arrays = good_parts(net)
    header["architecture"] = {"class": "MultiLayerNet", "input_size": 4, "hidden_size_list": [3], "output_size": 2,
                              "activation": "relu", "weight_decay_lambda": 0.0, "dtype": "float64",
                              "use_batchnorm": True, "dropout_ratio": 0.2}
    loaded, _ = load_model(write_model(tmp_path / "old.npz", header, arrays))
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_predict_with_a_model_that_does_not_fit_the_data(tmp_path, capsys):
    path = model_io.save_model(tmp_path / "m.npz", TwoLayerNet(5, 3, 2), {"dataset": "digits"})
    assert main(["predict", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the model expects inputs of shape (5,) (5 values) but the digits samples have shape " \
                               "(64,)" in err[0]
    path = model_io.save_model(tmp_path / "n.npz", TwoLayerNet(64, 3, 2), {"dataset": "digits"})
    assert main(["predict", str(path)]) == 2
    assert "the model has 2 classes but the digits samples have labels up to 9" in capsys.readouterr().err
