"""Convolution, pooling and whole convolutional networks against PyTorch, where PyTorch is installed.

PyTorch is no dependency of chainrule, and CI does not install it (these tests skip there); the project's own
tests compare each layer with its definition. Here the peer computes the same numbers its own way: random
shapes, strides and pads, max and average pooling, and the training step of random specs (the fused
convolution → ReLU → pooling paths included), in float64 and float32.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.layers import Affine, Convolution, Pooling
from chainrule.nets import LayerNet

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOLERANCE = {np.float64: 1e-10, np.float32: 2e-4}


def close(ours, theirs, dtype, what):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    scale = 1 + np.abs(theirs).max()
    assert np.abs(ours - theirs).max() <= TOLERANCE[dtype] * scale, what


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_convolution_and_pooling_give_pytorchs_values_and_gradients(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    n, c, fn = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 12)), data.draw(st.sampled_from([1, 3, 8, 16,
                                                                                                        17, 32]))
    fh, fw, stride, pad = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3)),
                           data.draw(st.integers(0, 2)))
    h, w = data.draw(st.integers(max(fh - 2 * pad, 1), 16)), data.draw(st.integers(max(fw - 2 * pad, 1), 16))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W, b = rng.standard_normal((fn, c, fh, fw)).astype(dtype), rng.standard_normal(fn).astype(dtype)
    conv = Convolution(W, b, stride=stride, pad=pad)
    y = conv.forward(x)
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    yt = F.conv2d(xt, Wt, bt, stride=stride, padding=pad)
    dout = rng.standard_normal(yt.shape).astype(dtype)
    yt.backward(torch.tensor(dout))
    dx = conv.backward(dout)
    for ours, theirs, what in ((y, yt, "y"), (dx, xt.grad, "dx"), (conv.dW, Wt.grad, "dW"), (conv.db, bt.grad, "db")):
        assert ours.dtype == dtype
        close(ours, theirs, dtype, what)
    size, pool_stride = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    pool_pad = data.draw(st.integers(0, size // 2))
    if h + 2 * pool_pad < size or w + 2 * pool_pad < size:
        return
    for mode in ("max", "average"):
        pool = Pooling(size, size, stride=pool_stride, pad=pool_pad, mode=mode)
        yp = pool.forward(x)
        xt = torch.tensor(x, requires_grad=True)
        ypt = (F.max_pool2d(xt, size, pool_stride, pool_pad) if mode == "max" else
               F.avg_pool2d(xt, size, pool_stride, pool_pad, count_include_pad=True))
        d = rng.standard_normal(ypt.shape).astype(dtype)
        ypt.backward(torch.tensor(d))
        close(yp, ypt, dtype, f"{mode} pooling")
        close(pool.backward(d), xt.grad, dtype, f"{mode} pooling dx")


BLOCKS = ["conv(8,3,pad=1)-relu", "conv(16,3,pad=1)-relu-pool(2)", "conv(4,5)-relu", "conv(16,3,stride=2,pad=1)-tanh",
          "conv(3,3)-pool(2)", "avgpool(2)", "conv(32,3,pad=1)-relu-avgpool(2)", "conv(5,2,stride=2)-sigmoid"]


def torch_model(net, spec):
    """The same layers in PyTorch, with the network's own weights."""
    modules, k = [], 1
    for kind, args in spec:
        if kind == "conv":
            W, b = net.params[f"W{k}"], net.params[f"b{k}"]
            m = torch.nn.Conv2d(W.shape[1], W.shape[0], W.shape[2], stride=args.get("stride", 1),
                                padding=args.get("pad", 0))
            m.weight.data, m.bias.data = torch.tensor(W), torch.tensor(b)
            modules.append(m)
            k += 1
        elif kind == "pool":
            s = args["size"]
            modules.append(torch.nn.MaxPool2d(s, args.get("stride", s)) if args.get("mode") != "average" else
                           torch.nn.AvgPool2d(s, args.get("stride", s)))
        elif kind in ("relu", "tanh", "sigmoid"):
            modules.append({"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid()}[kind])
    W, b = net.params[f"W{k}"], net.params[f"b{k}"]
    out = torch.nn.Linear(W.shape[0], W.shape[1])
    out.weight.data, out.bias.data = torch.tensor(W.T.copy()), torch.tensor(b)
    return torch.nn.Sequential(*modules, torch.nn.Flatten(), out)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=3), st.sampled_from([np.float32, np.float64]),
       st.integers(1, 12), st.integers(0, 1000))
def test_a_training_step_of_random_specs_gives_pytorchs_loss_and_gradients(blocks, dtype, batch, seed):
    from chainrule.nets.layered import parse_spec
    text = "-".join(blocks)
    try:
        net = LayerNet((3, 16, 16), text, 5, dtype=dtype, seed=seed)
    except ValueError:
        return                                  # the images became too small for a later block
    spec = parse_spec(text)
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((batch, 3, 16, 16)).astype(dtype), rng.integers(0, 5, batch)
    model = torch_model(net, spec)
    grads = net.gradient(x, t)
    loss = F.cross_entropy(model(torch.tensor(x)), torch.tensor(t))
    loss.backward()
    close(np.array(net.last_loss), loss, dtype, "loss")
    k = 1
    for m in model:
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            weight = m.weight.grad.numpy() if isinstance(m, torch.nn.Conv2d) else m.weight.grad.numpy().T
            close(grads[f"W{k}"], weight, dtype, f"{text}: W{k}")
            close(grads[f"b{k}"], m.bias.grad, dtype, f"{text}: b{k}")
            k += 1
    with torch.no_grad():
        close(net.predict(x), model(torch.tensor(x)), dtype, f"{text}: inference")


def test_the_affine_layer_gives_pytorchs_linear():
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    y = layer.forward(x)
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    yt = xt @ Wt + bt
    d = rng.standard_normal((7, 3))
    yt.backward(torch.tensor(d))
    dx = layer.backward(d)
    for ours, theirs in ((y, yt), (dx, xt.grad), (layer.dW, Wt.grad), (layer.db, bt.grad)):
        close(ours, theirs, np.float64, "affine")
