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
# # The two-layer net (book §5.7)
#
# A network is its layers in order, Affine → ReLU → Affine, with Softmax-with-Loss at the end. `gradient`
# runs one forward pass and one backward pass through the layers in reverse order, and returns every
# parameter's gradient (§5.7.2): the book's `TwoLayerNet`, unchanged in interface.

# %%
import numpy as np

from chainrule import datasets, optimizers
from chainrule.nets import TwoLayerNet
from chainrule.training import Trainer

(x_train, t_train), (x_test, t_test) = datasets.load("digits")     # 8×8 digits from scikit-learn, no download
net = TwoLayerNet(input_size=64, hidden_size=50, output_size=10, seed=0)
print([type(layer).__name__ for layer in net.layers], "+", type(net.last_layer).__name__)
grads = net.gradient(x_train[:100], t_train[:100])
print({name: g.shape for name, g in grads.items()})

# %% [markdown]
# ## Learning with backpropagation (§5.7.4)
#
# Mini-batches (32 here: the digits are few), plain SGD with learning rate 0.1, as in the book: the
# gradient from backpropagation, then `W ← W − lr · dW` for every parameter.

# %%
trainer = Trainer(net, optimizers.SGD(lr=0.1), x_train, t_train, x_test, t_test, epochs=30, batch_size=32,
                  seed=0, verbose=False)
trainer.train()
for record in trainer.history[::5] + [trainer.history[-1]]:
    print(f"epoch {record['epoch']:2d}  loss {record['loss']:.4f}  train {record['train_accuracy']:.3f}  "
          f"test {record['test_accuracy']:.3f}")
assert trainer.history[-1]["test_accuracy"] > 0.9

# %% [markdown]
# ## The network's forward pass is a graph too
#
# Called on a `Variable`, the same network records its loss as a graph, with W1, b1, W2, b2 as leaves.
# Its backward pass gives exactly what `gradient` gives by hand:

# %%
import chainrule as cr

x = cr.Variable(x_train[:4].astype(np.float64), "x")
net64 = TwoLayerNet(64, 5, 10, seed=1)
loss = net64.loss(x, t_train[:4])
loss.backward()
by_hand = net64.gradient(x_train[:4].astype(np.float64), t_train[:4])
for name, p in net64.parameters().items():
    assert np.allclose(p.grad, by_hand[name], rtol=1e-12, atol=1e-15)
print("graph and hand-written backward agree on", ", ".join(net64.parameters()))
