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
# # Optimizers, initialisation, batch normalisation and dropout (book chapter 6)
#
# Backpropagation gives the gradient; chapter 6 is about what to do with it. Each experiment here trains on
# scikit-learn's 8×8 digits (no download) for a few epochs, so the whole notebook runs in seconds.

# %%
import numpy as np

from chainrule import datasets, optimizers
from chainrule.nets import MultiLayerNet
from chainrule.training import Trainer

(x_train, t_train), (x_test, t_test) = datasets.load("digits")


def run(net, optimizer, epochs=5):
    trainer = Trainer(net, optimizer, x_train, t_train, x_test, t_test, epochs=epochs, batch_size=32, seed=0,
                      verbose=False)
    trainer.train()
    return trainer.history

# %% [markdown]
# ## Optimizers (§6.1)
#
# SGD takes W ← W − lr · dW. Momentum adds velocity, AdaGrad and RMSprop scale each entry's step by its
# history of squared gradients, Adam does both. Same network, same start, five epochs each:

# %%
choices = {"SGD": optimizers.SGD(lr=0.01), "Momentum": optimizers.Momentum(lr=0.01),
           "AdaGrad": optimizers.AdaGrad(lr=0.01), "RMSprop": optimizers.RMSprop(lr=0.001),
           "Adam": optimizers.Adam(lr=0.001)}
losses = {}
for name, opt in choices.items():
    history = run(MultiLayerNet(64, [100, 100], 10, seed=0), opt)
    losses[name] = [h["loss"] for h in history]
    print(f"{name:9s} loss per epoch: " + "  ".join(f"{v:.3f}" for v in losses[name]))
assert losses["Adam"][-1] < losses["SGD"][-1]

# %% [markdown]
# ## Weight initialisation (§6.2)
#
# With a standard deviation of 0.01 in a deep ReLU net, the activations shrink layer after layer and the
# gradients vanish; He initialisation (√(2/n)) keeps their scale.

# %%
from chainrule import eval_mode

x = x_train[:200].astype(np.float64)
for init in (0.01, "he"):
    net = MultiLayerNet(64, [100] * 5, 10, weight_init_std=init, seed=0)
    with eval_mode():
        h = x
        spreads = []
        for layer in net.layers:
            h = layer.forward(h)
            if type(layer).__name__ == "Relu":
                spreads.append(float(h.std()))
    print(f"init {init!s:5s}: activation std after each ReLU: " + "  ".join(f"{s:.2e}" for s in spreads))

# %% [markdown]
# ## Batch normalisation and dropout (§6.3–6.4)
#
# Batch normalisation normalises each feature over the batch, then scales and shifts it; dropout drops
# units at random while training. Both behave differently in training and in inference: chainrule reads the
# mode from `train_mode()` / `eval_mode()` blocks (or the book's `train_flg`).

# %%
for bn, drop in ((False, 0.0), (True, 0.0), (True, 0.2)):
    history = run(MultiLayerNet(64, [100, 100], 10, use_batchnorm=bn, dropout_ratio=drop, seed=0),
                  optimizers.Adam(lr=0.001))
    print(f"batch norm {bn!s:5s} dropout {drop:.1f}: test accuracy after {len(history)} epochs "
          f"{history[-1]['test_accuracy']:.3f}")
