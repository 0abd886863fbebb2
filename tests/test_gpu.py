"""The CuPy backend: the same layers, graph, nets, optimizers and trainer on a GPU.

Skipped cleanly where CuPy or a CUDA GPU is missing (CI has none)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, model_io, optimizers
from chainrule.layers import Affine, Relu, SoftmaxWithLoss
from chainrule.nets import MultiLayerNet
from chainrule.training import Trainer

HAS_GPU = backend.cupy_available()


@pytest.fixture
def on_gpu():
    backend.use("cupy")
    yield __import__("cupy")
    backend.use("numpy")


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_asking_for_the_gpu_without_one_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CuPy is not installed or no CUDA GPU is visible"):
        backend.use("gpu")
    assert backend.name() == "numpy"


def test_backend_defaults_to_numpy():
    assert backend.name() == "numpy" and backend.xp() is np
    assert backend.get_array_module(np.zeros(2)) is np


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        backend.use("tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_layers_on_gpu_match_cpu(on_gpu):
    cp = on_gpu
    rng = np.random.default_rng(0)
    x, W, b, t = rng.standard_normal((8, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3), rng.integers(0, 3, 8)
    results = []
    for xp in (np, cp):
        affine, relu, loss = Affine(xp.asarray(W), xp.asarray(b)), Relu(), SoftmaxWithLoss()
        value = loss.forward(relu.forward(affine.forward(xp.asarray(x))), xp.asarray(t))
        dx = affine.backward(relu.backward(loss.backward()))
        results.append([backend.to_numpy(a) for a in (value, dx, affine.dW, affine.db)])
    for cpu, gpu_value in zip(*results):
        np.testing.assert_allclose(gpu_value, cpu, rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_graph_on_gpu(on_gpu):
    cp = on_gpu
    a = cr.Variable(cp.asarray([1.0, 2.0, 3.0]), "a")
    y = (cr.exp(a) * a + 1.0).sum()
    y.backward()
    np.testing.assert_allclose(backend.to_numpy(a.grad), np.exp([1.0, 2.0, 3.0]) * (1 + np.array([1.0, 2.0, 3.0])))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_training_on_gpu_and_loading_on_cpu(on_gpu, tmp_path):
    cp = on_gpu
    from chainrule import datasets
    (x, t), (xt, tt) = datasets.load_spiral(points_per_class=100)
    net = MultiLayerNet(2, [32], 3, dtype=np.float32, seed=0)
    assert isinstance(net.params["W1"], cp.ndarray)
    history = Trainer(net, optimizers.Adam(0.01), x, t, xt, tt, epochs=40, batch_size=30, progress=False).train()
    assert history[-1]["test_accuracy"] > 0.9
    model_io.save_model(tmp_path / "m.npz", net)
    backend.use("numpy")
    loaded, _ = model_io.load_model(tmp_path / "m.npz")
    assert isinstance(loaded.params["W1"], np.ndarray)
    assert loaded.accuracy(xt, tt) == pytest.approx(history[-1]["test_accuracy"], abs=0.01)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_regularization_layers_on_gpu(on_gpu):
    cp = on_gpu
    from chainrule.layers import BatchNormalization, Dropout
    x = cp.asarray(np.random.default_rng(0).standard_normal((64, 8)), dtype=cp.float32)
    d = Dropout(0.5, seed=0)
    y = d.forward(x)
    assert isinstance(y, cp.ndarray) and y.dtype == cp.float32 and isinstance(d.scale, cp.ndarray)
    bn = BatchNormalization(cp.ones(8, cp.float32), cp.zeros(8, cp.float32))
    out = bn.forward(x)
    np.testing.assert_allclose(backend.to_numpy(out.mean(axis=0)), 0, atol=1e-5)
    assert isinstance(bn.backward(cp.ones_like(out)), cp.ndarray)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("shape,filters,stride,pad", [((3, 1, 9, 9), (4, 1, 3, 3), 1, 1),     # wide rows (few extra)
                                                     ((2, 8, 7, 7), (5, 8, 3, 3), 1, 1),     # wide rows (72 values)
                                                     ((2, 1, 9, 9), (3, 1, 5, 5), 1, 0),     # row-by-row windows
                                                     ((2, 3, 8, 8), (4, 3, 3, 3), 2, 0)])    # stride 2: col2im
def test_convolution_pooling_and_batchnorm_on_gpu_match_cpu(on_gpu, shape, filters, stride, pad):
    """The same layer code on CuPy arrays (the whole batch as one slice): the same numbers (the math exists once)."""
    from chainrule.layers import BatchNormalization, Convolution, Pooling
    cp = on_gpu
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal(shape), rng.standard_normal(filters), rng.standard_normal(filters[0])
    results = []
    for xp in (np, cp):
        conv = Convolution(xp.asarray(W), xp.asarray(b), stride=stride, pad=pad)
        bn = BatchNormalization(xp.ones(filters[0]), xp.zeros(filters[0]))
        pools = [Pooling(2, 2, stride=2), Pooling(3, 3, stride=1, pad=1), Pooling(2, 2, stride=2, mode="average")]
        h = bn.forward(conv.forward(xp.asarray(x)), train_flg=True)
        outs = [p.forward(h) for p in pools]
        dh = sum(p.backward(xp.asarray(np.random.default_rng(2).standard_normal(o.shape)))
                 for p, o in zip(pools, outs))
        dx = conv.backward(bn.backward(dh))
        results.append([backend.to_numpy(a) for a in (*outs, dx, conv.dW, conv.db, bn.dgamma, bn.dbeta)])
    for cpu, gpu_value in zip(*results):
        np.testing.assert_allclose(gpu_value, cpu, rtol=1e-9, atol=1e-10)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_a_cnn_trains_on_gpu(on_gpu):
    from chainrule import datasets
    from chainrule.nets import LayerNet
    (x, t), (xt, tt) = datasets.load("digits")
    net = LayerNet((1, 8, 8), "conv(16,3,pad=1)-bn-relu-pool(2)-affine(64)-relu", 10, dtype=np.float32, seed=0)
    history = Trainer(net, optimizers.Adam(0.003), x, t, xt, tt, epochs=8, batch_size=64, progress=False,
                      shift=1, image_shape=(1, 8, 8), verbose=False).train()
    assert history[-1]["test_accuracy"] > 0.93
