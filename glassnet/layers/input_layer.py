"""``Input`` and the layer behind it, as in Keras: ``layers.Input((28, 28, 1))`` is a symbolic tensor."""
from __future__ import annotations

from .. import config
from ..dims import BATCH, keras_shape, name_variable_dims
from ..errors import ConfigError
from ..graph import Node, SymbolicTensor
from .base import Layer
from .cost import Cost

__all__ = ["InputLayer", "Input"]


class InputLayer(Layer):
    """The layer behind ``Input``: no weights, it only names the model's input."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, sparse=None,
                 ragged=None, optional=False, input_tensor=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if sparse or ragged:
            raise ConfigError(f"InputLayer '{self.name}': sparse and ragged inputs are not supported. "
                              f"Received: sparse={sparse!r}, ragged={ragged!r}")
        if input_tensor is not None:
            raise ConfigError(f"InputLayer '{self.name}' does not take input_tensor; pass shape=... instead.")
        if batch_shape is not None:
            if not isinstance(batch_shape, (list, tuple)) or not batch_shape:
                raise ConfigError(f"Input needs batch_shape as a non-empty tuple. Received: batch_shape={batch_shape!r}")
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ConfigError("Input needs a shape, e.g. Input((28, 28, 1)). Received: shape=None")
        if isinstance(shape, int):
            shape = (shape,)
        self.per_sample = name_variable_dims(tuple(shape))
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0):
            raise ConfigError(f"Input's batch size must be a non-negative int or None. Received: batch_size={batch_size!r}")
        self.batch_size = batch_size
        self.input_dtype = dtype if dtype is not None else config.floatx()
        if isinstance(self.input_dtype, dict):  # a Keras DTypePolicy config
            self.input_dtype = (self.input_dtype.get("config") or {}).get("name", config.floatx())
        self.optional = bool(optional)
        batch = BATCH if batch_size is None else int(batch_size)
        self.symbolic_shape = (batch, *self.per_sample)
        self.built = True
        self._build_shape = self.symbolic_shape

    def call(self, inputs):
        return inputs

    def cost(self, input_shape, output_shape):
        return Cost(reads="the model's input", rf=("pointwise",))

    def get_config(self):
        return {"batch_shape": keras_shape(self.symbolic_shape), "dtype": self.input_dtype,
                "sparse": False, "name": self.name}

    def get_build_config(self):
        return None

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_input_shape" in config:
            config["batch_shape"] = config.pop("batch_input_shape")
        return cls(**config)

    def output(self) -> SymbolicTensor:
        """The symbolic tensor this layer feeds into a graph (one per InputLayer)."""
        if not self._inbound_nodes:
            Node(self, (), {}, {}, self.symbolic_shape, self.input_dtype, None)
        return self._inbound_nodes[0].outputs[0]


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False) -> SymbolicTensor:
    """A symbolic model input (Keras 3's argument order).

    Each dim of ``shape`` (no batch axis) is an ``int``, ``None`` (variable; named by its role:
    ``T`` for time, ``H``/``W`` for images) or a string that names it (``Input(("H", "W", 1))``).

    Example:
        >>> gn.Input((None, 1)).shape
        (None, None, 1)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name,
                       sparse=sparse, input_tensor=tensor, optional=optional)
    return layer.output()
