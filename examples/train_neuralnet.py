"""The book's train_neuralnet.py (§5.7.4), on chainrule: TwoLayerNet 784-50-10, SGD 0.1,
batch 100, 10,000 iterations, accuracy after every epoch.

    python examples/train_neuralnet.py [--dataset fashion-mnist] [--iters 10000]

Written the book's way (mini-batches drawn at random, a plain loop) rather than with
chainrule.trainer.Trainer, so the two can be read side by side.
"""
import argparse

import numpy as np

from chainrule import datasets
from chainrule.nets import TwoLayerNet
from chainrule.optimizers import SGD

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="fashion-mnist", help="mnist, fashion-mnist or digits")
parser.add_argument("--iters", type=int, default=10_000)
args = parser.parse_args()

(x_train, t_train), (x_test, t_test) = datasets.load(args.dataset, one_hot_label=True)
network = TwoLayerNet(input_size=x_train.shape[1], hidden_size=50, output_size=10, dtype=np.float32, seed=0)
optimizer = SGD(lr=0.1)
batch_size = 100
iter_per_epoch = max(len(x_train) // batch_size, 1)
rng = np.random.default_rng(0)

for i in range(args.iters):
    batch_mask = rng.choice(len(x_train), batch_size)
    x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
    grads = network.gradient(x_batch, t_batch)      # backprop: one forward, one backward pass
    optimizer.update(network.params, grads)
    if i % iter_per_epoch == 0 or i == args.iters - 1:
        print(f"iteration {i:5d}  loss {network.loss(x_batch, t_batch):.4f}  "
              f"train acc {network.accuracy(x_train, t_train):.4f}  test acc {network.accuracy(x_test, t_test):.4f}")
