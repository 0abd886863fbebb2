"""The layers: one small class per operation, each with ``forward`` and ``backward(dout)``.

Every rule of the math lives here once; the graph engine, the networks and
the gradient checker all drive these same classes. Names follow one rule: the
operation's name, no suffix (``Mul``, ``Relu``, ``Affine``); the book's
``MulLayer`` and ``AddLayer`` are the same classes under the book's names.

=========================  ==========================================
module                     layers
=========================  ==========================================
``layers.arithmetic``      Mul, Add, Sub, Div, Neg, Pow
``layers.activations``     Relu, Sigmoid, Tanh, Exp, Log, Softmax
``layers.linear``          Affine, MatMul
``layers.shape``           Sum, Mean, Reshape, Transpose
``layers.losses``          SoftmaxWithLoss, MeanSquaredError
``layers.regularization``  Dropout, BatchNormalization
``layers.convolution``     Convolution, Pooling, Flatten
=========================  ==========================================
"""
from .activations import Exp, Log, Relu, Sigmoid, Softmax, Tanh
from .arithmetic import Add, AddLayer, Div, Mul, MulLayer, Neg, Pow, Sub
from .base import Layer, parameter
from .convolution import Convolution, Flatten, Pooling
from .linear import Affine, MatMul
from .losses import MeanSquaredError, SoftmaxWithLoss
from .regularization import BatchNormalization, Dropout
from .shape import Mean, Reshape, Sum, Transpose

#: every layer class, in the order of the table above (the docs' table of rules, docs/chapter5/layers.md, is
#: generated from it)
ALL = (Mul, Add, Sub, Div, Neg, Pow, Relu, Sigmoid, Tanh, Exp, Log, Softmax, Affine, MatMul, Sum, Mean, Reshape,
       Transpose, SoftmaxWithLoss, MeanSquaredError, Dropout, BatchNormalization, Convolution, Pooling, Flatten)

#: the book's names for two of them
BOOK_NAMES = {Mul: "MulLayer", Add: "AddLayer"}


def rules_table():
    """The docs' table of layers, made from the classes: each one's forward and its backward rule."""
    rows = ["| layer | forward | backward |", "|---|---|---|"]
    for cls in ALL:
        name = f"`{cls.__name__}`" + (f" (book: `{BOOK_NAMES[cls]}`)" if cls in BOOK_NAMES else "")
        first = " ".join(cls.__doc__.split("Backward")[0].split())
        forward = first.split(". ")[0].rstrip(". ").replace("``", "`")
        rows.append(f"| {name} | {forward} | {', '.join(cls.rule_statements())} |")
    return "\n".join(rows) + "\n"


__all__ = ["Layer", "parameter", "ALL", "BOOK_NAMES", "MulLayer", "AddLayer", "rules_table",
           *[cls.__name__ for cls in ALL]]
