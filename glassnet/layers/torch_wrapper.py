"""``TorchModuleWrapper``: any ``torch.nn.Module`` as a glassnet layer (Keras 3's ``TorchModuleWrapper``)."""
from __future__ import annotations

import base64
import io

import torch
from torch import nn

from ..errors import ConfigError
from . import registry
from .base import Layer, infer_output_shape

__all__ = ["TorchModuleWrapper"]


class TorchModuleWrapper(Layer):
    """Wraps ``module`` so it trains, saves and shows in summaries like any layer: its parameters are the
    layer's weights (counted from its tensors), ``call`` runs the module, and its output shape comes from
    ``output_shape`` or from running it on meta tensors. Its multiply-adds are reported as unknown.

    Args:
        module: the ``torch.nn.Module``.
        output_shape: the per-sample output shape, when the module cannot run on meta tensors.

    Example:
        >>> import torch
        >>> wrapped = layers.TorchModuleWrapper(torch.nn.Linear(4, 2))
        >>> gn.Sequential([gn.Input((4,)), wrapped]).count_params()
        10
    """

    def __init__(self, module, name=None, output_shape=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(module, nn.Module):
            raise ConfigError(self._error("wraps a torch.nn.Module", f"module={module!r}"))
        if isinstance(module, Layer):
            raise ConfigError(self._error("wraps plain torch modules; a glassnet layer is used directly",
                                          f"module={type(module).__name__}"))
        self.module = module
        self.output_shape_arg = None if output_shape is None else tuple(output_shape)

    def own_weights(self):
        return list(self.module.parameters()) + list(self.module.buffers())

    def build(self, input_shape):
        pass

    def call(self, *args, **kwargs):
        kwargs.pop("training", None)
        return self.module(*args, **kwargs)

    def compute_output_shape(self, input_shape):
        if self.output_shape_arg is not None:
            return (input_shape[0], *self.output_shape_arg)
        return infer_output_shape(self, input_shape)

    def get_config(self):
        buffer = io.BytesIO()
        torch.save(self.module, buffer)
        return {**super().get_config(), "module": base64.b64encode(buffer.getvalue()).decode("ascii"),
                "output_shape": None if self.output_shape_arg is None else list(self.output_shape_arg)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        module = config.pop("module")
        if isinstance(module, str):  # Keras's pickled module: never unpickled, whatever safe_mode says
            name = config.get("name")
            given = registry.current().custom_objects.get(name)
            if not isinstance(given, torch.nn.Module):
                raise ConfigError(
                    f"TorchModuleWrapper '{name}' holds a pickled torch module; glassnet never unpickles (loading it "
                    "would run code from the file). Build the same module and pass it: "
                    f"load_model(path, custom_objects={{{name!r}: module}}); its weights are read from the file.")
            module = given
        return cls(module, **config)
