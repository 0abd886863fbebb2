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
# # Activation layers: ReLU and Sigmoid (book §5.5)
#
# **ReLU** (§5.5.1): y = max(x, 0). Its derivative is 1 where x > 0 and 0 elsewhere, so backward lets `dout`
# through where the input was positive and stops it elsewhere: dx = dout ∘ [x > 0]. The layer keeps the mask
# `[x ≤ 0]` from forward, exactly as the book's `Relu`.

# %%
import numpy as np

import chainrule as cr
from chainrule.draw import explain
from chainrule.layers import Relu, Sigmoid

x = np.array([[1.0, -0.5], [-2.0, 3.0]])
relu = Relu()
y = relu.forward(x)
dx = relu.backward(np.ones_like(x))
print("mask (x <= 0):\n", relu.mask)
print("y:\n", y)
print("dx for dout = 1:\n", dx)
assert (dx == (x > 0)).all()

# %% [markdown]
# Unlike the book's version, chainrule's `Relu.backward` never writes into the `dout` it receives: the same
# `dout` may be on its way to another node too (the branch rule), and changing it there would corrupt that
# node's gradient. The graph engine hands every layer a read-only `dout` to make sure.
#
# **Sigmoid** (§5.5.2): y = 1 / (1 + exp(−x)). The book works its backward out node by node (×, exp, +, /)
# and arrives at ∂y/∂x = y (1 − y): only the output is needed.

# %%
sig = Sigmoid()
y = sig.forward(np.array([0.0, 2.0, -2.0]))
dx = sig.backward(np.ones(3))
print("y =", y, "\ndx =", dx)
assert np.allclose(dx, y * (1 - y)) and dx[0] == 0.25

# %% [markdown]
# The book's computational graph of the sigmoid, built from its elementary operations, gives the same
# gradient as the single Sigmoid layer: the local rules compose into y (1 − y).

# %%
x1 = cr.Variable(0.5, "x")
by_nodes = 1 / (1 + cr.exp(-x1))
by_nodes.name = "y"
by_nodes.backward()
x2 = cr.Variable(0.5, "x")
cr.sigmoid(x2).backward()
print("by nodes:", x1.grad, " one layer:", x2.grad)
assert abs(x1.grad - x2.grad) < 1e-15
print(explain(by_nodes))
