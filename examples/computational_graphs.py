"""The book's computational graphs with Variables (§5.1–5.4, §5.7): build, backward, explain and draw them.

    python examples/computational_graphs.py [--out-dir graphs]

Writes apple.dot, fruit.dot and mlp.dot (and .svg when Graphviz's `dot` is installed).
The graphs are chainrule.examples' own: each call builds fresh Variables, so the
gradients printed are the book's (2.2 and 110 for the apples), not sums over runs.
"""
import argparse
import shutil
from pathlib import Path

from chainrule.draw import explain, render
from chainrule.examples import apple_graph, fruit_graph, mlp_graph
from chainrule.graph import leaves

parser = argparse.ArgumentParser()
parser.add_argument("--out-dir", default="graphs")
args = parser.parse_args()
out = Path(args.out_dir)

price = apple_graph()                     # §5.4.1: 2 apples at 100 each, 10% tax
print(explain(price))

total = fruit_graph()                     # §5.4.2: apples and oranges
print(explain(total))

loss = mlp_graph()                        # a two-layer perceptron on a batch of 4, mean cross-entropy
b1 = next(v for v in leaves(loss) if v.name == "b1")
print("b1.grad (column sums of the upstream gradient):", b1.grad)

suffixes = [".dot"] + ([".svg"] if shutil.which("dot") else [])
for name, graph in (("apple", price), ("fruit", total), ("mlp", loss)):
    for suffix in suffixes:
        print("wrote", render(graph, out / f"{name}{suffix}"))
