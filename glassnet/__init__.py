"""glassnet: Keras-semantics neural-network layers on PyTorch, in which every layer shows its work."""
from . import activations, config, initializers, layers
from .errors import ConfigError, FileFormatError, GlassnetError, ShapeError
from .models import Input, Model, Sequential, SymbolicTensor

__version__ = "0.1.0"

__all__ = ["layers", "activations", "config", "initializers", "Input", "Model", "Sequential", "SymbolicTensor",
           "GlassnetError", "ShapeError", "ConfigError", "FileFormatError", "__version__"]
