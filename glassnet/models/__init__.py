"""Models: functional ``Model`` and ``Sequential`` (``Input`` lives with the layers, re-exported here)."""
from ..graph import SymbolicTensor
from ..layers.input_layer import Input, InputLayer
from .model import Model
from .sequential import Sequential

__all__ = ["Input", "InputLayer", "SymbolicTensor", "Model", "Sequential"]
