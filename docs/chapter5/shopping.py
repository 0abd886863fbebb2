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
# # The apple and fruit graphs (book §5.4)
#
# Two apples at 100 each, with 10% tax: 220. How much does the price change when the apple's price, the
# number of apples or the tax changes? Backpropagation answers all three in one backward pass.
#
# ## By hand, with layers (§5.4.1)
#
# A layer is a class with `forward` and `backward(dout)` that keeps in `forward` what its backward rule needs.
# `MulLayer` keeps x and y: dx = dout × y, dy = dout × x.

# %%
from chainrule.layers import AddLayer, MulLayer

apple, apple_num, tax = 100, 2, 1.1
mul_apple_layer, mul_tax_layer = MulLayer(), MulLayer()

apple_price = mul_apple_layer.forward(apple, apple_num)
price = mul_tax_layer.forward(apple_price, tax)

dprice = 1
dapple_price, dtax = mul_tax_layer.backward(dprice)
dapple, dapple_num = mul_apple_layer.backward(dapple_price)
print("price:", price)
print("dapple:", dapple, " dapple_num:", dapple_num, " dtax:", dtax)
assert round(price, 10) == 220 and round(dapple, 10) == 2.2 and round(dapple_num, 10) == 110 and dtax == 200

# %% [markdown]
# The last digits (`220.00000000000003`) are floating point, not a mistake: 1.1 has no exact binary form.
#
# ## Apples and oranges (§5.4.2)
#
# Three oranges at 150 join the bill; an `AddLayer` sums the two subtotals. Addition passes its `dout` on
# unchanged, so both subtotals get the tax's 1.1.

# %%
orange, orange_num = 150, 3
mul_orange_layer, add_apple_orange_layer = MulLayer(), AddLayer()
mul_apple_layer, mul_tax_layer = MulLayer(), MulLayer()

apple_price = mul_apple_layer.forward(apple, apple_num)
orange_price = mul_orange_layer.forward(orange, orange_num)
all_price = add_apple_orange_layer.forward(apple_price, orange_price)
price = mul_tax_layer.forward(all_price, tax)

dall_price, dtax = mul_tax_layer.backward(1)
dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
dorange, dorange_num = mul_orange_layer.backward(dorange_price)
dapple, dapple_num = mul_apple_layer.backward(dapple_price)
print("price:", round(price, 10))
print("dapple_num:", round(dapple_num, 10), " dapple:", round(dapple, 10), " dorange:", round(dorange, 10),
      " dorange_num:", round(dorange_num, 10), " dtax:", dtax)
assert round(price, 10) == 715 and (round(dapple_num, 10), round(dapple, 10)) == (110, 2.2)
assert (round(dorange, 10), round(dorange_num, 10), dtax) == (3.3, 165, 650)

# %% [markdown]
# ## The same graph, recorded
#
# With Variables the graph records itself as it is computed and runs its backward pass in the right order by
# itself. The numbers are the book's.

# %%
import chainrule as cr
from chainrule.draw import explain, show

apple, apple_num = cr.Variable(100.0, "apple"), cr.Variable(2.0, "apple_num")
orange, orange_num, tax = cr.Variable(150.0, "orange"), cr.Variable(3.0, "orange_num"), cr.Variable(1.1, "tax")
price = (apple * apple_num + orange * orange_num) * tax
price.name = "price"
price.backward()
print({v.name: round(float(v.grad), 10) for v in (apple, apple_num, orange, orange_num, tax)})

# %%
print(explain(price))

# %% [markdown]
# The interactive page: step forward and backward, click a value to change it (the whole graph is recomputed
# in the page), and check any node's gradient numerically.

# %%
show(price, title="The apple and orange graph (book §5.4.2)")
