"""Models: ``Input``, functional ``Model`` and ``Sequential``."""
from .graph import Input, InputLayer, SymbolicTensor
from .model import Model, Sequential

__all__ = ["Input", "InputLayer", "SymbolicTensor", "Model", "Sequential"]
