"""Layers that Keras's applications define for themselves, so saved ConvNeXt models load: ``LayerScale`` (a
learnt scale per channel) and ``StochasticDepth`` (dropping a residual branch per sample in training).

Keras writes them with the application's module (``keras.src.applications.convnext``), which glassnet keeps so
Keras reads glassnet's files.
"""
from __future__ import annotations

import math

import torch

from .. import checks, initializers
from ..formula import sym
from .base import Layer
from .cost import Cost, numel, per_sample

__all__ = ["LayerScale", "StochasticDepth"]

_CONVNEXT = "keras.src.applications.convnext"


class LayerScale(Layer):
    """Multiplies each channel by a learnt scale: ``x · gamma`` (ConvNeXt's layer scale).

    Args:
        init_values: the initial value of every scale.
        projection_dim: the number of channels (the input's last axis).

    Weights:
        ``gamma (projection_dim,)``: params ``d``.

    Example:
        >>> layers.LayerScale(1e-6, 8)(gn.Input((4, 4, 8))).shape
        (None, 4, 4, 8)
    """

    keras_module = _CONVNEXT
    keras_registered_name = "LayerScale"

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = checks.number_in(self, "init_values", init_values, -math.inf, math.inf)
        self.projection_dim = checks.positive_int(self, "projection_dim", projection_dim)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 2, "(batch, ..., channels)", min_rank=True)
        self._check_built_dim(input_shape, -1, self.projection_dim, "channels")
        return input_shape

    def build(self, input_shape):
        self.add_weight(name="gamma", shape=(self.projection_dim,),
                        initializer=initializers.Constant(self.init_values))

    def call(self, inputs):
        return inputs * self.gamma

    def cost(self, input_shape, output_shape):
        d = sym("d")
        return Cost(params=d, values={d: self.projection_dim}, other_flops=per_sample(output_shape),
                    reads=f"multiplies each of the {self.projection_dim} channels by its own learnt scale",
                    needs_fixed=("last axis (channels)",), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


class StochasticDepth(Layer):
    """In training, drops the whole input of a sample with probability ``drop_path_rate`` and scales the kept
    ones by ``1 / (1 - drop_path_rate)``; the identity in inference (ConvNeXt's residual-branch dropping).

    Example:
        >>> layers.StochasticDepth(0.1)(gn.Input((4, 4, 8))).shape
        (None, 4, 4, 8)
    """

    keras_module = _CONVNEXT
    keras_registered_name = "StochasticDepth"

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = checks.number_in(self, "drop_path_rate", drop_path_rate, 0, 1)

    def call(self, inputs, training=False):
        if not training or self.drop_path_rate == 0:
            return inputs
        keep = 1 - self.drop_path_rate
        shape = (inputs.shape[0],) + (1,) * (inputs.ndim - 1)
        kept = torch.floor(keep + torch.rand(shape, dtype=inputs.dtype, device=inputs.device))
        return inputs / keep * kept

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"drops each sample's input with probability {self.drop_path_rate:g} in training "
                          "(identity in inference)",
                    saved=((numel(input_shape[:1]), 4),) if self.drop_path_rate > 0 else ())

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}
