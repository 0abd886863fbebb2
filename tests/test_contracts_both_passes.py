"""Contracts on both passes (issue: trust, round three): backward checks dout against what forward produced,
networks check their inputs against what they were built for, state loading checks what it loads."""
import numpy as np
import pytest

from chainrule.layers import ALL, Pooling
from chainrule.nets import SimpleConvNet, TwoLayerNet
from test_views import cases


@pytest.mark.parametrize("index", range(len(cases(np.random.default_rng(0)))))
def test_every_layer_refuses_a_dout_of_the_wrong_shape_by_name(index):
    make, inputs = cases(np.random.default_rng(0))[index]
    layer = make()
    out = layer.forward(*inputs)
    wrong = np.ones(tuple(np.shape(out)) + (2,)) if np.ndim(out) else np.ones((2, 3))
    with pytest.raises(ValueError, match=rf"^{type(layer).__name__}: dout has shape {tuple(wrong.shape)}".replace(
            "(", r"\(").replace(")", r"\)")):
        layer.backward(wrong)
    assert {type(make()).__name__ for make, _ in cases(np.random.default_rng(0))} == {c.__name__ for c in ALL}


def test_a_network_refuses_images_of_another_size():
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
                        hidden_size=5, output_size=3)
    x = np.random.default_rng(0).standard_normal((2, 1, 9, 9))
    with pytest.raises(ValueError, match=r"SimpleConvNet: x has shape \(2, 1, 9, 9\); this network was built for "
                                         r"samples of shape \(1, 8, 8\)"):
        net.predict(x)
    assert net.predict(np.zeros((2, 64))).shape == (2, 3)                # rows of 64 values are read as images
    mlp = TwoLayerNet(4, 3, 2)
    assert mlp.predict(np.zeros((5, 2, 2))).shape == (5, 2)               # 2×2 samples flattened into 4 values
    with pytest.raises(ValueError, match="TwoLayerNet: x has shape"):
        mlp.predict(np.zeros((5, 5)))


def test_pooling_refuses_windows_made_only_of_padding():
    with pytest.raises(ValueError, match="Pooling: pad 2 is more than half the 2×2 window"):
        Pooling(2, 2, stride=1, pad=2)
    Pooling(2, 2, stride=1, pad=1)                                        # half the window: allowed, as PyTorch


def test_state_loading_checks_type_and_what_the_dtype_can_hold():
    net = TwoLayerNet(4, 3, 2, dtype=np.float32)
    with pytest.raises(TypeError, match="load_state_dict: state must be a mapping"):
        net.load_state_dict(None)
    state = {k: v.astype(np.float64) for k, v in net.state_dict().items()}
    state["W1"][0, 0] = 1e300
    with pytest.raises(ValueError, match=r"W1 holds values up to 1e\+300, beyond float32"):
        net.load_state_dict(state)
    assert np.all(np.isfinite(net.params["W1"]))                          # nothing was written
