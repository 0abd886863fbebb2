"""The layers: one small class per operation, each with ``forward`` and ``backward(dout)``.

Every rule of the math lives here once; the graph engine, the networks and
the gradient checker all drive these same classes.

=========================  ==========================================
module                     layers
=========================  ==========================================
``layers.arithmetic``      MulLayer, AddLayer, SubLayer, DivLayer, NegLayer, PowLayer
``layers.activations``     Relu, Sigmoid, Tanh, Exp, Log, Softmax
``layers.linear``          Affine, MatMul
``layers.shape``           Sum, Mean, Reshape, Transpose
``layers.losses``          SoftmaxWithLoss, MeanSquaredError
``layers.regularization``  Dropout, BatchNormalization
=========================  ==========================================
"""
from .activations import Exp, Log, Relu, Sigmoid, Softmax, Tanh
from .arithmetic import AddLayer, DivLayer, MulLayer, NegLayer, PowLayer, SubLayer
from .base import Layer
from .linear import Affine, MatMul
from .losses import MeanSquaredError, SoftmaxWithLoss
from .regularization import BatchNormalization, Dropout
from .shape import Mean, Reshape, Sum, Transpose

__all__ = [
    "Layer", "MulLayer", "AddLayer", "SubLayer", "DivLayer", "NegLayer", "PowLayer",
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Softmax", "Affine", "MatMul",
    "Sum", "Mean", "Reshape", "Transpose", "SoftmaxWithLoss", "MeanSquaredError", "Dropout", "BatchNormalization",
]
