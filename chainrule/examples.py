"""The book's worked examples, runnable: ``python -m chainrule.examples``.

* the apple graph (book §5.4.1): 2 apples at 100, tax 1.1 → 220;
* the apple and orange graph (§5.4.2): + 3 oranges at 150 → 715;
* a 3×10 batch through SoftmaxWithLoss (§5.6.3), with a row-wise softmax;
* a two-layer perceptron on a batch of 4, written with Variables (§5.7).

The shopping graphs exist twice: with layers called by hand in forward and
reverse order (the book's way), and with Variables whose graph runs backward by
itself. Every function builds fresh Variables, so running one twice gives the
same numbers (gradients of shared Variables would otherwise add up).
"""
from __future__ import annotations

import numpy as np

from . import functions as F
from .console import quiet_broken_pipe
from .graph import Variable
from .layers import AddLayer, MulLayer, SoftmaxWithLoss


def apple_layers(apple=100, apple_num=2, tax=1.1):
    """The apple graph with MulLayers by hand; returns price and gradients by name.

    >>> r = apple_layers()
    >>> [round(r[k], 10) for k in ("price", "apple", "apple_num", "tax")]
    [220.0, 2.2, 110.0, 200]
    """
    mul_apple_layer, mul_tax_layer = MulLayer(), MulLayer()
    apple_price = mul_apple_layer.forward(apple, apple_num)
    price = mul_tax_layer.forward(apple_price, tax)
    dprice = 1
    dapple_price, dtax = mul_tax_layer.backward(dprice)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    return {"price": price, "apple": dapple, "apple_num": dapple_num, "tax": dtax}


def fruit_layers(apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1):
    """The apple and orange graph with layers by hand; returns values and gradients by name."""
    mul_apple_layer, mul_orange_layer = MulLayer(), MulLayer()
    add_apple_orange_layer, mul_tax_layer = AddLayer(), MulLayer()
    apple_price = mul_apple_layer.forward(apple, apple_num)
    orange_price = mul_orange_layer.forward(orange, orange_num)
    all_price = add_apple_orange_layer.forward(apple_price, orange_price)
    price = mul_tax_layer.forward(all_price, tax)
    dprice = 1
    dall_price, dtax = mul_tax_layer.backward(dprice)
    dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    dorange, dorange_num = mul_orange_layer.backward(dorange_price)
    return {"price": price, "apple_price": apple_price, "orange_price": orange_price, "all_price": all_price,
            "d": {"apple": dapple, "apple_num": dapple_num, "orange": dorange, "orange_num": dorange_num,
                  "apple_price": dapple_price, "orange_price": dorange_price, "all_price": dall_price,
                  "tax": dtax}}


def named(variable, name):
    """Give an intermediate Variable its name (drawings and explanations use it) and return it."""
    variable.name = name
    return variable


def apple_graph(apple=100, apple_num=2, tax=1.1, backward=True):
    """The apple graph built from Variables; returns the output ``price`` (after backward unless told not to)."""
    apple, apple_num, tax = Variable(apple, "apple"), Variable(apple_num, "apple_num"), Variable(tax, "tax")
    apple_price = named(apple * apple_num, "apple_price")
    price = named(apple_price * tax, "price")
    if backward:
        price.backward()
    return price


def fruit_graph(apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1, backward=True):
    """The apple and orange graph built from Variables; returns ``price`` (after backward unless told not to)."""
    apple, apple_num = Variable(apple, "apple"), Variable(apple_num, "apple_num")
    orange, orange_num = Variable(orange, "orange"), Variable(orange_num, "orange_num")
    tax = Variable(tax, "tax")
    apple_price = named(apple * apple_num, "apple_price")
    orange_price = named(orange * orange_num, "orange_price")
    all_price = named(apple_price + orange_price, "all_price")
    price = named(all_price * tax, "price")
    if backward:
        price.backward()
    return price


def mlp_graph(seed=0, batch=4, sizes=(3, 5, 2), backward=True):
    """A two-layer perceptron on a tiny batch, written with Variables: Z1 = x·W1 + b1, H = relu(Z1),
    Z2 = H·W2 + b2, loss = softmax-with-loss(Z2, t) (book §5.7, the matrix rules of §5.6).

    Returns the loss Variable; its graph holds x, W1, b1, W2, b2 and the labels t as a constant.
    """
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = sizes
    x = Variable(rng.standard_normal((batch, n_in)), "x")
    W1 = Variable(rng.standard_normal((n_in, n_hidden)) * 0.5, "W1")
    b1 = Variable(np.zeros(n_hidden), "b1")
    W2 = Variable(rng.standard_normal((n_hidden, n_out)) * 0.5, "W2")
    b2 = Variable(np.zeros(n_out), "b2")
    labels = rng.integers(0, n_out, batch)
    z1 = named(x @ W1 + b1, "Z1")
    hidden = named(F.relu(z1), "H")
    scores = named(hidden @ W2 + b2, "Z2")
    loss = named(F.softmax_cross_entropy(scores, labels), "loss")
    if backward:
        loss.backward()
    return loss


def cnn_graph(seed=0, backward=True):
    """A small convolutional network on two 6×6 images (book §7): conv (2 filters 3×3) → ReLU → 2×2 max
    pooling → flatten → Affine → softmax-with-loss. Returns the loss Variable; its graph holds the
    images, the filters and weights (as Parameters W1, b1, W2, b2) and the labels."""
    from .layers import Affine, Convolution, Flatten, Pooling
    rng = np.random.default_rng(seed)
    x = Variable(rng.standard_normal((2, 1, 6, 6)).round(1), "x")
    conv = Convolution(rng.standard_normal((2, 1, 3, 3)).round(2) * 0.5, np.zeros(2))
    affine = Affine(rng.standard_normal((8, 3)).round(2) * 0.5, np.zeros(3))
    for layer, number in ((conv, 1), (affine, 2)):
        for name, p in layer.parameters.items():
            p.name = f"{name}{number}"
    z = named(conv(x), "Z1")
    h = named(F.relu(z), "H")
    pooled = named(Pooling(2, 2, 2)(h), "P")
    scores = named(affine(Flatten()(pooled)), "Z2")
    loss = named(F.softmax_cross_entropy(scores, np.array([0, 2])), "loss")
    if backward:
        loss.backward()
    return loss


#: the graphs ``chainrule graph NAME`` draws
GRAPHS = {"apple": apple_graph, "fruit": fruit_graph, "mlp": mlp_graph, "cnn": cnn_graph}

#: a 3×10 batch of logits and one-hot labels (rows: classes 7, 4, 9)
SOFTMAX_BATCH_LOGITS = np.array([
    [1.0, 3.0, 5.0, 7.0, 9.0, 1.5, 3.5, 5.5, 7.5, 9.5],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [-10.0, -8.0, -6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0],
])
SOFTMAX_BATCH_LABELS = np.zeros((3, 10))
SOFTMAX_BATCH_LABELS[[0, 1, 2], [7, 4, 9]] = 1


def softmax_with_loss_batch():
    """The 3×10 batch through SoftmaxWithLoss: (loss, per-row losses, y, dx).

    Softmax is taken per row: the losses are 4.6194, 2.3026, 0.1454 (mean
    2.3558). One softmax over the whole batch instead (rows that do not sum to
    1) would give 5.4168: a classic mistake.
    """
    layer = SoftmaxWithLoss()
    loss = layer.forward(SOFTMAX_BATCH_LOGITS, SOFTMAX_BATCH_LABELS)
    dx = layer.backward()
    per_row = -np.log(layer.y[SOFTMAX_BATCH_LABELS.astype(bool)])
    return loss, per_row, layer.y, dx


def main():
    """Print the book's worked examples (``chainrule examples``)."""
    r = apple_layers()
    print("apple (layers):   price", r["price"], "| d apple", f"{r['apple']},", "d apple_num", f"{r['apple_num']},",
          "d tax", r["tax"])
    r = fruit_layers()
    print("fruit (layers):   price", r["price"], "|", ", ".join(f"d {k} {v}" for k, v in r["d"].items()))
    print("                  (every number as Python prints it, as the book does: 220.00000000000003 is 220 "
          "after the rounding of 100 × 2 × 1.1 in floating point)")
    price = fruit_graph()
    print("fruit (graph):    price", f"{price.data:.6g}", "(backward filled .grad of every Variable)")
    loss, per_row, y, dx = softmax_with_loss_batch()
    print(f"SoftmaxWithLoss on a 3×10 batch: mean loss {loss:.4f}, per row {np.round(per_row, 4)}, "
          f"row sums of y {np.round(y.sum(axis=1), 6)}")
    print("dx = (y − t) / 3 (rounded to 3):\n", np.round(dx, 3))


if __name__ == "__main__":
    with quiet_broken_pipe():
        main()
