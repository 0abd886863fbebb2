"""One backprop world: parameters are graph leaves, training/inference is a mode read by both worlds, and a
network's recorded graph gives the same gradients as its by-hand ``gradient``."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import functions as F
from chainrule.gradcheck import gradient_check
from chainrule.graph import Parameter, Variable, leaves
from chainrule.layers import Affine, BatchNormalization, Dropout, Relu
from chainrule.nets import MultiLayerNet, TwoLayerNet
from conftest import assert_gradients_match


@pytest.fixture
def batch(rng):
    return rng.standard_normal((6, 4)), rng.integers(0, 3, 6)


# --- parameters are leaves of the graph ------------------------------------------------------------------

def test_affine_on_variables_fills_the_gradient_of_its_parameters(rng):
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    x = Variable(rng.standard_normal((5, 4)))
    dY = rng.standard_normal((5, 3))
    layer(x).backward(dY)
    Wp, bp = layer.parameters["W"], layer.parameters["b"]
    assert isinstance(Wp, Parameter) and Wp.data is W and layer.W is W  # the very array the layer uses
    np.testing.assert_allclose(Wp.grad, x.data.T @ dY)                 # dW = Xᵀ · dY
    np.testing.assert_allclose(bp.grad, dY.sum(axis=0))                # db = Σ_rows dY
    np.testing.assert_allclose(x.grad, dY @ W.T)                       # dX = dY · Wᵀ


def test_parameter_gradients_accumulate_and_cleargrads_resets_them(rng):
    layer = Affine(rng.standard_normal((4, 3)), np.zeros(3))
    x = Variable(rng.standard_normal((2, 4)))
    first = layer(x).sum()
    first.backward()
    once = layer.parameters["W"].grad.copy()
    second = layer(x).sum()       # the same layer again: a second node with its own saved input
    second.backward()
    np.testing.assert_allclose(layer.parameters["W"].grad, 2 * once)
    cr.cleargrads(second)
    assert layer.parameters["W"].grad is None and layer.parameters["b"].grad is None and x.grad is None


def test_parameters_are_leaves_that_drawings_see(rng):
    layer = Affine(rng.standard_normal((3, 2)), np.zeros(2))
    out = layer(Variable(np.ones((1, 3)), "x")).sum()
    out.backward()
    assert [v.name for v in leaves(out)] == ["x", "W", "b"]


def test_batchnorm_parameters_in_the_graph_match_by_hand(rng):
    gamma, beta = rng.standard_normal(3) + 1, rng.standard_normal(3)
    x = rng.standard_normal((5, 3))
    dout = rng.standard_normal((5, 3))
    graph_layer = BatchNormalization(gamma.copy(), beta.copy())
    graph_layer(Variable(x)).backward(dout)
    hand = BatchNormalization(gamma.copy(), beta.copy())
    hand.forward(x)
    hand.backward(dout)
    np.testing.assert_allclose(graph_layer.parameters["gamma"].grad, hand.dgamma)
    np.testing.assert_allclose(graph_layer.parameters["beta"].grad, hand.dbeta)


def test_the_book_api_by_hand_is_unchanged(rng):
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    x, dY = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    np.testing.assert_array_equal(layer.forward(x), x @ W + b)
    np.testing.assert_array_equal(layer.backward(dY), dY @ W.T)
    np.testing.assert_array_equal(layer.dW, x.T @ dY)
    assert layer.params["W"] is W and layer.grads["W"] is layer.dW


@pytest.mark.parametrize("use_batchnorm,dropout,decay", [(False, 0.0, 0.0), (True, 0.0, 0.1), (True, 0.3, 0.05)])
def test_recorded_network_gives_the_same_gradients_as_net_gradient(use_batchnorm, dropout, decay, batch):
    x, t = batch
    net = MultiLayerNet(4, [5, 4], 3, use_batchnorm=use_batchnorm, dropout_ratio=dropout, weight_decay_lambda=decay,
                        seed=0)
    with cr.mode.replay_randomness(7):            # the same dropout masks in both worlds
        by_hand = {k: v.copy() for k, v in net.gradient(x, t).items()}
    with cr.mode.replay_randomness(7):
        loss = net.loss(Variable(x, "x"), t, train_flg=True)
    loss.backward()
    assert loss.data == pytest.approx(float(net.last_loss), rel=1e-12)
    params = net.parameters()
    assert list(params) == list(by_hand)
    for name, p in params.items():
        np.testing.assert_allclose(p.grad, by_hand[name], rtol=1e-10, atol=1e-12, err_msg=name)
    assert {v.name for v in leaves(loss)} >= set(by_hand) | {"x"}  # W1, b1, … are drawn with their names


# --- training and inference are a mode ------------------------------------------------------------------

def test_dropout_reads_the_mode_by_hand_and_in_the_graph(rng):
    x = np.ones((50, 40))
    layer = Dropout(0.5, seed=0)
    assert (layer.forward(x) == 0).any()                                   # the book's default: training
    with cr.eval_mode():
        assert layer.forward(x) is x                                       # by hand
        np.testing.assert_array_equal(F.dropout(Variable(x), 0.5).data, x)  # in the graph
        assert (layer.forward(x, train_flg=True) == 0).any()               # an explicit flag wins
    with cr.train_mode():
        assert (F.dropout(Variable(x), 0.5).data == 0).any()


def test_batchnorm_reads_the_mode(rng):
    layer = BatchNormalization(np.ones(2), np.zeros(2))
    x = rng.standard_normal((8, 2)) * 3 + 5
    with cr.eval_mode():
        out = layer(Variable(x)).data
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-7))  # running mean 0, var 1: inference left x alone
    np.testing.assert_array_equal(layer.running_mean, [0, 0])


def test_network_mode_contexts(batch):
    x, _ = batch
    net = MultiLayerNet(4, [16], 3, dropout_ratio=0.5, seed=0)
    np.testing.assert_array_equal(net.predict(x), net.predict(x))            # the book's default: inference
    with cr.train_mode():
        assert not np.array_equal(net.predict(x), net.predict(x))            # masks drawn
        np.testing.assert_array_equal(net.predict(x, train_flg=False), net.predict(x, train_flg=False))


def test_diagnosis_respects_the_mode_and_leaves_running_statistics_alone(batch):
    x, _ = batch
    net = MultiLayerNet(4, [5], 3, use_batchnorm=True, seed=0)
    before = {k: v.copy() for k, v in net.buffers().items()}
    assert net.diagnose(x, train_flg=True) is None
    assert net.diagnose(x) is None
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, before[k])
    net.params["W2"][0, 0] = np.inf
    assert net.diagnose(x) == "parameter W2 (5, 3) holds non-finite values"


def test_evaluation_never_changes_running_statistics(batch):
    x, t = batch
    net = MultiLayerNet(4, [5], 3, use_batchnorm=True, seed=0)
    net.gradient(x, t)
    before = {k: v.copy() for k, v in net.buffers().items()}
    net.accuracy(x, t)
    net.evaluate(x, t)
    net.predict_classes(x)
    with cr.train_mode():
        net.accuracy(x, t)  # accuracy is always inference
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, before[k])


# --- the network interface --------------------------------------------------------------------------------

def test_state_dict_round_trip_and_checks(batch):
    x, t = batch
    net = MultiLayerNet(4, [5], 3, use_batchnorm=True, seed=0)
    net.gradient(x, t)
    state = net.state_dict()
    assert set(state) == {"W1", "b1", "gamma1", "beta1", "W2", "b2", "running_mean1", "running_var1"}
    other = MultiLayerNet(4, [5], 3, use_batchnorm=True, seed=1)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    assert other.layers[0].W is other.params["W1"]  # written in place: the layers still hold the arrays
    state["W1"][0, 0] = np.nan
    with pytest.raises(ValueError, match="W1 holds NaN or infinite values"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="missing running_var1"):
        other.load_state_dict({k: v for k, v in net.state_dict().items() if k != "running_var1"})
    with pytest.raises(ValueError, match=r"W2 has shape \(2, 2\); this network expects \(5, 3\)"):
        other.load_state_dict({**net.state_dict(), "W2": np.zeros((2, 2))})


def test_last_loss_is_the_loss_of_the_last_gradient_call(batch):
    x, t = batch
    net = TwoLayerNet(4, 5, 3, seed=0)
    assert net.last_loss is None
    net.gradient(x, t)
    assert float(net.last_loss) == pytest.approx(float(net.loss(x, t, train_flg=True)))


def test_numerical_gradient_is_the_checkers(batch):
    x, t = batch
    net = TwoLayerNet(4, 5, 3, weight_init_std=0.5, seed=0)
    numeric = net.numerical_gradient(x, t)
    for name, g in net.gradient(x, t).items():
        np.testing.assert_allclose(numeric[name], g, atol=1e-8)


def test_gradient_check_takes_any_function_of_variables_and_freezes_dropout(rng):
    def f(x, W):
        return F.dropout(F.relu(x @ W), 0.5) * x.sum()
    report = gradient_check(f, rng.standard_normal((3, 4)) + 0.05, rng.standard_normal((4, 2)))
    assert_gradients_match(report)
    assert list(report) == ["x", "W"]


def test_layers_import_no_graph_functions_by_name():
    """A user's layer works by hand and in graphs through the same __call__ (no registry, no lookup)."""
    class Square(Relu):
        rules = ("{dout} × 2 × {x}",)

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dout):
            return dout * 2 * self.x

        def kink_state(self):
            return None

    v = Variable(3.0)
    Square()(v).backward()
    assert v.grad == 6.0 and Square().forward(np.array(2.0)) == 4.0
