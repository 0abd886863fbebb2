"""The seeds' computational graphs with Variables: build, backward, explain and draw them.

    python examples/computational_graphs.py [--out-dir graphs]

Writes apple.dot, fruit.dot and mlp.dot (and .svg when Graphviz's `dot` is installed).
"""
import argparse
import shutil
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.draw import explain, render

parser = argparse.ArgumentParser()
parser.add_argument("--out-dir", default="graphs")
args = parser.parse_args()
out = Path(args.out_dir)

# 5.4.1: 2 apples at 100 each, 10% tax
apple, apple_num, tax = cr.Variable(100, "apple"), cr.Variable(2, "apple_num"), cr.Variable(1.1, "tax")
apple_price = apple * apple_num
apple_price.name = "apple_price"
price = apple_price * tax
price.name = "price"
price.backward()
print(explain(price))

# 5.4.2: apples and oranges
orange, orange_num = cr.Variable(150, "orange"), cr.Variable(3, "orange_num")
tax2 = cr.Variable(1.1, "tax")
all_price = apple * apple_num + orange * orange_num
all_price.name = "all_price"
total = all_price * tax2
total.name = "price"
total.backward()
print(explain(total))

# seed 004: a two-layer perceptron on a batch of 4, mean cross-entropy
rng = np.random.default_rng(0)
x = cr.Variable(rng.standard_normal((4, 3)), "x")
W1, b1 = cr.Variable(rng.standard_normal((3, 5)) * 0.5, "W1"), cr.Variable(np.zeros(5), "b1")
W2, b2 = cr.Variable(rng.standard_normal((5, 2)) * 0.5, "W2"), cr.Variable(np.zeros(2), "b2")
loss = cr.softmax_cross_entropy(cr.relu(x @ W1 + b1) @ W2 + b2, np.array([0, 1, 1, 0]))
loss.name = "loss"
loss.backward()
print("b1.grad (column sums of the upstream gradient):", b1.grad)

suffixes = [".dot"] + ([".svg"] if shutil.which("dot") else [])
for name, graph in (("apple", price), ("fruit", total), ("mlp", loss)):
    for suffix in suffixes:
        print("wrote", render(graph, out / f"{name}{suffix}"))
