"""``Sequential``: a linear stack of layers, a functional model built one layer at a time."""
from __future__ import annotations

import numpy as np

from ..dims import is_fixed
from ..errors import ConfigError, ShapeError
from ..graph import SymbolicTensor
from ..layers import registry
from ..layers.base import Layer, module_key, name_scope, unique_name
from ..layers.input_layer import Input, InputLayer
from ..layers.preprocessing.encoding import is_string_data
from . import config as graph_config
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers.

    Example:
        >>> model = gn.Sequential([gn.Input((50, 1)), layers.LSTM(10), layers.Dense(1)])
        >>> model.count_params()
        491
    """

    keras_module = "keras"
    keras_class_name = "Sequential"
    keras_registered_name = None

    def __init__(self, layers=None, trainable: bool = True, name: str | None = None):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        self._trainer = None
        self.stop_training = False
        self._initial_epoch = None
        self._subclassed = False
        self._output_struct = None
        self._stack: list[Layer] = []
        self._input_tensor: SymbolicTensor | None = None
        self._last_output: SymbolicTensor | None = None
        self._nodes_cache = None
        self._inputs: list = []
        self._outputs: list = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer (or an ``Input``) and extend the graph at once, so shape errors show here."""
        if isinstance(layer, InputLayer):
            layer = layer.output()
        if isinstance(layer, SymbolicTensor):
            if not isinstance(layer.layer, InputLayer) or self._stack or self._input_tensor is not None:
                raise ConfigError("Sequential accepts an Input only as its first entry.")
            self._set_input(layer)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential only holds glassnet layers. Received: {layer!r} of type {type(layer).__name__}")
        if self._modules.get(module_key(layer.name)) is layer:
            raise ConfigError(f"Layer '{layer.name}' is already in Sequential '{self.name}'.")
        if module_key(layer.name) in self._modules:
            raise ConfigError(f"Sequential '{self.name}' already has a layer named '{layer.name}'; layer names must be unique.")
        if not self._stack and self._input_tensor is None and layer._input_shape_arg is not None:
            batch, *shape = layer._input_shape_arg
            self._set_input(Input(tuple(shape), batch_size=batch))
        if self._last_output is not None:
            with name_scope(self.name):
                out = layer(self._last_output)
            if isinstance(out, list):
                raise ConfigError(
                    f"All layers in a Sequential model should have a single output tensor; layer "
                    f"'{layer.name}' has {len(out)}. Use the functional API for layers with several outputs.")
            self._last_output = out
        self._stack.append(layer)
        self.add_module(module_key(layer.name), layer)
        self._refresh()

    def pop(self) -> Layer:
        if not self._stack:
            raise ConfigError(f"Sequential '{self.name}' has no layers to pop.")
        layer = self._stack.pop()
        del self._modules[module_key(layer.name)]
        self._rechain()
        return layer

    def _set_input(self, tensor: SymbolicTensor) -> None:
        self._input_tensor = tensor
        self._rechain()

    def _rechain(self) -> None:
        x = self._input_tensor
        if x is not None:
            with name_scope(self.name):
                for layer in self._stack:
                    x = layer(x)
        self._last_output = x
        self._refresh()

    def _refresh(self) -> None:
        self._nodes_cache = None
        self._last_eager_shape = None
        if self._input_tensor is not None and self._last_output is not None:
            self._inputs, self._outputs = [self._input_tensor], [self._last_output]
            self._input_struct, self._output_struct = self._input_tensor, self._last_output
            self.built = True
            self._build_shape = self._input_tensor.symbolic_shape
        else:
            self.built = False

    def build(self, input_shape) -> None:
        if self._input_tensor is None:
            batch, *rest = input_shape
            self._set_input(Input(tuple(rest), batch_size=batch if is_fixed(batch) and batch != -1 else None))

    def _input_from_strings(self, x) -> None:
        if self.built or not self._stack or not getattr(self._stack[0], "takes_strings", False) or \
                not is_string_data(x):
            return
        self._set_input(Input(tuple(np.shape(np.asarray(x, dtype=object))[1:]), dtype="string"))

    def _check_eager_input(self, shape) -> None:
        if not self.built:
            if not isinstance(shape, tuple):
                raise ShapeError(f"Sequential '{self.name}' takes a single input tensor. Received shapes: {shape}")
            self._set_input(Input(tuple(shape[1:])))
        super()._check_eager_input(shape)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    @property
    def input_shape(self):
        if self._input_tensor is None:
            raise AttributeError(f"Sequential '{self.name}' has no input yet; add an Input or call it on data.")
        return self._input_tensor.shape

    @property
    def output_shape(self):
        if self._last_output is None:
            raise AttributeError(f"Sequential '{self.name}' is not built yet; add an Input or call it on data.")
        return self._last_output.shape

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer '{self.name}', but the layer isn't built. "
                "Add an Input first, or call the model on data.")
        return super().count_params()

    # ------------------------------------------------------------------ config
    def get_config(self):
        entries = []
        if self._input_tensor is not None:
            entries.append({"module": "keras.layers", "class_name": "InputLayer",
                            "config": self._input_tensor.layer.get_config(), "registered_name": None})
        entries += [registry.serialize(l) for l in self._stack]
        return {"name": self.name, "trainable": self.trainable, "dtype": "float32", "layers": entries}

    def get_build_config(self):
        return {"input_shape": list(self.input_shape) if self.built else None}

    @classmethod
    def from_config(cls, config: dict, spec: dict | None = None) -> "Sequential":
        entries = graph_config.check_layer_list(config)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in entries:
            try:
                if entry.get("class_name") == "InputLayer":
                    model.add(graph_config.input_from_config(entry.get("config") or {}))
                else:
                    model.add(registry.deserialize(entry))
            except ConfigError:
                raise
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"The model cannot be rebuilt: {exc}") from exc
        if not model.built:
            build = ((spec or {}).get("build_config") or {}).get("input_shape") or config.get("build_input_shape")
            if isinstance(build, list) and build:
                model.build(tuple(build))
        return model
