"""Layers that create masks: Embedding (``mask_zero``) and Masking (``mask_value``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import checks, dtypes, initializers
from ..dims import fmt_shape
from ..errors import ConfigError, ShapeError
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


class ReversibleEmbedding(Embedding):
    """An Embedding that can also project back to the vocabulary: ``layer(hidden, reverse=True)`` multiplies
    by ``embeddings`` transposed (``tie_weights=True``, the default) or by its own
    ``reverse_embeddings (output_dim, input_dim)`` — a language model's output layer sharing the input table.

    ``logit_soft_cap=c`` gives ``c·tanh(logits / c)``; ``reverse_dtype`` computes the projection in that dtype.
    Forward calls behave as ``Embedding`` (mask included); a reverse call creates no mask.
    """

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = None if reverse_dtype is None else dtypes.name_of(dtypes.to_torch(reverse_dtype))
        if logit_soft_cap is not None:
            checks.number_in(self, "logit_soft_cap", logit_soft_cap, 0, float("inf"))
            if not logit_soft_cap > 0:
                raise ConfigError(self._error("needs a positive logit_soft_cap",
                                              f"logit_soft_cap={logit_soft_cap}", "Pass a value above 0, or None."))
        self.logit_soft_cap = logit_soft_cap
        self._reverse = False  # whether the call in progress projects back (its shape rule and mask differ)

    def __call__(self, *args, reverse=False, **kwargs):
        previous, self._reverse = self._reverse, bool(reverse)
        try:
            return super().__call__(*args, reverse=reverse, **kwargs) if reverse else super().__call__(*args, **kwargs)
        finally:
            self._reverse = previous

    def build(self, input_shape):
        super().build(input_shape)
        if not self.tie_weights:
            self.add_weight(name="reverse_embeddings", shape=(self.output_dim, self.input_dim),
                            initializer=self.embeddings_initializer)

    def compute_output_shape(self, input_shape):
        if not self._reverse:
            return super().compute_output_shape(input_shape)
        self._require_fixed(input_shape, -1, "number of features (last axis)")
        if input_shape[-1] != self.output_dim:
            raise ShapeError(self._error(
                f"projects back from output_dim={self.output_dim} features, but the input's last axis has "
                f"{input_shape[-1]}", f"input shape {fmt_shape(input_shape)}",
                f"Call it with reverse=True on tensors whose last axis is {self.output_dim}."))
        return (*input_shape[:-1], self.input_dim)

    def compute_output_dtype(self, inputs):
        return self.reverse_dtype or dtypes.name_of(self.dtype) if self._reverse else super().compute_output_dtype(inputs)

    @property
    def mask_rule(self):
        if self._reverse:
            return "consume" if self.mask_zero else "drop"  # as Keras: a masking layer takes the mask silently
        return super().mask_rule

    def compute_mask(self, inputs, mask=None):
        return None if self._reverse else super().compute_mask(inputs, mask)

    def compute_mask_shape(self, input_shape, mask_shape):
        return None if self._reverse else super().compute_mask_shape(input_shape, mask_shape)

    def call(self, inputs, reverse=False, mask=None):
        if not reverse:
            return super().call(inputs)
        kernel = self.embeddings.t() if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            want = dtypes.to_torch(self.reverse_dtype)
            inputs, kernel = inputs.to(want), kernel.to(want)
        logits = torch.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            logits = torch.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits

    def cost(self, input_shape, output_shape):
        V, d = sym("V"), sym("d")
        params = prod(V, d) if self.tie_weights else prod(2, V, d)
        values = {V: self.input_dim, d: self.output_dim}
        if len(output_shape) != len(input_shape):  # a forward call: a table look-up
            base = super().cost(input_shape, output_shape)
            return Cost(params=params, values=values, reads=base.reads, saved=base.saved)
        return Cost(params=params, values=values, macs=prod(*input_shape[1:-1], d, V),
                    other_flops=per_sample(output_shape) * 3 if self.logit_soft_cap is not None else 0,
                    reads=f"projects each {self.output_dim}-vector back onto the {self.input_dim}-entry vocabulary "
                          f"({'the embedding table transposed' if self.tie_weights else 'its own reverse table'})",
                    rf=("pointwise",), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                "logit_soft_cap": self.logit_soft_cap}
