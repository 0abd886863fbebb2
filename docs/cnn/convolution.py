# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Convolution and pooling (book §7.2–7.5)
#
# A convolution slides FN filters of shape (C, FH, FW) over images of shape (N, C, H, W). The book computes
# it as one matrix product: `im2col` lays every window out as a row, so Y = im2col(X) · Wᵀ + b (§7.4.3).
# Backward is the Affine rule on those matrices: dW from im2col(X)ᵀ · dout, dX by `col2im`, which adds each
# window's gradient back to the pixels it came from (a pixel in several windows gets the sum).

# %%
import numpy as np

from chainrule.gradcheck import gradient_check
from chainrule.im2col import col2im, im2col
from chainrule.layers import Convolution, Pooling

rng = np.random.default_rng(0)
x = rng.standard_normal((1, 3, 7, 7))
col = im2col(x, 5, 5, stride=1, pad=0)
print("im2col of one 3×7×7 image, 5×5 windows:", col.shape, "(9 windows × 75 values)")
assert col.shape == (9, 75)

# %% [markdown]
# col2im is not the inverse of im2col: it adds overlapping windows, so a pixel covered by k windows comes
# back k times. That is what backward needs.

# %%
ones = col2im(np.ones_like(col), x.shape, 5, 5)
print("how many 5×5 windows cover each pixel of channel 0:\n", ones[0, 0].astype(int))

# %% [markdown]
# ## The Convolution layer, checked
#
# Values, then every gradient (dX, dW, db) against numerical differentiation, with stride and padding:

# %%
W, b = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
conv = Convolution(W, b, stride=2, pad=1)
print("output shape:", conv.forward(x).shape)
report = gradient_check(Convolution(W, b, stride=2, pad=1), x)
print(report)
assert all(r.ok for r in report.values())

# %% [markdown]
# ## Max pooling (§7.3): the gradient goes to each window's maximum
#
# Backward routes each window's `dout` to the one entry that won the max; the others get 0. When several
# entries tie, the first in row-major order wins, as the book's `argmax`.

# %%
pool = Pooling(2, 2, stride=2)
img = np.array([[[[1.0, 2, 0, 1], [3, 0, 1, 1], [0, 1, 5, 2], [2, 4, 1, 0]]]])
print("max of each 2×2 window:\n", pool.forward(img)[0, 0])
print("dx for dout = 1:\n", pool.backward(np.ones((1, 1, 2, 2)))[0, 0])

# %% [markdown]
# ## A small CNN as a graph
#
# The same layers record a graph: here a convolution, ReLU, pooling and Affine on two 1×6×6 images. The
# frame below is its interactive page.

# %%
from chainrule.examples import cnn_graph
from chainrule.draw import show

loss = cnn_graph()
print("loss:", float(loss.data))
show(loss, title="A small CNN (book chapter 7)")

# %% [markdown]
# ## Training a CNN on digits
#
# `LayerNet` builds a network from a spec; a few epochs on the 8×8 digits take seconds.

# %%
from chainrule import datasets, optimizers
from chainrule.nets import LayerNet
from chainrule.training import Trainer

(x_train, t_train), (x_test, t_test) = datasets.load("digits")
net = LayerNet((1, 8, 8), "conv(8,3,pad=1)-relu-pool(2)-affine(64)-relu", 10, dtype="float32", seed=0)
trainer = Trainer(net, optimizers.Adam(lr=0.001), x_train, t_train, x_test, t_test, epochs=8, batch_size=32,
                  seed=0, verbose=False)
trainer.train()
print(f"test accuracy after {len(trainer.history)} epochs: {trainer.history[-1]['test_accuracy']:.3f}")
assert trainer.history[-1]["test_accuracy"] > 0.9
