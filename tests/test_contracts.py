"""Types and contracts in the layers and the engine: a clear error naming the layer, or a correct answer;
never a silent wrong answer or a NaN that spreads."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import array_math as F
from chainrule.graph import GraphError, Variable
from chainrule.layers import (Affine, BatchNormalization, Mean, MeanSquaredError, Mul, Pow, Relu, Sigmoid, Softmax,
                              SoftmaxWithLoss)


# --- integer, boolean, complex and object data --------------------------------------------------------------

def test_integer_weights_are_refused_not_used_to_truncate():
    with pytest.raises(TypeError, match=r"Affine: W has dtype int64; parameters must be floating point"):
        Affine(np.array([[1, 2], [3, 4]]), np.zeros(2))


def test_integer_and_boolean_inputs_are_computed_in_floating_point():
    out = Affine(np.ones((2, 2)), np.zeros(2)).forward(np.array([[1, 2]]))
    assert out.dtype == np.float64 and out.tolist() == [[3.0, 3.0]]
    assert Sigmoid().forward(np.array([0, 1])).dtype == np.float64
    loss = SoftmaxWithLoss()
    assert np.isfinite(loss.forward(np.array([[1, 2, 3]]), np.array([2])))  # integer logits: no casting error
    assert Mul().forward(np.array([True, False]), 0.5).tolist() == [0.5, 0.0]


def test_an_integer_variable_gets_a_float_gradient():
    v = Variable(np.array([3, 4]))
    assert v.dtype == np.float64
    (v * 1.0).backward(np.array([0.5, 0.25]))
    assert v.grad.tolist() == [0.5, 0.25]  # not truncated to [0, 0]
    w = Variable(np.array(3))
    (w * 2.0).backward(0.5)
    assert w.grad == 1.0


@pytest.mark.parametrize("bad,what", [(np.array([1 + 2j]), "complex"), (np.array([1, None], dtype=object), "objects"),
                                      (np.array(["a"]), "text")])
def test_complex_object_and_text_data_are_refused(bad, what):
    with pytest.raises(TypeError, match=f"Relu: input x is an array of.*{what}"):
        Relu().forward(bad)
    with pytest.raises(TypeError, match=f"Variable: data of dtype .*{what.rstrip('s')}"):
        Variable(bad)


def test_lists_and_variables_passed_to_forward_are_refused_by_name():
    with pytest.raises(TypeError, match=r"Mul: input x is a list \(convert it with np.asarray first\)"):
        Mul().forward([1, 2], 3)
    with pytest.raises(TypeError, match=r"Relu: input x is a Variable .*call the layer itself"):
        Relu().forward(Variable(1.0))
    with pytest.raises(TypeError, match=r"Relu: dout is a list"):
        layer = Relu()
        layer.forward(np.ones(2))
        layer.backward([1.0, 1.0])


# --- math edge cases -----------------------------------------------------------------------------------

def test_power_zero_has_gradient_zero_even_at_zero():
    x = Variable(np.array([0.0, 2.0]))
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    layer = Pow(0)
    layer.forward(np.array([0.0]))
    assert layer.backward(np.array([1.0])).tolist() == [0.0]


@pytest.mark.parametrize("make,args,message", [
    (lambda: Affine(np.ones((3, 2)), np.zeros(2)), [np.zeros((0, 3))], r"Affine: x has shape \(0, 3\), an empty batch"),
    (lambda: SoftmaxWithLoss(), [np.zeros((0, 3)), np.zeros(0, int)], r"SoftmaxWithLoss: logits x have shape \(0, 3\)"),
    (lambda: BatchNormalization(np.ones(3), np.zeros(3)), [np.zeros((0, 3))],
     r"BatchNormalization: x has shape \(0, 3\)"),
    (lambda: MeanSquaredError(), [np.zeros((0, 2)), np.zeros((0, 2))], r"MeanSquaredError: y has shape \(0, 2\)"),
    (lambda: Mean(), [np.zeros((0, 3))], r"Mean: x has shape \(0, 3\): the mean .* averages 0 elements"),
    (lambda: Softmax(), [np.zeros((2, 0))], r"Softmax: x has shape \(2, 0\)"),
])
def test_empty_batches_are_an_error_naming_the_layer(make, args, message):
    with pytest.raises(ValueError, match=message):
        make().forward(*args)


def test_backward_before_forward_says_so():
    with pytest.raises(RuntimeError, match="Relu: backward was called before forward"):
        Relu().backward(np.ones(3))
    with pytest.raises(RuntimeError, match="Affine: backward was called before forward"):
        Affine(np.ones((2, 2)), np.zeros(2)).backward(np.ones((1, 2)))


# --- labels --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [np.array([-1, 2]), np.array([0, 3]), np.array([200, 1])])
def test_labels_outside_the_classes_are_refused_everywhere(labels):
    with pytest.raises(ValueError, match=r"one_hot: label -?\d+ is outside the classes \[0, 3\)"):
        F.one_hot(labels, 3)
    with pytest.raises(ValueError, match=r"cross_entropy: label -?\d+ is outside"):
        F.cross_entropy(np.log(np.full((2, 3), 1 / 3)), labels)
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels t: label -?\d+ is outside"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), labels)


@pytest.mark.parametrize("rows,message", [([[np.nan, 1, 0], [0, 1, 0]], "NaN or infinite"),
                                          ([[-1, 2, 0], [0, 1, 0]], "negative values"),
                                          ([[0.5, 0, 0], [0, 1, 0]], "label row 0 .* sums to 0.5")])
def test_bad_one_hot_rows_are_refused(rows, message):
    with pytest.raises(ValueError, match=message):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array(rows))


def test_float_class_indices_are_refused():
    with pytest.raises(ValueError, match="must be integer class indices, got dtype float64"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([1.0, 2.0]))


# --- targets that are Variables --------------------------------------------------------------------------

def test_a_variable_regression_target_gets_its_gradient(rng):
    y, t = Variable(rng.standard_normal((3, 2))), Variable(rng.standard_normal((3, 2)))
    F_loss = cr.mean_squared_error(y, t)
    F_loss.backward()
    np.testing.assert_allclose(t.grad, -(y.data - t.data) / 3)
    np.testing.assert_allclose(y.grad, (y.data - t.data) / 3)


def test_variable_labels_are_refused_not_treated_as_constants():
    with pytest.raises(TypeError, match="SoftmaxWithLoss: t is a Variable, but t receives no gradient"):
        cr.softmax_cross_entropy(Variable(np.zeros((2, 3))), Variable(np.array([0.0, 1.0])))


# --- the engine checks what backward returns ---------------------------------------------------------------

class ForgetsY(Mul):
    def backward(self, dout):
        return super().backward(dout)[0]  # only dx for two inputs


class WrongShape(Relu):
    def backward(self, dout):
        return np.ones(7)


def test_engine_names_a_layer_that_returns_too_few_gradients():
    with pytest.raises(GraphError, match=r"ForgetsY.backward returned 1 gradient\(s\) for 2 input\(s\) \(x, y\)"):
        ForgetsY()(Variable(1.0), Variable(2.0)).backward()


def test_engine_names_a_layer_that_returns_a_wrong_shape():
    with pytest.raises(GraphError, match=r"WrongShape.backward gave a gradient of shape \(7,\) for input x of shape "
                                         r"\(3,\)"):
        WrongShape()(Variable(np.ones(3))).sum().backward()


class SendsText(Mul):
    def backward(self, dout):
        return super().backward(dout)[0], "abc"


class SendsRagged(Relu):
    def backward(self, dout):
        return [[1.0], [1.0, 2.0]]


def test_engine_names_a_layer_whose_gradient_holds_no_numbers():
    """'abc' for a scalar input passed the shape check and reached the next layer as its dout ("Add: dout is a
    str"); a ragged list ended in NumPy's "inhomogeneous shape"."""
    with pytest.raises(GraphError, match=r"SendsText.backward gave str 'abc' for input y; expected an array of "
                                         r"numbers of shape \(\)"):
        (SendsText()(Variable(1.0), Variable(2.0) + 1.0)).backward()
    with pytest.raises(GraphError, match=r"SendsRagged.backward gave list \[\[1.0\], \[1.0, 2.0\]\] for input x; "
                                         r"expected an array of numbers of shape \(2, 2\)"):
        SendsRagged()(Variable(np.ones((2, 2)))).sum().backward()


def test_a_gradient_is_judged_by_its_dtype_without_a_copy():
    """A CuPy array cannot be read by np.asarray (it refuses the implicit copy to the host): a gradient is judged
    by its dtype alone, so a GPU graph's gradients were never mistaken for no numbers."""
    from chainrule.graph import holds_numbers

    class DeviceArray:          # what a CuPy array shows the engine: a dtype, and no conversion to NumPy
        dtype = np.dtype(np.float32)

        def __array__(self, *args, **kwargs):
            raise TypeError("Implicit conversion to a NumPy array is not allowed")
    assert holds_numbers(DeviceArray()) and holds_numbers(np.float32(1)) and holds_numbers(2)
    assert not holds_numbers("abc") and not holds_numbers([[1.0], [1.0, 2.0]]) and not holds_numbers(np.array("x"))


def test_a_variable_exponent_is_refused_clearly():
    with pytest.raises(TypeError, match="Pow: the exponent must be a number, got Variable"):
        Variable(2.0) ** Variable(3.0)


def test_calling_a_recorded_layer_again_by_hand_keeps_the_graph_right(rng):
    layer = Affine(rng.standard_normal((3, 2)), np.zeros(2))
    x = Variable(rng.standard_normal((4, 3)))
    out = layer(x).sum()
    layer.forward(rng.standard_normal((9, 3)))   # by hand, with another batch
    layer.backward(np.ones((9, 2)))
    out.backward()
    np.testing.assert_allclose(layer.parameters["W"].grad, x.data.T @ np.ones((4, 2)))
    np.testing.assert_allclose(x.grad, np.ones((4, 2)) @ layer.W.T)


def test_shape_layers_refuse_malformed_arguments_by_name():
    from chainrule.layers import Reshape, Transpose
    assert Reshape(-1).forward(np.ones((2, 3))).shape == (6,)
    with pytest.raises(ValueError, match="Reshape: the shape must be an int or a tuple of ints"):
        Reshape("a")
    with pytest.raises(ValueError, match="Transpose: axes must be None or a tuple of ints"):
        Transpose("ab")
