"""Dropout and BatchNormalization: gradient checks, training vs inference, networks and model files."""
import numpy as np
import pytest

from chainrule import eval_mode, model_io
from chainrule.cli import main
from chainrule.gradcheck import gradient_check
from chainrule.layers import BatchNormalization, Dropout
from chainrule.nets import MultiLayerNet
from conftest import assert_gradients_match


@pytest.mark.parametrize("shape", [(6, 4), (5, 2, 2)])
def test_batchnorm_gradcheck_training(shape, rng):
    features = int(np.prod(shape[1:]))
    layer = BatchNormalization(rng.standard_normal(features) + 1.5, rng.standard_normal(features))
    report = gradient_check(layer, rng.standard_normal(shape) * 3 + 1)
    assert_gradients_match(report)
    assert set(report) == {"x", "gamma", "beta"}


def test_batchnorm_gradcheck_inference(rng):
    layer = BatchNormalization(rng.standard_normal(3) + 1.5, rng.standard_normal(3),
                               running_mean=rng.standard_normal(3), running_var=rng.random(3) + 0.5)
    with eval_mode():  # running statistics are constants: dx = (γ/σ) ∘ dout
        report = gradient_check(layer, rng.standard_normal((4, 3)))
    assert_gradients_match(report)


def test_batchnorm_normalises_and_tracks_running_statistics(rng):
    layer = BatchNormalization(np.ones(2), np.zeros(2), momentum=0.5)
    x = rng.standard_normal((1000, 2)) * [2.0, 5.0] + [3.0, -1.0]
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-6)
    np.testing.assert_allclose(layer.running_mean, 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.5 + 0.5 * x.var(axis=0))
    kept = layer.running_mean.copy()
    inference = layer.forward(x[:3], train_flg=False)
    np.testing.assert_allclose(inference, (x[:3] - kept) / np.sqrt(layer.running_var + 1e-7))
    np.testing.assert_array_equal(layer.running_mean, kept)  # inference leaves the statistics alone


def test_batchnorm_errors():
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"BatchNormalization: x has shape \(4, 5\) \(5 features\)"):
        layer.forward(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="a batch of at least 2 rows"):
        layer.forward(np.zeros((1, 3)))


def test_dropout_gradcheck_with_a_fixed_mask(rng):
    report = gradient_check(Dropout(0.5, seed=1), rng.standard_normal((6, 5)))
    assert_gradients_match(report)


def test_dropout_scales_kept_units_and_is_identity_in_inference(rng):
    layer = Dropout(0.25, seed=0)
    x = np.ones((400, 500), dtype=np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01 and abs(y.mean() - 1) < 0.02
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)  # dropped units get no gradient
    assert layer.forward(x, train_flg=False) is x
    with pytest.raises(ValueError, match=r"Dropout: dropout_ratio must be a number in \[0, 1\)"):
        Dropout(1.0)


def test_network_with_batchnorm_and_dropout_gradcheck(rng):
    net = MultiLayerNet(6, [5, 4], 3, use_batchnorm=True, dropout_ratio=0.3, weight_decay_lambda=0.01, seed=0)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    x, t = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    before = {k: v.copy() for k, v in net.buffers().items()}
    assert_gradients_match(gradient_check(net, x, t))
    for name, value in net.buffers().items():  # the check restored the running statistics it moved
        np.testing.assert_array_equal(value, before[name])


def test_network_predicts_deterministically_in_inference(rng):
    net = MultiLayerNet(6, [16], 3, use_batchnorm=True, dropout_ratio=0.5, seed=0)
    x = rng.standard_normal((10, 6))
    np.testing.assert_array_equal(net.predict(x), net.predict(x))
    assert not np.array_equal(net.predict(x, train_flg=True), net.predict(x, train_flg=True))


def test_model_file_keeps_batchnorm_statistics(tmp_path, rng):
    net = MultiLayerNet(6, [8], 3, use_batchnorm=True, dropout_ratio=0.2, seed=0)
    x, t = rng.standard_normal((20, 6)), rng.integers(0, 3, 20)
    for _ in range(5):
        net.gradient(x, t)
    loaded, _ = model_io.load_model(model_io.save_model(tmp_path / "bn.npz", net))
    assert loaded.config() == net.config()
    np.testing.assert_array_equal(loaded.buffers()["running_var1"], net.buffers()["running_var1"])
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_cli_trains_with_batchnorm_and_dropout(tmp_path, capsys):
    assert main(["train", "--epochs", "2", "--batchnorm", "--dropout", "0.2", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    assert "batchnorm + dropout 0.2" in capsys.readouterr().out
    net, _ = model_io.load_model(tmp_path / "model.npz")
    assert net.use_batchnorm and net.dropout_ratio == 0.2


def test_cli_rejects_a_bad_dropout_ratio():
    with pytest.raises(SystemExit) as info:
        main(["train", "--dropout", "1.5"])
    assert info.value.code == 2


def test_a_weight_decay_the_dtype_cannot_hold_is_refused_when_the_network_is_made():
    """--weight-decay 1e300 on float32 weights made λ·W inf in the first gradient, reported later as a divergence
    with "try a smaller learning rate". It is refused when the network is made, naming the dtype's limit; float64
    holds it."""
    import re
    with pytest.raises(ValueError, match=re.escape("weight_decay_lambda 1e+300 is beyond float32, the network's dtype "
                                                   "(largest 3.4e+38)")):
        MultiLayerNet(4, [3], 2, weight_decay_lambda=1e300, dtype=np.float32)
    MultiLayerNet(4, [3], 2, weight_decay_lambda=1e300, dtype=np.float64)
    assert main(["train", "--weight-decay", "1e300", "--epochs", "1", "--no-progress"]) == 2
