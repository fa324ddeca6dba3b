"""Layers that create masks: Embedding (``mask_zero``) and Masking (``mask_value``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import checks, dtypes, initializers
from ..formula import prod, sym
from .base import Layer, tracing
from .cost import Cost, per_sample

__all__ = ["Embedding", "Masking"]


class Embedding(Layer):
    """Maps integer indices to rows of ``embeddings (input_dim, output_dim)``.

    With ``mask_zero=True`` index 0 marks padding and creates a mask ``inputs != 0`` — but row 0
    is still a real row (its vector is output at padded steps), so use ``input_dim = vocab + 1``.

    Input shape:
        ``(batch, ...)`` integer indices in ``[0, input_dim)``.
    Output shape:
        ``(batch, ..., output_dim)``; params ``input_dim·output_dim``.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, input_length=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_dim = checks.positive_int(self, "input_dim", input_dim)
        self.output_dim = checks.positive_int(self, "output_dim", output_dim)
        checks.unsupported(self, "glassnet does not implement LoRA; leave it as None.", lora_rank=lora_rank)
        self._weight_options(("embeddings",), dict(embeddings_regularizer=embeddings_regularizer,
                                                   embeddings_constraint=embeddings_constraint))
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self._initial_weights = weights

    def build(self, input_shape):
        self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim),
                        initializer=self.embeddings_initializer, regularizer=self.embeddings_regularizer,
                        constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def compute_output_dtype(self, inputs):
        return dtypes.name_of(self.dtype)

    @property
    def mask_rule(self):
        return "create" if self.mask_zero else "drop"

    def compute_mask(self, inputs, mask=None):
        return inputs != 0 if self.mask_zero else None

    def compute_mask_shape(self, input_shape, mask_shape):
        return tuple(input_shape) if self.mask_zero else None

    def call(self, inputs):
        if inputs.is_floating_point() and not tracing():
            if not torch.equal(inputs, inputs.floor()):
                bad = inputs[inputs != inputs.floor()].flatten()[0].item()
                raise TypeError(self._error(
                    f"expects integer token indices, but received non-integer values (e.g. {bad})",
                    f"a {str(inputs.dtype).replace('torch.', '')} tensor of shape {tuple(inputs.shape)}",
                    "Pass integer indices (x.long()), e.g. from a tokenizer."))
        idx = inputs.long()
        if idx.numel() and not tracing():
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.input_dim:
                bad = hi if hi >= self.input_dim else lo
                raise IndexError(self._error(
                    f"got index {bad}, outside [0, input_dim) = [0, {self.input_dim})",
                    f"input_dim={self.input_dim}",
                    f"Use input_dim larger than the largest index (input_dim={hi + 1} for these data)."))
        return F.embedding(idx, self.embeddings)

    def cost(self, input_shape, output_shape):
        V, d = sym("V"), sym("d")
        return Cost(params=prod(V, d), values={V: self.input_dim, d: self.output_dim},
                    reads=f"looks up one row of a {self.input_dim}×{self.output_dim} table per index (no arithmetic)"
                          + ("; index 0 also creates the mask" if self.mask_zero else ""), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero, **self._weight_options_config()}


class Masking(Layer):
    """Masks every time step whose features all equal ``mask_value``; masked steps become 0.

    Input shape ``(batch, timesteps, features)`` → mask ``(batch, timesteps)``.
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    @property
    def mask_rule(self):
        return "create"

    def compute_mask(self, inputs, mask=None):
        return torch.any(inputs != self.mask_value, dim=-1)

    def compute_mask_shape(self, input_shape, mask_shape):
        return tuple(input_shape[:-1])

    def call(self, inputs):
        keep = torch.any(inputs != self.mask_value, dim=-1, keepdim=True)
        return inputs * keep.to(inputs.dtype)

    def cost(self, input_shape, output_shape):
        return Cost(other_flops=per_sample(input_shape) * 2,
                    reads=f"marks each step whose features all equal {self.mask_value} as padding and zeroes it")

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
