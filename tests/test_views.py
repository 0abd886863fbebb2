"""Every layer gives the same values and gradients for array views as for contiguous copies.

Views are what NumPy hands out without copying: a transpose, a slice with a step, a negative stride, a
Fortran-ordered array. A layer that reshapes and then writes in place, or assumes C order, computes on a copy
and loses the write (softmax-with-loss of ``v.T`` was 0.2 off). Every layer of ``chainrule.layers.ALL``, by
hand and in a recorded graph, is run on random shapes with each kind of view for every input and for dout,
and must agree with the contiguous run exactly (the same numbers, bit for bit, or to float rounding).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import functions as F
from chainrule.graph import Variable
from chainrule.layers import (ALL, Add, Affine, BatchNormalization, Convolution, Div, Dropout, Exp, Flatten, Log,
                              MatMul, Mean, MeanSquaredError, Mul, Neg, Pooling, Pow, Relu, Reshape, Sigmoid,
                              Softmax, SoftmaxWithLoss, Sub, Sum, Tanh, Transpose)

VIEWS = ["transposed", "strided", "reversed", "fortran"]


def as_view(a, kind):
    """An array equal to ``a`` that is a non-contiguous view of another (or Fortran-ordered)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    if kind == "transposed":
        return np.ascontiguousarray(a.T).T
    if kind == "strided":
        base = np.zeros((a.shape[0] * 2, *a.shape[1:]), dtype=a.dtype)
        base[::2] = a
        return base[::2]
    if kind == "reversed":
        return np.ascontiguousarray(a[::-1])[::-1]
    return np.asfortranarray(a)


def cases(rng):
    """(layer factory, inputs, name) for every layer, on random shapes."""
    n, c = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    x = rng.standard_normal((n, c))
    pos = np.abs(x) + 0.5
    labels = rng.integers(0, c, n)
    onehot = np.eye(c)[labels]
    img = rng.standard_normal((2, 2, 5, 5))
    W, b = rng.standard_normal((c, 3)), rng.standard_normal(3)
    K1, c1, K2, c2 = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), rng.standard_normal((3, 2, 2, 2)), \
        rng.standard_normal(3)
    return [
        (Mul, [x, rng.standard_normal((n, c))]), (Add, [x, rng.standard_normal(c)]),
        (Sub, [x, rng.standard_normal((n, c))]), (Div, [x, pos]), (Neg, [x]), (lambda: Pow(3), [x]),
        (Relu, [x]), (Sigmoid, [x]), (Tanh, [x]), (Exp, [x]), (Log, [pos]), (Softmax, [x]),
        (MatMul, [x, rng.standard_normal((c, 3))]),
        (lambda: Affine(W.copy(), b.copy()), [x]),
        (lambda: Sum(axis=0), [x]), (lambda: Mean(axis=1), [x]), (lambda: Reshape((c, n)), [x]),
        (Transpose, [x]), (SoftmaxWithLoss, [x, labels]), (SoftmaxWithLoss, [x, onehot]),
        (MeanSquaredError, [x, rng.standard_normal((n, c))]), (lambda: Dropout(0.3, seed=1), [x]),
        (lambda: BatchNormalization(np.ones(c) * 1.5, np.full(c, 0.2)), [x]),
        (lambda: Convolution(K1.copy(), c1.copy(), stride=1, pad=1), [img]),
        (lambda: Convolution(K2.copy(), c2.copy(), stride=2, pad=0), [img]),
        (lambda: Pooling(2, 2, stride=1), [img]), (lambda: Pooling(2, 2, stride=2, mode="average"), [img]),
        (Flatten, [img]),
    ]


def run(make, inputs, dout_view=None, seed=0):
    layer = make()
    out = layer.forward(*inputs)
    rng = np.random.default_rng(seed)
    dout = rng.standard_normal(np.shape(out)) if np.ndim(out) else 1.0
    if dout_view is not None and np.ndim(dout):
        dout = as_view(dout, dout_view)
    grads = layer.backward(dout)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return np.array(out), [None if g is None else np.array(g) for g in grads], [np.array(g) for g in
                                                                               layer.grads.values()]


def test_every_layer_is_covered():
    covered = {type(make()).__name__ for make, _ in cases(np.random.default_rng(0))}
    assert covered == {cls.__name__ for cls in ALL}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(VIEWS))
def test_views_give_the_same_values_and_gradients_as_contiguous_copies(seed, kind):
    rng = np.random.default_rng(seed)
    for make, inputs in cases(rng):
        expected = run(make, [np.ascontiguousarray(a) for a in inputs])
        for which in range(len(inputs)):
            viewed = [as_view(a, kind) if i == which else np.ascontiguousarray(a) for i, a in enumerate(inputs)]
            got = run(make, viewed, dout_view=kind)
            name = f"{type(make()).__name__} with input {which} {kind}"
            np.testing.assert_allclose(got[0], expected[0], rtol=1e-12, atol=1e-13, err_msg=name)
            for g, e in zip(got[1] + got[2], expected[1] + expected[2]):
                if e is not None:
                    np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("kind", VIEWS)
def test_a_graph_of_views_gives_the_gradients_of_its_copies(kind):
    """softmax_cross_entropy(v.T, t): the gradient was 0.2 off for the transposed Variable."""
    rng = np.random.default_rng(3)
    raw, t = rng.standard_normal((3, 4)), np.array([0, 2, 1, 1])
    grads = []
    for data in (np.ascontiguousarray(raw), as_view(raw, kind)):
        v = Variable(data, "v")
        loss = F.softmax_cross_entropy(v.T, t) + (F.relu(v) * v).sum()
        loss.backward()
        grads.append(v.grad.copy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-14)
