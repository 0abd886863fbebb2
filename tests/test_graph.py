"""The graph engine: every operation gradient-checked through Variables, the book's numbers (§5.4), the branch
and bias rules, deep chains, accumulation and no_grad."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import examples
from chainrule.gradcheck import gradient_check
from chainrule.graph import Variable, leaves
from chainrule.layers import Affine, MulLayer, Relu, SoftmaxWithLoss
from conftest import assert_gradients_match


def check_graph(fn, *arrays):
    """Backprop through the graph of fn(*Variables) vs numerical gradients of Σ fn(...) ∘ dout, for every input."""
    report = gradient_check(fn, *arrays)
    assert_gradients_match(report)
    assert [c.shape for c in report.values()] == [a.shape for a in arrays]


R = np.random.default_rng(7)


def rand(*shape, positive=False):
    x = R.standard_normal(shape)
    x = x + np.sign(x) * 0.1
    return np.abs(x) if positive else x


@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: a + b, [(3, 4), (3, 4)]),
    (lambda a, b: a - b, [(3, 4), (4,)]),
    (lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    (lambda a, b: a / b, [(3, 4), (1, 4)]),
    (lambda a, b: a @ b, [(3, 4), (4, 2)]),
    (lambda a, b: a @ b, [(4,), (4, 2)]),
    (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    (lambda a: -a, [(3, 2)]),
    (lambda a: a ** 3, [(3, 2)]),
    (lambda a: a.T, [(3, 2)]),
    (lambda a: a.transpose(2, 0, 1), [(2, 3, 4)]),
    (lambda a: a.reshape(6, 4), [(2, 3, 4)]),
    (lambda a: a.sum(), [(2, 3)]),
    (lambda a: a.sum(axis=0), [(2, 3)]),
    (lambda a: a.sum(axis=1, keepdims=True), [(2, 3)]),
    (lambda a: a.mean(axis=(0, 2)), [(2, 3, 4)]),
    (lambda a: cr.exp(a), [(3, 4)]),
    (lambda a: cr.relu(a), [(3, 4)]),
    (lambda a: cr.sigmoid(a), [(3, 4)]),
    (lambda a: cr.tanh(a), [(3, 4)]),
    (lambda a: cr.softmax(a), [(3, 4)]),
    (lambda a: cr.softmax_cross_entropy(a, np.array([0, 3, 1])), [(3, 4)]),
    (lambda a, b: cr.mean_squared_error(a * b, np.ones((3, 4))), [(3, 4), (4,)]),
    (lambda a: 2.0 * a + 1.0 - a / 4.0, [(3,)]),
    (lambda a: 1.0 / a, [(3,)]),
    (lambda a: 3.0 - a, [(3,)]),
    # values used more than once (the branch rule), with broadcasting
    (lambda a: a * a + cr.exp(a), [(3, 4)]),
    (lambda a, b: a * b + a / b - cr.relu(a), [(3, 4), (4,)]),
    (lambda x, W: cr.softmax(x @ W) * (x @ W) + W.sum(axis=0), [(5, 3), (3, 3)]),
])
def test_every_operation_gradcheck_through_the_graph(fn, shapes):
    check_graph(fn, *[rand(*s) for s in shapes])


def test_log_and_fractional_power_through_the_graph():
    check_graph(lambda a: cr.log(a) + a ** 0.5, rand(3, 4, positive=True))


def test_numpy_array_on_the_left_is_a_constant():
    a = Variable(np.array([1.0, 2.0]))
    y = np.array([3.0, 4.0]) * a
    assert isinstance(y, Variable)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])


def test_apple_graph_gradients_on_the_right_variables():
    price = examples.apple_graph()
    named = {v.name: v for v in leaves(price)}
    assert price.data == pytest.approx(220)
    assert named["apple"].grad == pytest.approx(2.2)
    assert named["apple_num"].grad == pytest.approx(110)
    assert named["tax"].grad == pytest.approx(200)


def test_fruit_graph_every_number_of_the_book_section_5_4_2():
    price = examples.fruit_graph()
    assert price.data == pytest.approx(715)
    by_name = {}
    stack = [price]
    while stack:
        v = stack.pop()
        by_name[v.name] = v
        if v.creator:
            stack.extend(a for a in v.creator.args if isinstance(a, Variable))
    values = {"apple_price": 200, "orange_price": 450, "all_price": 650}
    for name, value in values.items():
        assert by_name[name].data == pytest.approx(value)
    grads = {"apple": 2.2, "apple_num": 110, "orange": 3.3, "orange_num": 165, "apple_price": 1.1,
             "orange_price": 1.1, "all_price": 1.1, "tax": 650}
    for name, value in grads.items():
        assert by_name[name].grad == pytest.approx(value), name


def test_branch_rule_value_used_twice_adds_gradients():
    a = Variable(np.array([1.0, -2.0, 3.0]))
    b, c = a * 2.0, a * a           # B = f(A), C = g(A): dA = dB + dC
    (b + c).sum().backward()
    np.testing.assert_allclose(a.grad, 2.0 + 2 * a.data)


def test_bias_rule_b_grad_is_column_sums():
    rng = np.random.default_rng(3)
    x, W, b = Variable(rng.standard_normal((4, 3))), Variable(rng.standard_normal((3, 2))), Variable(np.zeros(2))
    y = x @ W + b
    dY = rng.standard_normal((4, 2))
    y.backward(dY)
    np.testing.assert_allclose(b.grad, dY.sum(axis=0))
    np.testing.assert_allclose(W.grad, x.data.T @ dY)
    np.testing.assert_allclose(x.grad, dY @ W.data.T)


def test_mlp_on_variables_equals_the_layers():
    """A two-layer perceptron written with @, +, relu, softmax_cross_entropy gives the layers' gradients (1e-10)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 6))
    t = rng.integers(0, 4, 8)
    W1, b1 = rng.standard_normal((6, 5)), rng.standard_normal(5)
    W2, b2 = rng.standard_normal((5, 4)), rng.standard_normal(4)

    vW1, vb1, vW2, vb2 = (Variable(p.copy(), n) for p, n in ((W1, "W1"), (b1, "b1"), (W2, "W2"), (b2, "b2")))
    loss = cr.softmax_cross_entropy(cr.relu(Variable(x) @ vW1 + vb1) @ vW2 + vb2, t)
    loss.backward()

    a1, relu, a2, last = Affine(W1, b1), Relu(), Affine(W2, b2), SoftmaxWithLoss()
    layer_loss = last.forward(a2.forward(relu.forward(a1.forward(x))), t)
    a1.backward(relu.backward(a2.backward(last.backward())))

    assert loss.data == pytest.approx(layer_loss, abs=1e-12)
    for var, grad in ((vW1, a1.dW), (vb1, a1.db), (vW2, a2.dW), (vb2, a2.db)):
        np.testing.assert_allclose(var.grad, grad, rtol=0, atol=1e-10)


def test_calling_a_layer_on_variables_records_the_graph():
    a, b = Variable(3.0, "a"), Variable(4.0, "b")
    c = MulLayer()(a, b)
    assert isinstance(c, Variable) and c.creator is not None
    c.backward()
    assert (a.grad, b.grad) == (4.0, 3.0)
    assert MulLayer()(np.array(2.0), 5.0) == 10.0  # plain values: plain forward


def test_one_layer_instance_can_be_two_nodes_and_keeps_each_ones_values():
    """Recording runs forward on a copy of the layer: each node keeps its own inputs for backward."""
    layer = MulLayer()
    a, b = Variable(2.0, "a"), Variable(5.0, "b")
    first = layer(a, a)              # a²
    second = layer(a, b)             # a·b, the same layer object again
    (first + second).backward()
    assert a.grad == pytest.approx(2 * 2.0 + 5.0) and b.grad == pytest.approx(2.0)


def test_calling_a_recorded_layer_again_by_hand_leaves_the_graph_intact():
    layer = MulLayer()
    a, b = Variable(3.0), Variable(4.0)
    out = layer(a, b)
    layer.forward(100.0, 200.0)      # by hand, in between: must not change out's node
    out.backward()
    assert (a.grad, b.grad) == (4.0, 3.0)


def test_a_10000_node_chain_backpropagates_without_recursion():
    x = Variable(np.array(1.0))
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_backward_twice_accumulates_and_cleargrad_resets():
    x = Variable(np.array([1.0, 2.0]))
    y = (x * x).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * x.data)
    x.cleargrad()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)
    cr.cleargrads(y)
    assert x.grad is None and y.grad is None


def test_intermediate_gradients_do_not_pile_up_across_passes():
    x = Variable(np.array(3.0))
    h = x * 2.0
    y = h * h
    y.backward()
    y.backward()
    assert h.grad == pytest.approx(2 * 6.0)       # the latest pass, not twice that
    assert x.grad == pytest.approx(2 * 24.0)      # leaves accumulate: 24 per pass


def test_no_grad_records_nothing():
    x = Variable(np.ones(3))
    with cr.no_grad():
        y = cr.relu(x * 2.0).sum()
    assert y.creator is None and y.data == 6.0
    z = (x * 2.0).sum()
    assert z.creator is not None


def test_backward_on_non_scalar_needs_dout():
    x = Variable(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"output has shape \(2, 3\); without dout it must be a scalar"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match=r"dout has shape \(3,\); expected \(2, 3\)"):
        (x * 2.0).backward(np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_graph_keeps_dtype(dtype):
    x = Variable(np.ones((2, 3), dtype))
    W = Variable(np.ones((3, 2), dtype))
    loss = cr.softmax_cross_entropy(cr.sigmoid(x @ W * 1.5 + 0.5), np.array([0, 1]))
    loss.backward()
    assert loss.dtype == dtype and x.grad.dtype == dtype and W.grad.dtype == dtype


def test_scalars_become_float64_variables():
    assert Variable(2).dtype == np.float64
    with pytest.raises(TypeError, match="already a Variable"):
        Variable(Variable(1.0))
