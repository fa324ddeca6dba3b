"""Wrappers: Bidirectional (a recurrent layer run both ways) and TimeDistributed (a layer per step)."""
from __future__ import annotations

import torch

from ..dims import fmt_dim
from ..errors import ConfigError, ShapeError
from ..formula import prod
from ..graph import call_flags
from . import registry
from .base import Layer
from .cost import Cost
from .rnn import RNN

__all__ = ["Bidirectional", "TimeDistributed"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a copy of ``layer`` forwards and another backwards over time and merges them.

    The backward output sequence is flipped back to input order before merging.  As in Keras,
    both copies use ``zero_output_for_mask = return_sequences``.

    Args:
        layer: a recurrent layer — SimpleRNN, LSTM, GRU, ConvLSTM or ``RNN(cell)`` with any cell (its config
            is copied; it is not itself used).
        merge_mode: "concat" (default), "sum", "mul", "ave" or None (a list of both outputs).
        backward_layer: optional explicit backward layer (must have go_backwards=True).
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, RNN):
            raise ConfigError(
                f"Bidirectional needs a recurrent layer (SimpleRNN, LSTM, GRU, RNN). Received: layer={layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ConfigError(f"Invalid merge mode. Expected one of {_MERGE_MODES}. Received: merge_mode={merge_mode!r}")
        super().__init__(**kwargs)
        forward = _copy(layer, name="forward_" + layer.name)
        if backward_layer is None:
            backward = _copy(layer, name="backward_" + layer.name, go_backwards=not layer.go_backwards)
        else:
            backward = backward_layer
        for l in (forward, backward):
            l.zero_output_for_mask = l.return_sequences
        self.forward_layer, self.backward_layer = forward, backward
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = forward.return_sequences, forward.return_state
        if weights is not None:
            self._initial_weights = weights

    @property
    def onnx_unsupported(self):
        return self.forward_layer.onnx_unsupported or self.backward_layer.onnx_unsupported

    def build(self, input_shape):
        self.forward_layer._build_from(input_shape)
        self.backward_layer._build_from(input_shape)
        if getattr(self, "_initial_weights", None) is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            out, *states = out
            states = states * 2
        if self.merge_mode == "concat":
            out = (*out[:-1], out[-1] * 2)
        elif self.merge_mode is None:
            out = [out, out]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    @property
    def mask_rule(self):
        return self.forward_layer.mask_rule

    def _n_outputs(self):
        return 2 if self.merge_mode is None else 1

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        outs = [out] * self._n_outputs()
        if self.return_state:
            outs += [None] * (2 * self.forward_layer._n_states())
        return outs if len(outs) > 1 else outs[0]

    def compute_mask_shape(self, input_shape, mask_shape):
        out = mask_shape if self.return_sequences else None
        outs = [out] * self._n_outputs()
        if self.return_state:
            outs += [None] * (2 * self.forward_layer._n_states())
        return outs if len(outs) > 1 else outs[0]

    def call(self, inputs, mask=None, training=False, initial_state=None):
        n = self.forward_layer._n_states()
        fs = bs = None
        if initial_state is not None:
            fs, bs = list(initial_state[:n]), list(initial_state[n:])
        y_f = self.forward_layer(inputs, mask=mask, training=training, initial_state=fs)
        y_b = self.backward_layer(inputs, mask=mask, training=training, initial_state=bs)
        states = []
        if self.return_state:
            y_f, *sf = y_f
            y_b, *sb = y_b
            states = sf + sb
        if self.return_sequences:
            y_b = torch.flip(y_b, dims=[1])
        if self.merge_mode == "concat":
            out = torch.cat([y_f, y_b], dim=-1)
        elif self.merge_mode == "sum":
            out = y_f + y_b
        elif self.merge_mode == "mul":
            out = y_f * y_b
        elif self.merge_mode == "ave":
            out = (y_f + y_b) / 2
        else:
            out = [y_f, y_b]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def cost(self, input_shape, output_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        inner = self.forward_layer.cost(input_shape, f)
        return Cost(params=prod(2, inner.params), values=inner.values,
                    macs=None if inner.macs is None else prod(2, inner.macs),
                    other_flops=inner.other_flops * 2,
                    reads=f"runs one copy forwards and one backwards over time, merged by {self.merge_mode}: " + inner.reads,
                    rf=("global",) if self.return_sequences else ("recurrent",), needs_fixed=inner.needs_fixed,
                    saved=tuple(inner.saved) * 2, children=[(self.forward_layer.name, inner), (self.backward_layer.name, inner)])

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict):
                config[key] = registry.deserialize(config[key])
        return cls(config.pop("layer"), **config)

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": _serialize_inner(self.forward_layer, self.forward_layer.name[len("forward_"):]),
                "backward_layer": _serialize_inner(self.backward_layer)}


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: ``(batch, T, *rest) → (batch, T, *layer_output)``.

    The steps are folded into the batch, so one call of ``layer`` covers all of them; a mask
    passes through unchanged.
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ConfigError(f"TimeDistributed needs a glassnet layer. Received: layer={layer!r}")
        super().__init__(**kwargs)
        self.layer = layer

    def _inner_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 3, "(batch, timesteps, ...)", min_rank=True)
        inner = self.layer.compute_output_shape(self._inner_shape(input_shape))
        if isinstance(inner, list):
            raise ConfigError(self._error("wraps a layer with several outputs, which it cannot distribute"))
        return (input_shape[0], input_shape[1], *inner[1:])

    def build(self, input_shape):
        if not self.layer.built:
            self.layer._build_from(self._inner_shape(input_shape))

    def call(self, inputs, mask=None, training=False):
        B, T = inputs.shape[0], inputs.shape[1]
        if mask is not None and tuple(mask.shape[:2]) != (B, T):
            raise ShapeError(self._error(
                f"got a mask of shape {tuple(mask.shape)} whose (batch, timesteps) do not match the input's {(B, T)}",
                f"input shape {tuple(inputs.shape)}"))
        inner_mask = mask is not None and call_flags(self.layer)[0] and mask.ndim > 2
        if training and _normalises_by_batch(self.layer):
            # as Keras: one call per step, so each step is normalised by its own batch statistics and the
            # moving statistics move once per step; the step's mask goes with it (a BatchNormalization's
            # moments leave out the samples masked at that step)
            step_mask = mask is not None and call_flags(self.layer)[0]
            steps = [self.layer(inputs[:, t], training=training,
                                **({"mask": mask[:, t]} if step_mask else {})) for t in range(T)]
            return torch.stack(steps, dim=1)
        x = inputs.reshape(B * T, *inputs.shape[2:])
        kwargs = {"training": training}
        if inner_mask:
            kwargs["mask"] = mask.reshape(B * T, *mask.shape[2:])
        y = self.layer(x, **kwargs)
        return y.reshape(B, T, *y.shape[1:])

    def cost(self, input_shape, output_shape):
        inner_in = (input_shape[0] * input_shape[1], *input_shape[2:])
        inner_out = self.layer.compute_output_shape(inner_in)
        inner = self.layer.cost(inner_in, inner_out)
        return Cost(params=inner.params, values=inner.values,
                    macs=None if inner.macs is None else prod(input_shape[1], inner.macs),
                    other_flops=None if inner.other_flops is None else input_shape[1] * inner.other_flops,
                    reads=f"applies {type(self.layer).__name__} '{self.layer.name}' to each of the {fmt_dim(input_shape[1])} time steps: {inner.reads}",
                    rf=inner.rf if inner.rf[0] != "window" else ("window", [(1, 1, 1)] + list(inner.rf[1])),
                    needs_fixed=inner.needs_fixed, saved=inner.saved, children=[(self.layer.name, inner)])

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = config.pop("layer")
        return cls(registry.deserialize(layer) if isinstance(layer, dict) else layer, **config)

    def get_config(self):
        return {**super().get_config(), "layer": _serialize_inner(self.layer)}


def _cell_classes(layer) -> dict:
    """The classes of a recurrent layer's cells, by name, for rebuilding a copy from its config."""
    cells = getattr(layer.cell, "cells", [layer.cell])
    return {type(c).__name__: type(c) for c in cells + [layer.cell]}


def _copy(layer, **changes):
    """A fresh layer from ``layer``'s config (its cell classes known even if they are a user's own)."""
    ctx = registry.current()
    with registry.loading_context({**ctx.custom_objects, **_cell_classes(layer)}, ctx.safe_mode):
        return type(layer).from_config({**layer.get_config(), **changes})


def _serialize_inner(layer, name=None) -> dict:
    spec = registry.serialize(layer)
    if name is not None:
        spec["config"] = {**spec["config"], "name": name}
    return spec


def _normalises_by_batch(layer) -> bool:
    """Whether ``layer`` (or a layer inside it) normalises by the statistics of its batch when training: then
    folding time steps into the batch would change its numbers."""
    return any(getattr(m, "normalises_by_batch", False) and m.trainable for m in layer.modules())
