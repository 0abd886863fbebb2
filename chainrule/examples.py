"""The seeds' worked examples, runnable: ``python -m chainrule.examples``.

* the apple graph (book §5.4.1): 2 apples at 100, tax 1.1 → 220;
* the apple and orange graph (§5.4.2): + 3 oranges at 150 → 715;
* the 3×10 SoftmaxWithLoss batch of seed 001 (with a correct row-wise softmax).

Each exists twice: with layers called by hand in forward and reverse order
(the book's way), and with Variables whose graph runs backward by itself.
"""
from __future__ import annotations

import numpy as np

from .graph import Variable
from .layers import AddLayer, MulLayer, SoftmaxWithLoss


def apple_layers(apple=100, apple_num=2, tax=1.1):
    """The apple graph with MulLayers by hand; returns price and gradients by name."""
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


def apple_graph(apple=100, apple_num=2, tax=1.1):
    """The apple graph built from Variables; returns the output ``price`` after backward."""
    apple, apple_num, tax = Variable(apple, "apple"), Variable(apple_num, "apple_num"), Variable(tax, "tax")
    apple_price = apple * apple_num
    apple_price.name = "apple_price"
    price = apple_price * tax
    price.name = "price"
    price.backward()
    return price


def fruit_graph(apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1):
    """The apple and orange graph built from Variables; returns ``price`` after backward."""
    apple, apple_num = Variable(apple, "apple"), Variable(apple_num, "apple_num")
    orange, orange_num = Variable(orange, "orange"), Variable(orange_num, "orange_num")
    tax = Variable(tax, "tax")
    apple_price = apple * apple_num
    apple_price.name = "apple_price"
    orange_price = orange * orange_num
    orange_price.name = "orange_price"
    all_price = apple_price + orange_price
    all_price.name = "all_price"
    price = all_price * tax
    price.name = "price"
    price.backward()
    return price


#: seed 001's 3×10 logits and one-hot labels (rows: classes 7, 4, 9)
SEED001_LOGITS = np.array([
    [1.0, 3.0, 5.0, 7.0, 9.0, 1.5, 3.5, 5.5, 7.5, 9.5],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [-10.0, -8.0, -6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0],
])
SEED001_LABELS = np.zeros((3, 10))
SEED001_LABELS[[0, 1, 2], [7, 4, 9]] = 1


def softmax_with_loss_seed001():
    """Seed 001's batch through SoftmaxWithLoss: (loss, per-row losses, y, dx).

    The seed printed 5.4168 because its softmax normalised over the whole
    batch; row-wise, the losses are 4.6194, 2.3026, 0.1454 (mean 2.3558).
    """
    layer = SoftmaxWithLoss()
    loss = layer.forward(SEED001_LOGITS, SEED001_LABELS)
    dx = layer.backward()
    per_row = -np.log(layer.y[SEED001_LABELS.astype(bool)])
    return loss, per_row, layer.y, dx


def main():
    r = apple_layers()
    print("apple (layers):   price", r["price"], "| d apple", r["apple"], "d apple_num", r["apple_num"],
          "d tax", r["tax"])
    r = fruit_layers()
    print("fruit (layers):   price", r["price"], "|", ", ".join(f"d {k} {v:.6g}" for k, v in r["d"].items()))
    price = fruit_graph()
    print("fruit (graph):    price", f"{price.data:.6g}", "(backward filled .grad of every Variable)")
    loss, per_row, y, dx = softmax_with_loss_seed001()
    print(f"seed 001 SoftmaxWithLoss: mean loss {loss:.4f}, per row {np.round(per_row, 4)}, "
          f"row sums of y {np.round(y.sum(axis=1), 6)}")
    print("dx (rounded to 3):\n", np.round(dx, 3))


if __name__ == "__main__":
    main()


def mlp_graph(seed=0, batch=4, sizes=(3, 5, 2)):
    """A small 2-layer perceptron on a tiny batch, written with Variables (seed 004's MLP).

    Returns the loss Variable after backward; its graph holds x, W1, b1, W2, b2.
    """
    from . import ops
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = sizes
    x = Variable(rng.standard_normal((batch, n_in)), "x")
    W1 = Variable(rng.standard_normal((n_in, n_hidden)) * 0.5, "W1")
    b1 = Variable(np.zeros(n_hidden), "b1")
    W2 = Variable(rng.standard_normal((n_hidden, n_out)) * 0.5, "W2")
    b2 = Variable(np.zeros(n_out), "b2")
    labels = rng.integers(0, n_out, batch)
    z1 = x @ W1 + b1
    z1.name = "Z1"
    hidden = ops.relu(z1)
    hidden.name = "H"
    scores = hidden @ W2 + b2
    scores.name = "Z2"
    loss = ops.softmax_cross_entropy(scores, labels)
    loss.name = "loss"
    loss.backward()
    return loss
