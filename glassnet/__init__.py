"""glassnet: Keras-semantics neural-network layers on PyTorch, in which every layer shows its work."""
from .version import __version__

from . import activations, callbacks, config, constraints, initializers, layers, random, regularizers, utils
from .analysis import analyze, compare, explain
from .errors import ConfigError, FileFormatError, GlassnetError, GlassnetWarning, ShapeError
from .io import load_model
from .layers import Input
from .models import Model, Sequential, SymbolicTensor
from .training import losses, metrics, optimizers
from . import mixed_precision, models

__all__ = ["layers", "activations", "callbacks", "config", "constraints", "initializers", "losses", "metrics",
           "optimizers", "random", "regularizers", "utils", "mixed_precision", "models", "analyze", "compare", "explain", "Input", "Model", "Sequential",
           "SymbolicTensor", "load_model", "GlassnetError", "ShapeError", "ConfigError", "FileFormatError",
           "GlassnetWarning", "__version__"]

# A Keras name glassnet does not have (gn.ops, gn.backend, ...) raises AttributeError saying so, and what to use
from . import _keras_names  # noqa: E402

__getattr__ = _keras_names.module_getattr("", __name__)
