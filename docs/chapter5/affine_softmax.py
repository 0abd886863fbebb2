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
# # Affine and Softmax-with-Loss (book §5.6)
#
# ## Affine (§5.6.1–5.6.2)
#
# The layer computes Y = X·W + b. Its backward rules are matrix products whose shapes must match their
# targets:
#
# * dX = dY · Wᵀ  (N×M · M×D = N×D, the shape of X)
# * dW = Xᵀ · dY  (D×N · N×M = D×M, the shape of W)
# * db = Σ over the rows of dY: b was added to every row of the batch, so every row sends its gradient back.

# %%
import numpy as np

import chainrule as cr
from chainrule.draw import explain
from chainrule.layers import Affine

rng = np.random.default_rng(0)
X, W, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
affine = Affine(W, b)
Y = affine.forward(X)
dY = np.ones_like(Y)
dX = affine.backward(dY)
print("shapes: X", X.shape, " W", W.shape, " Y", Y.shape, " dX", dX.shape, " dW", affine.dW.shape, " db",
      affine.db.shape)
assert np.allclose(dX, dY @ W.T) and np.allclose(affine.dW, X.T @ dY) and np.allclose(affine.db, dY.sum(axis=0))

# %% [markdown]
# ## Softmax-with-Loss (§5.6.3)
#
# Softmax turns scores into probabilities, row by row; the cross-entropy error then scores the probability
# given to the right class. Together their backward is strikingly simple: dx = (y − t) / N for a batch of N.
# The book's 3×10 batch:

# %%
from chainrule.examples import SOFTMAX_BATCH_LABELS, softmax_with_loss_batch

loss, per_row, y, dx = softmax_with_loss_batch()
print("per-row losses:", np.round(per_row, 4), " mean:", round(float(loss), 4))
assert np.allclose(np.round(per_row, 4), [4.6194, 2.3026, 0.1454]) and round(float(loss), 4) == 2.3558

# %% [markdown]
# Each row of y sums to 1. Taking one softmax over the whole batch instead (a classic mistake) would give
# rows that do not, and a mean loss of 5.4168.

# %%
print("row sums:", y.sum(axis=1))
print("labels t (one-hot):\n", SOFTMAX_BATCH_LABELS.astype(int))
assert np.allclose(dx, (y - SOFTMAX_BATCH_LABELS) / 3)   # dx = (y − t) / N

# %% [markdown]
# ## The whole of §5.6 as one graph
#
# An Affine layer, recorded in a graph with its parameters as leaves, followed by softmax-with-loss. The
# explanation states every rule in symbols and numbers, with the bias sum over the rows written out.

# %%
x = cr.Variable(rng.standard_normal((2, 3)), "X")
layer = Affine(rng.standard_normal((3, 2)), np.zeros(2))
layer.parameters["W"].name, layer.parameters["b"].name = "W", "b"
L = cr.softmax_cross_entropy(layer(x), np.array([0, 1]))
L.name = "L"
L.backward()
print(explain(L))
