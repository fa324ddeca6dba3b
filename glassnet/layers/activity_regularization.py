"""``ActivityRegularization``: passes its input through and adds a penalty on it to the training loss."""
from __future__ import annotations

from .. import regularizers
from .base import Layer
from .cost import Cost, per_sample

__all__ = ["ActivityRegularization"]


class ActivityRegularization(Layer):
    """Identity whose output adds ``(l1·Σ|x| + l2·Σx²) / batch`` to ``layer.losses`` at each call (Keras 3).

    Args:
        l1, l2: the penalty factors.

    Input shape:
        any. Output shape: the input's.

    Example:
        >>> import torch
        >>> reg = layers.ActivityRegularization(l1=0.5)
        >>> _ = reg(torch.ones(2, 3))
        >>> float(reg.losses[0])
        1.5
    """

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def cost(self, input_shape, output_shape):
        terms = (1 if self.l1 else 0) + (1 if self.l2 else 0)
        return Cost(other_flops=per_sample(output_shape) * 2 * terms,
                    reads="passes the input through unchanged and adds a penalty on it to the loss")

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
