"""Every layer gradient-checked on random shapes in float64, plus values, dtypes and errors."""
import numpy as np
import pytest

from chainrule import array_math as F
from chainrule.gradcheck import gradient_check
from chainrule.layers import (AddLayer, Affine, Div, Exp, Log, MatMul, Mean, MeanSquaredError, MulLayer,
                              Neg, Pow, Relu, Reshape, Sigmoid, Softmax, SoftmaxWithLoss, Sub, Sum,
                              Tanh, Transpose)
from conftest import assert_gradients_match

SHAPES = [(3,), (2, 5), (4, 3, 2)]
BROADCAST_PAIRS = [((4, 3), (3,)), ((4, 3), (1, 3)), ((4, 1), (1, 3)), ((2, 4, 3), (4, 1)), ((3,), ())]


def away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return x + np.sign(x) * 0.1  # keep |x| ≥ 0.1: ReLU's kink and division by ~0 stay out of reach of h


@pytest.mark.parametrize("layer_cls", [MulLayer, AddLayer, Sub, Div])
@pytest.mark.parametrize("shape", SHAPES)
def test_binary_layers_gradcheck(layer_cls, shape, rng):
    x, y = away_from_zero(rng, shape), away_from_zero(rng, shape)
    assert_gradients_match(gradient_check(layer_cls(), x, y))


@pytest.mark.parametrize("layer_cls", [MulLayer, AddLayer, Sub, Div])
@pytest.mark.parametrize("x_shape,y_shape", BROADCAST_PAIRS)
def test_binary_layers_broadcast_gradients_sum_to_input_shapes(layer_cls, x_shape, y_shape, rng):
    x, y = away_from_zero(rng, x_shape), away_from_zero(rng, y_shape)
    report = gradient_check(layer_cls(), x, y)
    assert_gradients_match(report)
    assert report["x"].shape == x_shape and report["y"].shape == y_shape


def test_add_bias_gradient_is_column_sum():
    layer = AddLayer()
    layer.forward(np.zeros((2, 3)), np.array([1.0, 2.0, 3.0]))
    dY = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    dA, db = layer.backward(dY)
    np.testing.assert_array_equal(db, [5.0, 7.0, 9.0])  # the bias rule: db = Σ_rows dY = np.sum(dY, axis=0)
    np.testing.assert_array_equal(dA, dY)


@pytest.mark.parametrize("layer", [Relu, Sigmoid, Tanh, Exp, Neg, Softmax,
                                   lambda: Pow(3), lambda: Pow(-1.5), Log])
@pytest.mark.parametrize("shape", SHAPES)
def test_unary_layers_gradcheck(layer, shape, rng):
    x = away_from_zero(rng, shape)
    if layer in (Log,) or getattr(layer, "__name__", "") == "<lambda>":
        x = np.abs(x)  # log and fractional powers need x > 0
    assert_gradients_match(gradient_check(layer(), x))


@pytest.mark.parametrize("layer", [lambda: Sum(), lambda: Sum(axis=0), lambda: Sum(axis=(0, 2), keepdims=True),
                                   lambda: Mean(), lambda: Mean(axis=-1), lambda: Reshape((6, 4)),
                                   lambda: Transpose(), lambda: Transpose((1, 0, 2))])
def test_shape_layers_gradcheck(layer, rng):
    assert_gradients_match(gradient_check(layer(), rng.standard_normal((2, 3, 4))))


@pytest.mark.parametrize("a_shape,b_shape", [((4, 3), (3, 5)), ((3,), (3, 5)), ((4, 3), (3,)), ((3,), (3,)),
                                             ((2, 4, 3), (3, 5)), ((2, 4, 3), (2, 3, 5))])
def test_matmul_gradcheck(a_shape, b_shape, rng):
    report = gradient_check(MatMul(), rng.standard_normal(a_shape), rng.standard_normal(b_shape))
    assert_gradients_match(report)
    assert report["a"].shape == a_shape and report["b"].shape == b_shape


@pytest.mark.parametrize("x_shape", [(4, 6), (6,), (2, 3, 2, 1)])
def test_affine_gradcheck_vector_batch_and_images(x_shape, rng):
    W, b = rng.standard_normal((6, 5)), rng.standard_normal(5)
    layer = Affine(W, b)
    report = gradient_check(layer, rng.standard_normal(x_shape))
    assert_gradients_match(report)
    assert set(report) == {"x", "W", "b"}
    assert report["x"].shape == x_shape


def test_affine_values_match_the_book_formulas(rng):
    X, W, b = rng.standard_normal((20, 50)), rng.standard_normal((50, 10)), rng.standard_normal(10)
    dY = rng.standard_normal((20, 10))
    layer = Affine(W, b)
    np.testing.assert_allclose(layer.forward(X), np.dot(X, W) + b)
    dX = layer.backward(dY)
    np.testing.assert_allclose(dX, np.dot(dY, W.T))
    np.testing.assert_allclose(layer.dW, np.dot(X.T, dY))
    np.testing.assert_allclose(layer.db, np.sum(dY, axis=0))
    assert layer.params["W"] is W and layer.grads["W"] is layer.dW


def test_affine_images_are_flattened_and_restored(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    layer = Affine(rng.standard_normal((48, 7)), np.zeros(7))
    out = layer.forward(x)
    assert out.shape == (2, 7)
    assert layer.backward(np.ones((2, 7))).shape == (2, 3, 4, 4)


def test_affine_skips_input_gradient_when_asked(rng):
    layer = Affine(rng.standard_normal((4, 3)), np.zeros(3))
    layer.input_grad = False
    layer.forward(rng.standard_normal((2, 4)))
    assert layer.backward(np.ones((2, 3))) is None
    assert layer.dW.shape == (4, 3)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_gradcheck(one_hot, rng):
    x = rng.standard_normal((5, 4))
    t = rng.integers(0, 4, 5)
    if one_hot:
        t = F.one_hot(t, 4)
    report = gradient_check(SoftmaxWithLoss(), x, t)
    assert_gradients_match(report)
    assert set(report) == {"x"}


def test_softmax_with_loss_backward_is_y_minus_t_over_n(rng):
    x, t = rng.standard_normal((3, 4)), np.array([0, 3, 1])
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    expected = (F.softmax(x) - F.one_hot(t, 4)) / 3
    np.testing.assert_allclose(layer.backward(), expected)
    np.testing.assert_allclose(layer.backward(2.0), 2 * expected)  # dout is honoured


def test_softmax_with_loss_indices_and_one_hot_agree(rng):
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    np.testing.assert_allclose(a.forward(x, t), b.forward(x, F.one_hot(t, 5)))
    np.testing.assert_allclose(a.backward(), b.backward())


def test_softmax_with_loss_single_vector():
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([0.3, 2.9, 4.0]), np.array([0, 0, 1]))
    assert loss == pytest.approx(-np.log(F.softmax(np.array([0.3, 2.9, 4.0]))[2]))
    assert layer.backward().shape == (3,)


def test_softmax_with_loss_is_stable_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
    layer = SoftmaxWithLoss()
    right = layer.forward(x, np.array([0, 1]))
    assert right == 0.0  # a confident right answer costs nothing, not ~1e-7 noise
    assert np.all(np.isfinite(layer.backward()))
    wrong = SoftmaxWithLoss().forward(x, np.array([2, 0]))
    assert np.isfinite(wrong) and wrong == pytest.approx(2e4)  # both rows: 1e4 − (−1e4)


def test_softmax_rows_sum_to_one_and_sigmoid_is_stable():
    y = Softmax().forward(np.array([[1000.0, 0.0], [-5.0, -5.0]]))
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    with np.errstate(over="raise"):
        s = Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(s, [0.0, 0.5, 1.0])


def test_mean_squared_error_values_and_gradcheck(rng):
    y, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer = MeanSquaredError()
    assert layer.forward(y, t) == pytest.approx(0.5 * np.sum((y - t) ** 2) / 4)
    dy, dt = layer.backward()
    np.testing.assert_allclose(dy, (y - t) / 4)
    np.testing.assert_allclose(dt, -(y - t) / 4)  # the target is an input too: its gradient is the opposite
    assert_gradients_match(gradient_check(MeanSquaredError(), y, t))


def test_relu_values_and_mask():
    layer = Relu()
    out = layer.forward(np.array([[1.0, -0.5], [-2.0, 3.0]]))
    np.testing.assert_array_equal(out, [[1.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 5.0], [5.0, 5.0]])), [[5.0, 0.0], [0.0, 5.0]])


@pytest.mark.parametrize("layer_cls", [Relu, Sigmoid, Tanh, Exp, Softmax])
def test_backward_never_writes_into_dout(layer_cls, rng):
    layer = layer_cls()
    layer.forward(rng.standard_normal((3, 4)))
    dout = rng.standard_normal((3, 4))
    kept = dout.copy()
    layer.backward(dout)
    np.testing.assert_array_equal(dout, kept)


def test_one_gradient_fed_to_two_branches_is_not_damaged(rng):
    """The seed's Relu zeroed dout in place: with two branches, the second saw a corrupted gradient."""
    x = rng.standard_normal((4, 3))
    dout = rng.standard_normal((4, 3))
    relu, sigmoid = Relu(), Sigmoid()
    relu.forward(x)
    y = sigmoid.forward(x)
    add = AddLayer()
    add.forward(x, x)
    d1, d2 = add.backward(dout)
    d1[...] = 0  # a caller changing one branch's gradient leaves the other alone
    np.testing.assert_array_equal(d2, dout)
    dx_relu = relu.backward(dout)
    dx_sigmoid = sigmoid.backward(dout)
    np.testing.assert_allclose(dx_relu, dout * (x > 0))
    np.testing.assert_allclose(dx_sigmoid, dout * y * (1 - y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype, rng):
    x = rng.standard_normal((4, 6)).astype(dtype)
    W, b = rng.standard_normal((6, 3)).astype(dtype), np.zeros(3, dtype)
    affine, relu, loss = Affine(W, b), Relu(), SoftmaxWithLoss()
    h = relu.forward(affine.forward(x))
    value = loss.forward(h, np.array([0, 1, 2, 0]))
    assert h.dtype == dtype and np.asarray(value).dtype == dtype
    dx = affine.backward(relu.backward(loss.backward()))
    assert dx.dtype == dtype and affine.dW.dtype == dtype and affine.db.dtype == dtype
    for layer in (Sigmoid(), Tanh(), Softmax(), Exp()):
        assert layer.forward(x).dtype == dtype and layer.backward(np.ones_like(x)).dtype == dtype
    mul = MulLayer()
    assert mul.forward(x, 1.1).dtype == dtype and mul.backward(np.ones_like(x))[0].dtype == dtype
    one_hot_loss = SoftmaxWithLoss()
    one_hot_loss.forward(x, F.one_hot(np.array([0, 1, 2, 0]), 6, dtype=np.int64))
    assert one_hot_loss.backward().dtype == dtype
    mse = MeanSquaredError()
    mse.forward(x, np.zeros((4, 6)))
    assert mse.backward()[0].dtype == dtype


def test_affine_casts_input_to_its_parameter_dtype(rng):
    layer = Affine(rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32))
    assert layer.forward(rng.standard_normal((5, 3))).dtype == np.float32


# --- clear errors ------------------------------------------------------------

def test_affine_wrong_feature_count_names_layer_and_shapes():
    layer = Affine(np.zeros((784, 50)), np.zeros(50))
    with pytest.raises(ValueError, match=r"Affine: x has shape \(100, 783\).*W has shape \(784, 50\).*784"):
        layer.forward(np.zeros((100, 783)))


def test_affine_bad_bias_shape():
    with pytest.raises(ValueError, match=r"Affine: b has shape \(4,\); expected \(5,\)"):
        Affine(np.zeros((3, 5)), np.zeros(4))


def test_affine_bad_dout_shape():
    layer = Affine(np.zeros((3, 5)), np.zeros(5))
    layer.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Affine: dout has shape \(2, 4\); expected \(2, 5\)"):
        layer.backward(np.zeros((2, 4)))


@pytest.mark.parametrize("labels", [np.array([0, 10, 3]), np.array([-1, 0, 3])])
def test_softmax_with_loss_label_out_of_range(labels):
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels t: label (10|-1) is outside the classes "
                                         r"\[0, 10\).*\(3, 10\)"):
        SoftmaxWithLoss().forward(np.zeros((3, 10)), labels)


def test_softmax_with_loss_one_hot_shape_mismatch():
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels t have shape \(3, 9\); expected class indices of "
                                         r"shape \(3,\) or one-hot rows of shape \(3, 10\) \(logits x have shape "
                                         r"\(3, 10\)\)"):
        SoftmaxWithLoss().forward(np.zeros((3, 10)), np.zeros((3, 9)))


def test_softmax_with_loss_label_rows_must_sum_to_one():
    t = np.zeros((2, 3))
    t[0, 1] = 1
    t[1, [0, 2]] = 1  # two hot: y − t would be the wrong gradient
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels t: label row 1 \(of shape \(2, 3\)\) sums to 2"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), t)
    soft = np.array([[0.2, 0.8, 0.0], [1 / 3, 1 / 3, 1 / 3]])  # probability rows are fine
    assert_gradients_match(gradient_check(SoftmaxWithLoss(), np.random.default_rng(0).standard_normal((2, 3)), soft))


def test_softmax_with_loss_float_labels_are_not_indices():
    with pytest.raises(ValueError, match="must be integer class indices"):
        SoftmaxWithLoss().forward(np.zeros((3, 10)), np.array([1.0, 2.0, 3.0]))


def test_binary_layer_shape_mismatch():
    with pytest.raises(ValueError, match=r"Mul: cannot broadcast x of shape \(2, 3\) with y of shape \(4,\)"):
        MulLayer().forward(np.zeros((2, 3)), np.zeros(4))


def test_matmul_inner_dimension_mismatch():
    with pytest.raises(ValueError, match=r"MatMul: A has shape \(2, 3\) and B has shape \(4, 5\)"):
        MatMul().forward(np.zeros((2, 3)), np.zeros((4, 5)))


def test_mse_shape_mismatch():
    with pytest.raises(ValueError, match=r"MeanSquaredError: prediction y has shape \(4, 1\) but target t has shape"):
        MeanSquaredError().forward(np.zeros((4, 1)), np.zeros(4))


def test_log_negative_input_is_an_error():
    with pytest.raises(ValueError, match=r"Log: input of shape \(3,\) has 1 negative value"):
        Log().forward(np.array([1.0, -2.0, 3.0]))


@pytest.mark.parametrize("layer,message", [
    (lambda: Sum(axis=5), r"Sum: axis 5 is out of range for x of shape \(2, 3\)"),
    (lambda: Mean(axis=(0, -3)), r"Mean: axis \(0, -3\) is out of range"),
    (lambda: Transpose((0, 3)), r"Transpose: axes \(0, 3\) are not a permutation"),
    (lambda: Reshape((4, 2)), r"Reshape: cannot reshape x of shape \(2, 3\)")])
def test_shape_layers_bad_axes(layer, message):
    with pytest.raises(ValueError, match=message):
        layer().forward(np.zeros((2, 3)))
