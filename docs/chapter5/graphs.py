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
# # Computational graphs and the chain rule (book §5.1–5.3)
#
# A computational graph writes a calculation as nodes (operations) joined by arrows (values). Going
# **forward**, values flow left to right. Going **backward**, each node multiplies the gradient that arrives
# from its right, `dout`, by its *local derivative* and sends the product to each input: that is the chain
# rule, ∂L/∂x = ∂L/∂z · ∂z/∂x (§5.2), applied one node at a time.
#
# Two nodes carry most of chapter 5 (§5.3):
#
# * **addition** `z = x + y`: ∂z/∂x = ∂z/∂y = 1, so `dout` passes on unchanged to both inputs;
# * **multiplication** `z = x × y`: ∂z/∂x = y and ∂z/∂y = x, so each input gets `dout` times the *other* input.
#
# In chainrule a value you compute with is a `Variable`; every operation on Variables records a node, and
# `backward()` runs the nodes' backward rules in reverse order.

# %%
import chainrule as cr
from chainrule.draw import explain, show

# %% [markdown]
# ## The book's figure 5-7: z = t², t = x + y
#
# The chain rule in one picture: ∂z/∂x = ∂z/∂t · ∂t/∂x = 2t · 1. At x = 1, y = 2: t = 3 and ∂z/∂x = 6.

# %%
x, y = cr.Variable(1.0, "x"), cr.Variable(2.0, "y")
t = x + y
t.name = "t"
z = t ** 2
z.name = "z"
z.backward()
print("z =", z.data, " dz/dx =", x.grad, " dz/dy =", y.grad)
assert (z.data, x.grad, y.grad) == (9.0, 6.0, 6.0)

# %% [markdown]
# `explain` narrates the backward pass in the order it ran, with the rule of each node in symbols and numbers:

# %%
print(explain(z))

# %% [markdown]
# The drawing shows values above the arrows and, after `backward()`, the gradients in red beneath them.
# In Jupyter the frame below is the interactive page: step through forward and backward with the buttons or
# the arrow keys, and click an input to change it.

# %%
show(z, title="Figure 5-7: z = (x + y)²")

# %% [markdown]
# ## The multiplication node swaps its inputs (§5.3.2)
#
# For `z = x × y`, backward sends `dout × y` to x and `dout × x` to y: the multiplication node needs the
# forward inputs, which is why a multiplication layer keeps them.

# %%
x, y = cr.Variable(10.0, "x"), cr.Variable(5.0, "y")
z = x * y
z.backward(1.3)       # an upstream gradient of 1.3, as in the book's figure 5-12
print("dx =", x.grad, " dy =", y.grad)
assert abs(x.grad - 6.5) < 1e-12 and abs(y.grad - 13.0) < 1e-12

# %% [markdown]
# ## A value used twice: the branch rule
#
# When a value feeds two nodes, its gradient is the **sum** of what comes back along each arrow. For
# y = x·x + x at x = 3: ∂y/∂x = x + x + 1 = 7.

# %%
x = cr.Variable(3.0, "x")
y = x * x + x
y.name = "y"
y.backward()
print("dy/dx =", x.grad)
assert x.grad == 7.0
print(explain(y).splitlines()[-1])
