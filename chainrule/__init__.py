"""chainrule: backpropagation on computational graphs, real, fast and visible.

The package reads in the book's order, each module importing only those above it:

* :mod:`chainrule.array_math`: plain array math (stable softmax, cross-entropy, ``sum_to``);
* :mod:`chainrule.graph`: the engine: :class:`Variable`, :class:`Parameter`, nodes, ``backward()``;
* :mod:`chainrule.layers`: the layers (forward/backward), where every rule of the math lives;
* :mod:`chainrule.functions`: the differentiable functions (``relu``, ``softmax_cross_entropy``, …)
  and the operators of Variables, each one layer;
* :mod:`chainrule.draw`: draw and explain a graph (Graphviz DOT, SVG/PNG, an interactive page);
* :mod:`chainrule.gradcheck`: backprop against numerical differentiation;
* :mod:`chainrule.nets`, :mod:`chainrule.optimizers`: networks and update rules;
* :mod:`chainrule.datasets`, :mod:`chainrule.training`, :mod:`chainrule.cli`: data, training jobs, the command line.
"""
from .version import __version__  # noqa: E402
from .graph import Parameter, Variable, cleargrads, no_grad  # noqa: E402
from .mode import eval_mode, train_mode  # noqa: E402
from .nonfinite import NonFiniteError, NonFiniteWarning, nonfinite_policy  # noqa: E402
from .functions import (dropout, exp, log, matmul, mean, mean_squared_error, relu, reshape, sigmoid,  # noqa: E402
                        softmax, softmax_cross_entropy, sum, tanh, transpose)
from . import draw  # noqa: E402,F401  (a recorded Variable then displays its graph in Jupyter)

__all__ = ["Variable", "Parameter", "no_grad", "cleargrads", "train_mode", "eval_mode", "nonfinite_policy",
           "NonFiniteError", "NonFiniteWarning", "dropout", "exp", "log",
           "matmul", "mean", "mean_squared_error", "relu", "reshape", "sigmoid", "softmax", "softmax_cross_entropy",
           "sum", "tanh", "transpose", "__version__"]
