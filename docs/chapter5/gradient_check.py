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
# # Gradient checking (book §5.7.3)
#
# Numerical differentiation is slow but simple to get right: (f(x + h) − f(x − h)) / 2h for each entry.
# Backpropagation is fast but easy to get wrong. So compare them: the **gradient check**. chainrule's
# `gradient_check` takes a layer, a network or any function of Variables.

# %%
import numpy as np

import chainrule as cr
from chainrule.gradcheck import gradient_check
from chainrule.layers import Affine
from chainrule.nets import TwoLayerNet

rng = np.random.default_rng(0)
net = TwoLayerNet(input_size=8, hidden_size=5, output_size=3, seed=0)
x, t = rng.standard_normal((3, 8)), np.array([0, 2, 1])
report = gradient_check(net, x, t)
print(report)
assert all(r.ok for r in report.values())

# %% [markdown]
# In float64 the two agree to about 1e-10 (the book printed 1e-6…1e-9 for float32). Where a ±h step would
# move a ReLU across its kink there is no derivative to compare; such entries are counted and left out,
# so a correct layer is never failed.
#
# ## Where is the mistake?
#
# A check says *whether* backward is wrong; `chainrule.locate.locate` says *where*. It checks every node of
# a recorded graph on its own, with the very `dout` that node received, and returns the first node in
# backward order whose gradient departs. Here is an Affine layer with a classic mistake: db taken from the
# first row of dY instead of summed over all the rows (b is added to every row, so every row sends back):

# %%
from chainrule.locate import locate


class MyAffine(Affine):
    """Affine with a mistake in db."""

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout[0]            # the mistake: should be dout.sum(axis=0)
        return dout @ self.W.T


X = cr.Variable(rng.standard_normal((3, 3)), "X")
layer = MyAffine(rng.standard_normal((3, 2)), np.zeros(2))
layer.parameters["W"].name, layer.parameters["b"].name = "W", "b"
L = cr.softmax_cross_entropy(layer(X), np.array([0, 1, 1]))
L.backward()
finding = locate(L)
print(finding)
assert finding is not None and finding.input == "b"

# %% [markdown]
# The exercises of chapter 5 use the same locating: write the layers yourself in `exercises/layers.py` and
# run `chainrule check exercises/layers.py` (see *Exercises: find the wrong backward*).
