"""chainrule: backpropagation on computational graphs, real, fast and visible.

* :mod:`chainrule.layers`: the layers (forward/backward), where every rule of the math lives;
* :class:`Variable` and the graph functions below: record a graph, ``backward()`` it;
* :mod:`chainrule.draw`: draw and explain a graph (Graphviz DOT, SVG/PNG);
* :mod:`chainrule.gradcheck`: backprop against numerical differentiation.
"""
__version__ = "0.1.0"

from .graph import Variable, cleargrads, no_grad  # noqa: E402
from .ops import (exp, log, matmul, mean, mean_squared_error, relu, reshape, sigmoid,  # noqa: E402
                  softmax, softmax_cross_entropy, sum, tanh, transpose)

__all__ = ["Variable", "no_grad", "cleargrads", "exp", "log", "matmul", "mean", "mean_squared_error", "relu",
           "reshape", "sigmoid", "softmax", "softmax_cross_entropy", "sum", "tanh", "transpose", "__version__"]
