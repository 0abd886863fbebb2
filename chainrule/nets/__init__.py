"""Networks: an ordered list of layers plus a loss, with the book's interface (§5.7.2).

``build(config)`` rebuilds a network from its ``config()``;
``planned_state(config)`` gives the shapes of every array it would hold without
allocating any (model files are checked against it first).
"""
from .architectures import ARCHS, CNN_SPEC, build_network, check_arch, image_shape
from .layered import DeepConvNet, LayerNet, SimpleConvNet, parse_spec, spec_text
from .mlp import MultiLayerNet, TwoLayerNet
from .network import Network
from .plan import ACTIVATIONS, init_scale, state_shapes

#: the book's name for the MultiLayerNet of its chapter 6 with dropout and batch norm (§6.1–6.4): the same class
MultiLayerNetExtend = MultiLayerNet

#: network classes by the name their config carries
NETWORKS = {cls.__name__: cls for cls in (TwoLayerNet, MultiLayerNet, LayerNet, SimpleConvNet, DeepConvNet)}


def _split(config):
    if not isinstance(config, dict):
        raise ValueError(f"a network config is a dict with a 'class' entry, got {type(config).__name__}")
    arch = dict(config)
    name = arch.pop("class", None)
    if name not in NETWORKS:
        raise ValueError(f"unknown network class {name!r}; expected one of {', '.join(NETWORKS)}")
    return NETWORKS[name], arch


def planned_state(config):
    """name → shape of every parameter and buffer the network of ``config`` holds (nothing allocated)."""
    cls, arch = _split(config)
    try:
        return state_shapes(cls.plan(**arch))
    except TypeError as e:
        raise ValueError(f"the {cls.__name__} config does not fit its arguments ({e})") from None


def build(config):
    """A network from a :meth:`Network.config` dictionary (weights freshly drawn: load a state to restore)."""
    cls, arch = _split(config)
    try:
        return cls(**arch)
    except TypeError as e:
        raise ValueError(f"the {cls.__name__} config does not fit its arguments ({e})") from None


__all__ = ["ARCHS", "CNN_SPEC", "build_network", "check_arch", "image_shape",
           "Network", "MultiLayerNet", "MultiLayerNetExtend",
           "TwoLayerNet", "LayerNet", "SimpleConvNet", "DeepConvNet", "NETWORKS",
           "ACTIVATIONS", "build", "planned_state", "init_scale", "parse_spec", "spec_text"]
