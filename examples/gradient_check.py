"""The book's gradient_check.py (§5.7.3): backprop against numerical gradients on 3 samples.

    python examples/gradient_check.py [--dataset fashion-mnist]
"""
import argparse

import numpy as np

from chainrule import datasets
from chainrule.nets import TwoLayerNet

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="fashion-mnist", help="mnist, fashion-mnist or digits")
args = parser.parse_args()

(x_train, t_train), _ = datasets.load(args.dataset, one_hot_label=True)
network = TwoLayerNet(input_size=x_train.shape[1], hidden_size=50, output_size=10, seed=0)  # float64

x_batch = x_train[:3].astype(np.float64)
t_batch = t_train[:3]

grad_numerical = network.numerical_gradient(x_batch, t_batch)
grad_backprop = network.gradient(x_batch, t_batch)

for key in grad_numerical:
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    print(key + ":" + str(diff))
