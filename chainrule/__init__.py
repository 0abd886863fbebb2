"""chainrule: backpropagation on computational graphs, real, fast and visible.

The package reads in the book's order, each module importing only those before it; the docs' "Where things
live" (docs/development.md) lists them, made from each module's own docstring (benchmarks/tables.py).
"""
from .version import __version__  # noqa: E402
from .graph import Parameter, Variable, cleargrads, no_grad  # noqa: E402
from .mode import eval_mode, train_mode  # noqa: E402
from .nonfinite import NonFiniteError, NonFiniteWarning, nonfinite_policy  # noqa: E402
from .functions import (dropout, exp, log, matmul, mean, mean_squared_error, relu, reshape, sigmoid,  # noqa: E402
                        softmax, softmax_cross_entropy, sum, tanh, transpose)
from . import draw  # noqa: E402,F401  (a recorded Variable then displays its graph in Jupyter)
from . import locate  # noqa: E402,F401  (gradient_check on a graph then names the first node that departs)

__all__ = ["Variable", "Parameter", "no_grad", "cleargrads", "train_mode", "eval_mode", "nonfinite_policy",
           "NonFiniteError", "NonFiniteWarning", "dropout", "exp", "log",
           "matmul", "mean", "mean_squared_error", "relu", "reshape", "sigmoid", "softmax", "softmax_cross_entropy",
           "sum", "tanh", "transpose", "__version__"]
